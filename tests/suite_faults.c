/*
 * suite_faults.c - final/ against hostile clients and failing backends:
 * no request smuggled, no byte lost, no client stranded.
 *
 * Most backends here are raw ones (raw.h): functions of this file that
 * say exactly which bytes go back and where the connection ends. The
 * fault matrix has one of them close (FIN) or reset (RST) at every
 * point of a response, for every framing, in front of fast and slow
 * readers, keep-alive and closing clients, pipelined or not, GET or
 * POST, and holds each cell to the same rules: the complete, correct
 * response or a clean close, within a bounded time; never a short body
 * presented as complete; never another request's bytes; a GET with
 * nothing sent to its client yet is retried, a POST never is.
 *
 * The reuse cells put the keep-alive race in the same light: a pooled
 * backend connection the backend closes (FIN or RST) just before, while
 * or just after a POST is written, the first request of its client
 * connection or a later one, and a later GET beside them. Closed before,
 * it is not lent; a later GET lost on it goes again on a fresh one; a
 * later POST lost on it ends its client connection without an answer,
 * and a first POST never rides one. A POST reaches the backend once at
 * most, every time.
 */
/* pidfd_getfd(), through syscall(): see shrink_send_buffers(). */
#ifdef __linux__
#define _DEFAULT_SOURCE
#include <sys/syscall.h>
#endif

#include <sys/types.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fnv.h"
#include "harness.h"
#include "raw.h"
#include "suites.h"

/* Read one response from c: it must be complete with this status. */
static void
expect(struct h_conn *c, struct h_resp *r, int status)
{
	ck_assert_int_eq(h_read_response(c, r, 0, h_scaled(H_TIMEOUT_MS)), 0);
	ck_assert_int_eq(r->status, status);
	ck_assert_int_eq(r->complete, 1);
}

/* ---- the fault matrix ---- */

enum at { AT_START, AT_MID_HEAD, AT_AFTER_HEAD, AT_MID_BODY, AT_END,
	AT_NONE };
enum how { HOW_FIN, HOW_RST };
enum framing { F_LENGTH, F_CHUNKED, F_CLOSE };

static const char *const at_name[] = { "before any byte", "mid-head",
	"after the head", "mid-body", "after the whole body" };
static const char *const framing_name[] = { "Content-Length", "chunked",
	"close-delimited" };

#define POST_LEN	1000	/* a POST's body */
#define FAST_SIZE	65536	/* a response body, for a fast reader */
#define SLOW_SIZE	262144	/* and for a slow one: lb's buffers fill */
#define CHUNK		8192

/* Byte i of cell id's body: a pattern no nearby cell shares. */
static char
body_byte(long long id, long long i)
{
	return (char)('a' + (i + id * 7) % 26);
}

static int
body_ok(long long id, const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != body_byte(id, (long long)i))
			return 0;
	return 1;
}

/*
 * Cell id's whole response, framed as asked, in HTTP/1.0 if v10, with
 * extra header lines; *head_len: where its head ends.
 */
static char *
encode(long long id, int framing, long long size, int v10, const char *extra,
    size_t *len, size_t *head_len)
{
	size_t cap = (size_t)size + (size_t)size / CHUNK * 16 + 512, n;
	char *out = malloc(cap), length[48] = "";
	long long i, j, k;

	if (out == NULL)
		return NULL;
	if (framing == F_LENGTH)
		snprintf(length, sizeof(length), "Content-Length: %lld\r\n",
		    size);
	n = (size_t)snprintf(out, cap, "HTTP/1.%d 200 OK\r\nX-Cell: %lld\r\n"
	    "%s%s%s\r\n", !v10, id, length, framing == F_CHUNKED ?
	    "Transfer-Encoding: chunked\r\n" : framing == F_CLOSE ?
	    "Connection: close\r\n" : "", extra);
	*head_len = n;
	for (i = 0; i < size; i += k) {
		k = size - i < CHUNK ? size - i : CHUNK;
		if (framing == F_CHUNKED)
			n += (size_t)snprintf(out + n, cap - n, "%llx\r\n", k);
		for (j = 0; j < k; j++)
			out[n++] = body_byte(id, i + j);
		if (framing == F_CHUNKED)
			n += (size_t)snprintf(out + n, cap - n, "\r\n");
	}
	if (framing == F_CHUNKED)
		n += (size_t)snprintf(out + n, cap - n, "0\r\n\r\n");
	*len = n;
	return out;
}

/* Where in the encoded response a fault cuts it. */
static size_t
cut_point(int at, size_t len, size_t head_len)
{
	switch (at) {
	case AT_START:
		return 0;
	case AT_MID_HEAD:
		return head_len / 2;
	case AT_AFTER_HEAD:
		return head_len;
	case AT_MID_BODY:
		return head_len + (len - head_len) / 2;
	default:
		return len;
	}
}

/* The request's Content-Length, or 0. */
static long long
content_length(const struct raw_conn *rc)
{
	const char *v = raw_header(rc, "Content-Length");

	return v != NULL ? atoll(v) : 0;
}

/*
 * Read the request's body; if it has an X-Sum and does not match it,
 * note "corrupt" and its target. 0, or -1: it was cut short.
 */
static int
read_summed_body(struct raw_conn *rc, const char *target)
{
	long long n = content_length(rc);
	unsigned long long got;
	const char *v;

	if (raw_body(rc, n, &got, 5000) != n)
		return -1;
	if ((v = raw_header(rc, "X-Sum")) != NULL && strtoull(v, NULL, 16) !=
	    got)
		raw_note(rc, "corrupt %s", target);
	return 0;
}

/* The backend fails the connection as its request asks: FIN or RST. */
static void
close_as_asked(struct raw_conn *rc)
{
	if (raw_query(rc, "how", HOW_FIN) == HOW_RST)
		raw_rst(rc);
	else
		raw_fin(rc);
}

/* The request is in: answer it, or fail it as its cell says. 1: go on. */
static int
matrix_answer(struct raw_conn *rc, const char *target)
{
	long long id = raw_query(rc, "id", -1), size = raw_query(rc, "size", 0);
	int at = (int)raw_query(rc, "at", AT_NONE);
	int framing = (int)raw_query(rc, "framing", F_LENGTH);
	size_t len, head_len, cut;
	char key[32], *resp;

	if (strncmp(target, "/next", 5) == 0) {
		raw_sendf(rc, "HTTP/1.1 200 OK\r\nX-Next: %lld\r\n"
		    "Content-Length: 5\r\n\r\nnext\n", id);
		return 1;
	}
	if (strncmp(target, "/cell", 5) != 0) {		/* /health */
		raw_sendf(rc, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n"
		    "ok\n");
		return 1;
	}
	snprintf(key, sizeof(key), "%lld", id);
	if (raw_attempt(rc, key) > 1)
		at = AT_NONE;		/* a retry: this time it works */
	if ((resp = encode(id, framing, size, 0, "", &len, &head_len)) == NULL)
		return 0;
	cut = cut_point(at, len, head_len);
	raw_send(rc, resp, cut);
	free(resp);
	if (at == AT_NONE && framing != F_CLOSE)
		return 1;
	if (at != AT_NONE)
		close_as_asked(rc);
	else
		raw_fin(rc);
	return 0;
}

static void
matrix_serve(struct raw_conn *rc, void *arg)
{
	char target[512];

	(void)arg;
	while (raw_head(rc, 10000) > 0) {
		snprintf(target, sizeof(target), "%s", raw_target(rc));
		if (read_summed_body(rc, target) < 0 ||
		    !matrix_answer(rc, target))
			return;
	}
}

/* One cell: where, how and what the backend fails, and who asks. */
struct cell {
	int	id, at, how, framing;
	int	slow, keep, pipelined, post;
	long long size;
};

static void
cell_name(const struct cell *k, char *out, size_t n)
{
	snprintf(out, n, "cell %d: %s %s, %s %s, %s reader, %s client%s",
	    k->id, k->how == HOW_RST ? "RST" : "FIN", at_name[k->at],
	    framing_name[k->framing], k->post ? "POST" : "GET",
	    k->slow ? "slow" : "fast", k->keep ? "keep-alive" : "closing",
	    k->pipelined ? ", pipelined" : "");
}

/* Iteration it of the loop test, sub-cell sub (of 16). */
static void
cell_of(int it, int sub, struct cell *k)
{
	k->id = it * 16 + sub;
	k->at = it / 6;
	k->how = it / 3 % 2;
	k->framing = it % 3;
	k->slow = sub & 1;
	k->keep = sub >> 1 & 1;
	k->pipelined = sub >> 2 & 1;
	k->post = sub >> 3 & 1;
	k->size = k->slow ? SLOW_SIZE : FAST_SIZE;
}

/* The follow-up request of a cell, at *n in out. */
static void
add_next(char *out, size_t cap, size_t *n, const struct cell *k)
{
	*n += (size_t)snprintf(out + *n, cap - *n, "GET /next?id=%d HTTP/1.1\r\n"
	    "Host: x\r\n\r\n", k->id);
}

/*
 * The cell's request, and its follow-up if pipelined, in one write: two
 * writes could find lb done and gone in between, and the second one's
 * error would eat the reset the client is meant to see.
 */
