/*
 * suite_tunnel.c - final/ in front of a WebSocket server: the handshake
 * passed on, the 101 turned into a tunnel, frames both ways (large ones,
 * to a slow side, with bytes that came early), either side closing
 * first, the tunnel's own timeout, and the rules that keep tunnels out
 * of the backend pool.
 *
 * The backend is tests/wsecho (it echoes every frame); the client side
 * is here, built on tests/ws.c, so that each test says exactly which
 * bytes go when.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "json.h"
#include "raw.h"
#include "suites.h"
#include "ws.h"

#define KEY	"dGhlIHNhbXBsZSBub25jZQ=="	/* RFC 6455's example */
#define ACCEPT	"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="	/* and its answer */

/* A WebSocket client: a socket and what it read that is not used yet. */
struct ws {
	int	fd;
	unsigned char *buf;
	size_t	off, len, cap;
	int	eof;
};

/* lb in front of one backend, with a status page; its port in *sport. */
static struct h_proc *
lb_with_status(struct h_proc *b, int *sport, const char *t)
{
	char sarg[32];
	struct h_proc *lb;

	*sport = h_free_port();
	snprintf(sarg, sizeof(sarg), "127.0.0.1:%d", *sport);
	lb = t == NULL ? h_lb(1, &b, "-a", sarg, NULL) :
	    h_lb(1, &b, "-a", sarg, "-t", t, NULL);
	ck_assert_int_eq(h_wait_port(*sport, h_scaled(2000)), 0);
	return lb;
}

/* A number from lb's status.json. */
static long
status_number(int sport, const char *path)
{
	struct h_resp r;
	char v[32];
	long n;

	ck_assert_int_eq(h_request(sport, "GET /status.json HTTP/1.1\r\n"
	    "Host: x\r\nConnection: close\r\n\r\n", &r), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_msg(json_get(r.body, path, v, sizeof(v)) == 0, "no %s in %s",
	    path, r.body);
	n = atol(v);
	h_resp_free(&r);
	return n;
}

/* Wait up to ms for a status.json number to become want. */
static void
expect_status_number(int sport, const char *path, long want, int ms)
{
	long deadline = h_now_ms() + h_scaled(ms), n;

	while ((n = status_number(sport, path)) != want &&
	    h_now_ms() < deadline)
		h_pause_ms(20);
	ck_assert_msg(n == want, "%s is %ld, not %ld", path, n, want);
}

/* Read more into w within ms: > 0 bytes, 0 at EOF, -1 error or timeout. */
static ssize_t
ws_fill(struct ws *w, int ms)
{
	struct pollfd p = { w->fd, POLLIN, 0 };
	ssize_t r;

	if (w->off > 0 && w->off == w->len)
		w->off = w->len = 0;
	if (w->cap - w->len < 65536) {
		w->cap = w->cap * 2 + 65536;
		w->buf = realloc(w->buf, w->cap);
		ck_assert_ptr_nonnull(w->buf);
	}
	if (poll(&p, 1, ms) <= 0)
		return -1;
	r = read(w->fd, w->buf + w->len, w->cap - w->len);
	if (r > 0)
		w->len += (size_t)r;
	else if (r == 0)
		w->eof = 1;
	return r;
}

/* Just past the end of the response head in w, or NULL: not all in. */
static unsigned char *
head_end(struct ws *w)
{
	size_t i;

	for (i = 0; i + 4 <= w->len; i++)
		if (memcmp(w->buf + i, "\r\n\r\n", 4) == 0)
			return w->buf + i;
	return NULL;
}

/*
 * Connect to port and ask for a WebSocket at path; early bytes (may be
 * NULL) go in the same write as the handshake. The response head is
 * parsed; its status is returned and the head is left in head (the
 * caller frees it). What follows the head stays in w for the frames.
 */
static int
ws_connect_with(struct ws *w, int port, const char *path, const char *extra,
    const void *early, size_t early_len, char **head)
{
	struct h_conn *c = h_connect(port);
	char req[8192];
	unsigned char *end;
	int n, status = 0;

	memset(w, 0, sizeof(*w));
	w->fd = dup(c->fd);
	h_close(c);
	n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\n"
	    "Connection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n"
	    "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " KEY "\r\n%s"
	    "\r\n", path, extra);
	ck_assert_int_lt(n, (int)sizeof(req));
	w->buf = malloc(n + early_len + 1);
	ck_assert_ptr_nonnull(w->buf);
	memcpy(w->buf, req, (size_t)n);
	if (early_len > 0)
		memcpy(w->buf + n, early, early_len);
	ck_assert_int_eq(h_write_all(w->fd, w->buf, (size_t)n + early_len), 0);
	free(w->buf);
	w->buf = NULL;
	w->cap = 0;
	while ((end = head_end(w)) == NULL)
		ck_assert_msg(ws_fill(w, h_scaled(H_TIMEOUT_MS)) > 0,
		    "no response head");
	end += 4;
	*head = strndup((char *)w->buf, (size_t)(end - w->buf));
	ck_assert_ptr_nonnull(*head);
	sscanf(*head, "HTTP/1.1 %d", &status);
	w->off = (size_t)(end - w->buf);
	return status;
}

