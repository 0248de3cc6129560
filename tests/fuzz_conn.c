/*
 * fuzz_conn.c - the fuzz harness for final/conn.c's state machine (make
 * fuzz, AFL++): both of its peers scripted by the input.
 *
 * One process holds all three parties, on loopback: final/'s modules
 * with their select() loop, a client connected to lb's listener, and a
 * backend listening where lb's one backend is. The input is a script of
 * small steps: the client sends some bytes, the backend sends some,
 * either one closes (FIN) or resets (RST), the loop runs until nothing
 * more happens. What each peer receives is kept. Then both peers go
 * away, and the harness abort()s (a crash, for the fuzzer) when a rule
 * is broken:
 *
 *   - what the client got parses as HTTP/1.1 responses, one per request
 *     it sent (and at most one more, lb's own answer to a bad one), and
 *     nothing follows a response that said Connection: close; a 101
 *     answers only a request that asked for an upgrade (what follows
 *     it is the tunnel's, not judged);
 *   - what each backend connection got parses as requests, each with
 *     lb's X-Forwarded-For; an upgrade is passed on only as the first
 *     request of a connection (never on a pooled one), and nothing of
 *     HTTP follows it;
 *   - once both peers are gone, lb lets go of everything without
 *     waiting for any timer: no client stranded, no descriptor left;
 *   - and conn.c's own invariants (bug(), which aborts in this build),
 *     ASan and UBSan, as everywhere.
 *
 * Built by afl-clang-fast it runs inputs in a loop (persistent mode);
 * built by any other compiler it reads one script on stdin, to replay.
 */
#include <sys/types.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "backend.h"
#include "buf.h"
#include "config.h"
#include "conn.h"
#include "http.h"
#include "loop.h"
#include "roster.h"

#define MAX_INPUT	16384
#define STREAM_MAX	(1 << 20)	/* what a peer may receive, kept */
#define MAX_BCONNS	16

struct config cfg = {
	.connect_ms = 60000, .head_ms = 60000, .response_ms = 60000,
	.idle_ms = 60000, .drain_ms = 1000, .check_ms = 1000,
	.interval_ms = 60000, .rise = 2, .fall = 3, .health_path = "/health",
	.retries = 2, .pool_size = 4, .max_conns = 64, .tunnel_ms = 60000,
};

/* One peer's end of a connection, and what it received. */
struct peer {
	int	fd;		/* -1: gone */
	char	*got;
	size_t	len;
	int	overflow;	/* more came than is kept: not judged */
};

static struct peer client;
static struct peer bconns[MAX_BCONNS];
static int nbconns, current = -1;
static int blisten = -1;
static int backends_gone;	/* the end: new connections are closed */
static char *client_sent;
static size_t client_sent_len;

static void dump(const char *name, const char *p, size_t n);

static void
check(int ok, const char *what)
{
	int i;

	if (ok)
		return;
	fprintf(stderr, "fuzz_conn: broken: %s\n", what);
	dump("the client sent", client_sent, client_sent_len);
	dump("the client got", client.got, client.len);
	for (i = 0; i < nbconns; i++)
		dump("a backend got", bconns[i].got, bconns[i].len);
	abort();
}

/* What a peer saw, readable, to tell why a rule broke. */
static void
dump(const char *name, const char *p, size_t n)
{
	size_t i;

	fprintf(stderr, "-- %s (%zu bytes):\n", name, n);
	for (i = 0; i < n && i < 2048; i++) {
		if (p[i] == '\n')
			fputs("\\n\n", stderr);
		else if (p[i] == '\r')
			fputs("\\r", stderr);
		else if ((unsigned char)p[i] < ' ' || (unsigned char)p[i] > '~')
			fprintf(stderr, "\\x%02x", (unsigned char)p[i]);
		else
			fputc(p[i], stderr);
	}
	fputc('\n', stderr);
}