static void
send_cell(struct h_conn *c, const struct cell *k)
{
	char req[512 + POST_LEN + 128], sum[17], *body;
	size_t n;
	int i;

	n = (size_t)snprintf(req, sizeof(req), "%s /cell?id=%d&at=%d&how=%d"
	    "&framing=%d&size=%lld HTTP/1.1\r\nHost: x\r\n%s",
	    k->post ? "POST" : "GET", k->id, k->at, k->how, k->framing,
	    k->size, k->keep ? "" : "Connection: close\r\n");
	if (k->post) {
		body = req + sizeof(req) - 128 - POST_LEN;
		for (i = 0; i < POST_LEN; i++)
			body[i] = (char)('A' + (i + k->id) % 26);
		h_sum_hex(body, POST_LEN, sum);
		n += (size_t)snprintf(req + n, sizeof(req) - n, "Content-Length: "
		    "%d\r\nX-Sum: %s\r\n\r\n", POST_LEN, sum);
		memmove(req + n, body, POST_LEN);
		n += POST_LEN;
	} else
		n += (size_t)snprintf(req + n, sizeof(req) - n, "\r\n");
	if (k->pipelined)
		add_next(req, sizeof(req), &n, k);
	h_send(c, req, n);
}

static void
send_next(struct h_conn *c, const struct cell *k)
{
	char req[128];
	size_t n = 0;

	add_next(req, sizeof(req), &n, k);
	h_send(c, req, n);
}

/* What a client can be left with. */
enum outcome {
	O_WHOLE,	/* the whole response, correct */
	O_502,		/* lb's own whole 502 */
	O_ENDED,	/* close-delimited: a clean end after some bytes */
	O_CUT,		/* a correct start, then a close it can tell is one */
	O_WRONG		/* anything else */
};

static enum outcome
outcome_of(const struct cell *k, const struct h_resp *r)
{
	const char *id = h_header(r, "X-Cell");

	if (r->status == 502)
		return r->complete ? O_502 : O_WRONG;
	if (r->status != 200 || id == NULL || atoi(id) != k->id ||
	    !body_ok(k->id, r->body, r->body_len))
		return O_WRONG;	/* another response's bytes, or garbage */
	if (!r->complete)
		return O_CUT;
	return r->body_len == (size_t)k->size ? O_WHOLE : O_ENDED;
}

/*
 * The rules. Before a byte reached the client, a GET is retried and
 * arrives whole; a POST is never resent: 502. After that, a FIN ends a
 * close-delimited body (so the client gets exactly what was sent), and
 * cuts any other (the client can tell by its framing). A reset throws
 * away what the backend had not yet sent, so lb may get less than the
 * backend wrote, even nothing; but the client must never see a clean
 * end: a close-delimited body is cut by lb's own reset.
 */
static int
allowed(const struct cell *k, enum outcome o, size_t got)
{
	int whole_by_framing = k->at == AT_END && k->framing != F_CLOSE;

	if (k->at <= AT_MID_HEAD)
		return o == (k->post ? O_502 : O_WHOLE);
	if (k->how == HOW_FIN && k->framing == F_CLOSE)
		return (o == O_ENDED || o == O_WHOLE) && got ==
		    (size_t)(k->at == AT_AFTER_HEAD ? 0 : k->at == AT_MID_BODY ?
		    k->size / 2 : k->size);
	if (k->how == HOW_FIN)
		return o == (whole_by_framing ? O_WHOLE : O_CUT);
	return o == O_CUT || o == (k->post ? O_502 : O_WHOLE) ||
	    (o == O_WHOLE && whole_by_framing);
}

/* The attempts the backend saw: a retry only where nothing was sent. */
static int
attempts_ok(const struct cell *k, enum outcome o, int tries)
{
	if (k->post || (k->how == HOW_FIN && k->at >= AT_AFTER_HEAD))
		return tries == 1;
	if (k->at <= AT_MID_HEAD)
		return tries == 2;
	return tries == 1 || (tries == 2 && o == O_WHOLE);
}

static void
run_cell(int port, const struct h_proc *raw, const struct cell *k)
{
	struct h_conn *c = k->slow ? h_connect_slow(port, 1) : h_connect(port);
	long t0 = h_now_ms();
	struct h_resp r;
	char name[160], prefix[48];
	enum outcome o;
	int tries;

	cell_name(k, name, sizeof(name));
	send_cell(c, k);
	ck_assert_msg(h_read_response(c, &r, 0, h_scaled(3000)) == 0,
	    "%s: no response head", name);
	o = outcome_of(k, &r);
	ck_assert_msg(allowed(k, o, r.body_len), "%s: status %d, %zu of %lld "
	    "bytes, %s (%s)", name, r.status, r.body_len, k->size,
	    r.complete ? "complete" : "cut", o == O_WRONG ? "wrong bytes" :
	    "not what the rules allow");
	h_resp_free(&r);
	if (o == O_WHOLE && k->keep && k->framing != F_CLOSE) {
		if (!k->pipelined)
			send_next(c, k);
		ck_assert_msg(h_read_response(c, &r, 0, h_scaled(3000)) == 0 &&
		    r.status == 200 && r.complete && h_header(&r, "X-Next") &&
		    atoi(h_header(&r, "X-Next")) == k->id,
		    "%s: the next request on the connection went wrong", name);
		h_resp_free(&r);
	} else
		ck_assert_msg(h_peer_closed_silently(c, h_scaled(2000)),
		    "%s: the connection did not end cleanly after the "
		    "response", name);
	ck_assert_msg(h_now_ms() - t0 < h_scaled(2000) + (k->slow ? 1000 : 0),
	    "%s: took %ld ms", name, h_now_ms() - t0);
	h_close(c);
	snprintf(prefix, sizeof(prefix), "attempt %d ", k->id);
	tries = raw_count(raw, prefix);
	ck_assert_msg(attempts_ok(k, o, tries), "%s: %d attempts at the "
	    "backend", name, tries);
	snprintf(prefix, sizeof(prefix), "corrupt /cell?id=%d&", k->id);
	ck_assert_msg(raw_count(raw, prefix) == 0,
	    "%s: the backend got a corrupt body", name);
}

/* 30 iterations: at x how x framing; 16 cells each, on one balancer. */
#define MATRIX_ITERATIONS	30

START_TEST(fault_matrix)
{
	struct h_proc *raw = h_raw("raw", matrix_serve, NULL), *be[2];
	struct cell k;
	int port, sub;

	be[0] = be[1] = raw;	/* the same server twice: a retry is seen */
	port = h_lb(2, be, "-i", "60000", "-t", "response=8000", NULL)->port;
	for (sub = 0; sub < 16; sub++) {
		cell_of(_i, sub, &k);
		run_cell(port, raw, &k);
	}
}
END_TEST

/* ---- scripted backends for the single faults ---- */

/* A 200 with Connection: close, and the close. */
static void
send_ok_closing(struct raw_conn *rc)
{
	raw_sendf(rc, "HTTP/1.1 200 OK\r\nConnection: close\r\n"
	    "Content-Length: 3\r\n\r\nok\n");
	raw_fin(rc);
}

/* Answer what each path asks for; note every head. */
static void
script_serve(struct raw_conn *rc, void *arg)
{
	char target[512], link[256], *big;
	size_t len, head_len;
	long long n, got, k;
	int i;

	(void)arg;
	while (raw_head(rc, 10000) > 0) {
		snprintf(target, sizeof(target), "%s", raw_target(rc));
		raw_note(rc, "head %s %d", target, rc->nreq);
		n = content_length(rc);
		if (strncmp(target, "/slow-read", 10) == 0) {
			/* Reads its body 4 KB at a time, 2 ms apart; answers. */
			for (got = 0; got < n; got += k) {
				h_pause_ms(2);
				if ((k = raw_body(rc, n - got < 4096 ? n - got :
				    4096, NULL, 5000)) <= 0)
					return;
			}
			raw_sendf(rc, "HTTP/1.1 200 OK\r\nX-Got: %lld\r\n"
			    "Content-Length: 3\r\n\r\nok\n", got);
			continue;
		}
		if (strncmp(target, "/stall-mid-body", 15) == 0) {
			/* A close-delimited body that stops coming. */
			raw_sendf(rc, "HTTP/1.1 200 OK\r\nConnection: close"
			    "\r\n\r\npart1");
			h_pause_ms(20000);
			return;
		}
		if (strncmp(target, "/early-rst", 10) == 0) {
			/*
			 * A 413 whose head ends only after lb has filled this
			 * connection with body it does not read; then a reset.
			 */
			raw_sendf(rc, "HTTP/1.1 413 Content Too Large\r\n"
			    "Content-Length: 0\r\n");
			h_pause_ms(400);
			raw_sendf(rc, "\r\n");
			raw_rst(rc);
			return;
		}
		if (strncmp(target, "/early", 6) == 0) {
			/* 401 before the body, as an auth check does. */
			raw_sendf(rc, "HTTP/1.1 401 Unauthorized\r\n"
			    "Content-Length: 0\r\n\r\n");
			continue;
		}
		if (strncmp(target, "/drop", 5) == 0) {
			/* Takes ?after= body bytes (all), closes unanswered. */
			raw_body(rc, raw_query(rc, "after", n), NULL, 5000);
			raw_fin(rc);
			return;
		}
		if (raw_body(rc, n, NULL, 5000) != n)
			return;
		if (strncmp(target, "/then-408", 9) == 0) {
			/* Kept idle, then the backend's own idle timeout. */
			raw_sendf(rc, "HTTP/1.1 200 OK\r\nContent-Length: 3"
			    "\r\n\r\nok\n");
			h_pause_ms(h_scaled(200));
			raw_sendf(rc, "HTTP/1.1 408 Request Timeout\r\n"
			    "Connection: close\r\nContent-Length: 0\r\n\r\n");
			raw_fin(rc);
			return;
		}
		if (strncmp(target, "/te-", 4) == 0) {
			/* A body framed by the codings after "/te-". */
			raw_sendf(rc, "HTTP/1.1 200 OK\r\nTransfer-Encoding: "
			    "%s\r\n\r\n5\r\nhello\r\n0\r\n\r\n", target + 4);
			raw_fin(rc);
			return;
		} else if (strncmp(target, "/many-headers", 13) == 0) {
			/* 100 headers: 99 of X-N, then Content-Length. */
			raw_sendf(rc, "HTTP/1.1 200 OK\r\n");
			for (i = 1; i < 100; i++)
				raw_sendf(rc, "X-%d: %d\r\n", i, i);
			raw_sendf(rc, "Content-Length: 3\r\n\r\nok\n");
		} else if (strncmp(target, "/conn-cl", 8) == 0) {
			raw_sendf(rc, "HTTP/1.1 200 OK\r\nConnection: "
			    "Content-Length\r\nContent-Length: 5\r\n\r\nhello");
		} else if (strncmp(target, "/hints", 6) == 0) {
			/* Two heads of 12 KB: more than fits in one buffer. */
			raw_sendf(rc, "HTTP/1.1 103 Early Hints\r\n");
			for (i = 0; i < 100; i++) {
				snprintf(link, sizeof(link), "Link: </style-%03d"
				    ".css>; rel=preload; as=style; x=%080d\r\n",
				    i, i);
				raw_send(rc, link, strlen(link));
			}
			raw_sendf(rc, "\r\nHTTP/1.1 200 OK\r\n");
			for (i = 0; i < 60; i++) {
				snprintf(link, sizeof(link), "X-Filler-%03d: %0"
				    "180d\r\n", i, i);
				raw_send(rc, link, strlen(link));
			}
			raw_sendf(rc, "Content-Length: 3\r\n\r\nok\n");
		} else if (strncmp(target, "/big", 4) == 0) {
			/* A large body, then FIN: it must all arrive. */
			big = encode(0, (int)raw_query(rc, "framing", 0),
			    raw_query(rc, "size", 0), (int)raw_query(rc, "v10",
			    0), raw_query(rc, "close", 0) ? "Connection: close"
			    "\r\n" : "", &len, &head_len);
			if (big != NULL)
				raw_send(rc, big, len);
			free(big);
			raw_fin(rc);
			return;
		} else if (raw_query(rc, "close", 0)) {
			send_ok_closing(rc);
			return;
		} else
			raw_sendf(rc, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n"
			    "\r\nok\n");
	}
	raw_note(rc, "ended after %d", rc->nreq);	/* lb closed it */
}

