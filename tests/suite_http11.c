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

#include "harness.h"
#include "suites.h"

static void
pause_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

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

/* The backend's /control/stats line "name N", as a number. */
static long
backend_stat(int port, const char *name)
{
	struct h_resp r;
	const char *p;
	long n = -1;

	ck_assert_int_eq(h_request(port, "GET /control/stats HTTP/1.1\r\n"
	    "Host: x\r\nConnection: close\r\n\r\n", &r), 0);
	if ((p = strstr(r.body, name)) != NULL)
		n = atol(p + strlen(name));
	h_resp_free(&r);
	return n;
}

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
	ck_assert_int_le(backend_stat(be[0]->port, "connections "), 5);
	ck_assert_int_eq(backend_stat(be[0]->port, "requests "), 100);
}
END_TEST

/*
 * -m drop-reused: the backend closes, without a word, a connection on
 * which a second request arrives: the keep-alive race (the backend closed
 * an idle connection just as we sent on it), every time. Each request
 * after the first goes out on a pooled connection, dies there, and must
 * be retried on a fresh one without the client noticing. POST too: the
 * backend never answered, and the request (with its body) was kept.
 */
START_TEST(a_reused_connection_closed_by_the_backend_is_retried)
{
	struct h_proc *b = h_backend("b1", "-q", "-m", "drop-reused", NULL);
	struct h_proc *lb = h_lb(1, &b, NULL);
	struct h_conn *c = h_connect(lb->port);
	struct h_resp r;
	char *log;
	int i;

	for (i = 0; i < 5; i++) {
		h_sends(c, i % 2 ? "POST /p HTTP/1.1\r\nHost: x\r\n"
		    "Content-Length: 2\r\n\r\nhi" :
		    "GET /g HTTP/1.1\r\nHost: x\r\n\r\n");
		expect(c, &r, 0, 200);
		ck_assert_pstr_eq(h_header(&r, "X-Connection-Requests"), "1");
		h_resp_free(&r);
	}
	h_close(c);
	kill(lb->pid, SIGTERM);		/* and so flush the access log */
	ck_assert_int_eq(h_wait_exit(lb, h_scaled(5000)), 0);
	log = h_slurp(lb->out);
	ck_assert_msg(strstr(log, "POST /p 127.0.0.1") != NULL &&
	    strstr(strstr(log, "POST /p"), " retries=1\n") != NULL,
	    "no retried request in the log:\n%s", log);
	free(log);
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
	pause_ms(200);
	kill(lb->pid, SIGTERM);
	expect(c, &r, 0, 200);		/* the slow request still completes */
	ck_assert_pstr_eq(h_header(&r, "Connection"), "close");
	h_resp_free(&r);
	ck_assert_int_eq(h_peer_closed(idle, 1000), 1);	/* idle: closed */
	ck_assert_int_eq(h_wait_exit(lb, h_scaled(5000)), 0);
}
END_TEST

/*
 * A request answered without being read (400, 501 for CONNECT) still
 * gets a whole access-log line: eight fields, "-" for what is unknown,
 * and the milliseconds it took, not the time since the clock's zero.
 */
START_TEST(refused_requests_are_logged_whole)
{
	static const char *const reqs[] = {
		"GET /a HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
		"CONNECT example.com:443 HTTP/1.1\r\nHost: x\r\n\r\n",
	};
	struct h_proc *b = h_backend("b1", "-q", NULL);
	struct h_proc *lb = h_lb(1, &b, NULL);
	char method[32], target[64], backend[64], flags[32];
	int status, i, n;
	long long bytes;
	double ms;
	char *log, *line;
	struct h_resp r;

	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(h_request(lb->port, reqs[i], &r), 0);
		ck_assert_int_eq(r.status, i == 0 ? 400 : 501);
		h_resp_free(&r);
	}
	kill(lb->pid, SIGTERM);		/* and so flush the access log */
	ck_assert_int_eq(h_wait_exit(lb, h_scaled(5000)), 0);
	log = h_slurp(lb->out);
	for (i = 0, line = log; i < 2; i++, line = strchr(line, '\n') + 1) {
		ck_assert_ptr_nonnull(strchr(line, '\n'));
		n = sscanf(line, "%*s %31s %63s %63s %d %lld %lf %31s", method,
		    target, backend, &status, &bytes, &ms, flags);
		ck_assert_msg(n == 7, "not a whole line: %s", line);
		ck_assert_str_eq(method, i == 0 ? "-" : "CONNECT");
		ck_assert_str_eq(target, "-");
		ck_assert_str_eq(backend, "-");
		ck_assert_int_eq(status, i == 0 ? 400 : 501);
		ck_assert_msg(ms >= 0 && ms < h_scaled(1000), "%f ms", ms);
	}
	free(log);
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
		expect_100_continue,
		http_1_0_clients,
		hop_by_hop_removed_and_forwarded_for_appended,
		backend_connections_are_reused,
		a_reused_connection_closed_by_the_backend_is_retried,
		a_post_refused_by_one_backend_goes_to_the_next,
		bad_or_absent_backend_answers,
		connect_tunnels_get_501,
		a_slow_head_gets_408_and_an_idle_client_is_closed,
		sigterm_drains_in_flight_requests,
		refused_requests_are_logged_whole,
		NULL
	};

	return h_suite("http11", tests, NULL);
}
