/*
 * tests/backend.c - a small configurable HTTP/1.1 server for the test
 * suites and the demos. It echoes what it received, or sends a pattern
 * body of any size; slowly, chunked, broken or not at all, as told.
 *
 * usage: backend -l [HOST:]PORT [-n NAME] [-s STATUS] [-d MS] [-z BYTES]
 *                [-c] [-m MODE] [-C MS] [-k] [-K N] [-I MS] [-q] [-h]
 *   -l [HOST:]PORT  listen here (required; a bare PORT means 127.0.0.1,
 *                   IPv6 goes in brackets: [::1]:9001)
 *   -n NAME     the name it reports (default: the port)
 *   -s STATUS   status of ordinary responses, 200-599 (default 200)
 *   -d MS       wait this long before each response head (default 0)
 *   -z BYTES    answer with BYTES pattern bytes, "0123...xyz" repeated,
 *               instead of the echo text (default: echo)
 *   -c          send the body chunked (default: Content-Length)
 *   -m MODE     normal, stall (never answer), close (die halfway through
 *               the body), garbage (answer non-HTTP), drop (close
 *               without answering) or drop-reused (drop every request
 *               but a connection's first: the keep-alive race)
 *               (default normal)
 *   -C MS       say Connection: close, then keep the connection open
 *               and silent MS ms before closing it: a backend slow to
 *               do what it said (default 0: close at once, if asked)
 *   -k          start with /health sick (default: well)
 *   -K N        close a connection silently after N responses
 *               (default 0: unlimited)
 *   -I MS       close a connection idle this long (default 60000; 0: never)
 *   -q          no log line per request on stdout
 *   -h          show the usage
 *
 * A query overrides -s, -d, -z, -c, -m and -C for one request:
 * "GET /x?status=500&delay=200&size=1048576&chunked=1&mode=stall&closing=500";
 * and keepalive=S adds "Keep-Alive: timeout=S" to a kept connection's head.
 * /health answers "ok" (200) or "sick" (503); /control/sick and
 * /control/well set that state, as do SIGUSR1 and SIGUSR2;
 * /control/stats counts connections, ordinary requests and health checks,
 * and says how many ordinary requests are in flight now and the most
 * that ever were at once (inflight-peak): each from its head read to its
 * response written whole (or its connection gone), its delay included,
 * so that a test can see what a balancer's limit let through.
 * Every response says what the backend received: X-Body-Length,
 * X-Body-Sum (FNV-1a, see fnv.h), X-Response-Sum and more.
 *
 * Build: cc -std=c99 -D_POSIX_C_SOURCE=200809L -o backend backend.c tool.c
 */
#include <sys/types.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "fnv.h"
#include "tool.h"

#define HEAD_MAX	65536	/* a request head; larger gets 431 */
#define IN_START	16384	/* first size of a connection's input buffer */
#define PIECE		16384	/* one refill of the output, one chunk */
#define WRITE_TURN	262144	/* bytes written to one client per poll */
#define LINGER_MS	2000	/* reading leftovers after our last byte */
#define PAUSE_MS	100	/* out of descriptors: stop accepting */
#define MAX_MS		86400000LL
#define MAX_SIZE	1099511627776LL
#define GARBAGE		"this is not http\r\n\r\n"

enum mode { M_NORMAL, M_STALL, M_CLOSE, M_GARBAGE, M_DROP, M_DROP_REUSED };
enum state { S_HEAD, S_BODY, S_DELAY, S_WRITE, S_STALL, S_LINGER, S_DEAD };
enum kind { K_ORDINARY, K_HEALTH, K_SICK, K_WELL, K_STATS, K_ERROR };
enum chunk { C_SIZE, C_EXT, C_DATA, C_DATA_END, C_DATA_LF, C_TRAILER,
	C_TRAILER_LINE, C_TRAILER_LF, C_DONE };

static const char *const mode_names[] = {
	"normal", "stall", "close", "garbage", "drop", "drop-reused", NULL
};

/* What shapes one answer: the command line's, maybe overridden. */
struct settings {
	int	status;
	long long delay;	/* milliseconds */
	long long size;		/* pattern bytes; -1: the echo text */
	int	chunked;
	int	mode;
	long long closing;	/* ms: say close, hold the connection */
	long long keepalive;	/* s: say "Keep-Alive: timeout=S"; -1: not */
};

/* Bytes in p[off..len), room for cap. */
struct buf {
	char	*p;
	size_t	off, len, cap;
};

/* The request being read and answered. */
struct request {
	char	*method, *target;
	struct buf hdrs;		/* the echo text's "header" lines */
	int	minor;			/* HTTP/1.minor */
	int	kind, keep, expect;
	int	has_cl, has_te, conn_close, conn_keep;
	struct settings set;
	unsigned long long body_left;	/* of the body or of this chunk */
	unsigned long long body_len;
	uint64_t body_sum;
	int	cstate, cdigits;	/* the chunked decoder */
};

/* The response being sent: head in out, then the body bit by bit. */
struct response {
	char	*text;			/* the body; NULL: the pattern */
	unsigned long long sent, send_len;
	int	chunked, end_chunks, linger;
};

struct conn {
	int	fd;
	int	state;
	int	eof;			/* the peer sent all it will send */
	long long deadline;		/* monotonic ms; 0: none */
	unsigned nreq;			/* requests seen on this connection */
	int	in_flight;		/* an ordinary request is counted */
	size_t	scanned;		/* of in, looking for the head's end */
	struct buf in, out;
	struct request req;
	struct response resp;
};