/*
 * 1. A header named by Connection is removed on the way: so Connection
 * may not name what frames the message, or Host. Before, each of these
 * reached the backend as something else: a POST with no length and a
 * second request hidden in its body (without lb's X-Forwarded-For), a
 * chunked body read as the next request line, a 1.1 request with no
 * Host. Now each is a 400, and nothing reaches the backend.
 */
START_TEST(connection_may_not_name_framing_headers)
{
	static const char *const smuggles[] = {
		"POST / HTTP/1.1\r\nHost: a\r\nConnection: Content-Length\r\n"
		"Content-Length: 35\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a"
		"\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, "
		"transfer-encoding\r\nTransfer-Encoding: chunked\r\n\r\n"
		"0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nConnection: HOST\r\n\r\n",
	};
	struct h_proc *b = h_backend("b1", "-q", NULL);
	struct h_proc *raw = h_raw("raw", script_serve, NULL);
	int port = h_lb(1, &b, NULL)->port, i;
	struct h_conn *c;
	struct h_resp r;

	for (i = 0; i < 3; i++) {
		c = h_connect(port);
		h_sends(c, smuggles[i]);
		expect(c, &r, 400);
		ck_assert_pstr_eq(h_header(&r, "Connection"), "close");
		h_resp_free(&r);
		ck_assert_int_eq(h_peer_closed_silently(c, h_scaled(3000)), 1);
		h_close(c);
	}
	ck_assert_int_eq(h_backend_stat(b->port, "requests "), 0);
	/* A response that names its own Content-Length: it can't be framed. */
	port = h_lb(1, &raw, "-i", "60000", NULL)->port;
	c = h_connect(port);
	h_sends(c, "GET /conn-cl HTTP/1.1\r\nHost: x\r\n\r\n");
	expect(c, &r, 502);
	h_resp_free(&r);
}
END_TEST

/*
 * A request whose Transfer-Encoding does not end in chunked, or applies
 * chunked twice, has a body no one can find the end of (RFC 9112 6.3,
 * item 4): 400, Connection: close, and the connection closes, for what
 * follows the head could be anything. Chunked last after a coding lb
 * does not decode is 501. Nothing reaches the backend.
 */
START_TEST(a_request_lb_cannot_frame_gets_400_and_a_close)
{
	static const struct {
		const char *codings;
		int	status;
	} cases[] = {
		{ "gzip", 400 }, { "chunked, gzip", 400 },
		{ "chunked, chunked", 400 }, { "gzip, chunked", 501 },
	};
	struct h_proc *b = h_backend("b1", "-q", NULL);
	int port = h_lb(1, &b, NULL)->port;
	struct h_conn *c;
	struct h_resp r;
	char req[256];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(req, sizeof(req), "POST / HTTP/1.1\r\nHost: a\r\n"
		    "Transfer-Encoding: %s\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
		    "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
		    cases[i].codings);
		c = h_connect(port);
		h_sends(c, req);
		expect(c, &r, cases[i].status);
		ck_assert_pstr_eq(h_header(&r, "Connection"), "close");
		h_resp_free(&r);
		ck_assert_msg(h_peer_closed_silently(c, h_scaled(3000)),
		    "Transfer-Encoding: %s: the connection stays open",
		    cases[i].codings);
		h_close(c);
	}
	ck_assert_int_eq(h_backend_stat(b->port, "requests "), 0);
}
END_TEST

/*
 * The same rule the other way: a response whose Transfer-Encoding does
 * not end in chunked (RFC 9112 would let it run until the backend
 * closes) gets lb's own 502, as from HAProxy. None of its body reaches
 * the client, and the GET is not sent again: a malformed answer is the
 * backend's word, not a lost connection.
 */
START_TEST(a_response_lb_cannot_frame_gets_502)
{
	static const char *const targets[] = { "/te-gzip", "/te-chunked,gzip",
		"/te-chunked,chunked" };
	struct h_proc *raw = h_raw("raw", script_serve, NULL);
	int port = h_lb(1, &raw, "-i", "60000", NULL)->port;
	struct h_conn *c;
	struct h_resp r;
	char req[128], note[128];
	size_t i;

	for (i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
		snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\n"
		    "\r\n", targets[i]);
		c = h_connect(port);
		h_sends(c, req);
		expect(c, &r, 502);
		ck_assert_ptr_null(strstr(r.body, "hello"));
		h_resp_free(&r);
		h_close(c);
		snprintf(note, sizeof(note), "head %s ", targets[i]);
		ck_assert_int_eq(raw_count(raw, note), 1);
	}
}
END_TEST

/*
 * 2. A backend that answers before it has read the body (401, 413) must
 * not get its connection back in the pool: the next client's request
 * would be written into the first one's unfinished body. The client
 * connection has carried a complete request first, so that nothing
 * left over from it can make the connection look finished; the backend
 * closes that first one, so the early one is the only one to reuse.
 */
START_TEST(an_early_answer_never_returns_a_connection_mid_body)
{
	struct h_proc *raw = h_raw("raw", script_serve, NULL);
	int port = h_lb(1, &raw, "-i", "60000", NULL)->port;
	struct h_conn *c = h_connect(port), *d;
	char part[1000];
	struct h_resp r;

	h_sends(c, "POST /ok?close=1 HTTP/1.1\r\nHost: x\r\n"
	    "Content-Length: 5\r\n\r\nhello");
	expect(c, &r, 200);
	h_resp_free(&r);
	h_sends(c, "POST /early HTTP/1.1\r\nHost: x\r\n"
	    "Content-Length: 100000\r\n\r\n");
	memset(part, 'p', sizeof(part));
	h_send(c, part, sizeof(part));
	expect(c, &r, 401);
	ck_assert_pstr_eq(h_header(&r, "Connection"), "close");
	h_resp_free(&r);
	d = h_connect(port);
	h_sends(d, "GET /second HTTP/1.1\r\nHost: x\r\n\r\n");
	expect(d, &r, 200);
	h_resp_free(&r);
	/* It went on a fresh connection, as its first request. */
	ck_assert_int_eq(raw_count(raw, "head /second"), 1);
	ck_assert_int_eq(raw_count(raw, "head /second 1"), 1);
}
END_TEST

/*
 * 3. The backend sends a large body and closes; the client reads slowly,
 * so lb still holds the tail in its buffers when it sees the close.
 * Every byte must arrive, whatever says where the body ends. (Larger
 * than the socket buffers lb's kernel will grow for the client, 4 MB
 * by Linux's default: below that, lb's own buffers are never full.)
 */
START_TEST(a_slow_reader_gets_every_byte_after_the_backend_closes)
{
	enum { BIG = 5 << 20 };
	static const char *const how[] = {
		"framing=0&close=1",	/* Content-Length, Connection: close */
		"framing=0&v10=1",	/* HTTP/1.0 */
		"framing=1&close=1",	/* chunked, Connection: close */
		"framing=2",		/* close-delimited */
	};
	struct h_proc *raw = h_raw("raw", script_serve, NULL);
	int port = h_lb(1, &raw, "-i", "60000", NULL)->port, i;
	struct h_conn *c;
	struct h_resp r;
	char req[256];

	for (i = 0; i < 4; i++) {
		c = h_connect_slow(port, 1);
		snprintf(req, sizeof(req), "GET /big?size=%d&%s HTTP/1.1\r\n"
		    "Host: x\r\n\r\n", BIG, how[i]);
		h_sends(c, req);
		ck_assert_int_eq(h_read_response(c, &r, 0, h_scaled(20000)), 0);
		ck_assert_int_eq(r.status, 200);
		ck_assert_msg(r.complete && r.body_len == BIG &&
		    body_ok(0, r.body, r.body_len), "%s: %zu bytes, complete "
		    "%d", how[i], r.body_len, r.complete);
		h_resp_free(&r);
		h_close(c);
	}
}
END_TEST

