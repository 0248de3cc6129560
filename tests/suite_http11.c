/*
 * suite_http11.c - final/ as an HTTP/1.1 reverse proxy: keep-alive and
 * pipelining, framing both ways, hop-by-hop headers, connection reuse and
 * its retry, failover of a POST, 502/504, timeouts, and SIGTERM.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"	/* final/'s BUF_SIZE */
#include "harness.h"
#include "json.h"
#include "suites.h"

/* Read one response from c, which must be complete with this status. */
static void
expect(struct h_conn *c, struct h_resp *r, int head, int status)
{
	ck_assert_int_eq(h_read_response(c, r, head, h_scaled(H_TIMEOUT_MS)),
	    0);
	ck_assert_int_eq(r->status, status);
	ck_assert_int_eq(r->complete, 1);
}

/* Send req on c; the response must be complete with this status. */
static void
ask(struct h_conn *c, const char *req, struct h_resp *r, int status)
{
	h_sends(c, req);
	expect(c, r, strncmp(req, "HEAD ", 5) == 0, status);
}

static int
start(int n, struct h_proc **be, const char *extra)
{
	static const char *names[] = { "b1", "b2", "b3" };
	int i;

	for (i = 0; i < n; i++)
		be[i] = h_backend(names[i], "-q", NULL);
	return extra == NULL ? h_lb(n, be, NULL)->port :
	    h_lb(n, be, "-t", extra, NULL)->port;
}