static const struct {
	int	code;
	const char *text;
} reasons[] = {
	{ 100, "Continue" }, { 200, "OK" }, { 201, "Created" },
	{ 202, "Accepted" }, { 204, "No Content" }, { 206, "Partial Content" },
	{ 301, "Moved Permanently" }, { 302, "Found" }, { 303, "See Other" },
	{ 304, "Not Modified" }, { 307, "Temporary Redirect" },
	{ 308, "Permanent Redirect" }, { 400, "Bad Request" },
	{ 401, "Unauthorized" }, { 403, "Forbidden" }, { 404, "Not Found" },
	{ 405, "Method Not Allowed" }, { 408, "Request Timeout" },
	{ 413, "Content Too Large" }, { 414, "URI Too Long" },
	{ 429, "Too Many Requests" },
	{ 431, "Request Header Fields Too Large" },
	{ 500, "Internal Server Error" }, { 501, "Not Implemented" },
	{ 502, "Bad Gateway" }, { 503, "Service Unavailable" },
	{ 504, "Gateway Timeout" }, { 0, NULL }
};

/*
 * The switches that take a number (or a mode), and what they want.
 * Those with a query key come first: apply_query() stops at the first
 * without one.
 */
static const struct {
	int	opt;
	const char *key;		/* its query key, if any */
	long long lo, hi;
	const char *want;
} knobs[] = {
	{ 's', "status", 200, 599, "want a status 200-599" },
	{ 'd', "delay", 0, MAX_MS, "want milliseconds 0-86400000" },
	{ 'z', "size", 0, MAX_SIZE, "want a byte count 0-1099511627776" },
	{ 'c', "chunked", 0, 1, "want 0 or 1" },
	{ 'm', "mode", 0, 0, "want normal, stall, close, garbage or drop" },
	{ 'C', "closing", 0, MAX_MS, "want milliseconds 0-86400000" },
	{ 'A', "keepalive", 0, 86400, "want seconds 0-86400" },
	{ 'K', NULL, 0, 1000000000, "want a count 0-1000000000" },
	{ 'I', NULL, 0, MAX_MS, "want milliseconds 0-86400000 (0: never)" },
	{ 0, NULL, 0, 0, NULL }
};

static struct settings defaults = { 200, 0, -1, 0, M_NORMAL, 0, -1 };
static const char *name;
static int quiet, sick;
static long long idle_ms = 60000, max_per_conn;
static int listen_fd = -1, wake_r = -1;
static volatile sig_atomic_t wake_w = -1, got_stop, got_health;
static long long now, paused_until;
static unsigned long long n_connections, n_requests, n_health;
static long n_inflight, inflight_peak;	/* ordinary requests at once */
static struct conn **conns;
static size_t nconns, conns_cap;
static struct pollfd *pfds;
static size_t pfds_cap;
static char pattern[PIECE + 36];	/* the pattern from any i % 36 on */

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: backend -l [HOST:]PORT [-n NAME] [-s STATUS] [-d MS] "
	    "[-z BYTES] [-c]\n"
	    "               [-m MODE] [-C MS] [-k] [-K N] [-I MS] [-q] [-h]\n"
	    "  -l [HOST:]PORT  listen here (required; a bare PORT means "
	    "127.0.0.1)\n"
	    "  -n NAME   the name it reports (default: the port)\n"
	    "  -s STATUS status of ordinary responses, 200-599 (default 200)\n"
	    "  -d MS     wait before each response head (default 0)\n"
	    "  -z BYTES  send BYTES pattern bytes, not the echo text "
	    "(default: echo)\n"
	    "  -c        send bodies chunked (default: Content-Length)\n"
	    "  -m MODE   normal, stall, close, garbage, drop or drop-reused "
	    "(default normal)\n"
	    "  -C MS     say Connection: close, then hold the connection MS ms "
	    "(default 0)\n"
	    "  -k        start with /health sick (default: well)\n"
	    "  -K N      close a connection silently after N responses "
	    "(default 0: unlimited)\n"
	    "  -I MS     close a connection idle this long "
	    "(default 60000; 0: never)\n"
	    "  -q        quiet: no log line per request (default: log)\n"
	    "  -h        show this help\n"
	    "Per request: ?status=&delay=&size=&chunked=&mode=&closing=\n"
	    "             &keepalive= (seconds: say Keep-Alive: timeout=)\n"
	    "Paths: /health /control/sick /control/well /control/stats\n"
	    "       (connections, requests, health checks, requests in "
	    "flight now and at most)\n"
	    "Signals: SIGUSR1 sick, SIGUSR2 well, SIGTERM/SIGINT stop\n");
}

static void *
xrealloc(void *p, size_t n)
{
	if ((p = realloc(p, n)) == NULL)
		tool_die("out of memory");
	return p;
}