static int
loopback_listener(int *port)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	check(fd >= 0, "socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	check(bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0, "bind");
	check(listen(fd, 64) == 0, "listen");
	check(getsockname(fd, (struct sockaddr *)&sin, &len) == 0, "name");
	*port = ntohs(sin.sin_port);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

static int
dial(int port)
{
	struct sockaddr_in sin;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	check(fd >= 0, "socket");
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((unsigned short)port);
	check(connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0,
	    "connect to lb");
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

/* Read what p can get now. */
static void
drain(struct peer *p)
{
	char scrap[4096];
	ssize_t r;

	while (p->fd >= 0) {
		if (p->got == NULL)
			check((p->got = malloc(STREAM_MAX)) != NULL, "memory");
		if (p->len == STREAM_MAX) {
			p->overflow = 1;	/* keep the harness bounded */
			r = read(p->fd, scrap, sizeof(scrap));
		} else {
			r = read(p->fd, p->got + p->len, STREAM_MAX - p->len);
			if (r > 0)
				p->len += (size_t)r;
		}
		if (r <= 0)
			return;
	}
}

static void
accept_backends(void)
{
	int fd;

	while ((fd = accept(blisten, NULL, NULL)) >= 0) {
		if (backends_gone || nbconns == MAX_BCONNS) {
			close(fd);
			continue;
		}
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		bconns[nbconns].fd = fd;
		current = nbconns++;
	}
}

/* Run lb until nothing more happens, the peers reading as they go. */
static void
settle(void)
{
	int i, quiet = 0, passes;

	for (passes = 0; passes < 400 && quiet < 3; passes++) {
		check(loop_run_wait(0) >= 0, "select");
		conn_reap();
		accept_backends();
		drain(&client);
		for (i = 0; i < nbconns; i++)
			drain(&bconns[i]);
		quiet = loop_run_wait(0) == 0 ? quiet + 1 : 0;
		conn_reap();
	}
}

static void
send_all(struct peer *p, const char *s, size_t n)
{
	ssize_t w;
	int tries = 0;

	while (p->fd >= 0 && n > 0 && tries++ < 100) {
		if ((w = write(p->fd, s, n)) > 0) {
			s += w;
			n -= (size_t)w;
		} else if (w < 0 && errno != EAGAIN && errno != EINTR)
			return;
		else
			settle();	/* full: let lb take some */
	}
}

static void
finish(struct peer *p, int reset)
{
	struct linger lg = { 1, 0 };

	if (p->fd < 0)
		return;
	if (reset)
		setsockopt(p->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(p->fd);
	p->fd = -1;
}

/* ---- the rules ---- */

/*
 * The requests the client sent, parsed as lb parses them: whether each
 * was HEAD, as far as they are whole. *bad: a bad or partial one ended
 * the list, so lb may add an answer of its own.
 */
static int
client_requests(int *heads, int *upgrades, int max, int *bad)
{
	const char *p = client_sent, *e = client_sent + client_sent_len;
	struct http_msg m;
	struct http_body b;
	ssize_t k;
	int n = 0, rc;

	*bad = 0;
	while (p < e && n < max) {
		rc = http_parse_request(p, (size_t)(e - p), HEAD_MAX, &m);
		if (rc <= 0) {
			*bad = 1;
			break;
		}
		heads[n] = m.method_len == 4 && memcmp(m.method, "HEAD", 4) == 0;
		upgrades[n] = http_wants_upgrade(&m) &&
		    m.framing == HTTP_BODY_NONE;
		p += rc;
		http_body_init(&b, &m);
		k = http_body_scan(&b, p, (size_t)(e - p));
		if (k < 0 || !b.done) {
			*bad = 1;	/* lb may answer 400, or wait */
			n++;
			break;
		}
		p += k;
		n++;
	}
	return n;
}

/* What the client got: responses, in order, one per request. */
static void
check_client(void)
{
	int heads[512], upgrades[512], nreq, bad, final = 0, rc;
	const char *p = client.got, *e = client.got + client.len;
	struct http_msg m;
	struct http_body b;
	ssize_t k;

	if (client.len == 0 || client.overflow)
		return;
	nreq = client_requests(heads, upgrades, 512, &bad);
	while (p < e) {
		rc = http_parse_sent(p, (size_t)(e - p), HEAD_MAX + 4096, 1,
		    final < nreq && heads[final], &m);
		check(rc >= 0, "lb sent the client something that is not a "
		    "response");
		if (rc == 0)
			return;		/* cut: the connection ended */
		p += rc;
		if (m.status == 101) {
			check(final < nreq && upgrades[final],
			    "a 101 to a request that asked for no upgrade");
			return;		/* the rest is the tunnel's */
		}
		if (m.status < 200)
			continue;
		check(final < nreq + bad, "a response to no request");
		final++;
		http_body_init(&b, &m);
		k = http_body_scan(&b, p, (size_t)(e - p));
		check(k >= 0, "lb sent a malformed body");
		p += k;
		if (!b.done)
			return;
		check(!http_connection_has(&m, "close") || p == e,
		    "bytes after a response that said Connection: close");
	}
}

/* What a backend connection got: requests lb forwarded. */
static void
check_backend(const struct peer *bp)
{
	const char *p = bp->got, *e = bp->got + bp->len;
	struct http_msg m;
	struct http_body b;
	ssize_t k;
	int rc, nth = 0;

	if (bp->overflow)
		return;
	for (; p < e; nth++) {
		rc = http_parse_sent(p, (size_t)(e - p), HEAD_MAX + 4096, 0, 0,
		    &m);
		check(rc >= 0, "lb sent a backend something that is not a "
		    "request");
		if (rc == 0)
			return;
		check(http_find(&m, "X-Forwarded-For") != NULL,
		    "a request without lb's X-Forwarded-For");
		if (http_wants_upgrade(&m)) {
			check(nth == 0, "an upgrade on a reused connection");
			return;		/* the rest may be the tunnel's */
		}
		p += rc;
		http_body_init(&b, &m);
		k = http_body_scan(&b, p, (size_t)(e - p));
		check(k >= 0, "lb sent a backend a malformed body");
		p += k;
		if (!b.done)
			return;
	}
}

/* ---- one script ---- */

static int lport;

static void
reset_peers(void)
{
	int i;

	client.fd = dial(lport);
	client.len = 0;
	client.overflow = 0;
	client_sent_len = 0;
	for (i = 0; i < MAX_BCONNS; i++) {
		bconns[i].fd = -1;
		bconns[i].len = 0;
		bconns[i].overflow = 0;
	}
	nbconns = 0;
	current = -1;
	backends_gone = 0;
	backends[0].up = 1;	/* whatever the script before did */
}

/*
 * The script: each step is an op byte; for a send, a length byte and
 * that many bytes follow.
 *   0 client sends    1 backend sends    2 run until quiet
 *   3 backend FIN     4 backend RST      5 client FIN (half-close)
 *   6 client RST      7 the backend's previous connection is current
 */
static void
run(const unsigned char *in, size_t len)
{
	size_t i = 0, n;
	unsigned op;
	struct peer *b;

	reset_peers();
	settle();
	while (i < len) {
		op = in[i++] % 8;
		b = current >= 0 ? &bconns[current] : NULL;
		switch (op) {
		case 0:
		case 1:
			n = i < len ? (size_t)in[i++] + 1 : 0;
			if (n > len - i)
				n = len - i;
			if (op == 0 && client.fd >= 0) {
				memcpy(client_sent + client_sent_len, in + i, n);
				client_sent_len += n;
				send_all(&client, (const char *)in + i, n);
			} else if (op == 1 && b != NULL)
				send_all(b, (const char *)in + i, n);
			i += n;
			break;
		case 2:
			settle();
			break;
		case 3:
			if (b != NULL && b->fd >= 0)
				shutdown(b->fd, SHUT_WR);
			break;
		case 4:
			if (b != NULL) {
				drain(b);
				finish(b, 1);
			}
			break;
		case 5:
			if (client.fd >= 0)
				shutdown(client.fd, SHUT_WR);
			break;
		case 6:
			drain(&client);
			finish(&client, 1);
			break;
		default:
			if (current > 0)
				current--;
			break;
		}
	}
	settle();
	check_client();
	for (i = 0; i < (size_t)nbconns; i++)
		check_backend(&bconns[i]);
	/* Both peers go: lb must let go of everything, with no timer. */
	finish(&client, 0);
	for (i = 0; i < (size_t)nbconns; i++)
		finish(&bconns[i], 0);
	backends_gone = 1;
	settle();
	check(conn_count() == 0, "a client connection outlived both peers");
}

static void
setup(void)
{
	char addr[32];
	const char *why;
	int bport, lfd;
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGPIPE, &sa, NULL);
	if (freopen("/dev/null", "w", stdout) == NULL)
		exit(1);		/* the access log */
	blisten = loopback_listener(&bport);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", bport);
	check(backend_add(addr, &why) == 0 && backend_resolve() == 0, "backend");
	lfd = loopback_listener(&lport);
	check(conn_listen(lfd, 0) == 0, "listen");
	check((client_sent = malloc(MAX_INPUT)) != NULL, "memory");
}

#ifdef __AFL_FUZZ_TESTCASE_LEN
__AFL_FUZZ_INIT();

int
main(void)
{
	static unsigned char buf[MAX_INPUT];
	const unsigned char *p;
	size_t len;

	setup();
	p = __AFL_FUZZ_TESTCASE_BUF;
	while (__AFL_LOOP(1000)) {
		len = (size_t)__AFL_FUZZ_TESTCASE_LEN;
		if (len > sizeof(buf))
			len = sizeof(buf);
		memcpy(buf, p, len);
		run(buf, len);
	}
	return 0;
}
#else
int
main(void)
{
	static unsigned char buf[MAX_INPUT];
	size_t len = 0;
	ssize_t r;
	int i;

	setup();
	while (len < sizeof(buf) &&
	    (r = read(0, buf + len, sizeof(buf) - len)) > 0)
		len += (size_t)r;
	run(buf, len);
	/* Replayed alone, also leave nothing behind: ASan counts leaks. */
	conn_free_all();
	buf_free_spares();
	roster_free();
	loop_free();
	close(blisten);
	free(client.got);
	for (i = 0; i < MAX_BCONNS; i++)
		free(bconns[i].got);
	free(client_sent);
	return 0;
}
#endif
