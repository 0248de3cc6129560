/*
 * tests/wsecho.c - a WebSocket echo server for the test suites and the
 * demos, and the small client that talks to it (or to a balancer in
 * front of it) by hand. The frames it needs come from ws.c.
 *
 * usage: wsecho -l [HOST:]PORT [-n NAME] [-g TEXT] [-s MS] [-A] [-q]
 *        wsecho -c [HOST:]PORT [-p PATH] [MESSAGE ...]
 *   -l [HOST:]PORT  serve here (a bare PORT means 127.0.0.1, IPv6 goes
 *                   in brackets: [::1]:9001)
 *   -n NAME   the name it logs and sends as X-Backend (default: the port)
 *   -g TEXT   greet: a text frame TEXT in the same write() as the 101
 *   -s MS     sleep MS ms before each read of a frame's payload: a slow
 *             reader, for backpressure (default 0)
 *   -A        answer 101 to every request but /health, even one that
 *             asked for no upgrade: a backend a proxy must not believe
 *   -q        no log line per connection on stdout
 *   -c [HOST:]PORT  connect there, send each MESSAGE as a text frame and
 *             print each echo on its own line, then close
 *   -p PATH   the client's request target (default /)
 *   -h        show the usage
 *
 * The server forks a process per connection. A request without Upgrade:
 * websocket to /health gets 200 "ok"; any other that is not a handshake
 * gets 426 (no Upgrade: websocket, or a Connection without upgrade) or
 * 400 (a bad key or version), and the connection is closed. After its
 * 101 it echoes every data frame as it streams in, piece by piece and
 * unmasked; answers a ping with a pong; answers a close with a close of
 * the same code and hangs up; and hangs up first, with close 1000, after
 * a text message of one frame that says "bye".
 *
 * Build: cc -std=c99 -D_POSIX_C_SOURCE=200809L -o wsecho wsecho.c ws.c tool.c
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netdb.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "tool.h"
#include "ws.h"

#define HEAD_MAX	16384	/* a request or response head */
#define MAX_FIELDS	100	/* header lines in one head */
#define LINGER_MS	2000	/* reading leftovers after our last byte */
#define WAIT_MS		10000	/* the client's wait for each answer */
#define PAUSE_MS	100	/* accept() failed: wait before the next */
#define MESSAGE_MAX	1048576	/* the longest message the client takes */
#define MAX_MS		86400000LL

/*
 * One side of a connection and what it sent that is not used yet:
 * buf[off..len). A payload is read into the same buffer, 16 KB at most
 * at a time, so even a 64 MB frame costs no more memory than that.
 */
struct peer {
	int	fd;
	int	eof;		/* it sent all it will send */
	int	wait_ms;	/* how long a read may wait; 0: forever */
	unsigned char buf[HEAD_MAX];
	size_t	off, len;
};

/* A head split in place: the first line, then each field. */
struct head {
	char	text[HEAD_MAX + 1];
	char	*line;
	int	n;
	char	*name[MAX_FIELDS], *value[MAX_FIELDS];
};

/* What an echoing connection did, for its log line. */
struct tally {
	unsigned long long frames, bytes;
};

/* A message the client received, its frames joined. */
struct msg {
	int	opcode;		/* of its first frame, or WS_CLOSE */
	int	code;		/* WS_CLOSE: its code (1005: none given) */
	unsigned char *p;
	size_t	len, cap;
};

static const char *name, *greeting;
static long long slow_ms;
static int always_101, quiet;
static const char *where;	/* HOST:PORT, as messages show it */
static int random_fd = -1;
static char why[160];		/* a reason built from errno or a code */

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: wsecho -l [HOST:]PORT [-n NAME] [-g TEXT] [-s MS] [-A] "
	    "[-q]\n"
	    "       wsecho -c [HOST:]PORT [-p PATH] [MESSAGE ...]\n"
	    "  -l [HOST:]PORT  serve here (a bare PORT means 127.0.0.1)\n"
	    "  -n NAME   the name it logs and sends as X-Backend "
	    "(default: the port)\n"
	    "  -g TEXT   send a text frame TEXT with the 101 "
	    "(default: none)\n"
	    "  -s MS     sleep before each read of a payload (default 0)\n"
	    "  -A        answer 101 to everything but /health, asked or not "
	    "(default: off)\n"
	    "  -q        quiet: no log line per connection (default: log)\n"
	    "  -c [HOST:]PORT  connect there, send each MESSAGE, print "
	    "each echo\n"
	    "  -p PATH   the client's request target (default /)\n"
	    "  -h        show this help\n"
	    "Server: /health answers ok; a text message \"bye\" makes it "
	    "close first.\n");
}