/*
 * 5. A partial head that starts past the beginning of lb's buffer, with
 * the buffer full: 1,000 pipelined requests in one write, and a 12 KB
 * 103 followed by a 12 KB 200. Both stalled, until a timeout.
 */
START_TEST(heads_past_a_full_buffer_are_not_stalled)
{
	enum { N = 1000 };
	static const char get[] = "GET /p HTTP/1.1\r\nHost: x\r\n\r\n";
	struct h_proc *b = h_backend("b1", "-q", NULL);
	struct h_proc *raw = h_raw("raw", script_serve, NULL);
	int port = h_lb(1, &b, NULL)->port, i;
	struct h_conn *c = h_connect(port);
	char *all = malloc(N * sizeof(get));
	struct h_resp r;

	ck_assert_ptr_nonnull(all);
	for (i = 0; i < N; i++)
		memcpy(all + i * (sizeof(get) - 1), get, sizeof(get) - 1);
	h_send(c, all, N * (sizeof(get) - 1));
	free(all);
	for (i = 0; i < N; i++) {
		ck_assert_msg(h_read_response(c, &r, 0, h_scaled(5000)) == 0 &&
		    r.status == 200 && r.complete, "response %d of %d: %d", i + 1,
		    N, r.status);
		h_resp_free(&r);
	}
	port = h_lb(1, &raw, "-i", "60000", NULL)->port;
	c = h_connect(port);
	h_sends(c, "GET /hints HTTP/1.1\r\nHost: x\r\n\r\n");
	expect(c, &r, 103);
	ck_assert_int_eq(h_header_count(&r, "Link"), 100);
	h_resp_free(&r);
	expect(c, &r, 200);
	ck_assert_int_eq(h_header_count(&r, "X-Filler-059"), 1);
	ck_assert_str_eq(r.body, "ok\n");
	h_resp_free(&r);
}
END_TEST

/*
 * 6. Slowloris on a kept connection: -t head bounds the whole head of
 * every request, not the gap between its lines.
 */
START_TEST(a_trickled_head_on_a_kept_connection_gets_408)
{
	struct h_proc *b = h_backend("b1", "-q", NULL);
	int port = h_lb(1, &b, "-t", "head=1000", NULL)->port, i;
	struct h_conn *c = h_connect(port);
	struct h_resp r;
	char line[32];
	long t0;

	h_sends(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
	expect(c, &r, 200);
	h_resp_free(&r);
	t0 = h_now_ms();
	h_sends(c, "GET / HTTP/1.1\r\nHost: x\r\n");
	for (i = 0; i < 30; i++) {
		snprintf(line, sizeof(line), "X-Trickle-%d: 1\r\n", i);
		h_sends(c, line);
		if (h_read_response(c, &r, 0, 200) == 0)
			break;
		h_resp_free(&r);
	}
	ck_assert_int_eq(r.status, 408);
	h_resp_free(&r);
	ck_assert_msg(h_now_ms() - t0 < h_scaled(2500), "408 after %ld ms",
	    h_now_ms() - t0);
}
END_TEST

/*
 * 7. An absolute-form target names the host (RFC 9112 section 3.2.2):
 * its authority replaces whatever Host says, so the backend and lb can
 * never disagree about which site is asked. A userinfo part is refused.
 */
START_TEST(an_absolute_target_names_the_host)
{
	struct h_proc *b = h_backend("b1", "-q", NULL);
	int port = h_lb(1, &b, NULL)->port;
	struct h_resp r;

	ck_assert_int_eq(h_request(port, "GET http://evil.example/x HTTP/1.1"
	    "\r\nHost: good.example\r\n\r\n", &r), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.body, "header Host: evil.example\n"));
	ck_assert_ptr_null(strstr(r.body, "good.example"));
	h_resp_free(&r);
	ck_assert_int_eq(h_request(port, "GET HTTP://Evil.Example:8080/y?q=1 "
	    "HTTP/1.1\r\nHost: a\r\n\r\n", &r), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.body, "header Host: Evil.Example:8080\n"));
	h_resp_free(&r);
	ck_assert_int_eq(h_request(port, "GET http://u@evil.example/ HTTP/1.1"
	    "\r\nHost: evil.example\r\n\r\n", &r), 0);
	ck_assert_int_eq(r.status, 400);
	h_resp_free(&r);
	ck_assert_int_eq(h_backend_stat(b->port, "requests "), 2);
}
END_TEST

/*
 * 8. With room under -m, lb's own descriptors pass FD_SETSIZE: idle
 * clients hold the low ones. Every client that asks must hear back (an
 * answer, or a 503), whether its own descriptor or its backend's is the
 * one select() cannot watch.
 */
/*
 * Short of descriptors, an idle pooled backend connection is worth less
 * than a request: one is closed to make way, where a 503 came before.
 * With RLIMIT_NOFILE 24, 8 clients leave 8 idle connections in the pools;
 * 8 more clients then POST (never sent on a pooled connection: each needs
 * a socket of its own), which only fits if the idle ones make way.
 */
START_TEST(idle_pooled_connections_make_way_for_requests)
{
	enum { N = 8 };
	static const char post[] = "POST /p HTTP/1.1\r\nHost: x\r\n"
	    "Content-Length: 2\r\n\r\nhi";
	struct h_proc *be[2], *lb;
	struct h_conn *c[N];
	struct h_resp r;
	int i, round;

	be[0] = h_backend("b1", "-q", NULL);
	be[1] = h_backend("b2", "-q", NULL);
	if (!h_fd_limit(24))
		return;
	lb = h_lb(2, be, "-i", "60000", NULL);
	for (round = 0; round < 2; round++) {
		for (i = 0; i < N; i++) {
			ck_assert_ptr_nonnull(c[i] = h_connect(lb->port));
			ck_assert_int_eq(h_sends(c[i], round == 0 ?
			    "GET / HTTP/1.1\r\nHost: x\r\n\r\n" : post), 0);
		}
		for (i = 0; i < N; i++) {
			ck_assert_int_eq(h_read_response(c[i], &r, 0,
			    h_scaled(H_TIMEOUT_MS)), 0);
			ck_assert_msg(r.status == 200, "round %d, client %d: "
			    "%d", round, i, r.status);
			h_resp_free(&r);
			h_close(c[i]);
		}
		h_pause_ms(100);	/* the clients' descriptors back */
	}
}
END_TEST