/* The same, with no headers of the test's own. */
static int
ws_connect(struct ws *w, int port, const char *path, const void *early,
    size_t early_len, char **head)
{
	return ws_connect_with(w, port, path, "", early, early_len, head);
}

/* A tunnel to "/", or the test fails. */
static void
ws_open(struct ws *w, int port)
{
	char *head;

	ck_assert_int_eq(ws_connect(w, port, "/", NULL, 0, &head), 101);
	free(head);
}

/* The head's line for header name ("Name: value"), or NULL. */
static const char *
head_line(const char *head, const char *line)
{
	return strstr(head, line);
}

/* Send one masked frame. */
static void
ws_send(struct ws *w, int opcode, const void *p, size_t n)
{
	static const unsigned char key[4] = { 0x37, 0xfa, 0x21, 0x3d };
	unsigned char *f = malloc(WS_HEAD_MAX + n);
	size_t h;

	ck_assert_ptr_nonnull(f);
	h = ws_frame_head(f, 1, opcode, key, n);
	memcpy(f + h, p, n);
	ws_mask(f + h, n, key, 0);
	ck_assert_int_eq(h_write_all(w->fd, f, h + n), 0);
	free(f);
}

/*
 * Read one whole frame within ms: its payload (NUL-terminated, free()
 * it) and its head in *h. NULL at EOF or on timeout.
 */
static char *
ws_recv(struct ws *w, struct ws_head *h, int ms)
{
	long deadline = h_now_ms() + h_scaled(ms);
	char *p;
	int n;

	for (;;) {
		n = ws_parse_head(w->buf + w->off, w->len - w->off, h);
		ck_assert_int_ge(n, 0);
		if (n > 0 && w->len - w->off - (size_t)n >= h->len)
			break;
		if (h_now_ms() >= deadline || ws_fill(w, (int)(deadline -
		    h_now_ms())) <= 0)
			return NULL;
	}
	ck_assert_int_eq(h->masked, 0);		/* a server never masks */
	p = malloc(h->len + 1);
	ck_assert_ptr_nonnull(p);
	memcpy(p, w->buf + w->off + n, h->len);
	p[h->len] = '\0';
	w->off += (size_t)n + h->len;
	return p;
}

/* The next frame must be this text. */
static void
expect_text(struct ws *w, const char *text)
{
	struct ws_head h;
	char *p = ws_recv(w, &h, H_TIMEOUT_MS);

	ck_assert_msg(p != NULL, "no frame: wanted '%s'", text);
	ck_assert_int_eq(h.opcode, WS_TEXT);
	ck_assert_str_eq(p, text);
	free(p);
}

/* The next frame must be a close with this code, then the stream ends. */
static void
expect_close(struct ws *w, int code)
{
	struct ws_head h;
	char *p = ws_recv(w, &h, H_TIMEOUT_MS);

	ck_assert_msg(p != NULL, "no close frame");
	ck_assert_int_eq(h.opcode, WS_CLOSE);
	ck_assert_int_ge((long)h.len, 2);
	ck_assert_int_eq(((unsigned char)p[0] << 8) | (unsigned char)p[1], code);
	free(p);
	while (!w->eof)
		ck_assert_msg(ws_fill(w, h_scaled(H_TIMEOUT_MS)) >= 0,
		    "no end of stream after the close");
}

static void
ws_close_fd(struct ws *w)
{
	close(w->fd);
	free(w->buf);
	w->buf = NULL;
}

/* The pattern byte at offset i of a large payload. */
static unsigned char
pattern(unsigned long long i)
{
	return (unsigned char)(i * 7 + (i >> 12));
}