/* "what: strerror(errno)", as a reason a connection ended. */
static const char *
failed(const char *what)
{
	snprintf(why, sizeof(why), "%s: %s", what, strerror(errno));
	return why;
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
pause_ms(long long ms)
{
	struct timespec ts;

	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Write all of p, through partial writes and EINTR; -1 on an error. */
static int
write_all(int fd, const void *p, size_t n)
{
	const unsigned char *s = p;
	ssize_t w;

	while (n > 0) {
		w = write(fd, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * Read more into c->buf, after what is unused: 1 when bytes came, 0 at
 * EOF, -1 on an error or when c->wait_ms passed (errno ETIMEDOUT).
 */
static int
fill(struct peer *c)
{
	struct pollfd pfd;
	ssize_t r;
	int ready;

	if (c->off > 0) {
		memmove(c->buf, c->buf + c->off, c->len - c->off);
		c->len -= c->off;
		c->off = 0;
	}
	if (c->eof)
		return 0;
	if (c->len == sizeof(c->buf)) {
		errno = ENOBUFS;	/* callers make room first */
		return -1;
	}
	if (c->wait_ms > 0) {
		pfd.fd = c->fd;
		pfd.events = POLLIN;
		do
			ready = poll(&pfd, 1, c->wait_ms);
		while (ready < 0 && errno == EINTR);
		if (ready == 0)
			errno = ETIMEDOUT;
		if (ready <= 0)
			return -1;
	}
	do
		r = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -1;
	if (r == 0) {
		c->eof = 1;
		return 0;
	}
	c->len += (size_t)r;
	return 1;
}

/*
 * Our last byte is out: send FIN, then read and drop what still comes
 * for a while. Closing with unread bytes would send a reset, which can
 * destroy our answer before the peer has read it.
 */
static void
linger_close(struct peer *c)
{
	long long end = now_ms() + LINGER_MS, left;
	struct pollfd pfd;
	char tmp[4096];
	int r;

	if (!c->eof && shutdown(c->fd, SHUT_WR) == 0)
		while ((left = end - now_ms()) > 0) {
			pfd.fd = c->fd;
			pfd.events = POLLIN;
			r = poll(&pfd, 1, (int)left);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0 || read(c->fd, tmp, sizeof(tmp)) <= 0)
				break;
		}
	close(c->fd);
}

/* The length of the head at p, through its empty line, or 0. */
static size_t
head_len(const unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i + 1 < n; i++) {
		if (p[i] != '\n')
			continue;
		if (p[i + 1] == '\n')
			return i + 2;
		if (i + 2 < n && p[i + 1] == '\r' && p[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

/* Split h->text into its first line and "Name: value" fields. */
static int
split_head(struct head *h)
{
	char *p, *nl, *colon, *v, *e;

	h->line = NULL;
	h->n = 0;
	for (p = h->text; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
		*nl = '\0';
		if (nl > p && nl[-1] == '\r')
			nl[-1] = '\0';
		if (*p == '\0')
			return h->line != NULL ? 0 : -1;
		if (h->line == NULL) {
			h->line = p;
			continue;
		}
		if (*p == ' ' || *p == '\t' || h->n == MAX_FIELDS ||
		    (colon = strchr(p, ':')) == NULL || colon == p)
			return -1;
		*colon = '\0';
		for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
			;
		for (e = v + strlen(v); e > v && (e[-1] == ' ' ||
		    e[-1] == '\t'); e--)
			;
		*e = '\0';
		h->name[h->n] = p;
		h->value[h->n++] = v;
	}
	return -1;
}

/*
 * Read a whole head into h: 1 when there is one (split_head() says if it
 * makes sense), 0 at EOF before it, -1 on an error, -2 if it is too long.
 * What follows the head stays in c->buf: it is the first frame bytes.
 */
static int
read_head(struct peer *c, struct head *h)
{
	size_t n;
	int r;

	for (;;) {
		/* Empty lines before a request are allowed, and skipped. */
		while (c->off < c->len && (c->buf[c->off] == '\r' ||
		    c->buf[c->off] == '\n'))
			c->off++;
		if ((n = head_len(c->buf + c->off, c->len - c->off)) > 0)
			break;
		if (c->len - c->off == sizeof(c->buf))
			return -2;
		if ((r = fill(c)) <= 0)
			return r;
	}
	memcpy(h->text, c->buf + c->off, n);
	h->text[n] = '\0';
	c->off += n;
	return 1;
}

/* The value of the first field called name, or NULL; *count of them. */
static const char *
field(const struct head *h, const char *fname, int *count)
{
	const char *v = NULL;
	int i;

	*count = 0;
	for (i = 0; i < h->n; i++)
		if (strcasecmp(h->name[i], fname) == 0 && (*count)++ == 0)
			v = h->value[i];
	return v;
}

/* Whether any field called fname lists tok (comma-separated, any case). */
static int
field_has(const struct head *h, const char *fname, const char *tok)
{
	size_t k, n = strlen(tok);
	const char *s, *t;
	int i;

	for (i = 0; i < h->n; i++) {
		if (strcasecmp(h->name[i], fname) != 0)
			continue;
		for (s = h->value[i]; *s != '\0'; s = *t == ',' ? t + 1 : t) {
			s += strspn(s, " \t");
			t = s + strcspn(s, ",");
			for (k = (size_t)(t - s); k > 0 && (s[k - 1] == ' ' ||
			    s[k - 1] == '\t'); k--)
				;
			if (k == n && strncasecmp(s, tok, n) == 0)
				return 1;
		}
	}
	return 0;
}

/* ---- The server ---- */

/* The log line: "NAME METHOD TARGET WHAT". */
static void
log_line(const char *method, const char *target, const char *fmt, ...)
{
	va_list ap;

	if (quiet)
		return;
	printf("%s %s %s ", name, method, target);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static const char *
reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 426: return "Upgrade Required";
	case 431: return "Request Header Fields Too Large";
	}
	return "Unknown";
}

/* Answer with a short text body (extra: more header lines), and close. */
static void
reply(struct peer *c, const char *method, const char *target, int status,
    const char *extra, const char *body)
{
	char out[512];
	int n;

	n = snprintf(out, sizeof(out), "HTTP/1.1 %d %s\r\n"
	    "Content-Type: text/plain\r\nContent-Length: %zu\r\n"
	    "Connection: close\r\nX-Backend: %s\r\n%s\r\n%s", status,
	    reason(status), strlen(body), name, extra,
	    strcmp(method, "HEAD") == 0 ? "" : body);
	if (n > 0 && (size_t)n < sizeof(out))
		write_all(c->fd, out, (size_t)n);
	log_line(method, target, "%d", status);
	linger_close(c);
}

/* Our close frame; whether it arrives no longer matters to us. */
static void
send_close(struct peer *c, int code)
{
	unsigned char f[WS_HEAD_MAX + 2];
	size_t n = ws_frame_head(f, 1, WS_CLOSE, NULL, 2);

	f[n] = (unsigned char)(code >> 8);
	f[n + 1] = (unsigned char)code;
	write_all(c->fd, f, n + 2);
}

/* A control frame, whole in c->buf: NULL to go on, or why to stop. */
static const char *
control(struct peer *c, const struct ws_head *fh)
{
	unsigned char out[WS_HEAD_MAX + WS_CONTROL_MAX], *p;
	size_t n = (size_t)fh->len, hn;
	int code;

	while (c->len - c->off < n)
		if (fill(c) <= 0)
			return c->eof ? "client hung up mid-frame" :
			    failed("read");
	p = c->buf + c->off;
	c->off += n;
	ws_mask(p, n, fh->mask, 0);
	if (fh->opcode == WS_PONG)
		return NULL;
	if (fh->opcode == WS_PING) {
		hn = ws_frame_head(out, 1, WS_PONG, NULL, n);
		memcpy(out + hn, p, n);
		return write_all(c->fd, out, hn + n) < 0 ? failed("write") :
		    NULL;
	}
	if (n == 1) {
		send_close(c, WS_CLOSE_PROTOCOL);
		return "close frame of 1 byte";
	}
	/* A close: the same code back (none if it gave none), then EOF. */
	hn = ws_frame_head(out, 1, WS_CLOSE, NULL, n >= 2 ? 2 : 0);
	memcpy(out + hn, p, n >= 2 ? 2 : 0);
	write_all(c->fd, out, hn + (n >= 2 ? 2 : 0));
	code = n >= 2 ? p[0] << 8 | p[1] : 0;
	if (code == 0)
		return "client sent close";
	snprintf(why, sizeof(why), "client sent close %d", code);
	return why;
}

/* Whether this frame is a whole text message saying "bye" (peeked). */
static int
is_bye(struct peer *c, const struct ws_head *fh)
{
	unsigned char p[3];

	if (fh->opcode != WS_TEXT || !fh->fin || fh->len != 3)
		return 0;
	while (c->len - c->off < 3)
		if (fill(c) <= 0)
			return 0;	/* the echo loop will see why */
	memcpy(p, c->buf + c->off, 3);
	ws_mask(p, 3, fh->mask, 0);
	return memcmp(p, "bye", 3) == 0;
}

/*
 * Echo a data frame as it arrives: our head at once, then each piece
 * of payload as it is read, so we never hold a frame and a client that
 * stops reading stops us reading too (backpressure, end to end).
 */
static const char *
data(struct peer *c, const struct ws_head *fh, struct tally *t)
{
	unsigned char out[WS_HEAD_MAX + HEAD_MAX];
	unsigned long long done = 0;
	size_t hn, k;

	hn = ws_frame_head(out, fh->fin, fh->opcode, NULL, fh->len);
	t->frames++;
	for (;;) {
		k = c->len - c->off;
		if (k > fh->len - done)
			k = (size_t)(fh->len - done);
		memcpy(out + hn, c->buf + c->off, k);
		ws_mask(out + hn, k, fh->mask, done);
		if (hn + k > 0 && write_all(c->fd, out, hn + k) < 0)
			return failed("write");
		c->off += k;
		done += k;
		t->bytes += k;
		hn = 0;
		if (done == fh->len)
			return NULL;
		if (c->eof)
			return "client hung up mid-frame";
		if (slow_ms > 0)
			pause_ms(slow_ms);
		if (fill(c) < 0)
			return failed("read");
	}
}

/* Echo frames until one side is done; returns why it ended. */
static const char *
echo(struct peer *c, struct tally *t)
{
	struct ws_head fh;
	const char *end;
	int n;

	for (;;) {
		n = ws_parse_head(c->buf + c->off, c->len - c->off, &fh);
		if (n < 0) {
			send_close(c, WS_CLOSE_PROTOCOL);
			return "malformed frame head";
		}
		if (n == 0) {
			if (c->eof)
				return "client hung up";
			if (fill(c) < 0)
				return failed("read");
			continue;
		}
		c->off += (size_t)n;
		if (!fh.masked) {
			send_close(c, WS_CLOSE_PROTOCOL);
			return "unmasked frame";
		}
		if (fh.opcode >= WS_CLOSE)
			end = control(c, &fh);
		else if (is_bye(c, &fh)) {
			c->off += 3;
			send_close(c, WS_CLOSE_NORMAL);
			end = "client said bye";
		} else
			end = data(c, &fh, t);
		if (end != NULL)
			return end;
	}
}

/* Send the 101, with the greeting frame in the same write(). */
static int
switch_protocols(struct peer *c, const char *key)
{
	char accept[WS_ACCEPT_LEN + 1], *out;
	size_t len = greeting != NULL ? strlen(greeting) : 0, n;
	int r;

	if ((out = malloc(256 + strlen(name) + WS_HEAD_MAX + len)) == NULL)
		return -1;
	n = (size_t)sprintf(out, "HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n");
	if (key != NULL) {
		ws_accept_key(key, accept);
		n += (size_t)sprintf(out + n, "Sec-WebSocket-Accept: %s\r\n",
		    accept);
	}
	n += (size_t)sprintf(out + n, "X-Backend: %s\r\n\r\n", name);
	if (greeting != NULL) {
		n += ws_frame_head((unsigned char *)out + n, 1, WS_TEXT, NULL,
		    len);
		memcpy(out + n, greeting, len);
		n += len;
	}
	r = write_all(c->fd, out, n);
	free(out);
	return r;
}

/*
 * The status that says why this request is not a handshake (its body
 * and any extra header lines in *body and *extra), or 0 if it is one.
 */
static int
refuse(const struct head *h, const char *method, const char *version,
    const char **body, const char **extra)
{
	const char *v;
	int count;

	*extra = "";
	if (!field_has(h, "Upgrade", "websocket")) {
		*extra = "Upgrade: websocket\r\n";
		*body = "no Upgrade: websocket in the request\n";
		return 426;
	}
	if (!field_has(h, "Connection", "upgrade")) {
		*extra = "Upgrade: websocket\r\n";
		*body = "no upgrade in the request's Connection\n";
		return 426;
	}
	if (strcmp(method, "GET") != 0 || strcmp(version, "HTTP/1.0") == 0) {
		*body = "a handshake is a GET in HTTP/1.1\n";
		return 400;
	}
	v = field(h, "Sec-WebSocket-Version", &count);
	if (count != 1 || strcmp(v, "13") != 0) {
		*extra = "Sec-WebSocket-Version: 13\r\n";
		*body = count == 0 ?
		    "no Sec-WebSocket-Version in the request\n" :
		    "Sec-WebSocket-Version is not 13\n";
		return 400;
	}
	v = field(h, "Sec-WebSocket-Key", &count);
	if (count != 1 || !ws_key_valid(v)) {
		*body = count == 0 ? "no Sec-WebSocket-Key in the request\n" :
		    count > 1 ? "more than one Sec-WebSocket-Key\n" :
		    "Sec-WebSocket-Key is not the base64 of 16 bytes\n";
		return 400;
	}
	return 0;
}

/* "METHOD TARGET HTTP/1.x", split in place; -1 if it is not that. */
static int
request_line(char *line, const char **method, const char **target,
    const char **version)
{
	char *sp1, *sp2;

	if ((sp1 = strchr(line, ' ')) == NULL || sp1 == line ||
	    (sp2 = strchr(sp1 + 1, ' ')) == NULL || sp2 == sp1 + 1 ||
	    strncmp(sp2 + 1, "HTTP/1.", 7) != 0 || strlen(sp2 + 1) != 8)
		return -1;
	*sp1 = *sp2 = '\0';
	*method = line;
	*target = sp1 + 1;
	*version = sp2 + 1;
	return 0;
}

/* One connection, in its own process: the handshake, then the echo. */
static void
serve_conn(int fd)
{
	static struct peer c;
	static struct head h;
	const char *method = "-", *target = "-", *version, *body, *extra;
	const char *key, *end;
	struct tally t = { 0, 0 };
	int r, status, count;

	c.fd = fd;
	if ((r = read_head(&c, &h)) <= 0) {
		if (r == -2)
			reply(&c, method, target, 431, "",
			    "request head too large\n");
		else
			close(fd);	/* gone before a whole head */
		return;
	}
	if (split_head(&h) < 0 ||
	    request_line(h.line, &method, &target, &version) < 0) {
		reply(&c, method, target, 400, "", "malformed request head\n");
		return;
	}
	if (strncmp(target, "/health", 7) == 0 &&
	    (target[7] == '\0' || target[7] == '?') &&
	    !field_has(&h, "Upgrade", "websocket")) {
		reply(&c, method, target, 200, "", "ok\n");
		return;
	}
	status = refuse(&h, method, version, &body, &extra);
	if (status != 0 && !always_101) {
		reply(&c, method, target, status, extra, body);
		return;
	}
	key = field(&h, "Sec-WebSocket-Key", &count);
	if (switch_protocols(&c, count == 1 && ws_key_valid(key) ? key :
	    NULL) < 0)
		end = failed("write");
	else
		end = echo(&c, &t);
	log_line(method, target, "101 %llu frame%s %llu bytes, %s", t.frames,
	    t.frames == 1 ? "" : "s", t.bytes, end);
	linger_close(&c);
}

/* Children are reaped as they end, so none lingers as a zombie. */
static void
on_child(int sig)
{
	int saved = errno;

	(void)sig;
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	errno = saved;
}

static volatile sig_atomic_t stopping;
static int stop_pipe[2] = { -1, -1 };

/*
 * SIGTERM, SIGINT: stop accepting and exit 0 (children go on). A byte in
 * a pipe as well as the flag: a signal that came after the loop looked at
 * the flag, and before accept() blocked, was never seen, and wsecho
 * waited for a client that never came (a test failed so once in 20
 * runs). poll() on the pipe and the listener cannot miss it.
 */
static void
on_stop(int sig)
{
	int saved = errno;
	ssize_t r;

	(void)sig;
	stopping = 1;
	r = write(stop_pipe[1], "", 1);
	(void)r;
	errno = saved;
}

static void
serve(int lfd)
{
	struct sigaction sa;
	struct pollfd p[2];
	int fd, one = 1;
	pid_t pid;

	if (pipe(stop_pipe) < 0) {
		fprintf(stderr, "wsecho: pipe: %s\n", strerror(errno));
		exit(1);
	}
	fcntl(stop_pipe[1], F_SETFL, fcntl(stop_pipe[1], F_GETFL) | O_NONBLOCK);
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_child;
	sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
	sigaction(SIGCHLD, &sa, NULL);
	sa.sa_handler = on_stop;
	sa.sa_flags = 0;	/* no restart: accept() must return */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	while (!stopping) {
		p[0].fd = lfd;
		p[1].fd = stop_pipe[0];
		p[0].events = p[1].events = POLLIN;
		if (poll(p, 2, -1) < 0 || !(p[0].revents & POLLIN))
			continue;	/* a signal: stopping is looked at again */
		if ((fd = accept(lfd, NULL, NULL)) < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;	/* stopping is looked at again */
			if (errno != EMFILE && errno != ENFILE)
				fprintf(stderr, "wsecho: accept: %s\n",
				    strerror(errno));
			pause_ms(PAUSE_MS);	/* do not spin on it */
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		fflush(stdout);		/* or the child writes it again */
		if ((pid = fork()) == 0) {
			close(lfd);
			close(stop_pipe[0]);
			close(stop_pipe[1]);
			serve_conn(fd);
			exit(0);
		}
		if (pid < 0)
			fprintf(stderr, "wsecho: cannot fork: %s\n",
			    strerror(errno));
		close(fd);
	}
	fflush(stdout);
}

/* ---- The client ---- */

static void
random_bytes(unsigned char *p, size_t n)
{
	ssize_t r;

	if (random_fd < 0 && (random_fd = open("/dev/urandom", O_RDONLY)) < 0)
		tool_die("cannot open /dev/urandom: %s", strerror(errno));
	while (n > 0) {
		if ((r = read(random_fd, p, n)) <= 0 && errno != EINTR)
			tool_die("cannot read /dev/urandom: %s", r == 0 ?
			    "end of file" : strerror(errno));
		if (r > 0) {
			p += r;
			n -= (size_t)r;
		}
	}
}

/* Read more, or say why nothing more came. */
static void
need_more(struct peer *c)
{
	int r = fill(c);

	if (r == 0)
		tool_die("%s closed the connection without a close frame",
		    where);
	if (r < 0 && errno == ETIMEDOUT)
		tool_die("%s: no answer within %d s", where, WAIT_MS / 1000);
	if (r < 0)
		tool_die("cannot read from %s: %s", where, strerror(errno));
}

/* Take n payload bytes out of c->buf, reading as they come. */
static void
take(struct peer *c, unsigned char *p, size_t n)
{
	size_t k;

	while (n > 0) {
		if (c->off == c->len)
			need_more(c);
		k = c->len - c->off < n ? c->len - c->off : n;
		memcpy(p, c->buf + c->off, k);
		c->off += k;
		p += k;
		n -= k;
	}
}

/* A client frame, masked with a fresh key as RFC 6455 requires. */
static int
send_frame(struct peer *c, int opcode, const void *p, size_t n)
{
	unsigned char key[4], *f;
	size_t hn;
	int r;

	if ((f = malloc(WS_HEAD_MAX + n)) == NULL)
		tool_die("out of memory");
	random_bytes(key, sizeof(key));
	hn = ws_frame_head(f, 1, opcode, key, n);
	memcpy(f + hn, p, n);
	ws_mask(f + hn, n, key, 0);
	r = write_all(c->fd, f, hn + n);
	free(f);
	return r;
}

static void
must_send(struct peer *c, int opcode, const void *p, size_t n)
{
	if (send_frame(c, opcode, p, n) < 0)
		tool_die("cannot send to %s: %s", where, strerror(errno));
}

/* A close frame with code (1005: none), sent or not. */
static int
send_client_close(struct peer *c, int code)
{
	unsigned char p[2];

	p[0] = (unsigned char)(code >> 8);
	p[1] = (unsigned char)code;
	return send_frame(c, WS_CLOSE, p, code == 1005 ? 0 : 2);
}

/* The next data message, or a close; pings are answered on the way. */
static void
next_message(struct peer *c, struct msg *m)
{
	unsigned char ctl[WS_CONTROL_MAX];
	struct ws_head fh;
	int n;

	m->opcode = -1;
	m->len = 0;
	for (;;) {
		while ((n = ws_parse_head(c->buf + c->off, c->len - c->off,
		    &fh)) == 0)
			need_more(c);
		if (n < 0)
			tool_die("%s sent a malformed frame", where);
		c->off += (size_t)n;
		if (fh.masked)
			tool_die("%s sent a masked frame", where);
		if (fh.opcode >= WS_CLOSE) {
			take(c, ctl, (size_t)fh.len);
			if (fh.opcode == WS_PING)
				must_send(c, WS_PONG, ctl, (size_t)fh.len);
			if (fh.opcode != WS_CLOSE)
				continue;
			m->opcode = WS_CLOSE;
			m->code = fh.len >= 2 ? ctl[0] << 8 | ctl[1] : 1005;
			return;
		}
		if (fh.len > MESSAGE_MAX - m->len)
			tool_die("%s sent a message over %d bytes", where,
			    MESSAGE_MAX);
		if (m->cap < m->len + fh.len) {
			m->cap = m->len + (size_t)fh.len;
			if ((m->p = realloc(m->p, m->cap)) == NULL)
				tool_die("out of memory");
		}
		take(c, m->p + m->len, (size_t)fh.len);
		m->len += (size_t)fh.len;
		if (m->opcode < 0)
			m->opcode = fh.opcode;
		if (fh.fin)
			return;
	}
}

static void
print_message(const struct msg *m)
{
	fwrite(m->p, 1, m->len, stdout);
	putchar('\n');
	fflush(stdout);
}

/* After the close frames the server hangs up; wait for that. */
static void
wait_eof(struct peer *c)
{
	int r;

	while ((r = fill(c)) > 0)
		c->off = c->len;
	if (r < 0 && errno == ETIMEDOUT)
		tool_die("%s did not close the connection after the close "
		    "frames", where);
}

static int
dial(const struct tool_hostport *hp)
{
	struct addrinfo *res, *ai;
	int fd = -1, err, one = 1;

	res = tool_resolve(hp, "connect to");
	for (ai = res, err = 0; ai != NULL; ai = ai->ai_next) {
		if ((fd = socket(ai->ai_family, ai->ai_socktype,
		    ai->ai_protocol)) >= 0 &&
		    connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		err = errno;
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		tool_die("cannot connect to %s: %s", where, strerror(err));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* The 101 must be one, and must prove the server read our key. */
static void
check_answer(struct peer *c, const char *key)
{
	static struct head h;
	char want[WS_ACCEPT_LEN + 1];
	const char *v;
	int r, count;

	if ((r = read_head(c, &h)) == 0)
		tool_die("%s closed the connection before answering", where);
	if (r == -2)
		tool_die("%s sent a response head over %d bytes", where,
		    HEAD_MAX);
	if (r < 0 && errno == ETIMEDOUT)
		tool_die("%s: no answer within %d s", where, WAIT_MS / 1000);
	if (r < 0)
		tool_die("cannot read from %s: %s", where, strerror(errno));
	if (split_head(&h) < 0 || strncmp(h.line, "HTTP/1.", 7) != 0 ||
	    strlen(h.line) < 12 || h.line[8] != ' ' ||
	    strspn(h.line + 9, "0123456789") != 3 ||
	    (h.line[12] != ' ' && h.line[12] != '\0'))
		tool_die("%s sent a malformed response head", where);
	if ((r = atoi(h.line + 9)) != 101)
		tool_die("%s answered %d, not 101", where, r);
	if (!field_has(&h, "Upgrade", "websocket"))
		tool_die("%s answered 101 without Upgrade: websocket", where);
	if (!field_has(&h, "Connection", "upgrade"))
		tool_die("%s answered 101 without Connection: upgrade", where);
	ws_accept_key(key, want);
	if ((v = field(&h, "Sec-WebSocket-Accept", &count)) == NULL)
		tool_die("%s answered 101 without Sec-WebSocket-Accept",
		    where);
	if (count != 1 || strcmp(v, want) != 0)
		tool_die("%s sent Sec-WebSocket-Accept %s, not %s", where, v,
		    want);
}

/*
 * Each message goes out alone and its echo is awaited (what else comes,
 * such as a greeting, is printed too), then the close handshake.
 */
static int
client(const struct tool_hostport *hp, const char *path, char **msgs)
{
	static struct peer c;
	unsigned char raw[16];
	char key[WS_KEY_LEN + 1], req[HEAD_MAX];
	struct msg m = { 0, 0, NULL, 0, 0 };
	size_t n;
	int len;

	c.fd = dial(hp);
	c.wait_ms = WAIT_MS;
	random_bytes(raw, sizeof(raw));
	ws_base64(raw, sizeof(raw), key);
	len = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
	    path, where, key);
	if (len < 0 || (size_t)len >= sizeof(req))
		tool_die("the request head for %s is too long", path);
	if (write_all(c.fd, req, (size_t)len) < 0)
		tool_die("cannot send to %s: %s", where, strerror(errno));
	check_answer(&c, key);
	for (; *msgs != NULL; msgs++) {
		n = strlen(*msgs);
		must_send(&c, WS_TEXT, *msgs, n);
		do {
			next_message(&c, &m);
			if (m.opcode == WS_CLOSE)
				goto closed;
			print_message(&m);
		} while (m.len != n || memcmp(m.p, *msgs, n) != 0);
	}
	if (send_client_close(&c, WS_CLOSE_NORMAL) < 0)
		tool_die("cannot send to %s: %s", where, strerror(errno));
	for (next_message(&c, &m); m.opcode != WS_CLOSE;
	    next_message(&c, &m))
		print_message(&m);
	wait_eof(&c);
	free(m.p);
	return 0;
closed:
	/*
	 * The server closed first: answer as RFC 6455 says, if it still
	 * listens (a proxy may have closed both ways already).
	 */
	send_client_close(&c, m.code);
	wait_eof(&c);
	free(m.p);
	if (m.code != WS_CLOSE_NORMAL)
		tool_die("%s closed the WebSocket with code %d", where,
		    m.code);
	return 0;
}

/* ---- The command line ---- */

int
main(int argc, char **argv)
{
	static struct tool_hostport addr;
	const char *lis = NULL, *conn = NULL, *path = "/";
	struct sigaction sa;
	int ch, lfd, server_opt = 0, client_opt = 0;

	tool_init("wsecho", usage);
	while ((ch = getopt(argc, argv, ":l:c:n:g:s:Ap:qh")) != -1) {
		/* Remember one option of each side, to refuse a mix. */
		if (strchr("ngsAq", ch) != NULL)
			server_opt = ch;
		if (ch == 'p')
			client_opt = ch;
		switch (ch) {
		case 'l':
		case 'c':
			tool_arg_hostport(ch, optarg, &addr);
			if (ch == 'l')
				lis = optarg;
			else
				conn = optarg;
			break;
		case 'n': name = tool_arg_name(ch, optarg); break;
		case 'g': greeting = optarg; break;
		case 's':
			if (tool_parse_num(optarg, 0, MAX_MS, &slow_ms) < 0)
				tool_bad_value(ch, optarg,
				    "want milliseconds 0-86400000");
			break;
		case 'A': always_101 = 1; break;
		case 'p':
			if (optarg[0] != '/' || strpbrk(optarg, " \r\n"))
				tool_bad_value(ch, optarg, "want a path that "
				    "starts with / and has no spaces");
			path = optarg;
			break;
		case 'q': quiet = 1; break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			tool_bad_option(ch);
		}
	}
	if ((lis == NULL) == (conn == NULL))
		tool_bad_args("give one of -l [HOST:]PORT (serve) or "
		    "-c [HOST:]PORT (connect)");
	if (lis != NULL && optind < argc)
		tool_bad_args("unexpected argument '%s' (messages are for -c)",
		    argv[optind]);
	if (lis != NULL && client_opt != 0)
		tool_bad_args("-%c is for the client (-c), not -l",
		    client_opt);
	if (conn != NULL && server_opt != 0)
		tool_bad_args("-%c is for the server (-l), not -c",
		    server_opt);
	where = addr.where;
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = SIG_IGN;	/* a peer gone must not kill us */
	sigaction(SIGPIPE, &sa, NULL);
	if (conn != NULL)
		return client(&addr, path, argv + optind);
	if (name == NULL)
		name = addr.port;
	lfd = tool_listen(&addr, 128);
	fprintf(stderr, "wsecho %s listening on %s\n", name, where);
	serve(lfd);
	return 0;
}