START_TEST(descriptors_past_fd_setsize_are_answered)
{
	enum { N = FD_SETSIZE + 20, ASK = 60 };
	static struct h_conn *c[N];
	struct h_proc *b, *lb;
	char max[16];
	struct h_resp r;
	int i, answered = 0;

	if (!h_raise_fd_limit(FD_SETSIZE * 2 + 256)) {
		h_skip("the hard descriptor limit is below FD_SETSIZE * 2");
		return;
	}
	b = h_backend("b1", "-q", NULL);
	snprintf(max, sizeof(max), "%d", FD_SETSIZE);
	lb = h_lb(1, &b, "-m", max, "-p", "0", NULL);
	for (i = 0; i < N; i++)
		c[i] = h_connect(lb->port);
	for (i = N - ASK; i < N; i++)
		h_sends(c[i], "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
	for (i = N - ASK; i < N; i++) {
		if (h_read_response(c[i], &r, 0, h_scaled(3000)) == 0 &&
		    (r.status == 200 || r.status == 503))
			answered++;
		h_resp_free(&r);
	}
	ck_assert_int_eq(answered, ASK);
	for (i = 0; i < N; i++)
		h_close(c[i]);
	ck_assert_int_eq(h_request(lb->port, "GET / HTTP/1.1\r\nHost: x\r\n"
	    "\r\n", &r), 0);
	ck_assert_int_eq(r.status, 200);
	h_resp_free(&r);
}
END_TEST

static void
load_client(struct h_proc *self, void *arg)
{
	/* Large enough that a kill often falls in the middle of one. */
	static const char get[] = "GET /?size=100000 HTTP/1.1\r\nHost: x"
	    "\r\n\r\n";
	int port = *(int *)arg, fd, rc;
	long end = h_now_ms() + 2500, t, worst = 0, done = 0, cut = 0, hung = 0;

	(void)self;
	while (h_now_ms() < end && (fd = h_dial(port, 0)) >= 0) {
		do {
			t = h_now_ms();
			rc = write(fd, get, sizeof(get) - 1) < 0 ? 0 :
			    h_read_one(fd, 2000);
			if (h_now_ms() - t > worst)
				worst = h_now_ms() - t;
			done += rc == 1;
			cut += rc == 0;
			hung += rc < 0;
		} while (rc == 1 && h_now_ms() < end);
		close(fd);
	}
	printf("done %ld cut %ld hung %ld worst %ld\n", done, cut, hung, worst);
	fflush(stdout);
}

/*
 * 9. A backend killed under keep-alive load: no request may hang (before,
 * 2 of 12,917 waited 10 s, one run in four). A request cut by the kill
 * ends in a close the client sees at once.
 */
START_TEST(a_backend_killed_under_load_strands_nobody)
{
	enum { N = 16 };
	struct h_proc *be[2], *cl[N];
	int port, i;
	long done = 0, cut = 0, hung = 0, worst = 0, d, k, h, w;
	char *out;

	be[0] = h_backend("b1", "-q", NULL);
	be[1] = h_backend("b2", "-q", NULL);
	port = h_lb(2, be, "-i", "200", NULL)->port;
	for (i = 0; i < N; i++)
		cl[i] = h_fork("client", load_client, &port);
	h_pause_ms(800);
	h_kill(be[1]);
	for (i = 0; i < N; i++) {
		ck_assert_int_eq(h_wait_exit(cl[i], h_scaled(10000)), 0);
		out = h_slurp(cl[i]->out);
		ck_assert_int_eq(sscanf(out, "done %ld cut %ld hung %ld worst "
		    "%ld", &d, &k, &h, &w), 4);
		free(out);
		done += d;
		cut += k;
		hung += h;
		worst = w > worst ? w : worst;
	}
	ck_assert_msg(hung == 0 && worst < h_scaled(2000), "%ld of %ld "
	    "requests hung; the slowest took %ld ms", hung, done + cut + hung,
	    worst);
	ck_assert_msg(done > 500, "only %ld requests done", done);
}
END_TEST

/*
 * Retries: a GET that a fresh backend connection closed unanswered goes
 * to the next backend; a POST whose body reached a backend is never sent
 * again (RFC 9110 section 9.2.2: it may have been acted on), so it gets
 * a 502. b1 reads each request whole, then closes without a word.
 */
START_TEST(a_get_is_retried_and_a_post_never_resent)
{
	struct h_proc *be[2], *lb;
	struct h_resp r;
	char *log;

	be[0] = h_backend("b1", "-m", "drop", NULL);
	be[1] = h_backend("b2", "-q", NULL);
	lb = h_lb(2, be, "-i", "60000", "-p", "0", NULL);
	ck_assert_int_eq(h_request(lb->port, "GET /g HTTP/1.1\r\nHost: x\r\n"
	    "\r\n", &r), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_pstr_eq(h_header(&r, "X-Backend"), "b2");
	h_resp_free(&r);
	ck_assert_int_eq(h_request(lb->port, "POST /p HTTP/1.1\r\nHost: x\r\n"
	    "Content-Length: 2\r\n\r\nhi", &r), 0);
	ck_assert_int_eq(r.status, 502);
	h_resp_free(&r);
	ck_assert_int_eq(h_backend_stat(be[1]->port, "requests "), 1);
	log = h_slurp(be[0]->out);
	ck_assert_msg(strstr(log, "b1 GET /g drop\n") != NULL &&
	    strstr(log, "b1 POST /p drop\n") != NULL &&
	    strstr(strstr(log, "POST") + 1, "POST") == NULL,
	    "b1 saw: %s", log);
	free(log);
}
END_TEST

/*
 * A backend that says Connection: close, and is slow to close: its
 * connection must not go back to the pool, or the next request waits
 * on it until the backend hangs up.
 */
START_TEST(a_backend_connection_close_is_honoured)
{
	struct h_proc *b = h_backend("b1", "-q", NULL);
	int port = h_lb(1, &b, "-i", "60000", NULL)->port;
	struct h_resp r;
	long t0;

	ck_assert_int_eq(h_request(port, "GET /a?closing=3000 HTTP/1.1\r\n"
	    "Host: x\r\n\r\n", &r), 0);
	ck_assert_int_eq(r.status, 200);
	h_resp_free(&r);
	t0 = h_now_ms();
	ck_assert_int_eq(h_request(port, "GET /b HTTP/1.1\r\nHost: x\r\n\r\n",
	    &r), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_pstr_eq(h_header(&r, "X-Connection-Requests"), "1");
	h_resp_free(&r);
	ck_assert_msg(h_now_ms() - t0 < h_scaled(1000), "took %ld ms",
	    h_now_ms() - t0);
}
END_TEST

/*
 * Found by fuzzing conn.c: lb's own answer to a HEAD request (here a
 * 502, for a backend that sent garbage) carried a body, which a client
 * reads as the start of the next response.
 */
START_TEST(our_own_answer_to_head_has_no_body)
{
	struct h_proc *b = h_backend("b1", "-q", NULL);
	int port = h_lb(1, &b, NULL)->port;
	struct h_conn *c = h_connect(port);
	struct h_resp r;

	h_sends(c, "HEAD /g?mode=garbage HTTP/1.1\r\nHost: x\r\n\r\n");
	ck_assert_int_eq(h_read_response(c, &r, 1, h_scaled(H_TIMEOUT_MS)), 0);
	ck_assert_int_eq(r.status, 502);
	ck_assert_ptr_nonnull(h_header(&r, "Content-Length"));
	h_resp_free(&r);
	ck_assert_msg(h_peer_closed_silently(c, h_scaled(3000)),
	    "bytes after the head of an answer to HEAD");
}
END_TEST

/* A request head: Host, then n - 1 headers X-1: 1 ... */
static void
many_headers(char *req, size_t cap, const char *version, int n)
{
	size_t len;
	int i;

	len = (size_t)snprintf(req, cap, "GET / HTTP/%s\r\nHost: x\r\n",
	    version);
	for (i = 1; i < n; i++)
		len += (size_t)snprintf(req + len, cap - len, "X-%d: %d\r\n",
		    i, i);
	snprintf(req + len, cap - len, "\r\n");
}

/* How many lines of s start with prefix. */
static int
lines_starting(const char *s, const char *prefix)
{
	int n = strncmp(s, prefix, strlen(prefix)) == 0;

	while ((s = strchr(s, '\n')) != NULL)
		n += strncmp(++s, prefix, strlen(prefix)) == 0;
	return n;
}

/*
 * A client may send 100 header lines, Host among them (101: 431), and
 * all of them reach the backend, with lb's own lines after them: the
 * three forwarded ones of the default -P, and Connection: keep-alive for
 * HTTP/1.0. The limit is on what lb takes in, as HAProxy's maxhdr is.
 * With -P none lb adds nothing: 100 in, 100 out.
 */
START_TEST(a_client_may_send_100_headers_and_lb_adds_its_own)
{
	struct h_proc *b = h_backend("b1", "-q", NULL);
	int port = h_lb(1, &b, NULL)->port;
	struct h_resp r;
	char req[4096];

	many_headers(req, sizeof(req), "1.1", 101);
	ck_assert_int_eq(h_request(port, req, &r), 0);
	ck_assert_int_eq(r.status, 431);
	h_resp_free(&r);
	many_headers(req, sizeof(req), "1.1", 100);
	ck_assert_int_eq(h_request(port, req, &r), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.body, "header X-99: 99\n"
	    "header X-Forwarded-For: 127.0.0.1\n"
	    "header X-Forwarded-Proto: http\n"
	    "header X-Forwarded-Host: x\n"));
	ck_assert_int_eq(lines_starting(r.body, "header "), 103);
	h_resp_free(&r);
	many_headers(req, sizeof(req), "1.0", 100);
	ck_assert_int_eq(h_request(port, req, &r), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.body, "header Connection: keep-alive\n"));
	ck_assert_int_eq(lines_starting(r.body, "header "), 104);
	h_resp_free(&r);
	port = h_lb(1, &b, "-P", "none", NULL)->port;
	many_headers(req, sizeof(req), "1.1", 100);
	ck_assert_int_eq(h_request(port, req, &r), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.body, "header X-99: 99\n"));
	ck_assert_int_eq(lines_starting(r.body, "header "), 100);
	h_resp_free(&r);
}
END_TEST

/*
 * The other way, the same: a response with 100 headers reaches the
 * client with lb's Connection line after them, not as a 502.
 */