/*
 * One binary frame of len pattern bytes out, and its echo back, at the
 * same time (the echo streams back while the frame is still going out:
 * write it all first and each side waits on the other). read_ms: pause
 * between reads of at most 16 KB, a slow client. While it runs, every
 * 100 ms, lb's status page must show at most max_lent buffers lent:
 * lb passes a tunnel's bytes on, it does not pile them up.
 */
static void
big_echo(struct ws *w, unsigned long long len, int read_ms, int sport,
    int max_lent)
{
	static const unsigned char key[4] = { 1, 2, 3, 4 };
	unsigned char head[WS_HEAD_MAX], piece[16384];
	unsigned long long sent = 0, got = 0, i;
	size_t hn = ws_frame_head(head, 1, WS_BINARY, key, len), hsent = 0;
	/* Within Check's 30 s, so that a stall says how far it got. */
	long deadline = h_now_ms() + h_scaled(20000), next_look = 0;
	struct ws_head h;
	int echo_head = 0, n, lent;

	fcntl(w->fd, F_SETFL, fcntl(w->fd, F_GETFL) | O_NONBLOCK);
	while (got < len) {
		struct pollfd p = { w->fd, POLLIN, 0 };
		ssize_t r;

		ck_assert_msg(h_now_ms() < deadline, "%llu of %llu bytes echoed, "
		    "%llu sent", got, len, sent);
		if (sent < len || hsent < hn)
			p.events |= POLLOUT;
		poll(&p, 1, read_ms > 0 ? read_ms : 100);
		if ((p.revents & POLLOUT) && hsent < hn) {
			if ((r = write(w->fd, head + hsent, hn - hsent)) > 0)
				hsent += (size_t)r;
		} else if ((p.revents & POLLOUT) && sent < len) {
			size_t k = len - sent < sizeof(piece) ? len - sent :
			    sizeof(piece);

			for (i = 0; i < k; i++)
				piece[i] = pattern(sent + i);
			ws_mask(piece, k, key, sent);
			if ((r = write(w->fd, piece, k)) > 0)
				sent += (unsigned long long)r;
		}
		if (p.revents & (POLLIN | POLLHUP)) {
			size_t room = w->cap - w->len;

			if (w->off == w->len)
				w->off = w->len = 0;
			if (room < sizeof(piece)) {
				w->cap = w->cap * 2 + sizeof(piece);
				w->buf = realloc(w->buf, w->cap);
				ck_assert_ptr_nonnull(w->buf);
			}
			r = read(w->fd, w->buf + w->len, sizeof(piece));
			ck_assert_msg(r != 0, "EOF after %llu of %llu echoed",
			    got, len);
			if (r > 0)
				w->len += (size_t)r;
		}
		if (!echo_head && (n = ws_parse_head(w->buf + w->off,
		    w->len - w->off, &h)) > 0) {
			ck_assert_int_eq(h.opcode, WS_BINARY);
			ck_assert_uint_eq(h.len, len);
			w->off += (size_t)n;
			echo_head = 1;
		}
		/* No ck_assert per byte: each one writes to Check's pipe. */
		for (; echo_head && w->off < w->len && got < len; w->off++,
		    got++)
			if (w->buf[w->off] != pattern(got))
				ck_abort_msg("byte %llu of the echo is wrong",
				    got);
		if (read_ms > 0)
			h_pause_ms(read_ms);
		if (sport > 0 && h_now_ms() >= next_look) {
			lent = (int)status_number(sport, "buffers_lent");
			ck_assert_msg(lent <= max_lent, "%d buffers lent after "
			    "%llu of %llu bytes echoed", lent, got, len);
			next_look = h_now_ms() + 100;
		}
	}
	fcntl(w->fd, F_SETFL, fcntl(w->fd, F_GETFL) & ~O_NONBLOCK);
}

/*
 * Stop lb (SIGTERM flushes its access log); the log must hold each of
 * the pieces given, NULL after the last.
 */
static void
expect_logged(struct h_proc *lb, ...)
{
	const char *piece;
	va_list ap;
	char *log;

	kill(lb->pid, SIGTERM);
	ck_assert_int_eq(h_wait_exit(lb, h_scaled(15000)), 0);
	log = h_slurp(lb->out);
	va_start(ap, lb);
	while ((piece = va_arg(ap, const char *)) != NULL)
		ck_assert_msg(strstr(log, piece) != NULL, "no '%s' in the log:"
		    "\n%s", piece, log);
	va_end(ap);
	free(log);
}