START_TEST(keep_alive_balances_each_request)
{
	static const char *const want[] = { "b1", "b2", "b3", "b1", "b2", "b3" };
	struct h_proc *be[3];
	struct h_conn *c = h_connect(start(3, be, NULL));
	struct h_resp r;
	int i;

	for (i = 0; i < 6; i++) {
		ask(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", &r, 200);
		ck_assert_pstr_eq(h_header(&r, "X-Backend"), want[i]);
		ck_assert_int_eq(h_header_count(&r, "Connection"), 0);
		h_resp_free(&r);
	}
}
END_TEST

START_TEST(pipelined_requests_come_back_in_order)
{
	struct h_proc *be[2];
	struct h_conn *c = h_connect(start(2, be, NULL));
	struct h_resp r;
	char want[16];
	int i;

	h_sends(c, "GET /p1?delay=100 HTTP/1.1\r\nHost: x\r\n\r\n"
	    "HEAD /p2 HTTP/1.1\r\nHost: x\r\n\r\n"
	    "GET /p3?size=5000&chunked=1 HTTP/1.1\r\nHost: x\r\n\r\n");
	for (i = 1; i <= 3; i++) {
		expect(c, &r, i == 2, 200);
		snprintf(want, sizeof(want), "/p%d", i);
		ck_assert_ptr_nonnull(strstr(h_header(&r, "X-Request-Target"),
		    want));
		if (i == 3)
			ck_assert_uint_eq(r.body_len, 5000);
		h_resp_free(&r);
	}
}
END_TEST

START_TEST(chunked_bodies_both_ways_byte_exact)
{
	struct h_proc *be[1];
	struct h_conn *c = h_connect(start(1, be, NULL));
	const char body[] = "hello, chunked world";
	char sum[17];
	struct h_resp r;

	ask(c, "POST /up HTTP/1.1\r\nHost: x\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n"
	    "7;ext=1\r\nhello, \r\nd\r\nchunked world\r\n0\r\nX-T: 1\r\n\r\n",
	    &r, 200);
	h_sum_hex(body, strlen(body), sum);
	ck_assert_pstr_eq(h_header(&r, "X-Body-Length"), "20");
	ck_assert_pstr_eq(h_header(&r, "X-Body-Sum"), sum);
	h_resp_free(&r);
	ask(c, "GET /down?size=300000&chunked=1 HTTP/1.1\r\nHost: x\r\n\r\n",
	    &r, 200);
	ck_assert_pstr_eq(h_header(&r, "Transfer-Encoding"), "chunked");
	h_expect_sent_body(&r, 300000);
	h_resp_free(&r);
}
END_TEST

/* No body after HEAD, 204, 304: the next response must parse cleanly. */
START_TEST(head_204_304_have_no_body)
{
	static const char *const reqs[] = {
		"HEAD /x?size=1000 HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /x?status=204 HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /x?status=304 HTTP/1.1\r\nHost: x\r\n\r\n",
	};
	static const int status[] = { 200, 204, 304 };
	struct h_proc *be[1];
	struct h_conn *c = h_connect(start(1, be, NULL));
	struct h_resp r;
	int i;

	for (i = 0; i < 3; i++) {
		ask(c, reqs[i], &r, status[i]);
		if (i == 0)
			ck_assert_pstr_eq(h_header(&r, "Content-Length"), "1000");
		h_resp_free(&r);
		ask(c, "GET /after HTTP/1.1\r\nHost: x\r\n\r\n", &r, 200);
		ck_assert_pstr_eq(h_header(&r, "X-Request-Target"), "/after");
		h_resp_free(&r);
	}
}
END_TEST

/*
 * A request that fits lb's buffer as it comes, but not once its head has
 * grown by the lines lb adds (X-Forwarded-*): the last body bytes wait in
 * `in` while `up` is full. Once the backend has taken all of `up` they
 * must follow at once: the client has sent everything, and no event of
 * its will come. Before, they waited for -t response (30 s), and the
 * client got a 408 for a body it had sent whole. Every size across the
 * edge, on a fresh backend connection (POST) and a pooled one (PUT).
 */
START_TEST(a_request_that_fills_the_buffer_is_sent_whole)
{
	static char req[BUF_SIZE + 256];
	struct h_proc *be[1];
	struct h_conn *c = h_connect(start(1, be, NULL));
	const char *method;
	char want[32], sum[17];
	struct h_resp r;
	int total, head, body;

	for (total = BUF_SIZE - 160; total <= BUF_SIZE + 16; total++) {
		method = total % 2 ? "PUT" : "POST";
		/* The body's length has 5 digits all through the range. */
		head = snprintf(req, sizeof(req), "%s /up HTTP/1.1\r\nHost: x"
		    "\r\nContent-Length: 12345\r\n\r\n", method);
		body = total - head;
		ck_assert_int_ge(body, 10000);
		ck_assert_int_le(body, 99999);
		snprintf(req, sizeof(req), "%s /up HTTP/1.1\r\nHost: x\r\n"
		    "Content-Length: %d\r\n\r\n", method, body);
		memset(req + head, 'a' + total % 26, (size_t)body);
		ck_assert_int_eq(h_send(c, req, (size_t)total), 0);
		ck_assert_msg(h_read_response(c, &r, 0, h_scaled(H_TIMEOUT_MS))
		    == 0 && r.status == 200 && r.complete, "a %d-byte %s: no "
		    "whole 200 within %d ms", total, method, H_TIMEOUT_MS);
		snprintf(want, sizeof(want), "%d", body);
		ck_assert_msg(strcmp(h_header(&r, "X-Body-Length"), want) == 0,
		    "a %d-byte request: %s of %d body bytes", total,
		    h_header(&r, "X-Body-Length"), body);
		h_sum_hex(req + head, (size_t)body, sum);
		ck_assert_pstr_eq(h_header(&r, "X-Body-Sum"), sum);
		h_resp_free(&r);
	}
}
END_TEST

START_TEST(expect_100_continue)
{
	struct h_proc *be[1];
	struct h_conn *c = h_connect(start(1, be, NULL));
	struct h_resp r;

	ask(c, "PUT /e HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n"
	    "Expect: 100-continue\r\n\r\n", &r, 100);	/* before any body */
	h_resp_free(&r);
	ask(c, "0123456789", &r, 200);
	ck_assert_pstr_eq(h_header(&r, "X-Body-Length"), "10");
	h_resp_free(&r);
}
END_TEST

START_TEST(http_1_0_clients)
{
	struct h_proc *be[1];
	int port = start(1, be, NULL);
	struct h_conn *c = h_connect(port);
	struct h_resp r;

	ask(c, "GET /old HTTP/1.0\r\n\r\n", &r, 200);
	ck_assert_pstr_eq(h_header(&r, "Connection"), "close");
	ck_assert_int_eq(h_peer_closed(c, 2000), 1);
	h_resp_free(&r);
	c = h_connect(port);
	ask(c, "GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &r,
	    200);
	ck_assert_pstr_eq(h_header(&r, "Connection"), "keep-alive");
	h_resp_free(&r);
	ask(c, "GET /again HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &r,
	    200);
	h_resp_free(&r);
}
END_TEST

START_TEST(hop_by_hop_removed_and_forwarded_for_appended)
{
	struct h_proc *be[1];
	struct h_conn *c = h_connect(start(1, be, NULL));
	struct h_resp r;

	ask(c, "GET /h HTTP/1.1\r\nHost: x\r\nConnection: X-Secret, "
	    "keep-alive\r\nX-Secret: s\r\nKeep-Alive: timeout=5\r\nTE: trailers"
	    "\r\nUpgrade: websocket\r\nProxy-Connection: keep-alive\r\n"
	    "Trailer: X-T\r\nX-Forwarded-For: 192.0.2.7\r\nX-Kept: k\r\n\r\n",
	    &r, 200);
	ck_assert_ptr_nonnull(strstr(r.body, "header X-Kept: k\n"));
	/* The client's own is kept; ours, the peer address, comes last. */
	ck_assert_ptr_nonnull(strstr(r.body, "header X-Forwarded-For: "
	    "192.0.2.7\n"));
	ck_assert_ptr_nonnull(strstr(strstr(r.body, "192.0.2.7"),
	    "header X-Forwarded-For: 127.0.0.1\n"));
	ck_assert_ptr_null(strstr(r.body, "X-Secret"));
	ck_assert_ptr_null(strstr(r.body, "Keep-Alive"));
	ck_assert_ptr_null(strstr(r.body, "header TE"));
	ck_assert_ptr_null(strstr(r.body, "Upgrade"));
	ck_assert_ptr_null(strstr(r.body, "Proxy-Connection"));
	ck_assert_ptr_null(strstr(r.body, "header Trailer"));
	ck_assert_ptr_null(strstr(r.body, "header Connection"));
	h_resp_free(&r);
}
END_TEST

START_TEST(backend_connections_are_reused)
{
	struct h_proc *be[1];
	int port = start(1, be, NULL), i;
	struct h_conn *c;
	struct h_resp r;

	for (i = 0; i < 100; i++) {
		c = h_connect(port);	/* a new client connection each time */
		ask(c, "GET /r HTTP/1.1\r\nHost: x\r\n\r\n", &r, 200);
		h_resp_free(&r);
		h_close(c);
	}
	/* 100 requests; a handful of backend connections (1 + the stats one). */
	ck_assert_int_le(h_backend_stat(be[0]->port, "connections "), 5);
	ck_assert_int_eq(h_backend_stat(be[0]->port, "requests "), 100);
}
END_TEST

/*
 * -m drop-reused: the backend closes, without a word, a connection on
 * which a second request arrives: the keep-alive race (the backend closed
 * an idle connection just as we sent on it), every time. The reuse rule
 * (conn.c, choose_backend_or()):
 *   - a GET after the first goes out on a pooled connection, dies there,
 *     and is retried on a fresh one without the client noticing;
 *   - a POST that is not the first request of its client connection
 *     rides a pooled connection too; lost that way it is never sent
 *     again (the backend may have acted on it) and gets no answer made
 *     up: the client connection closes, as the backend's own would have;
 *   - a POST that is the first request of its client connection never
 *     risks it: a fresh backend connection, and its answer.
 */
START_TEST(a_reused_connection_the_backend_drops_is_retried_or_passed_on)
{
	struct h_proc *b = h_backend("b1", "-m", "drop-reused", NULL);
	struct h_proc *lb = h_lb(1, &b, "-i", "60000", NULL);
	struct h_conn *c = h_connect(lb->port);
	struct h_resp r;
	char *log, *p;
	int i;

	for (i = 0; i < 2; i++) {
		h_sends(c, "GET /g HTTP/1.1\r\nHost: x\r\n\r\n");
		expect(c, &r, 0, 200);
		ck_assert_pstr_eq(h_header(&r, "X-Connection-Requests"), "1");
		h_resp_free(&r);
	}
	h_sends(c, "POST /later HTTP/1.1\r\nHost: x\r\nContent-Length: 2"
	    "\r\n\r\nhi");
	ck_assert_int_eq(h_read_response(c, &r, 0, h_scaled(3000)), -1);
	ck_assert_int_eq(r.status, 0);
	h_resp_free(&r);
	ck_assert_msg(h_peer_closed_silently(c, h_scaled(2000)),
	    "the client connection stayed open after its request was lost");
	h_close(c);
	c = h_connect(lb->port);
	h_sends(c, "POST /first HTTP/1.1\r\nHost: x\r\nContent-Length: 2"
	    "\r\n\r\nhi");
	expect(c, &r, 0, 200);
	ck_assert_pstr_eq(h_header(&r, "X-Connection-Requests"), "1");
	h_resp_free(&r);
	h_close(c);
	kill(lb->pid, SIGTERM);		/* and so flush the access log */
	ck_assert_int_eq(h_wait_exit(lb, h_scaled(5000)), 0);
	log = h_slurp(lb->out);
	ck_assert_msg((p = strstr(log, "GET /g 127.0.0.1")) != NULL &&
	    (p = strstr(p + 1, "GET /g 127.0.0.1")) != NULL &&
	    strncmp(strchr(p, '\n') - 10, " retries=1", 10) == 0,
	    "the second GET was not retried:\n%s", log);
	ck_assert_msg((p = strstr(log, "POST /later 127.0.0.1")) != NULL &&
	    strstr(p, " - ") != NULL && strstr(p, " SH reused\n") != NULL,
	    "the lost POST is not logged as lost on a pooled connection:\n%s",
	    log);
	free(log);
	log = h_slurp(b->out);
	ck_assert_msg((p = strstr(log, "POST /later drop")) != NULL &&
	    strstr(p + 1, "POST /later") == NULL, "b1 saw: %s", log);
	free(log);
}
END_TEST

/*
 * A backend that says how long it keeps an idle connection ("Keep-Alive:
 * timeout=2") gets it back from the pool a second before that: lb does
 * not send a request on a connection the backend is about to close (the
 * keep-alive race). Without the hint, the same wait (1.3 s, under -t
 * pool) finds the pooled connection and reuses it.
 */
START_TEST(a_backends_keep_alive_timeout_is_honoured)
{
	struct h_proc *b = h_backend("b1", "-q", NULL);
	struct h_proc *lb = h_lb(1, &b, "-i", "60000", NULL);
	struct h_conn *c = h_connect(lb->port);
	struct h_resp r;

	h_sends(c, "GET /hint?keepalive=2 HTTP/1.1\r\nHost: x\r\n\r\n");
	expect(c, &r, 0, 200);
	ck_assert_pstr_eq(h_header(&r, "Keep-Alive"), NULL);	/* hop-by-hop */
	h_resp_free(&r);
	h_pause_ms(1300);
	h_sends(c, "GET /after-hint HTTP/1.1\r\nHost: x\r\n\r\n");
	expect(c, &r, 0, 200);
	ck_assert_pstr_eq(h_header(&r, "X-Connection-Requests"), "1");
	h_resp_free(&r);
	h_pause_ms(1300);
	h_sends(c, "GET /no-hint HTTP/1.1\r\nHost: x\r\n\r\n");
	expect(c, &r, 0, 200);
	ck_assert_pstr_eq(h_header(&r, "X-Connection-Requests"), "2");
	h_resp_free(&r);
}
END_TEST

START_TEST(a_post_refused_by_one_backend_goes_to_the_next)
{
	struct h_proc *b2 = h_backend("b2", "-q", NULL);
	char dead[32], live[32], sum[17];
	char *args[] = { "-b", dead, "-b", live, NULL };
	struct h_conn *c;
	struct h_resp r;
	int port;

	snprintf(dead, sizeof(dead), "127.0.0.1:%d", h_free_port());
	snprintf(live, sizeof(live), "127.0.0.1:%d", b2->port);
	port = h_lb_args(args)->port;
	c = h_connect(port);
	ask(c, "POST /order HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
	    "\r\nhello", &r, 200);
	ck_assert_pstr_eq(h_header(&r, "X-Backend"), "b2");
	h_sum_hex("hello", 5, sum);
	ck_assert_pstr_eq(h_header(&r, "X-Body-Sum"), sum);
	h_resp_free(&r);
}
END_TEST

START_TEST(bad_or_absent_backend_answers)
{
	struct h_proc *be[1];
	int port = start(1, be, "response=500");
	struct h_conn *c;
	struct h_resp r;

	/* Garbage: 502. */
	ck_assert_int_eq(h_request(port, "GET /g?mode=garbage HTTP/1.1\r\n"
	    "Host: x\r\n\r\n", &r), 0);
	ck_assert_int_eq(r.status, 502);
	h_resp_free(&r);
	/* Silence: 504 after the response timeout. */
	ck_assert_int_eq(h_request(port, "POST /s?mode=stall HTTP/1.1\r\n"
	    "Host: x\r\nContent-Length: 0\r\n\r\n", &r), 0);
	ck_assert_int_eq(r.status, 504);
	h_resp_free(&r);
	/* Death mid-response: the client sees a cut, never a clean end. */
	c = h_connect(port);
	h_sends(c, "GET /d?mode=close&size=100000 HTTP/1.1\r\nHost: x\r\n\r\n");
	ck_assert_int_eq(h_read_response(c, &r, 0, h_scaled(H_TIMEOUT_MS)), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_int_eq(r.complete, 0);
	ck_assert_uint_lt(r.body_len, 100000);
	h_resp_free(&r);
}
END_TEST

START_TEST(connect_tunnels_get_501)
{
	struct h_proc *be[1];
	int port = start(1, be, NULL);
	struct h_resp r;

	ck_assert_int_eq(h_request(port, "CONNECT example.org:443 HTTP/1.1\r\n"
	    "Host: example.org:443\r\n\r\n", &r), 0);
	ck_assert_int_eq(r.status, 501);
	h_resp_free(&r);
}
END_TEST

START_TEST(a_slow_head_gets_408_and_an_idle_client_is_closed)
{
	struct h_proc *be[1];
	int port = start(1, be, "head=300,idle=300");
	struct h_conn *c = h_connect(port);
	struct h_resp r;

	h_sends(c, "GET / HTTP/1.1\r\nHost:");	/* and nothing more */
	expect(c, &r, 0, 408);
	h_resp_free(&r);
	c = h_connect(port);
	ask(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", &r, 200);
	h_resp_free(&r);
	ck_assert_int_eq(h_peer_closed(c, h_scaled(2000)), 1);	/* silently */
}
END_TEST

START_TEST(sigterm_drains_in_flight_requests)
{
	struct h_proc *b = h_backend("b1", "-q", NULL);
	struct h_proc *lb = h_lb(1, &b, NULL);
	struct h_conn *c = h_connect(lb->port), *idle = h_connect(lb->port);
	struct h_resp r;

	h_sends(c, "GET /slow?delay=700 HTTP/1.1\r\nHost: x\r\n\r\n");
	h_pause_ms(200);
	kill(lb->pid, SIGTERM);
	expect(c, &r, 0, 200);		/* the slow request still completes */
	ck_assert_pstr_eq(h_header(&r, "Connection"), "close");
	h_resp_free(&r);
	ck_assert_int_eq(h_peer_closed(idle, 1000), 1);	/* idle: closed */
	ck_assert_int_eq(h_wait_exit(lb, h_scaled(5000)), 0);
}
END_TEST

/* One access-log line, split into its eleven fields. */
struct log_line {
	char	time[32], client[64], method[32], target[256], backend[64];
	char	status[8], ms[16], backend_ms[16], end[8], flags[32];
	long long bytes;
};

/* The line at *p into l (0, or -1 if it is not a whole line); *p moves on. */
static int
log_line(const char **p, struct log_line *l)
{
	const char *nl = strchr(*p, '\n');
	int n;

	if (nl == NULL)
		return -1;
	n = sscanf(*p, "%31s %63s %31s %255s %63s %7s %lld %15s %15s %7s %31s",
	    l->time, l->client, l->method, l->target, l->backend, l->status,
	    &l->bytes, l->ms, l->backend_ms, l->end, l->flags);
	*p = nl + 1;
	return n == 11 ? 0 : -1;
}

/* Seconds since 1970 of a UTC calendar time (timegm() is not POSIX). */
static long long
utc_seconds(int y, int mon, int d, int h, int min, int sec)
{
	long long era, yoe, doy, doe;

	y -= mon <= 2;		/* days from civil: March-based years */
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (mon + (mon > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return (era * 146097 + doe - 719468) * 86400 + h * 3600 + min * 60 +
	    sec;
}

/*
 * An ISO 8601 UTC time to the millisecond, 2026-12-03T08:34:16.123Z, no
 * more than a few seconds from now.
 */
static void
expect_timestamp(const char *t)
{
	int y, mon, d, h, min, sec, ms, n = 0;
	long long when;

	ck_assert_msg(strlen(t) == 24 && sscanf(t, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ%n",
	    &y, &mon, &d, &h, &min, &sec, &ms, &n) == 7 && n == 24,
	    "not an ISO 8601 UTC time: '%s'", t);
	when = utc_seconds(y, mon, d, h, min, sec);
	ck_assert_msg(llabs(when - (long long)time(NULL)) < 30, "%s is not now",
	    t);
}

/*
 * A request answered without being read (400, 501 for CONNECT) still
 * gets a whole access-log line: eleven fields, "-" for what is unknown,
 * the milliseconds it took (not the time since the clock's zero), and
 * "PR": lb (P) refused it at the request (R).
 */
START_TEST(refused_requests_are_logged_whole)
{
	static const char *const reqs[] = {
		"GET /a HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
		"CONNECT example.com:443 HTTP/1.1\r\nHost: x\r\n\r\n",
	};
	struct h_proc *b = h_backend("b1", "-q", NULL);
	struct h_proc *lb = h_lb(1, &b, NULL);
	struct log_line l;
	const char *line;
	char *log;
	struct h_resp r;
	int i;

	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(h_request(lb->port, reqs[i], &r), 0);
		ck_assert_int_eq(r.status, i == 0 ? 400 : 501);
		h_resp_free(&r);
	}
	kill(lb->pid, SIGTERM);		/* and so flush the access log */
	ck_assert_int_eq(h_wait_exit(lb, h_scaled(5000)), 0);
	log = h_slurp(lb->out);
	for (i = 0, line = log; i < 2; i++) {
		ck_assert_msg(log_line(&line, &l) == 0, "not a whole line: %s",
		    log);
		expect_timestamp(l.time);
		ck_assert_str_eq(l.method, i == 0 ? "-" : "CONNECT");
		ck_assert_str_eq(l.target, "-");
		ck_assert_str_eq(l.backend, "-");
		ck_assert_str_eq(l.status, i == 0 ? "400" : "501");
		ck_assert_msg(atof(l.ms) >= 0 && atof(l.ms) < h_scaled(1000),
		    "%s ms", l.ms);
		ck_assert_str_eq(l.backend_ms, "-");	/* none was asked */
		ck_assert_str_eq(l.end, "PR");
	}
	free(log);
}
END_TEST

/*
 * Each line says how long the whole request took and how long of that
 * the backend did (to its response head), and how the request ended:
 * "--" as it should, else who ended it and when (final/README, "Logs").
 * Event lines (stderr) start with the time too.
 */
START_TEST(access_log_says_how_long_and_how_it_ended)
{
	static const struct {
		const char *req;
		const char *status, *end;
		int	backend_ms_at_least;	/* -1: "-" */
	} reqs[] = {
		{ "GET /a?delay=150 HTTP/1.1\r\nHost: x\r\n\r\n", "200", "--", 150 },
		{ "GET /b?mode=garbage HTTP/1.1\r\nHost: x\r\n\r\n", "502", "SH", -1 },
		{ "GET /c?delay=3000 HTTP/1.1\r\nHost: x\r\n\r\n", "504", "sH", -1 },
		{ "GET /d?mode=close&size=100000 HTTP/1.1\r\nHost: x\r\n\r\n",
		    "200", "SD", 0 },
		{ "GET /e HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", "400", "PR", -1 },
	};
	struct h_proc *b = h_backend("b1", "-q", NULL), *lb;
	struct log_line l;
	const char *line;
	char *log, *err;
	struct h_resp r;
	size_t i;

	lb = h_lb(1, &b, "-t", "response=1000", "-x", "0", NULL);
	for (i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		h_request(lb->port, reqs[i].req, &r);	/* d is cut: no check */
		h_resp_free(&r);
	}
	kill(lb->pid, SIGTERM);
	ck_assert_int_eq(h_wait_exit(lb, h_scaled(5000)), 0);
	log = h_slurp(lb->out);
	for (i = 0, line = log; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		ck_assert_msg(log_line(&line, &l) == 0, "line %zu: %s", i, log);
		expect_timestamp(l.time);
		ck_assert_msg(strcmp(l.status, reqs[i].status) == 0 &&
		    strcmp(l.end, reqs[i].end) == 0, "line %zu: %s %s, not %s %s"
		    "\n%s", i, l.status, l.end, reqs[i].status, reqs[i].end, log);
		if (reqs[i].backend_ms_at_least < 0)
			ck_assert_msg(strcmp(l.backend_ms, "-") == 0, "line %zu: "
			    "backend time %s", i, l.backend_ms);
		else
			ck_assert_msg(atof(l.backend_ms) >=
			    reqs[i].backend_ms_at_least && atof(l.backend_ms) <=
			    atof(l.ms), "line %zu: backend %s of %s ms", i,
			    l.backend_ms, l.ms);
	}
	free(log);
	err = h_slurp(lb->err);
	line = strstr(err, " lb: stopping");
	ck_assert_msg(line != NULL && line - err >= 24, "%s", err);
	{
		char t[32];

		memcpy(t, line - 24, 24);
		t[24] = '\0';
		expect_timestamp(t);
	}
	free(err);
	/*
	 * No backend: the first request's connect is refused (and with -F 1
	 * that takes the backend down), the second finds none up. Both are
	 * the backends' failing at connect: "SC".
	 */
	{
		char dead[32];

		snprintf(dead, sizeof(dead), "127.0.0.1:%d", h_free_port());
		lb = h_lb_args((char *[]){ "-b", dead, "-F", "1", "-x", "0",
		    "-i", "60000", NULL });
	}
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(h_request(lb->port, "GET /n HTTP/1.1\r\n"
		    "Host: x\r\n\r\n", &r), 0);
		ck_assert_int_eq(r.status, 503);
		h_resp_free(&r);
	}
	kill(lb->pid, SIGTERM);
	ck_assert_int_eq(h_wait_exit(lb, h_scaled(5000)), 0);
	log = h_slurp(lb->out);
	for (i = 0, line = log; i < 2; i++) {
		ck_assert_msg(log_line(&line, &l) == 0, "%s", log);
		ck_assert_msg(strcmp(l.end, "SC") == 0, "line %zu: %s\n%s", i,
		    l.end, log);
	}
	free(log);
}
END_TEST

/*
 * What the backend learns of the request (-P): by default the client's
 * address appended to X-Forwarded-For, and X-Forwarded-Proto and
 * X-Forwarded-Host set, the client's own removed (it could claim https,
 * or another site); with -P forwarded, one RFC 7239 Forwarded element
 * appended instead; with -P none, nothing at all.
 */
START_TEST(forwarded_headers_say_who_asked_and_for_what)
{
	static const char req[] = "GET http://good.example:81/f HTTP/1.1\r\n"
	    "Host: other\r\nX-Forwarded-For: 192.0.2.7\r\n"
	    "X-Forwarded-Proto: https\r\nX-Forwarded-Host: evil.example\r\n"
	    "X_Forwarded_Proto: https\r\nForwarded: for=192.0.2.8\r\n\r\n";
	static const char *const modes[] = { NULL, "forwarded", "none" };
	struct h_proc *b = h_backend("b1", "-q", NULL), *lb;
	struct h_resp r;
	const char *x;
	int i;

	for (i = 0; i < 3; i++) {
		lb = modes[i] == NULL ? h_lb(1, &b, NULL) :
		    h_lb(1, &b, "-P", modes[i], NULL);
		ck_assert_int_eq(h_request(lb->port, req, &r), 0);
		ck_assert_int_eq(r.status, 200);
		x = r.body;
		ck_assert_ptr_nonnull(strstr(x, "header X-Forwarded-For: "
		    "192.0.2.7\n"));
		switch (i) {
		case 0:
			ck_assert_ptr_nonnull(strstr(strstr(x, "192.0.2.7"),
			    "header X-Forwarded-For: 127.0.0.1\n"));
			ck_assert_ptr_nonnull(strstr(x, "header X-Forwarded-Proto: "
			    "http\n"));
			ck_assert_ptr_nonnull(strstr(x, "header X-Forwarded-Host: "
			    "good.example:81\n"));
			/* The client's say-so on protocol and host goes, in
			 * every spelling and as RFC 7239. */
			ck_assert_ptr_null(strstr(x, "https"));
			ck_assert_ptr_null(strstr(x, "evil"));
			ck_assert_ptr_null(strstr(x, "header Forwarded:"));
			ck_assert_int_eq(h_header_count(&r, "X-Nothing"), 0);
			ck_assert_ptr_null(strstr(x, "for=127.0.0.1"));
			break;
		case 1:
			ck_assert_ptr_nonnull(strstr(x, "header Forwarded: "
			    "for=192.0.2.8\n"));
			ck_assert_ptr_nonnull(strstr(strstr(x, "for=192.0.2.8"),
			    "header Forwarded: for=127.0.0.1;"
			    "host=\"good.example:81\";proto=http\n"));
			/* The client's X-Forwarded-* pass untouched: lb adds none. */
			ck_assert_ptr_nonnull(strstr(x, "X-Forwarded-Proto: https"));
			ck_assert_ptr_null(strstr(x, "X-Forwarded-For: 127.0.0.1"));
			break;
		case 2:
			ck_assert_ptr_nonnull(strstr(x, "header Forwarded: "
			    "for=192.0.2.8\n"));
			ck_assert_ptr_null(strstr(x, "127.0.0.1"));
			ck_assert_ptr_nonnull(strstr(x, "X-Forwarded-Proto: https"));
			break;
		}
		h_resp_free(&r);
		h_kill(lb);
	}
}
END_TEST

/* lb's status.json, whole. */
static char *
status_json(int sport)
{
	struct h_resp r;
	char *body;

	ck_assert_int_eq(h_request(sport, "GET /status.json HTTP/1.1\r\n"
	    "Host: x\r\nConnection: close\r\n\r\n", &r), 0);
	ck_assert_int_eq(r.status, 200);
	body = r.body;
	r.body = NULL;
	h_resp_free(&r);
	return body;
}

/* n clients, each left idle after one request of 20,000 bytes. */
static void
open_idle_clients(struct h_proc *lb, struct h_conn **c, int n)
{
	struct h_resp r;
	int i;

	for (i = 0; i < n; i++) {
		c[i] = h_connect(lb->port);
		ask(c[i], "GET /x?size=20000 HTTP/1.1\r\nHost: x\r\n\r\n", &r,
		    200);
		h_resp_free(&r);
	}
}

/*
 * A keep-alive client between requests holds no buffer: its bytes are
 * in lb only while they pass. With 350 such clients the status page must
 * show no buffer lent, and the last 300 must cost under 1 KB each in
 * lb's resident memory (lesson 3's design, four 18 KB buffers for life,
 * cost 16 KB and more each, touched page by page). The first 50 pay for
 * what is paid once (the spares, the pool, the log's buffer), so that
 * the slope is the cost of a client alone.
 */
START_TEST(an_idle_keep_alive_client_costs_under_1_kb)
{
	enum { FIRST = 50, N = 300 };
	static struct h_conn *c[FIRST + N];
	struct h_proc *b = h_backend("b1", "-q", NULL), *lb;
	int sport = h_free_port();
	long before, after;
	char sarg[32], v[32], spare[32], *json;

	snprintf(sarg, sizeof(sarg), "127.0.0.1:%d", sport);
	lb = h_lb(1, &b, "-t", "idle=60000", "-a", sarg, NULL);
	ck_assert_int_eq(h_wait_port(sport, h_scaled(2000)), 0);
	open_idle_clients(lb, c, FIRST);
	if ((before = h_rss_kb(lb->pid)) < 0) {
		h_skip("ps cannot tell the resident memory here");
		return;
	}
	open_idle_clients(lb, c + FIRST, N);
	after = h_rss_kb(lb->pid);
	json = status_json(sport);
	ck_assert_int_eq(json_get(json, "clients", v, sizeof(v)), 0);
	ck_assert_str_eq(v, "350");
	ck_assert_int_eq(json_get(json, "buffers_lent", v, sizeof(v)), 0);
	ck_assert_msg(strcmp(v, "0") == 0, "%s buffers lent to idle clients",
	    v);
	ck_assert_int_eq(json_get(json, "buffers_spare", spare, sizeof(spare)),
	    0);
	free(json);
	if (h_instrumented()) {
		h_skip("under valgrind or ASan the resident memory is the tool's");
		return;
	}
	ck_assert_msg((after - before) * 1024 / N < 1024, "%ld KB for %d "
	    "more idle clients: %ld bytes each (%ld KB -> %ld KB; %s spare "
	    "buffers)", after - before, N, (after - before) * 1024 / N, before,
	    after, spare);
}
END_TEST

Suite *
http11_suite(void)
{
	const TTest *const tests[] = {
		keep_alive_balances_each_request,
		pipelined_requests_come_back_in_order,
		chunked_bodies_both_ways_byte_exact,
		head_204_304_have_no_body,
		a_request_that_fills_the_buffer_is_sent_whole,
		expect_100_continue,
		http_1_0_clients,
		hop_by_hop_removed_and_forwarded_for_appended,
		backend_connections_are_reused,
		a_reused_connection_the_backend_drops_is_retried_or_passed_on,
		a_backends_keep_alive_timeout_is_honoured,
		a_post_refused_by_one_backend_goes_to_the_next,
		bad_or_absent_backend_answers,
		connect_tunnels_get_501,
		a_slow_head_gets_408_and_an_idle_client_is_closed,
		sigterm_drains_in_flight_requests,
		refused_requests_are_logged_whole,
		access_log_says_how_long_and_how_it_ended,
		forwarded_headers_say_who_asked_and_for_what,
		an_idle_keep_alive_client_costs_under_1_kb,
		NULL
	};

	return h_suite("http11", tests, NULL);
}