START_TEST(a_response_with_100_headers_gets_lbs_connection_line_too)
{
	struct h_proc *raw = h_raw("raw", script_serve, NULL);
	int port = h_lb(1, &raw, "-i", "60000", NULL)->port;
	struct h_resp r;

	ck_assert_int_eq(h_request(port, "GET /many-headers HTTP/1.1\r\n"
	    "Host: x\r\nConnection: close\r\n\r\n", &r), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_int_eq(r.complete, 1);
	ck_assert_str_eq(r.body, "ok\n");
	ck_assert_pstr_eq(h_header(&r, "X-99"), "99");
	ck_assert_pstr_eq(h_header(&r, "Connection"), "close");
	ck_assert_int_eq(lines_starting(r.head, "X-"), 99);
	h_resp_free(&r);
}
END_TEST

/*
 * Found by a cold review: the backend answers early (413) and resets,
 * and lb sees the failed write before the response head. The client's
 * body is unfinished, so its connection must close after the 413; kept
 * open, the rest of the body would be parsed as requests (here, full of
 * them: empty lines, which a parser skips, and a GET now and then).
 */
START_TEST(an_early_answer_then_a_reset_smuggles_nothing)
{
	struct h_proc *raw = h_raw_rcvbuf("raw", script_serve, NULL, 4096);
	int port = h_lb(1, &raw, "-i", "60000", NULL)->port, i, fl;
	struct h_conn *c = h_connect(port);
	static char body[2000 + 64];
	struct h_resp r;
	long end;
	size_t n = 0;
	ssize_t w;

	for (i = 0; i < 1000; i++)
		n += (size_t)snprintf(body + n, sizeof(body) - n, "\r\n");
	n += (size_t)snprintf(body + n, sizeof(body) - n, "GET /smuggled "
	    "HTTP/1.1\r\nHost: x\r\n\r\n");
	h_sends(c, "POST /early-rst HTTP/1.1\r\nHost: x\r\n"
	    "Content-Length: 100000000\r\n\r\n");
	/* As much body as lb takes in 600 ms, without blocking on it. */
	fl = fcntl(c->fd, F_GETFL);
	fcntl(c->fd, F_SETFL, fl | O_NONBLOCK);
	for (end = h_now_ms() + 600; h_now_ms() < end; )
		if ((w = write(c->fd, body, n)) < 0)
			h_pause_ms(5);
	fcntl(c->fd, F_SETFL, fl);
	ck_assert_int_eq(h_read_response(c, &r, 0, h_scaled(H_TIMEOUT_MS)), 0);
	ck_assert_int_eq(r.status, 413);
	ck_assert_pstr_eq(h_header(&r, "Connection"), "close");
	h_resp_free(&r);
	ck_assert_msg(h_peer_closed_silently(c, h_scaled(3000)),
	    "another response after the 413");
	ck_assert_int_eq(raw_count(raw, "head /smuggled"), 0);
}
END_TEST

/*
 * Found by the review too: a client that sends its whole body and then
 * closes its sending side (scripts, nc -N) got no answer when the tail
 * of the body was still in lb's buffer, waiting for a slow backend.
 */
START_TEST(a_half_close_after_the_whole_body_still_gets_the_answer)
{
	enum { N = 300000 };
	struct h_proc *raw = h_raw_rcvbuf("raw", script_serve, NULL, 4096);
	int port = h_lb(1, &raw, "-i", "60000", NULL)->port;
	struct h_conn *c = h_connect(port);
	static char body[N];
	struct h_resp r;
	char head[128];

	memset(body, 'b', sizeof(body));
	snprintf(head, sizeof(head), "POST /slow-read HTTP/1.1\r\nHost: x\r\n"
	    "Content-Length: %d\r\n\r\n", N);
	h_sends(c, head);
	h_send(c, body, sizeof(body));
	shutdown(c->fd, SHUT_WR);
	ck_assert_int_eq(h_read_response(c, &r, 0, h_scaled(H_TIMEOUT_MS)), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_int_eq(atoi(h_header(&r, "X-Got")), N);
	h_resp_free(&r);
}
END_TEST

/* A client that stops halfway through its body is the slow one: 408. */
/*
 * SIGTERM, and the drain deadline passes with a close-delimited body
 * half sent: the client must get a reset, not a FIN, which would say
 * the body was whole (found by a cold review).
 */
START_TEST(the_drain_deadline_resets_a_body_it_cuts)
{
	struct h_proc *raw = h_raw("raw", script_serve, NULL), *lb;
	struct h_conn *c;
	struct h_resp r;

	lb = h_lb(1, &raw, "-i", "60000", "-t", "drain=300", NULL);
	c = h_connect(lb->port);
	h_sends(c, "GET /stall-mid-body HTTP/1.1\r\nHost: x\r\n\r\n");
	ck_assert_int_eq(h_read_response(c, &r, 0, h_scaled(800)), 0);
	ck_assert_int_eq(r.complete, 0);	/* it stalls */
	ck_assert_str_eq(r.body, "part1");
	h_resp_free(&r);
	kill(lb->pid, SIGTERM);
	ck_assert_int_eq(h_wait_exit(lb, h_scaled(5000)), 0);
	h_peer_closed(c, h_scaled(2000));
	ck_assert_msg(c->reset, "a cut body ended with a FIN: it looks whole");
}
END_TEST

START_TEST(a_client_that_stalls_mid_body_gets_408)
{
	struct h_proc *b = h_backend("b1", "-q", NULL);
	int port = h_lb(1, &b, "-t", "response=500", NULL)->port;
	struct h_conn *c = h_connect(port);
	struct h_resp r;

	h_sends(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n"
	    "\r\nonly ten b");
	ck_assert_int_eq(h_read_response(c, &r, 0, h_scaled(3000)), 0);
	ck_assert_int_eq(r.status, 408);
	h_resp_free(&r);
}
END_TEST

/*
 * A balancer in front of raw twice: a retry goes to the same backend,
 * which sees it, as in the fault matrix.
 */
static int
lb_twice(struct h_proc *raw)
{
	struct h_proc *be[2];

	be[0] = be[1] = raw;
	return h_lb(2, be, "-i", "60000", NULL)->port;
}

/*
 * The GET /after just sent on c is answered by the backend as the first
 * request of a fresh connection, not by what the pooled one, which
 * `pooled` describes, still held.
 */
static void
expect_after_on_a_fresh_connection(struct h_conn *c, const struct h_proc *raw,
    const char *pooled)
{
	struct h_resp r;

	ck_assert_int_eq(h_read_response(c, &r, 0, h_scaled(H_TIMEOUT_MS)), 0);
	ck_assert_msg(r.status == 200 && r.complete && strcmp(r.body, "ok\n") ==
	    0, "GET /after got %d, from the pooled connection that %s",
	    r.status, pooled);
	h_resp_free(&r);
	ck_assert_int_eq(raw_count(raw, "head /after 1"), 1);
}

/*
 * A broken backend answers HEAD with a body anyway. Those bytes are no
 * response: its connection must not go back to the pool, or the GET
 * pipelined behind the HEAD, lent it in the same pass, reads them as
 * its own answer. The head and 40 KB come in one write, more than lb's
 * buffer takes: some of the body is in bin when the head is done, the
 * rest still in the socket. (Found by mutation: release_backend()
 * without its check that bin is empty.)
 */
START_TEST(a_body_after_a_head_response_is_never_pooled)
{
	struct h_proc *raw = h_raw("raw", script_serve, NULL);
	struct h_conn *c = h_connect(h_lb(1, &raw, "-i", "60000", NULL)->port);
	struct h_resp r;

	h_sends(c, "HEAD /big?size=40000 HTTP/1.1\r\nHost: x\r\n\r\n"
	    "GET /after HTTP/1.1\r\nHost: x\r\n\r\n");
	ck_assert_int_eq(h_read_response(c, &r, 1, h_scaled(H_TIMEOUT_MS)), 0);
	ck_assert_int_eq(r.status, 200);
	h_resp_free(&r);
	expect_after_on_a_fresh_connection(c, raw, "had a body left over");
}
END_TEST

/*
 * A POST whose body is still coming when the backend closes unanswered:
 * all of it that was sent is still in lb, so only its method keeps it
 * from going again, and it must not (RFC 9110 section 9.2.2). The
 * backend takes the head and 50 bytes, then closes; it sees one head.
 * (Found by mutation: no_response() without its idempotent check.)
 */
START_TEST(a_post_cut_off_mid_body_is_never_resent)
{
	struct h_proc *raw = h_raw("raw", script_serve, NULL);
	struct h_conn *c = h_connect(lb_twice(raw));
	struct h_resp r;
	char part[950];

	memset(part, 'p', sizeof(part));
	h_sends(c, "POST /drop?after=50 HTTP/1.1\r\nHost: x\r\n"
	    "Content-Length: 1000\r\n\r\n");
	h_send(c, part, 50);
	h_pause_ms(h_scaled(300));	/* the backend closes meanwhile */
	h_send(c, part, sizeof(part));
	expect(c, &r, 502);
	h_resp_free(&r);
	ck_assert_int_eq(raw_count(raw, "head /drop"), 1);
}
END_TEST

/*
 * A PUT may be sent again, but not once lb has let its first bytes go
 * to make room for later ones: a retry would start mid-body. The body
 * here is 100 KB of requests, the backend reads it all and closes
 * unanswered: nothing may reach it as /smuggled, and the client gets a
 * 502. (Found by mutation: pump_body() without "c->kept = 0".)
 */
START_TEST(a_body_larger_than_the_buffer_is_never_resent)
{
	static const char get[] = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
	static char body[2800 * (sizeof(get) - 1)];
	struct h_proc *raw = h_raw("raw", script_serve, NULL);
	struct h_conn *c = h_connect(lb_twice(raw));
	struct h_resp r;
	char head[128];
	size_t i;

	for (i = 0; i < sizeof(body); i += sizeof(get) - 1)
		memcpy(body + i, get, sizeof(get) - 1);
	snprintf(head, sizeof(head), "PUT /drop HTTP/1.1\r\nHost: x\r\n"
	    "Content-Length: %zu\r\n\r\n", sizeof(body));
	h_sends(c, head);
	h_send(c, body, sizeof(body));
	ck_assert_int_eq(h_read_response(c, &r, 0, h_scaled(H_TIMEOUT_MS)), 0);
	ck_assert_int_eq(raw_count(raw, "head /smuggled"), 0);
	ck_assert_int_eq(r.status, 502);
	h_resp_free(&r);
}
END_TEST

/*
 * An HTTP/1.0 client never gets a 1xx (RFC 9110 section 15.2): the
 * first status line it reads is the final one. (Found by mutation:
 * take_response_head() passing the 103 on to 1.0 clients too.)
 */
START_TEST(an_http10_client_never_gets_a_1xx)
{
	struct h_proc *raw = h_raw("raw", script_serve, NULL);
	int port = h_lb(1, &raw, "-i", "60000", NULL)->port;
	struct h_resp r;

	ck_assert_int_eq(h_request(port, "GET /hints HTTP/1.0\r\nHost: x\r\n"
	    "\r\n", &r), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, "ok\n");
	h_resp_free(&r);
}
END_TEST

/*
 * Wait until no descriptor below the next client's can come free in lb,
 * to be taken by that client's backend connection: then the client's
 * is the lower, and dispatched first in a pass. That is once lb's first
 * health check is over, and an exchange done on a connection kept open
 * (by then lb has closed the harness's own connection, made to see it
 * listen, which it may take with this one). raw notes "ended after 1"
 * when lb closes its health check connection, and answers ?close=1
 * with a close.
 */
static void
settle_descriptors(const struct h_proc *lb, const struct h_proc *raw)
{
	long end = h_now_ms() + h_scaled(2000);
	struct h_conn *first;
	struct h_resp r;

	while (raw_count(raw, "ended after 1") == 0 && h_now_ms() < end)
		h_pause_ms(5);
	first = h_connect(lb->port);
	h_sends(first, "GET /first?close=1 HTTP/1.1\r\nHost: x\r\n\r\n");
	expect(first, &r, 200);
	h_resp_free(&r);
}

/*
 * An idle pooled connection on which the backend sent a 408 (its own
 * idle timeout) and closed, in the very select() pass the next request
 * came in, is not lent: the client gets a 200 from a fresh connection.
 * lb is stopped while both happen, so that one pass sees both, and the
 * client's descriptor, the lower, is dispatched first. (Found by
 * mutation: bconn_take() without its loop_readable_now() check.)
 */
START_TEST(a_pooled_connection_closing_in_the_same_pass_is_not_lent)
{
	struct h_proc *raw = h_raw("raw", script_serve, NULL);
	struct h_proc *lb = h_lb(1, &raw, "-i", "60000", NULL);
	struct h_conn *c;
	struct h_resp r;

	settle_descriptors(lb, raw);
	c = h_connect(lb->port);
	h_sends(c, "GET /then-408 HTTP/1.1\r\nHost: x\r\n\r\n");
	expect(c, &r, 200);
	h_resp_free(&r);
	kill(lb->pid, SIGSTOP);
	h_pause_ms(h_scaled(500));	/* the 408 and the FIN arrive */
	h_sends(c, "GET /after HTTP/1.1\r\nHost: x\r\n\r\n");
	kill(lb->pid, SIGCONT);
	expect_after_on_a_fresh_connection(c, raw, "sent a 408 and closed");
}
END_TEST

/* ---- the reuse cells ----
 *
 * The keep-alive race: a pooled backend connection that the backend
 * closes (FIN or RST) just before, while or just after a request is
 * written on it, for a POST that is the first request of its client
 * connection or a later one, and for a later GET beside them. The
 * reuse rule (conn.c: choose_backend_or(), no_response()) says what
 * becomes of each; reuse_want() writes that down. Every request has a
 * body: a GET's too, for a GET can meet the close while it is written
 * only if there is a body to write. lb has one backend: a retry goes to
 * it again, on a fresh connection.
 */

enum when { W_BEFORE, W_WHILE, W_AFTER };

static const char *const when_name[] = { "just before", "while",
	"just after" };

#define REUSE_BODY	1000	/* every cell's request body */
#define REUSE_PART	50	/* how much of it the backend reads "while" */

/* A request, and when and how the backend closes around it. */
struct reuse_cell {
	int	id, when, how;
	int	post;		/* a POST; else a GET, which lb may resend */
	int	later;		/* not the first request of its connection */
};

/* What the reuse rule says becomes of it. */
struct reuse_want {
	int	status;		/* 200, 502, or 0: a close, no answer */
	int	on_pooled;	/* times it reaches the pooled connection */
	int	on_fresh;	/* and a fresh one */
	const char *log;	/* its access log's status, end and flags */
};

/* 18 iterations: when x how x (a first POST, a later POST, a later GET). */
#define REUSE_ITERATIONS	18

static void
reuse_cell_of(int it, struct reuse_cell *k)
{
	k->id = it;
	k->how = it % 2;
	k->when = it / 2 % 3;
	k->post = it / 6 < 2;
	k->later = it / 6 > 0;
}

static void
reuse_cell_name(const struct reuse_cell *k, char *out, size_t n)
{
	snprintf(out, n, "reuse cell %d: %s %s a %s %s", k->id,
	    k->how == HOW_RST ? "RST" : "FIN", when_name[k->when],
	    k->later ? "later" : "first", k->post ? "POST" : "GET");
}

/*
 * Closed before it is written, the pooled connection is not lent (it
 * was readable in that same select() pass): a fresh one, and the answer.
 * Met on it, a GET is sent again on a fresh one; a later POST ends its
 * client connection unanswered; a first POST never rides it, and meets
 * the same close on its fresh connection: 502. The log's end says the
 * backend failed it (S) while the request still came (R) or after (H).
 */
static void
reuse_want(const struct reuse_cell *k, struct reuse_want *w)
{
	if (k->when == W_BEFORE) {
		w->status = 200;
		w->on_pooled = 0;
		w->on_fresh = 1;
		w->log = "200 -- -";
	} else if (!k->post) {
		w->status = 200;
		w->on_pooled = w->on_fresh = 1;
		w->log = "200 -- retries=1";
	} else if (k->later) {
		w->status = 0;
		w->on_pooled = 1;
		w->on_fresh = 0;
		w->log = k->when == W_WHILE ? "- SR reused" : "- SH reused";
	} else {
		w->status = 502;
		w->on_pooled = 0;
		w->on_fresh = 1;
		w->log = k->when == W_WHILE ? "502 SR -" : "502 SH -";
	}
}

/* The cell's request target: what the backend is to do, and when. */
static void
reuse_target(const struct reuse_cell *k, const char *path, char *out,
    size_t n)
{
	snprintf(out, n, "%s?id=%d&when=%d&how=%d", path, k->id, k->when,
	    k->how);
}

/* The body of every cell: requests, which must never reach the backend. */
static void
reuse_body(char *body)
{
	static const char get[] = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
	size_t i;

	for (i = 0; i < REUSE_BODY; i++)
		body[i] = get[i % (sizeof(get) - 1)];
}

/*
 * A request of the reuse cells is in: answer it, or fail it as its
 * cell says. /warm's cell "before": answered, then closed idle, soon
 * enough for the test to find lb still stopped. /cell's "while" and
 * "after", the first time: closed unanswered, after REUSE_PART bytes of
 * its body or all of it. 1: the connection goes on.
 */
static int
reuse_answer(struct raw_conn *rc, const char *target)
{
	long long id = raw_query(rc, "id", -1);
	int when = (int)raw_query(rc, "when", W_BEFORE);

	if (strncmp(target, "/cell", 5) == 0 && when != W_BEFORE &&
	    raw_attempt(rc, "cell") == 1) {
		raw_body(rc, when == W_WHILE ? REUSE_PART : content_length(rc),
		    NULL, 5000);
		close_as_asked(rc);
		return 0;
	}
	if (read_summed_body(rc, target) < 0)
		return 0;
	if (raw_query(rc, "close", 0)) {
		send_ok_closing(rc);
		return 0;
	}
	raw_sendf(rc, "HTTP/1.1 200 OK\r\nX-Cell: %lld\r\nContent-Length: 3"
	    "\r\n\r\nok\n", id);
	if (strncmp(target, "/warm", 5) != 0 || when != W_BEFORE)
		return 1;
	h_pause_ms(h_scaled(200));
	close_as_asked(rc);
	return 0;
}

/* Every head is noted, with its place on its connection: "head GET /x 1". */
static void
reuse_serve(struct raw_conn *rc, void *arg)
{
	char target[512], method[16];

	(void)arg;
	while (raw_head(rc, 10000) > 0) {
		snprintf(target, sizeof(target), "%s", raw_target(rc));
		if (sscanf(rc->head, "%15s", method) != 1)
			return;
		raw_note(rc, "head %s %s %d", method, target, rc->nreq);
		if (!reuse_answer(rc, target))
			return;
	}
	raw_note(rc, "ended after %d", rc->nreq);	/* lb closed it */
}

/*
 * The cell's request on c: its head and body in one write, or, "while",
 * the head and REUSE_PART bytes, then the rest once the backend has
 * closed (a write lb may no longer read: its error is no matter).
 */
static void
send_reuse_request(struct h_conn *c, const struct reuse_cell *k)
{
	char req[512 + REUSE_BODY], target[128], sum[17];
	size_t n;

	reuse_target(k, "/cell", target, sizeof(target));
	reuse_body(req + sizeof(req) - REUSE_BODY);
	h_sum_hex(req + sizeof(req) - REUSE_BODY, REUSE_BODY, sum);
	n = (size_t)snprintf(req, sizeof(req) - REUSE_BODY, "%s %s HTTP/1.1"
	    "\r\nHost: x\r\nContent-Length: %d\r\nX-Sum: %s\r\n\r\n",
	    k->post ? "POST" : "GET", target, REUSE_BODY, sum);
	memmove(req + n, req + sizeof(req) - REUSE_BODY, REUSE_BODY);
	if (k->when != W_WHILE) {
		h_send(c, req, n + REUSE_BODY);
		return;
	}
	h_send(c, req, n + REUSE_PART);
	h_pause_ms(h_scaled(300));	/* the backend closes meanwhile */
	h_send(c, req + n + REUSE_PART, REUSE_BODY - REUSE_PART);
}

/*
 * The client's side: a whole answer's status (a 200 must be the cell's),
 * 0 for a close without a byte, -1 for anything else.
 */
static int
read_reuse_answer(struct h_conn *c, const struct reuse_cell *k)
{
	struct h_resp r;
	int got = h_read_response(c, &r, 0, h_scaled(3000)), status;
	const char *id = got == 0 ? h_header(&r, "X-Cell") : NULL;

	if (got < 0)
		status = r.status == 0 && h_peer_closed_silently(c,
		    h_scaled(2000)) ? 0 : -1;
	else
		status = r.complete && (r.status != 200 || (id != NULL &&
		    atoi(id) == k->id)) ? r.status : -1;
	h_resp_free(&r);
	return status;
}

/* How many heads the backend noted as "head method target" and more. */
static int
heads(const struct h_proc *raw, const char *method, const char *target,
    const char *more)
{
	char prefix[256];

	snprintf(prefix, sizeof(prefix), "head %s %s%s", method, target,
	    more);
	return raw_count(raw, prefix);
}

/*
 * The backend's side: where the request arrived, and how often (the
 * warming GET was the first request of the pooled connection, so that
 * connection is "2", a fresh one "1"); nothing of its body read as a
 * request, and its body whole wherever it was answered.
 */
static void
expect_reuse_arrivals(const struct h_proc *raw, const struct reuse_cell *k,
    const struct reuse_want *w, const char *name)
{
	const char *method = k->post ? "POST" : "GET";
	char target[128];
	int pooled, fresh;

	reuse_target(k, "/warm", target, sizeof(target));
	ck_assert_msg(heads(raw, "GET", target, " 1") == 1 &&
	    heads(raw, "GET", "/warm", "") == 1, "%s: the warming GET went "
	    "wrong", name);
	reuse_target(k, "/cell", target, sizeof(target));
	pooled = heads(raw, method, target, " 2");
	fresh = heads(raw, method, target, " 1");
	ck_assert_msg(pooled == w->on_pooled && fresh == w->on_fresh &&
	    heads(raw, method, "/cell", "") == pooled + fresh, "%s: the "
	    "backend saw it %d times on the pooled connection and %d on a "
	    "fresh one (%d in all), where the rule says %d and %d", name,
	    pooled, fresh, heads(raw, method, "/cell", ""), w->on_pooled,
	    w->on_fresh);
	ck_assert_msg(heads(raw, "GET", "/smuggled", "") == 0,
	    "%s: its body reached the backend as a request", name);
	ck_assert_msg(raw_count(raw, "corrupt ") == 0, "%s: the backend got "
	    "a corrupt body", name);
}

/* lb's access log line for it: status, end and flags as the rule says. */
static void
expect_reuse_log(const struct h_proc *lb, const struct reuse_cell *k,
    const struct reuse_want *w, const char *name)
{
	char target[128], key[160], status[8], end[8], flags[64], got[96];
	char *log, *p;

	reuse_target(k, "/cell", target, sizeof(target));
	snprintf(key, sizeof(key), " %s %s ", k->post ? "POST" : "GET",
	    target);
	ck_assert_msg(h_wait_for_text(lb->out, key, h_scaled(2000)),
	    "%s: no access log line", name);
	log = h_slurp(lb->out);
	p = strstr(log, key) + strlen(key);
	ck_assert_int_eq(sscanf(p, "%*s %7s %*s %*s %*s %7s %63s", status,
	    end, flags), 3);
	snprintf(got, sizeof(got), "%s %s %s", status, end, flags);
	ck_assert_msg(strcmp(got, w->log) == 0, "%s: lb logged \"%s\", "
	    "where the rule says \"%s\":\n%s", name, got, w->log, log);
	free(log);
}

/*
 * The reuse cells: a client connection warms a pooled connection with a
 * GET; the cell's request follows on it (a later request) or on another
 * client connection, opened before it (a first one). "Before": lb is
 * stopped while the backend closes the idle connection and the request
 * comes, so that one select() pass sees both, the client's descriptor
 * first: each client connection is accepted before the backend
 * connection it is to be dispatched before (see settle_descriptors()).
 */
START_TEST(a_pooled_connection_closed_around_a_request)
{
	struct h_proc *raw = h_raw("raw", reuse_serve, NULL);
	struct h_proc *lb = h_lb(1, &raw, "-i", "60000", NULL);
	char name[96], target[128], req[256];
	struct reuse_cell k;
	struct reuse_want w;
	struct h_conn *c, *d;
	struct h_resp r;
	int status;
	long t0;

	reuse_cell_of(_i, &k);
	reuse_want(&k, &w);
	reuse_cell_name(&k, name, sizeof(name));
	settle_descriptors(lb, raw);
	d = k.later ? NULL : h_connect(lb->port);
	c = h_connect(lb->port);
	reuse_target(&k, "/warm", target, sizeof(target));
	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\n\r\n",
	    target);
	h_sends(c, req);
	expect(c, &r, 200);
	h_resp_free(&r);
	if (k.when == W_BEFORE) {
		kill(lb->pid, SIGSTOP);
		h_pause_ms(h_scaled(500));	/* the backend closes */
	}
	if (d != NULL)
		c = d;		/* the warming one stays open */
	t0 = h_now_ms();
	send_reuse_request(c, &k);
	if (k.when == W_BEFORE)
		kill(lb->pid, SIGCONT);
	status = read_reuse_answer(c, &k);
	ck_assert_msg(h_now_ms() - t0 < h_scaled(k.when == W_WHILE ? 2300 :
	    2000), "%s: took %ld ms", name, h_now_ms() - t0);
	expect_reuse_arrivals(raw, &k, &w, name);
	ck_assert_msg(status == w.status, "%s: the client got %d, where the "
	    "rule says %d (0: a close without a byte)", name, status,
	    w.status);
	expect_reuse_log(lb, &k, &w, name);
}
END_TEST

/* Is fd a socket listening on 127.0.0.1:port? */
static int
listens_on(int fd, int port)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(int);
	int listening = 0;

	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0 ||
	    !listening)
		return 0;
	len = sizeof(sin);
	return getsockname(fd, (struct sockaddr *)&sin, &len) == 0 &&
	    sin.sin_family == AF_INET && ntohs(sin.sin_port) == port;
}