/*
 * The whole exchange: the handshake reaches the backend with Connection:
 * upgrade and Upgrade (else wsecho answers 426), the 101 comes back with
 * the backend's accept key, frames go both ways, the close handshake
 * ends both connections; the status page counts the tunnel while it is
 * open, and the access log has one line for it: 101, as it should ("--").
 */
START_TEST(a_websocket_exchange_passes_through)
{
	struct h_proc *b = h_wsecho("ws1", "-q", NULL), *lb;
	struct ws w;
	char *head;
	int sport;

	lb = lb_with_status(b, &sport, NULL);
	ck_assert_int_eq(ws_connect(&w, lb->port, "/chat", NULL, 0, &head),
	    101);
	ck_assert_ptr_nonnull(head_line(head, "\r\nUpgrade: websocket\r\n"));
	ck_assert_ptr_nonnull(head_line(head, "\r\nConnection: upgrade\r\n"));
	ck_assert_ptr_nonnull(head_line(head, "\r\nSec-WebSocket-Accept: "
	    ACCEPT "\r\n"));
	free(head);
	ws_send(&w, WS_TEXT, "hello", 5);
	expect_text(&w, "hello");
	ws_send(&w, WS_TEXT, "world", 5);
	expect_text(&w, "world");
	expect_status_number(sport, "tunnels", 1, 1000);
	ws_send(&w, WS_CLOSE, "\x03\xe8", 2);	/* 1000, normal */
	expect_close(&w, WS_CLOSE_NORMAL);
	ws_close_fd(&w);
	expect_status_number(sport, "tunnels", 0, 2000);
	ck_assert_int_eq(status_number(sport, "tunnels_total"), 1);
	expect_logged(lb, " GET /chat 127.0.0.1:", " 101 ", " -- -\n", NULL);
}
END_TEST

/*
 * Bytes that come before the other side has seen the 101 are the new
 * protocol's already: a frame the client sent in the same write as its
 * handshake, and one the backend sent in the same write as its 101.
 * Both must arrive, in order, not be taken for HTTP or dropped.
 */
START_TEST(bytes_sent_early_both_ways_are_relayed)
{
	static const unsigned char key[4] = { 9, 8, 7, 6 };
	struct h_proc *b = h_wsecho("ws1", "-q", "-g", "greetings", NULL);
	struct h_proc *lb;
	unsigned char early[32];
	struct ws w;
	char *head;
	size_t n;

	lb = h_lb(1, &b, NULL);
	n = ws_frame_head(early, 1, WS_TEXT, key, 5);
	memcpy(early + n, "early", 5);
	ws_mask(early + n, 5, key, 0);
	ck_assert_int_eq(ws_connect(&w, lb->port, "/", early, n + 5, &head),
	    101);
	free(head);
	expect_text(&w, "greetings");
	expect_text(&w, "early");
	ws_send(&w, WS_TEXT, "later", 5);
	expect_text(&w, "later");
	ws_close_fd(&w);
}
END_TEST

/*
 * 8 MiB one way and back at full speed; then 2 MiB to a client that
 * reads 16 KB every 2 ms, and 2 MiB through a backend that sleeps 2 ms
 * before each read: every byte arrives in order, and lb holds no more
 * than a few buffers while a side is slow (backpressure, not a pile).
 */
START_TEST(large_frames_both_ways_with_backpressure)
{
	struct h_proc *b = h_wsecho("ws1", "-q", NULL), *lb;
	struct h_proc *slow = h_wsecho("ws2", "-q", "-s", "2", NULL);
	struct ws w;
	int sport;

	lb = lb_with_status(b, &sport, NULL);
	ws_open(&w, lb->port);
	big_echo(&w, 8u << 20, 0, 0, 0);
	big_echo(&w, 2u << 20, 2, sport, 4);
	ws_send(&w, WS_TEXT, "bye", 3);
	expect_close(&w, WS_CLOSE_NORMAL);
	ws_close_fd(&w);
	h_kill(lb);

	lb = lb_with_status(slow, &sport, NULL);
	ws_open(&w, lb->port);
	big_echo(&w, 2u << 20, 0, sport, 4);
	ws_close_fd(&w);
}
END_TEST