static char *
xstrndup(const char *s, size_t n)
{
	char *p = xrealloc(NULL, n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + 1;
}

/* Make room for n more bytes at the end of b. */
static void
buf_reserve(struct buf *b, size_t n)
{
	size_t cap;

	if (b->off > 0 && b->off == b->len)
		b->off = b->len = 0;
	if (b->cap - b->len >= n)
		return;
	cap = b->cap > 0 ? b->cap : 256;
	while (cap - b->len < n)
		cap *= 2;
	b->p = xrealloc(b->p, cap);
	b->cap = cap;
}

static void
buf_add(struct buf *b, const void *p, size_t n)
{
	buf_reserve(b, n);
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

static void
buf_printf(struct buf *b, const char *fmt, ...)
{
	char small[256];
	va_list ap, aq;
	int n;

	va_start(ap, fmt);
	va_copy(aq, ap);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n > 0 && (size_t)n < sizeof(small))
		buf_add(b, small, (size_t)n);
	else if (n > 0) {
		buf_reserve(b, (size_t)n + 1);
		vsnprintf(b->p + b->len, (size_t)n + 1, fmt, aq);
		b->len += (size_t)n;
	}
	va_end(aq);
}

static void
buf_free(struct buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static int
knob_index(int opt)
{
	int i;

	for (i = 0; knobs[i].opt != opt; i++)
		;
	return i;
}

/* Set what switch opt sets from val: into s, or a global. */
static int
set_knob(int opt, const char *val, struct settings *s)
{
	int i = knob_index(opt);
	long long v;

	if (opt == 'm') {
		for (i = 0; mode_names[i] != NULL; i++)
			if (strcmp(val, mode_names[i]) == 0)
				break;
		if (mode_names[i] == NULL)
			return -1;
		s->mode = i;
		return 0;
	}
	if (tool_parse_num(val, knobs[i].lo, knobs[i].hi, &v) < 0)
		return -1;
	switch (opt) {
	case 's': s->status = (int)v; break;
	case 'd': s->delay = v; break;
	case 'z': s->size = v; break;
	case 'c': s->chunked = (int)v; break;
	case 'C': s->closing = v; break;
	case 'A': s->keepalive = v; break;
	case 'K': max_per_conn = v; break;
	case 'I': idle_ms = v; break;
	}
	return 0;
}

/* Apply a query's known keys ("a=1&b=2") to s; -1 on a bad value. */
static int
apply_query(const char *q, struct settings *s)
{
	const char *eq;
	char val[32];
	size_t n, klen;
	int i;

	for (; *q != '\0'; q += n + (q[n] == '&')) {
		n = strcspn(q, "&");
		eq = memchr(q, '=', n);
		klen = eq != NULL ? (size_t)(eq - q) : n;
		for (i = 0; knobs[i].key != NULL; i++)
			if (strlen(knobs[i].key) == klen &&
			    memcmp(q, knobs[i].key, klen) == 0)
				break;
		if (knobs[i].key == NULL)
			continue;	/* not ours */
		if (eq == NULL || n - klen - 1 >= sizeof(val))
			return -1;
		memcpy(val, eq + 1, n - klen - 1);
		val[n - klen - 1] = '\0';
		if (set_knob(knobs[i].opt, val, s) < 0)
			return -1;
	}
	return 0;
}

/* The FNV-1a of the first n pattern bytes; the last answer is kept. */
static uint64_t
pattern_sum(unsigned long long n)
{
	static unsigned long long last_n = ULLONG_MAX;
	static uint64_t last_sum;
	unsigned long long off;
	size_t k;

	if (n == last_n)
		return last_sum;
	last_sum = FNV_INIT;
	for (off = 0; off < n; off += k) {
		k = n - off < PIECE ? (size_t)(n - off) : PIECE;
		last_sum = fnv1a(last_sum, pattern + off % 36, k);
	}
	last_n = n;
	return last_sum;
}

static const char *
reason(int status)
{
	int i;

	for (i = 0; reasons[i].code != 0; i++)
		if (reasons[i].code == status)
			return reasons[i].text;
	return "Unknown";
}

/* The log line: "NAME METHOD TARGET WHAT", WHAT a status or a mode. */
static void
log_line(struct conn *c, const char *what)
{
	if (quiet)
		return;
	printf("%s %s %s %s\n", name, c->req.method ? c->req.method : "-",
	    c->req.target ? c->req.target : "-", what);
	fflush(stdout);
}

/* c's request is an ordinary one, in flight from now (its head is in). */
static void
flight_begin(struct conn *c)
{
	c->in_flight = 1;
	if (++n_inflight > inflight_peak)
		inflight_peak = n_inflight;
}

/* Done with the request: its response is out, or its connection gone. */
static void
request_reset(struct conn *c)
{
	if (c->in_flight)
		n_inflight--;
	c->in_flight = 0;
	free(c->req.method);
	free(c->req.target);
	buf_free(&c->req.hdrs);
	free(c->resp.text);
	memset(&c->req, 0, sizeof(c->req));
	memset(&c->resp, 0, sizeof(c->resp));
	c->req.body_sum = FNV_INIT;
}

static void
conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->state = S_DEAD;
	request_reset(c);
	buf_free(&c->in);
	buf_free(&c->out);
}

/* Send our last byte, then read and drop what comes until EOF. */
static void
linger_close(struct conn *c)
{
	request_reset(c);
	if (c->eof || shutdown(c->fd, SHUT_WR) < 0) {
		conn_close(c);
		return;
	}
	c->in.off = c->in.len = 0;
	c->state = S_LINGER;
	c->deadline = now + LINGER_MS;
}

static void
wait_request(struct conn *c)
{
	c->state = S_HEAD;
	c->deadline = idle_ms > 0 ? now + idle_ms : 0;
}

/* Write out what is buffered: 1 all, 0 the socket is full, -1 error. */
static int
flush_out(struct conn *c)
{
	struct buf *o = &c->out;
	ssize_t w;

	while (o->off < o->len) {
		w = write(c->fd, o->p + o->off, o->len - o->off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
		o->off += (size_t)w;
	}
	o->off = o->len = 0;
	return 1;
}

/* Top up the output from the body, a piece (or a chunk) at a time. */
static void
fill_out(struct conn *c)
{
	struct response *r = &c->resp;
	size_t n;

	while (c->out.len - c->out.off < PIECE && r->sent < r->send_len) {
		n = r->send_len - r->sent < PIECE ?
		    (size_t)(r->send_len - r->sent) : PIECE;
		if (r->chunked)
			buf_printf(&c->out, "%zx\r\n", n);
		if (r->text != NULL)
			buf_add(&c->out, r->text + r->sent, n);
		else
			buf_add(&c->out, pattern + r->sent % 36, n);
		if (r->chunked)
			buf_add(&c->out, "\r\n", 2);
		r->sent += n;
	}
	if (r->sent == r->send_len && r->end_chunks) {
		buf_add(&c->out, "0\r\n\r\n", 5);
		r->end_chunks = 0;
	}
}

/* The response is out: wait for the next request, or close. */
static void
finish_response(struct conn *c)
{
	int linger = c->resp.linger ||
	    (max_per_conn > 0 && c->nreq >= max_per_conn);
	long long hold = c->req.set.closing;

	if (hold > 0) {		/* said close; silent until then */
		request_reset(c);
		c->in.off = c->in.len = 0;
		c->state = S_STALL;
		c->deadline = now + hold;
	} else if (linger)
		linger_close(c);
	else {
		request_reset(c);
		wait_request(c);
	}
}

/* Send some of the response; 1 when it is all out (or failed). */
static int
write_some(struct conn *c)
{
	size_t budget = WRITE_TURN, n;
	int r;

	for (;;) {
		fill_out(c);
		n = c->out.len - c->out.off;
		if (n == 0) {
			finish_response(c);
			return 1;
		}
		if ((r = flush_out(c)) < 0) {
			conn_close(c);
			return 1;
		}
		if (r == 0 || n >= budget)
			return 0;
		budget -= n;
	}
}

/* Queue the head for a body of len bytes summing to sum. */
static void
queue_head(struct conn *c, int status, int nobody, unsigned long long len,
    uint64_t sum)
{
	struct request *q = &c->req;
	struct buf *o = &c->out;

	buf_printf(o, "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\n",
	    status, reason(status));
	if (!nobody && c->resp.chunked)
		buf_printf(o, "Transfer-Encoding: chunked\r\n");
	else if (!nobody)
		buf_printf(o, "Content-Length: %llu\r\n", len);
	buf_printf(o, "X-Backend: %s\r\n", name);
	if (q->method != NULL)
		buf_printf(o, "X-Request-Method: %s\r\n"
		    "X-Request-Target: %s\r\n", q->method, q->target);
	buf_printf(o, "X-Body-Length: %llu\r\nX-Body-Sum: %016" PRIx64 "\r\n"
	    "X-Response-Sum: %016" PRIx64 "\r\nX-Connection-Requests: %u\r\n",
	    q->body_len, q->body_sum, sum, c->nreq);
	if (!q->keep)
		buf_printf(o, "Connection: close\r\n");
	else if (q->minor == 0)
		buf_printf(o, "Connection: keep-alive\r\n");
	if (q->keep && q->set.keepalive >= 0)
		buf_printf(o, "Keep-Alive: timeout=%lld\r\n", q->set.keepalive);
	buf_add(o, "\r\n", 2);
}

/*
 * Answer with status and a body: text (malloc'ed, len bytes, ours now)
 * or, when text is NULL, len pattern bytes.
 */
static void
queue_response(struct conn *c, int status, char *text,
    unsigned long long len, int chunked)
{
	struct response *r = &c->resp;
	struct request *q = &c->req;
	int nobody = status < 200 || status == 204 || status == 304;
	int head = q->method != NULL && strcmp(q->method, "HEAD") == 0;
	char what[16];

	if (nobody)
		len = 0;
	if (q->set.closing > 0)
		q->keep = 0;	/* the head says Connection: close */
	r->text = text;
	r->chunked = chunked && !nobody && q->minor > 0;
	queue_head(c, status, nobody, len,
	    text != NULL ? fnv1a(FNV_INIT, text, len) : pattern_sum(len));
	r->send_len = head ? 0 : q->set.mode == M_CLOSE ? len / 2 : len;
	r->end_chunks = r->chunked && !head && q->set.mode != M_CLOSE;
	r->linger = !q->keep || q->set.mode == M_CLOSE;
	c->state = S_WRITE;
	c->deadline = 0;
	snprintf(what, sizeof(what), "%d", status);
	log_line(c, what);
}

static void
queue_text(struct conn *c, int status, const char *text)
{
	size_t n = strlen(text);

	queue_response(c, status, xstrndup(text, n), n, 0);
}

/* A bad request: say so, and close. */
static void
fail(struct conn *c, int status)
{
	c->req.kind = K_ERROR;
	c->req.keep = 0;
	c->req.set = defaults;
	c->req.set.mode = M_NORMAL;
	queue_text(c, status, status == 431 ? "request head too large\n" :
	    "bad request\n");
}

/* The default body: what we received. */
static char *
echo_text(struct conn *c, unsigned long long *len)
{
	struct request *q = &c->req;
	struct buf t = { NULL, 0, 0, 0 };

	buf_printf(&t, "backend %s\nmethod %s\ntarget %s\nbody-length %llu\n"
	    "body-sum %016" PRIx64 "\n", name, q->method, q->target,
	    q->body_len, q->body_sum);
	if (q->hdrs.len > 0)
		buf_add(&t, q->hdrs.p, q->hdrs.len);
	*len = t.len;
	return t.p;
}

static void
respond(struct conn *c)
{
	struct request *q = &c->req;
	unsigned long long len;
	char *text;

	if (q->kind == K_HEALTH) {
		queue_text(c, sick ? 503 : 200, sick ? "sick\n" : "ok\n");
		return;
	}
	n_requests++;
	if (q->set.size >= 0)
		queue_response(c, q->set.status, NULL,
		    (unsigned long long)q->set.size, q->set.chunked);
	else {
		text = echo_text(c, &len);
		queue_response(c, q->set.status, text, len, q->set.chunked);
	}
}

static void
respond_control(struct conn *c)
{
	struct buf t = { NULL, 0, 0, 0 };

	switch (c->req.kind) {
	case K_SICK:
		sick = 1;
		queue_text(c, 200, "sick\n");
		break;
	case K_WELL:
		sick = 0;
		queue_text(c, 200, "well\n");
		break;
	default:
		buf_printf(&t, "connections %llu\nrequests %llu\nhealth %llu\n"
		    "inflight %ld\ninflight-peak %ld\n", n_connections,
		    n_requests, n_health, n_inflight, inflight_peak);
		queue_response(c, 200, t.p, t.len, 0);
		break;
	}
}

/* The request is in and its delay over: do what the mode says. */
static void
act(struct conn *c)
{
	switch (c->req.set.mode) {
	case M_STALL:
		log_line(c, "stall");
		c->state = S_STALL;
		c->deadline = 0;
		c->in.off = c->in.len = 0;
		break;
	case M_DROP_REUSED:	/* the keep-alive race, on purpose */
		if (c->nreq == 1) {
			respond(c);
			break;
		}
		/* FALLTHROUGH */
	case M_DROP:
		log_line(c, "drop");
		conn_close(c);
		break;
	case M_GARBAGE:
		log_line(c, "garbage");
		buf_add(&c->out, GARBAGE, strlen(GARBAGE));
		c->resp.linger = 1;
		c->state = S_WRITE;
		break;
	default:
		respond(c);
		break;
	}
}

/* The whole request body is in. */
static void
request_done(struct conn *c)
{
	struct request *q = &c->req;

	if (q->kind == K_SICK || q->kind == K_WELL || q->kind == K_STATS)
		respond_control(c);
	else if (q->set.delay > 0) {
		/*
		 * Never early: now_ms() is the clock rounded up, and a timer
		 * is due once now_ms() reaches it, up to a millisecond before
		 * the clock does; a fresh reading and one more make the delay
		 * at least what was asked (tests compare lb's timing with it).
		 */
		c->state = S_DELAY;
		c->deadline = now_ms() + q->set.delay + 1;
	} else
		act(c);
}

static int
is_tchar(int ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9') ||
	    (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

static int
hexval(int ch)
{
	const char *digits = "0123456789abcdef", *p;

	p = ch != '\0' ? strchr(digits, tolower(ch)) : NULL;
	return p != NULL ? (int)(p - digits) : -1;
}

/* "METHOD SP TARGET SP HTTP/1.x" */
static int
parse_request_line(struct request *q, const char *s, size_t len)
{
	const char *sp1, *t, *sp2, *v, *p;

	if ((sp1 = memchr(s, ' ', len)) == NULL || sp1 == s)
		return -1;
	for (p = s; p < sp1; p++)
		if (!is_tchar((unsigned char)*p))
			return -1;
	t = sp1 + 1;
	if ((sp2 = memchr(t, ' ', (size_t)(s + len - t))) == NULL || sp2 == t)
		return -1;
	for (p = t; p < sp2; p++)
		if (*p <= ' ' || *p > '~')
			return -1;
	v = sp2 + 1;
	if (s + len - v != 8 || memcmp(v, "HTTP/1.", 7) != 0 ||
	    v[7] < '0' || v[7] > '9')
		return -1;
	q->minor = v[7] - '0';
	q->method = xstrndup(s, (size_t)(sp1 - s));
	q->target = xstrndup(t, (size_t)(sp2 - t));
	return 0;
}

static int
name_is(const char *s, size_t n, const char *want)
{
	return strlen(want) == n && strncasecmp(s, want, n) == 0;
}

/* Whether the comma-separated list v (n bytes) holds token tok. */
static int
list_has(const char *v, size_t n, const char *tok)
{
	const char *e = v + n, *s, *t;
	size_t k;

	for (s = v; s < e; s = t + 1) {
		while (s < e && (*s == ' ' || *s == '\t'))
			s++;
		for (t = s; t < e && *t != ','; t++)
			;
		for (k = (size_t)(t - s); k > 0 && (s[k - 1] == ' ' ||
		    s[k - 1] == '\t'); k--)
			;
		if (name_is(s, k, tok))
			return 1;
	}
	return 0;
}

/* Note what the headers we care about say about this request. */
static int
header_meaning(struct request *q, const char *n, size_t nlen,
    const char *v, size_t vlen)
{
	size_t i;

	if (name_is(n, nlen, "Content-Length")) {
		if (q->has_cl++ || vlen == 0 || vlen > 18)
			return -1;
		for (i = 0; i < vlen; i++) {
			if (v[i] < '0' || v[i] > '9')
				return -1;
			q->body_left = q->body_left * 10 +
			    (unsigned)(v[i] - '0');
		}
	} else if (name_is(n, nlen, "Transfer-Encoding")) {
		if (q->has_te++ || !name_is(v, vlen, "chunked"))
			return -1;
	} else if (name_is(n, nlen, "Expect"))
		q->expect = name_is(v, vlen, "100-continue");
	else if (name_is(n, nlen, "Connection")) {
		q->conn_close |= list_has(v, vlen, "close");
		q->conn_keep |= list_has(v, vlen, "keep-alive");
	}
	return 0;
}

/* "Name: value", added to the echo text's header lines. */
static int
parse_header(struct request *q, const char *s, size_t len)
{
	const char *colon, *p, *v, *e = s + len;

	if (*s == ' ' || *s == '\t')
		return -1;		/* obsolete line folding */
	if ((colon = memchr(s, ':', len)) == NULL || colon == s)
		return -1;
	for (p = s; p < colon; p++)
		if (!is_tchar((unsigned char)*p))
			return -1;
	for (p = colon + 1; p < e; p++)
		if (((unsigned char)*p < ' ' && *p != '\t') || *p == 0x7f)
			return -1;
	for (v = colon + 1; v < e && (*v == ' ' || *v == '\t'); v++)
		;
	while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	buf_printf(&q->hdrs, "header %.*s: %.*s\n", (int)(colon - s), s,
	    (int)(e - v), v);
	return header_meaning(q, s, (size_t)(colon - s), v, (size_t)(e - v));
}

/* What the path says, and the settings for this request. */
static int
classify(struct request *q)
{
	static const char *const paths[] = { "/health", "/control/sick",
	    "/control/well", "/control/stats", NULL };
	static const int kinds[] = { K_HEALTH, K_SICK, K_WELL, K_STATS };
	size_t n = strcspn(q->target, "?");
	int i;

	q->kind = K_ORDINARY;
	for (i = 0; paths[i] != NULL; i++)
		if (strlen(paths[i]) == n &&
		    memcmp(q->target, paths[i], n) == 0)
			q->kind = kinds[i];
	q->set = defaults;
	if (q->kind != K_ORDINARY && q->kind != K_HEALTH) {
		q->set.mode = M_NORMAL;
		q->set.delay = 0;
		return 0;
	}
	if (q->kind == K_HEALTH)
		n_health++;
	if (q->target[n] == '?')
		return apply_query(q->target + n + 1, &q->set);
	return 0;
}

/* Parse the head in [p, end), which ends with an empty line. */
static int
parse_request(struct request *q, const char *p, const char *end)
{
	const char *nl;
	size_t len;
	int first = 1;

	for (;; p = nl + 1, first = 0) {
		nl = memchr(p, '\n', (size_t)(end - p));
		len = (size_t)(nl - p);
		if (len > 0 && p[len - 1] == '\r')
			len--;
		if (first && parse_request_line(q, p, len) < 0)
			return -1;
		if (first)
			continue;
		if (len == 0)
			break;
		if (parse_header(q, p, len) < 0)
			return -1;
	}
	if (q->has_cl && q->has_te)
		return -1;
	q->keep = q->minor > 0 ? !q->conn_close :
	    q->conn_keep && !q->conn_close;
	return classify(q);
}

/* The length of the head at p (through its empty line), or 0. */
static size_t
head_end(struct conn *c, const char *p, size_t n)
{
	size_t i = c->scanned > 2 ? c->scanned - 2 : 0;

	for (; i < n; i++) {
		if (p[i] != '\n')
			continue;
		if (i + 1 < n && p[i + 1] == '\n')
			return i + 2;
		if (i + 2 < n && p[i + 1] == '\r' && p[i + 2] == '\n')
			return i + 3;
	}
	c->scanned = n;
	return 0;
}

/* Look for a whole request head; 1 when one was taken (or refused). */
static int
parse_head(struct conn *c)
{
	struct buf *b = &c->in;
	struct request *q = &c->req;
	char *p;
	size_t n;

	/* Empty lines before a request are allowed, and skipped. */
	while (b->off < b->len && (b->p[b->off] == '\n' ||
	    (b->p[b->off] == '\r' && b->off + 1 < b->len &&
	    b->p[b->off + 1] == '\n')))
		b->off += b->p[b->off] == '\n' ? 1 : 2;
	if (b->off == b->len)
		return 0;
	p = b->p + b->off;
	n = b->len - b->off;
	if ((n = head_end(c, p, n)) == 0) {
		if (b->len - b->off >= HEAD_MAX) {
			c->nreq++;
			fail(c, 431);
			return 1;
		}
		return 0;
	}
	b->off += n;
	c->scanned = 0;
	c->nreq++;
	if (parse_request(q, p, p + n) < 0) {
		fail(c, 400);
		return 1;
	}
	if (q->kind == K_ORDINARY)
		flight_begin(c);
	q->cstate = q->has_te ? C_SIZE : C_DONE;
	if (q->expect && q->minor > 0 && (q->has_te || q->body_left > 0))
		buf_printf(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
	c->state = S_BODY;
	c->deadline = 0;
	return 1;
}

/* Take what data there is for the current chunk, or the whole body. */
static size_t
take_data(struct request *q, const char *p, size_t n)
{
	if (n > q->body_left)
		n = (size_t)q->body_left;
	q->body_sum = fnv1a(q->body_sum, p, n);
	q->body_len += n;
	q->body_left -= n;
	return n;
}

/* Step the chunked decoder over one byte; -1 if the framing is wrong. */
static int
chunk_byte(struct request *q, int ch)
{
	switch (q->cstate) {
	case C_SIZE:
		if (hexval(ch) >= 0 && q->cdigits < 15) {
			q->body_left = q->body_left * 16 + (unsigned)hexval(ch);
			q->cdigits++;
			return 0;
		}
		if (q->cdigits == 0 || strchr(";\r\n \t", ch) == NULL ||
		    ch == '\0')
			return -1;
		q->cstate = C_EXT;
		/* FALLTHROUGH */
	case C_EXT:
		if (ch == '\n')
			q->cstate = q->body_left > 0 ? C_DATA : C_TRAILER;
		q->cdigits = 0;
		return 0;
	case C_DATA_END:
		q->cstate = ch == '\r' ? C_DATA_LF : C_SIZE;
		return ch == '\r' || ch == '\n' ? 0 : -1;
	case C_DATA_LF:
		q->cstate = C_SIZE;
		return ch == '\n' ? 0 : -1;
	case C_TRAILER:
		q->cstate = ch == '\n' ? C_DONE : ch == '\r' ? C_TRAILER_LF :
		    C_TRAILER_LINE;
		return 0;
	case C_TRAILER_LF:
		q->cstate = C_DONE;
		return ch == '\n' ? 0 : -1;
	case C_TRAILER_LINE:
		if (ch == '\n')
			q->cstate = C_TRAILER;
		return 0;
	}
	return -1;
}

/* Consume request body bytes; 1 when the body is in (or refused). */
static int
read_body(struct conn *c)
{
	struct request *q = &c->req;
	struct buf *b = &c->in;

	if (!q->has_te)
		b->off += take_data(q, b->p + b->off, b->len - b->off);
	while (q->has_te && q->cstate != C_DONE && b->off < b->len) {
		if (q->cstate == C_DATA) {
			b->off += take_data(q, b->p + b->off, b->len - b->off);
			if (q->body_left == 0)
				q->cstate = C_DATA_END;
		} else if (chunk_byte(q, (unsigned char)b->p[b->off++]) < 0) {
			fail(c, 400);
			return 1;
		}
	}
	if (q->body_left > 0 || q->cstate != C_DONE)
		return 0;
	request_done(c);
	return 1;
}

/* Handle what is buffered as far as it goes. */
static void
advance(struct conn *c)
{
	int progress = 1;

	while (progress) {
		switch (c->state) {
		case S_HEAD:
			progress = parse_head(c);
			break;
		case S_BODY:
			progress = read_body(c);
			break;
		case S_WRITE:
			progress = write_some(c);
			break;
		default:
			progress = 0;
			break;
		}
	}
	if (c->eof && (c->state == S_HEAD || c->state == S_BODY))
		conn_close(c);
}

/* Read into the input buffer; -1 on an error. */
static int
conn_read(struct conn *c)
{
	struct buf *b = &c->in;
	ssize_t r;

	if (b->off > 0) {
		memmove(b->p, b->p + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
	}
	if (b->len == b->cap && b->cap < HEAD_MAX) {
		b->cap = b->cap > 0 ? b->cap * 2 : IN_START;
		b->p = xrealloc(b->p, b->cap);
	}
	if (b->len == b->cap)
		return 0;	/* a head too large: parse_head says so */
	do
		r = read(c->fd, b->p + b->len, b->cap - b->len);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
	if (r == 0)
		c->eof = 1;
	else if (c->state == S_HEAD && idle_ms > 0)
		c->deadline = now + idle_ms;
	b->len += (size_t)r;
	return 0;
}

/* Read and drop what comes; close at EOF or on an error. */
static void
discard(struct conn *c)
{
	char tmp[4096];
	ssize_t r;
	int i;

	for (i = 0; i < 16; i++) {
		r = read(c->fd, tmp, sizeof(tmp));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (r <= 0) {
			conn_close(c);
			return;
		}
	}
}

static void
conn_event(struct conn *c, short rev)
{
	if (rev & POLLNVAL) {
		conn_close(c);
		return;
	}
	switch (c->state) {
	case S_HEAD:
	case S_BODY:
		if ((rev & POLLOUT) && flush_out(c) < 0) {
			conn_close(c);
			return;
		}
		if ((rev & (POLLIN | POLLHUP | POLLERR)) && conn_read(c) < 0) {
			conn_close(c);
			return;
		}
		advance(c);
		break;
	case S_WRITE:
		advance(c);
		break;
	case S_DELAY:
		if (rev & (POLLHUP | POLLERR))
			conn_close(c);
		break;
	case S_STALL:
	case S_LINGER:
		discard(c);
		break;
	}
}

static void
on_timer(struct conn *c)
{
	c->deadline = 0;
	if (c->state == S_DELAY) {
		act(c);
		advance(c);
	} else
		conn_close(c);		/* idle, or done lingering */
}

static short
conn_events(const struct conn *c)
{
	switch (c->state) {
	case S_HEAD:
	case S_BODY:
		return (c->eof ? 0 : POLLIN) |
		    (c->out.off < c->out.len ? POLLOUT : 0);
	case S_WRITE:
		return POLLOUT;
	case S_STALL:
	case S_LINGER:
		return POLLIN;
	}
	return 0;
}

static void
set_flags(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) | FD_CLOEXEC);
}

static void
accept_some(void)
{
	struct conn *c;
	int i, fd, one = 1;

	for (i = 0; i < 64; i++) {
		if ((fd = accept(listen_fd, NULL, NULL)) < 0) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM)
				paused_until = now + PAUSE_MS;
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return;
		}
		set_flags(fd);
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (nconns == conns_cap) {
			conns_cap = conns_cap > 0 ? conns_cap * 2 : 64;
			conns = xrealloc(conns, conns_cap * sizeof(*conns));
		}
		c = xrealloc(NULL, sizeof(*c));
		memset(c, 0, sizeof(*c));
		c->fd = fd;
		request_reset(c);
		wait_request(c);
		conns[nconns++] = c;
		n_connections++;
	}
}

/* Fill pfds: the wake-up pipe, the listener, the connections. */
static size_t
build_pollfds(int *listening)
{
	size_t n = 0, i;

	if (pfds_cap < nconns + 2) {
		pfds_cap = nconns + 64;
		pfds = xrealloc(pfds, pfds_cap * sizeof(*pfds));
	}
	pfds[n].fd = wake_r;
	pfds[n++].events = POLLIN;
	*listening = now >= paused_until;
	if (*listening) {
		pfds[n].fd = listen_fd;
		pfds[n++].events = POLLIN;
	}
	for (i = 0; i < nconns; i++) {
		pfds[n].fd = conns[i]->fd;
		pfds[n++].events = conn_events(conns[i]);
	}
	return n;
}

/* Milliseconds until the nearest deadline, or -1 for none. */
static int
next_timeout(void)
{
	long long next = now < paused_until ? paused_until : 0;
	size_t i;

	for (i = 0; i < nconns; i++)
		if (conns[i]->deadline != 0 &&
		    (next == 0 || conns[i]->deadline < next))
			next = conns[i]->deadline;
	if (next == 0)
		return -1;
	if (next <= now)
		return 0;
	return next - now > INT_MAX ? INT_MAX : (int)(next - now);
}

/* Run the timers that are due, then forget closed connections. */
static void
run_timers(void)
{
	size_t i, j;

	for (i = 0; i < nconns; i++)
		if (conns[i]->state != S_DEAD && conns[i]->deadline != 0 &&
		    conns[i]->deadline <= now)
			on_timer(conns[i]);
	for (i = j = 0; i < nconns; i++) {
		if (conns[i]->state == S_DEAD)
			free(conns[i]);
		else
			conns[j++] = conns[i];
	}
	nconns = j;
}

static void
drain_wake_pipe(void)
{
	char tmp[64];

	while (read(wake_r, tmp, sizeof(tmp)) > 0)
		;
}

static void
serve(void)
{
	size_t n, base, i, polled;
	int listening;

	while (!got_stop) {
		if (got_health != 0) {
			sick = got_health == 1;
			got_health = 0;
		}
		now = now_ms();
		n = build_pollfds(&listening);
		polled = nconns;
		if (poll(pfds, (nfds_t)n, next_timeout()) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			tool_die("poll: %s", strerror(errno));
		}
		now = now_ms();
		if (pfds[0].revents != 0)
			drain_wake_pipe();
		if (listening && pfds[1].revents != 0)
			accept_some();
		base = listening ? 2 : 1;
		for (i = 0; i < polled; i++)
			if (pfds[base + i].revents != 0 &&
			    conns[i]->state != S_DEAD)
				conn_event(conns[i], pfds[base + i].revents);
		run_timers();
	}
}

/* Signals only set a flag and wake poll() through the pipe. */
static void
on_signal(int sig)
{
	int saved = errno;
	ssize_t r;

	if (sig == SIGUSR1)
		got_health = 1;
	else if (sig == SIGUSR2)
		got_health = 2;
	else
		got_stop = 1;
	if (wake_w >= 0) {
		r = write(wake_w, "", 1);
		(void)r;
	}
	errno = saved;
}

static void
setup_signals(void)
{
	struct sigaction sa;
	int fds[2];

	if (pipe(fds) < 0)
		tool_die("pipe: %s", strerror(errno));
	set_flags(fds[0]);
	set_flags(fds[1]);
	wake_r = fds[0];
	wake_w = fds[1];
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
}

/* Read the command line (exit 2 if it is bad), then listen where it says. */
static void
parse_args(int argc, char **argv, struct tool_hostport *addr)
{
	const char *lis = NULL;
	int ch;

	tool_init("backend", usage);
	while ((ch = getopt(argc, argv, ":l:n:s:d:z:cm:C:kK:I:qh")) != -1) {
		switch (ch) {
		case 'l':
			tool_arg_hostport(ch, optarg, addr);
			lis = optarg;
			break;
		case 'n': name = tool_arg_name(ch, optarg); break;
		case 'c': defaults.chunked = 1; break;
		case 'k': sick = 1; break;
		case 'q': quiet = 1; break;
		case 'h':
			usage(stdout);
			exit(0);
		case ':':
		case '?':
			tool_bad_option(ch);
			break;
		default:
			if (set_knob(ch, optarg, &defaults) < 0)
				tool_bad_value(ch, optarg,
				    knobs[knob_index(ch)].want);
			break;
		}
	}
	if (optind < argc)
		tool_bad_args("unexpected argument '%s'", argv[optind]);
	if (lis == NULL)
		tool_bad_args("-l [HOST:]PORT is required");
	if (name == NULL)
		name = addr->port;
	listen_fd = tool_listen(addr, 1024);
	set_flags(listen_fd);
}

/* Thousands of connections need more descriptors than the usual 1024. */
static void
raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 65536 &&
	    rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max < 65536 ? rl.rlim_max : 65536;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int
main(int argc, char **argv)
{
	static struct tool_hostport addr;
	size_t i;

	for (i = 0; i < sizeof(pattern); i++)
		pattern[i] = "0123456789abcdefghijklmnopqrstuvwxyz"[i % 36];
	parse_args(argc, argv, &addr);
	raise_fd_limit();
	setup_signals();
	fprintf(stderr, "backend %s listening on %s\n", name, addr.where);
	serve();
	for (i = 0; i < nconns; i++) {
		conn_close(conns[i]);
		free(conns[i]);
	}
	free(conns);
	free(pfds);
	close(listen_fd);
	close(wake_r);
	close(wake_w);
	return 0;
}