/*
 * Give the sockets lb accepts from now on a send buffer this small, as
 * on a host with small ones: set on its listening socket, the sockets
 * it accepts inherit it (Linux grows one to megabytes unless told not
 * to). Only Linux lets a parent reach into its child's descriptors,
 * with pidfd_getfd() (Linux 5.6): 0 where that cannot be done.
 */
static int
shrink_send_buffers(const struct h_proc *lb, int bytes)
{
	int done = 0;
#if defined(SYS_pidfd_open) && defined(SYS_pidfd_getfd)
	int pidfd, fd, copy;

	if ((pidfd = (int)syscall(SYS_pidfd_open, lb->pid, 0)) < 0)
		return 0;
	for (fd = 0; fd < 64 && !done; fd++) {
		if ((copy = (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0)) < 0)
			continue;
		if (listens_on(copy, lb->port))
			done = setsockopt(copy, SOL_SOCKET, SO_SNDBUF, &bytes,
			    sizeof(bytes)) == 0;
		close(copy);
	}
	close(pidfd);
#else
	(void)lb;
	(void)bytes;
#endif
	return done;
}

/*
 * A slow reader that keeps reading is not cut off, however long the
 * whole response takes: -t response bounds each wait, not the sum of
 * them. Once the backend's last byte is in, only writes to the client
 * say it still reads. Here lb's own buffers (36 KB) take about 200 ms
 * to drain at 4 KB per 25 ms, more than twice -t response (80 ms), and
 * no wait is longer than about 30 ms. lb's send buffer to the client is
 * made small first: in one of Linux's, megabytes, lb's buffers would
 * drain at one write, and the mutation be invisible. (Found by
 * mutation: progress() without the timer_arm() after a client write.)
 */