/* A raw backend: a 101, then FLOOD pattern bytes at once, then its FIN. */
#define FLOOD	(8u << 20)

static void
flood_serve(struct raw_conn *rc, void *arg)
{
	static unsigned char piece[65536];
	unsigned long long at, i;
	size_t k;

	(void)arg;
	if (raw_head(rc, 5000) != 1 || raw_sendf(rc, "HTTP/1.1 101 Switching "
	    "Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	    "\r\n") < 0)
		return;
	for (at = 0; at < FLOOD; at += k) {
		k = FLOOD - at < sizeof(piece) ? (size_t)(FLOOD - at) :
		    sizeof(piece);
		for (i = 0; i < k; i++)
			piece[i] = pattern(at + i);
		if (raw_send(rc, piece, k) < 0)
			return;
	}
	raw_fin(rc);
}

/*
 * A tunnel that only one side talks in: the backend sends 8 MiB at once;
 * the client says nothing, reads nothing for a while (every buffer on
 * the way fills: the kernel's, then lb's out and bin), then reads what
 * there is each millisecond through a small window. The first write
 * that empties a full out must set bin moving again, as no other event
 * will: the client sends nothing, and lb reads no backend into a full
 * bin. Before, that write ended the pass and the tunnel stalled for
 * good: here at 2,828,288 bytes every time; and once in about twenty
 * runs of the suite, in the 8 MiB echo above.
 */
START_TEST(a_silent_client_reading_slowly_gets_every_byte)
{
	struct h_proc *raw = h_raw("raw", flood_serve, NULL), *lb;
	struct h_conn *c;
	char buf[4096], first[16] = "";
	unsigned long long got = 0;
	long deadline;
	int head = 0, nfirst = 0;
	struct pollfd p;
	size_t i;
	ssize_t r;

	lb = h_lb(1, &raw, NULL);
	c = h_connect_slow(lb->port, 1);
	h_sends(c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
	    "Upgrade: websocket\r\n\r\n");
	h_pause_ms(h_scaled(300));	/* every buffer on the way fills */
	fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
	deadline = h_now_ms() + h_scaled(20000);
	p.fd = c->fd;
	p.events = POLLIN;
	for (;;) {
		ck_assert_msg(h_now_ms() < deadline, "%llu of %u bytes came",
		    got, FLOOD);
		if (poll(&p, 1, 100) <= 0)
			continue;
		/* All there is, then a pause: lb's buffers fill again. */
		while ((r = read(c->fd, buf, sizeof(buf))) > 0)
			for (i = 0; i < (size_t)r; i++) {
				if (head < 4) {	/* up to "\r\n\r\n" */
					if (nfirst < (int)sizeof(first) - 1)
						first[nfirst++] = buf[i];
					head = buf[i] == "\r\n\r\n"[head] ?
					    head + 1 : buf[i] == '\r';
					if (head == 4)
						ck_assert_msg(strncmp(first,
						    "HTTP/1.1 101 ", 13) == 0,
						    "not a 101: %.13s", first);
					continue;
				}
				if ((unsigned char)buf[i] != pattern(got))
					ck_abort_msg("byte %llu is wrong", got);
				got++;
			}
		if (r == 0)
			break;
		ck_assert_msg(errno == EAGAIN || errno == EWOULDBLOCK,
		    "read: %s", strerror(errno));
		h_pause_ms(1);
	}
	ck_assert_msg(got == FLOOD, "%llu of %u bytes came", got, FLOOD);
	h_close(c);
}
END_TEST

/*
 * Either side may end first. The backend: after "bye" it sends its
 * close frame and hangs up; the client gets both, then the end of the
 * stream. The client: it half-closes after two frames; their echoes
 * still come back, then the backend's end reaches the client. A client
 * that resets: the tunnel is gone at once, logged as the client's end
 * ("CT").
 */
START_TEST(either_side_may_close_first)
{
	struct h_proc *b = h_wsecho("ws1", "-q", NULL), *lb;
	struct linger lg;
	struct ws w;
	int sport;

	lb = lb_with_status(b, &sport, NULL);
	/* The backend first. */
	ws_open(&w, lb->port);
	ws_send(&w, WS_TEXT, "bye", 3);
	expect_close(&w, WS_CLOSE_NORMAL);
	ws_close_fd(&w);
	/* The client first, half: it still reads. */
	ws_open(&w, lb->port);
	ws_send(&w, WS_TEXT, "one", 3);
	ws_send(&w, WS_TEXT, "two", 3);
	shutdown(w.fd, SHUT_WR);
	expect_text(&w, "one");
	expect_text(&w, "two");
	while (!w.eof)
		ck_assert_msg(ws_fill(&w, h_scaled(H_TIMEOUT_MS)) >= 0,
		    "the backend's end never reached the client");
	ws_close_fd(&w);
	/* The client resets. */
	ws_open(&w, lb->port);
	ws_send(&w, WS_TEXT, "x", 1);
	expect_text(&w, "x");
	expect_status_number(sport, "tunnels", 1, 1000);
	lg.l_onoff = 1;		/* a reset on close */
	lg.l_linger = 0;
	setsockopt(w.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	ws_close_fd(&w);
	expect_status_number(sport, "tunnels", 0, 2000);
	ck_assert_int_eq(status_number(sport, "tunnels_total"), 3);
	expect_logged(lb, " 101 ", " CT -\n", NULL);
}
END_TEST

/*
 * A tunnel silent both ways for -t tunnel ms is closed (logged "tT");
 * one that keeps talking, slower than that in all but never silent
 * that long, is not.
 */
START_TEST(a_silent_tunnel_is_closed_after_its_timeout)
{
	struct h_proc *b = h_wsecho("ws1", "-q", NULL), *lb;
	struct ws w;
	long t0;
	int sport, i;

	lb = lb_with_status(b, &sport, "tunnel=400");
	ws_open(&w, lb->port);
	for (i = 0; i < 6; i++) {	/* 1.2 s of talk, 200 ms apart */
		h_pause_ms(200);
		ws_send(&w, WS_TEXT, "ping", 4);
		expect_text(&w, "ping");
	}
	t0 = h_now_ms();
	while (!w.eof)
		ck_assert_msg(ws_fill(&w, h_scaled(3000)) >= 0,
		    "a silent tunnel still open after 3 s");
	ck_assert_int_ge(h_now_ms() - t0, 300);
	ws_close_fd(&w);
	expect_status_number(sport, "tunnels", 0, 1000);
	expect_logged(lb, " 101 ", " tT -\n", NULL);
}
END_TEST

/*
 * A 101 is an answer to an upgrade asked for, never to a plain request:
 * from a backend that sends one anyway the client gets a 502, and the
 * log blames the backend ("SH").
 */
START_TEST(a_101_nobody_asked_for_is_a_502)
{
	struct h_proc *b = h_wsecho("ws1", "-q", "-A", NULL), *lb;
	struct h_resp r;

	lb = h_lb(1, &b, "-x", "0", NULL);
	ck_assert_int_eq(h_request(lb->port, "GET /plain HTTP/1.1\r\nHost: x"
	    "\r\n\r\n", &r), 0);
	ck_assert_int_eq(r.status, 502);
	ck_assert_ptr_nonnull(strstr(r.body, "101"));
	h_resp_free(&r);
	expect_logged(lb, " GET /plain ", " 502 ", " SH -\n", NULL);
}
END_TEST

/*
 * An upgrade never rides a pooled connection, nor joins the pool after:
 * a plain backend (tests/backend knows no WebSocket) hears the upgrade
 * on a connection of its own and answers 200; lb closes that client
 * connection (it may be sending frames already) and keeps the backend
 * connection out of the pool. An HTTP/1.0 request asks for nothing:
 * Upgrade is hop-by-hop and goes.
 */
START_TEST(upgrades_never_ride_or_join_the_pool)
{
	struct h_proc *b = h_backend("b1", "-q", NULL), *lb;
	struct h_conn *c;
	struct h_resp r;
	int sport;

	lb = lb_with_status(b, &sport, NULL);
	ck_assert_int_eq(h_request(lb->port, "GET /1 HTTP/1.1\r\nHost: x\r\n"
	    "\r\n", &r), 0);
	h_resp_free(&r);
	expect_status_number(sport, "backends.0.idle", 1, 1000);
	c = h_connect(lb->port);
	h_sends(c, "GET /2 HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\n"
	    "Upgrade: websocket\r\n\r\n");
	ck_assert_int_eq(h_read_response(c, &r, 0, h_scaled(H_TIMEOUT_MS)), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.body, "header Upgrade: websocket\n"));
	ck_assert_ptr_nonnull(strstr(r.body, "header Connection: upgrade\n"));
	ck_assert_pstr_eq(h_header(&r, "Connection"), "close");
	h_resp_free(&r);
	ck_assert(h_peer_closed(c, h_scaled(2000)));
	h_close(c);
	/* A fresh connection for it, and the pool still holds one. */
	ck_assert_int_eq(status_number(sport, "backends.0.connects"), 2);
	expect_status_number(sport, "backends.0.idle", 1, 1000);
	ck_assert_int_eq(h_request(lb->port, "GET /3 HTTP/1.0\r\n"
	    "Connection: upgrade\r\nUpgrade: websocket\r\n\r\n", &r), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_null(strstr(r.body, "Upgrade"));
	h_resp_free(&r);
	ck_assert_int_eq(status_number(sport, "backends.0.connects"), 2);
}
END_TEST

/*
 * An idle tunnel holds no buffer, even when its request head was too
 * large for the small copy kept to resend it (REPLAY_MAX): the buffer
 * that held it goes back once it is sent. And an upgrade may say
 * Content-Length: 0: that is no body either.
 */
START_TEST(an_idle_tunnel_holds_no_buffer)
{
	struct h_proc *b = h_wsecho("ws1", "-q", NULL), *lb;
	static char path[6000];
	struct ws w, w0;
	char *head;
	int sport;

	lb = lb_with_status(b, &sport, NULL);
	memset(path, 'x', sizeof(path) - 1);
	path[0] = '/';
	ck_assert_int_eq(ws_connect(&w, lb->port, path, NULL, 0, &head), 101);
	free(head);
	ws_send(&w, WS_TEXT, "hi", 2);
	expect_text(&w, "hi");
	expect_status_number(sport, "buffers_lent", 0, 1000);
	ck_assert_int_eq(ws_connect_with(&w0, lb->port, "/", "Content-Length: 0"
	    "\r\n", NULL, 0, &head), 101);
	free(head);
	ws_close_fd(&w0);
	ws_close_fd(&w);
}
END_TEST

/*
 * -w 2: tunnels counted by a worker stay counted when it dies, as its
 * requests do (once, tunnels_total fell back to 0: a counter reset for
 * whatever reads /metrics).
 */
START_TEST(a_dead_workers_tunnels_stay_counted)
{
	struct h_proc *b = h_wsecho("ws1", "-q", NULL), *lb;
	char sarg[32], path[32], *head;
	struct ws w;
	int sport, i, k;
	long pid;

	sport = h_free_port();
	snprintf(sarg, sizeof(sarg), "127.0.0.1:%d", sport);
	lb = h_lb(1, &b, "-a", sarg, "-w", "2", NULL);
	ck_assert_int_eq(h_wait_port(sport, h_scaled(2000)), 0);
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(ws_connect(&w, lb->port, "/", NULL, 0, &head),
		    101);
		free(head);
		ws_send(&w, WS_TEXT, "hi", 2);
		expect_text(&w, "hi");
		ws_close_fd(&w);
	}
	expect_status_number(sport, "tunnels", 0, 2000);
	ck_assert_int_eq(status_number(sport, "tunnels_total"), 3);
	for (k = 0; k < 2; k++) {
		snprintf(path, sizeof(path), "workers.%d.pid", k);
		pid = status_number(sport, path);
		ck_assert_int_gt(pid, 0);
		ck_assert_int_eq(kill((pid_t)pid, SIGKILL), 0);
	}
	ck_assert(h_wait_for_text(lb->err, "worker 2 (pid", h_scaled(3000)));
	ck_assert_int_eq(status_number(sport, "tunnels_total"), 3);
}
END_TEST

Suite *
tunnel_suite(void)
{
	const TTest *const tests[] = {
		a_websocket_exchange_passes_through,
		bytes_sent_early_both_ways_are_relayed,
		large_frames_both_ways_with_backpressure,
		a_silent_client_reading_slowly_gets_every_byte,
		either_side_may_close_first,
		a_silent_tunnel_is_closed_after_its_timeout,
		a_101_nobody_asked_for_is_a_502,
		upgrades_never_ride_or_join_the_pool,
		an_idle_tunnel_holds_no_buffer,
		a_dead_workers_tunnels_stay_counted,
		NULL
	};

	return h_suite("tunnel", tests, NULL);
}