START_TEST(a_slow_reader_that_keeps_reading_is_not_cut)
{
	enum { SIZE = 131072 };
	struct h_proc *raw = h_raw("raw", script_serve, NULL), *lb;
	struct h_conn *c;
	struct h_resp r;
	char t[32], req[128];

	snprintf(t, sizeof(t), "response=%d", h_scaled(80));
	lb = h_lb(1, &raw, "-i", "60000", "-t", t, NULL);
	if (!shrink_send_buffers(lb, 2048)) {
		h_skip("lb's send buffers cannot be made small here");
		return;
	}
	c = h_connect_slow(lb->port, 25);
	snprintf(req, sizeof(req), "GET /big?size=%d&framing=0 HTTP/1.1\r\n"
	    "Host: x\r\n\r\n", SIZE);
	h_sends(c, req);
	ck_assert_int_eq(h_read_response(c, &r, 0, h_scaled(H_TIMEOUT_MS)), 0);
	ck_assert_msg(r.complete && r.body_len == SIZE && body_ok(0, r.body,
	    r.body_len), "a slow reader got %zu of %d bytes, %s", r.body_len,
	    SIZE, r.complete ? "complete" : "cut");
	h_resp_free(&r);
}
END_TEST

Suite *
faults_suite(void)
{
	const TTest *const tests[] = {
		connection_may_not_name_framing_headers,
		a_request_lb_cannot_frame_gets_400_and_a_close,
		a_response_lb_cannot_frame_gets_502,
		an_early_answer_never_returns_a_connection_mid_body,
		a_slow_reader_gets_every_byte_after_the_backend_closes,
		heads_past_a_full_buffer_are_not_stalled,
		a_trickled_head_on_a_kept_connection_gets_408,
		an_absolute_target_names_the_host,
		descriptors_past_fd_setsize_are_answered,
		idle_pooled_connections_make_way_for_requests,
		a_backend_killed_under_load_strands_nobody,
		a_get_is_retried_and_a_post_never_resent,
		a_backend_connection_close_is_honoured,
		our_own_answer_to_head_has_no_body,
		a_client_may_send_100_headers_and_lb_adds_its_own,
		a_response_with_100_headers_gets_lbs_connection_line_too,
		an_early_answer_then_a_reset_smuggles_nothing,
		a_half_close_after_the_whole_body_still_gets_the_answer,
		a_client_that_stalls_mid_body_gets_408,
		the_drain_deadline_resets_a_body_it_cuts,
		a_body_after_a_head_response_is_never_pooled,
		a_post_cut_off_mid_body_is_never_resent,
		a_body_larger_than_the_buffer_is_never_resent,
		an_http10_client_never_gets_a_1xx,
		a_pooled_connection_closing_in_the_same_pass_is_not_lent,
		a_slow_reader_that_keeps_reading_is_not_cut,
		NULL
	};
	TCase *tc;
	Suite *s = h_suite("faults", tests, &tc);

	if (h_wanted(fault_matrix))
		tcase_add_loop_test(tc, fault_matrix, 0, MATRIX_ITERATIONS);
	if (h_wanted(a_pooled_connection_closed_around_a_request))
		tcase_add_loop_test(tc,
		    a_pooled_connection_closed_around_a_request, 0,
		    REUSE_ITERATIONS);
	return s;
}
