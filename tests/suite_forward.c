/*
 * suite_forward.c - forwarding: what every lesson's balancer does, from
 * lesson 1 on. The binary under test is $LB; $LEVEL says which lesson it
 * is, for the few checks that differ between lessons.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "suites.h"

/* One backend named b1 and the balancer in front of it. */
static int
start_pair(struct h_proc **be)
{
	struct h_proc *b = h_backend("b1", "-q", NULL);

	if (be != NULL)
		*be = b;
	return h_lb(1, &b, NULL)->port;
}

/* A request head with a Host header for this port. */
static void
format_request(char *out, size_t n, const char *method, const char *target,
    const char *extra, int port)
{
	snprintf(out, n, "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%s\r\n",
	    method, target, port, extra);
}

START_TEST(get_is_forwarded_intact)
{
	int port = start_pair(NULL);
	char req[512], sum[17];
	struct h_resp r;

	format_request(req, sizeof(req), "GET", "/hello?status=201",
	    "X-Test: yes\r\nUser-Agent: suite\r\n", port);
	ck_assert_int_eq(h_request(port, req, &r), 0);
	ck_assert_int_eq(r.status, 201);
	ck_assert_int_eq(r.complete, 1);
	ck_assert_pstr_eq(h_header(&r, "X-Backend"), "b1");
	ck_assert_pstr_eq(h_header(&r, "X-Request-Method"), "GET");
	ck_assert_pstr_eq(h_header(&r, "X-Request-Target"), "/hello?status=201");
	ck_assert_pstr_eq(h_header(&r, "Content-Type"), "text/plain");
	h_sum_hex(r.body, r.body_len, sum);
	ck_assert_pstr_eq(h_header(&r, "X-Response-Sum"), sum);
	ck_assert_ptr_nonnull(strstr(r.body, "method GET\n"));
	ck_assert_ptr_nonnull(strstr(r.body, "header X-Test: yes\n"));
	ck_assert_ptr_nonnull(strstr(r.body, "header User-Agent: suite\n"));
	h_resp_free(&r);
}
END_TEST

START_TEST(lessons_send_connection_close)
{
	int port = start_pair(NULL);
	char req[512];
	struct h_resp r;

	if (h_level() >= 4)
		return;		/* final/ keeps backend connections open */
	format_request(req, sizeof(req), "GET", "/", "Connection: keep-alive\r\n"
	    "Keep-Alive: timeout=5\r\n", port);
	ck_assert_int_eq(h_request(port, req, &r), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.body, "header Connection: close\n"));
	ck_assert_ptr_null(strstr(r.body, "keep-alive"));
	ck_assert_ptr_null(strstr(r.body, "Keep-Alive"));
	h_resp_free(&r);
}
END_TEST

START_TEST(post_1mib_arrives_byte_for_byte)
{
	int port = start_pair(NULL);
	size_t n = 1 << 20, i;
	char *body = malloc(n), head[256], sum[17];
	struct h_conn *c;
	struct h_resp r;

	ck_assert_ptr_nonnull(body);
	srand(42);
	for (i = 0; i < n; i++)
		body[i] = (char)(rand() & 0xff);
	h_sum_hex(body, n, sum);
	snprintf(head, sizeof(head), "POST /upload HTTP/1.1\r\nHost: x\r\n"
	    "Content-Length: %zu\r\nContent-Type: application/octet-stream\r\n"
	    "\r\n", n);
	c = h_connect(port);
	ck_assert_int_eq(h_sends(c, head), 0);
	ck_assert_int_eq(h_send(c, body, n), 0);
	ck_assert_int_eq(h_read_response(c, &r, 0, H_TIMEOUT_MS), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_pstr_eq(h_header(&r, "X-Body-Length"), "1048576");
	ck_assert_pstr_eq(h_header(&r, "X-Body-Sum"), sum);
	h_resp_free(&r);
	free(body);
}
END_TEST

START_TEST(response_10mib_arrives_intact)
{
	int port = start_pair(NULL);
	char req[256];
	struct h_resp r;

	format_request(req, sizeof(req), "GET", "/big?size=10485760", "", port);
	ck_assert_int_eq(h_request(port, req, &r), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_int_eq(r.complete, 1);
	h_expect_sent_body(&r, 10485760);
	h_resp_free(&r);
}
END_TEST

/* "localhost" may resolve to ::1 first; the backend is on 127.0.0.1. */
START_TEST(backend_named_by_host_name)
{
	struct h_proc *b = h_backend("b1", "-q", NULL);
	char addr[32], *args[] = { "-b", addr, NULL };
	struct h_resp r;
	int port;

	snprintf(addr, sizeof(addr), "localhost:%d", b->port);
	port = h_lb_args(args)->port;
	ck_assert_int_eq(h_request(port, "GET /named HTTP/1.1\r\nHost: x\r\n\r\n",
	    &r), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_pstr_eq(h_header(&r, "X-Backend"), "b1");
	h_resp_free(&r);
}
END_TEST

/* Lesson 1 says 502; from lesson 2 on, 503: no backend is up. */
START_TEST(unreachable_backend_gets_an_error)
{
	char addr[32], *args[] = { "-b", addr, NULL };
	struct h_resp r;
	int port, i;

	snprintf(addr, sizeof(addr), "127.0.0.1:%d", h_free_port());
	port = h_lb_args(args)->port;
	for (i = 0; i < 2; i++) {	/* and it keeps answering */
		ck_assert_int_eq(h_request(port,
		    "GET / HTTP/1.1\r\nHost: x\r\n\r\n", &r), 0);
		ck_assert_int_eq(r.status, h_level() == 1 ? 502 : 503);
		ck_assert_int_eq(r.complete, 1);
		ck_assert_ptr_nonnull(strstr(r.body, h_level() == 1 ? "502" :
		    "503"));
		h_resp_free(&r);
	}
}
END_TEST

START_TEST(backend_closing_without_answer_gets_502)
{
	int port = start_pair(NULL);
	struct h_resp r;

	ck_assert_int_eq(h_request(port,
	    "GET /x?mode=drop HTTP/1.1\r\nHost: x\r\n\r\n", &r), 0);
	ck_assert_int_eq(r.status, 502);
	h_resp_free(&r);
}
END_TEST

static const char *const malformed[] = {
	"GARBAGE\r\n\r\n",
	"GET /\r\n\r\n",
	"GET / HTTP/1.x\r\nHost: x\r\n\r\n",
	"GET  / HTTP/1.1\r\nHost: x\r\n\r\n",
	"G(T / HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET / HTTP/1.1\r\nNo colon here\r\n\r\n",
	"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n folded\r\n\r\n",
	"GET / HTTP/1.1\r\nX: a\rContent-Length: 5\r\nHost: x\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 12a\r\n\r\n",
	("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
	    "Content-Length: 2\r\n\r\nab"),
};

START_TEST(malformed_head_gets_400)
{
	int port = start_pair(NULL);
	struct h_resp r;

	ck_assert_int_eq(h_request(port, malformed[_i], &r), 0);
	ck_assert_int_eq(r.status, 400);
	ck_assert_int_eq(r.complete, 1);
	h_resp_free(&r);
	/* The balancer is still there for the next client. */
	ck_assert_int_eq(h_request(port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
	    &r), 0);
	ck_assert_int_eq(r.status, 200);
	h_resp_free(&r);
}
END_TEST

/*
 * Lines that end in a bare LF: the lessons refuse them (400), final/
 * accepts them as RFC 9112 section 2.2 allows, and sends CRLF onwards.
 */
START_TEST(bare_lf_lines)
{
	int port = start_pair(NULL);
	struct h_resp r;

	ck_assert_int_eq(h_request(port, "GET /lf HTTP/1.1\nHost: x\n\n", &r),
	    0);
	ck_assert_int_eq(r.status, h_level() >= 4 ? 200 : 400);
	if (h_level() >= 4)
		ck_assert_ptr_nonnull(strstr(r.body, "header Host: x\n"));
	h_resp_free(&r);
}
END_TEST

/* An unknown HTTP version: 400 in the lessons, 505 in final/. */
START_TEST(unknown_version)
{
	int port = start_pair(NULL);
	struct h_resp r;

	ck_assert_int_eq(h_request(port, "GET / HTTP/9.1\r\nHost: x\r\n\r\n",
	    &r), 0);
	ck_assert_int_eq(r.status, h_level() >= 4 ? 505 : 400);
	h_resp_free(&r);
}
END_TEST

START_TEST(oversized_head_gets_431)
{
	int port = start_pair(NULL);
	size_t n = 64 * 1024;
	char *req = malloc(n + 64);
	struct h_resp r;

	ck_assert_ptr_nonnull(req);
	strcpy(req, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: ");
	memset(req + strlen(req), 'a', n);
	strcpy(req + n - 4, "\r\n\r\n");
	ck_assert_int_eq(h_request(port, req, &r), 0);
	ck_assert_int_eq(r.status, 431);
	h_resp_free(&r);
	free(req);
}
END_TEST

/* Clients that vanish halfway must not hurt the next one. */
START_TEST(clients_that_vanish_do_no_harm)
{
	int port = start_pair(NULL);
	struct h_conn *c;
	struct h_resp r;

	c = h_connect(port);
	h_sends(c, "GET /half HTTP/1.1\r\nHo");
	h_close(c);
	c = h_connect(port);
	h_sends(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n"
	    "\r\nonly a few bytes");
	h_close(c);
	c = h_connect(port);
	h_sends(c, "GET /big?size=8388608 HTTP/1.1\r\nHost: x\r\n\r\n");
	h_close(c);	/* without reading the answer */
	ck_assert_int_eq(h_request(port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
	    &r), 0);
	ck_assert_int_eq(r.status, 200);
	h_resp_free(&r);
}
END_TEST

START_TEST(bad_arguments_exit_2)
{
	char *a1[] = { "-b", "nohostport", NULL };
	char *a2[] = { "-b", "127.0.0.1:0", NULL };
	char *a3[] = { "-l", "99999", "-b", "127.0.0.1:9", NULL };
	char *a4[] = { "-l", "[::1:80", "-b", "127.0.0.1:9", NULL };
	char *a5[] = { "-Z", "-b", "127.0.0.1:9", NULL };
	char *a6[] = { "-l", "1", NULL };
	char *a7[] = { "-b", "127.0.0.1:9", "-b", "127.0.0.1:10", NULL };

	h_expect_bad_args(a1, "-b 'nohostport'");
	h_expect_bad_args(a2, "-b '127.0.0.1:0'");
	h_expect_bad_args(a3, "-l '99999'");
	h_expect_bad_args(a4, "-l '[::1:80'");
	h_expect_bad_args(a5, "unknown option '-Z'");
	h_expect_bad_args(a6, "-b");
	if (h_level() == 1)
		h_expect_bad_args(a7, "lesson 2");
}
END_TEST

START_TEST(help_lists_every_option)
{
	char *argv[] = { (char *)h_lb_path(), "-h", NULL }, *out;
	struct h_proc *p = h_spawn("lb-help", argv, 0);

	ck_assert_int_eq(h_wait_exit(p, 5000), 0);
	out = h_slurp(p->out);
	ck_assert_ptr_nonnull(strstr(out, "usage: lb"));
	ck_assert_ptr_nonnull(strstr(out, "-l [HOST:]PORT"));
	ck_assert_ptr_nonnull(strstr(out, "-b HOST:PORT"));
	ck_assert_ptr_nonnull(strstr(out, "default 127.0.0.1:8080"));
	if (h_level() == 2 || h_level() == 3) {	/* the cool-down */
		ck_assert_ptr_nonnull(strstr(out, "-r SECONDS"));
		ck_assert_ptr_nonnull(strstr(out, "(default 5)"));
	}
	if (h_level() >= 4) {	/* health checks, status page, timeouts */
		static const char *const opts[] = { "-i MS", "(default 2000)",
		    "-H PATH", "(default /health)", "-R N", "(default 2)",
		    "-F N", "(default 3)", "-a [HOST:]PORT", "-o ",
		    "response=MS", "(default 30000)", "check=MS",
		    "(default 1000)", "-b HOST:PORT[,weight=N]",
		    "N is 1-100, default 1", NULL };
		const char *const *o;

		for (o = opts; *o != NULL; o++)
			ck_assert_msg(strstr(out, *o) != NULL, "no '%s' in %s",
			    *o, out);
	}
	free(out);
}
END_TEST

START_TEST(port_in_use_is_reported)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	char portstr[8], want[96], *err;
	char lport[8];
	char *argv[] = { (char *)h_lb_path(), "-l", portstr, "-b",
	    "127.0.0.1:9", NULL };
	char *a_argv[] = { (char *)h_lb_path(), "-l", lport, "-a", portstr,
	    "-b", "127.0.0.1:9", NULL };
	struct h_proc *p;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(fd, 1), 0);
	getsockname(fd, (struct sockaddr *)&sin, &len);
	snprintf(portstr, sizeof(portstr), "%d", ntohs(sin.sin_port));
	p = h_spawn("lb-busy", argv, 0);
	ck_assert_int_eq(h_wait_exit(p, 5000), 1);
	err = h_slurp(p->err);
	/* final/ listens twice (-l, -a): it says which one failed. */
	snprintf(want, sizeof(want), "lb: cannot listen on 127.0.0.1:%s%s: "
	    "Address already in use", portstr, h_level() >= 4 ? " (-l)" : "");
	ck_assert_msg(strstr(err, want) != NULL, "stderr '%s' lacks '%s'",
	    err, want);
	free(err);
	if (h_level() >= 4) {
		snprintf(lport, sizeof(lport), "%d", h_free_port());
		p = h_spawn("lb-busy-a", a_argv, 0);
		ck_assert_int_eq(h_wait_exit(p, 5000), 1);
		err = h_slurp(p->err);
		snprintf(want, sizeof(want), "lb: cannot listen on "
		    "127.0.0.1:%s (-a): Address already in use", portstr);
		ck_assert_msg(strstr(err, want) != NULL, "stderr '%s' lacks "
		    "'%s'", err, want);
		free(err);
	}
	close(fd);
}
END_TEST

Suite *
forward_suite(void)
{
	const TTest *const tests[] = {
		get_is_forwarded_intact,
		lessons_send_connection_close,
		post_1mib_arrives_byte_for_byte,
		response_10mib_arrives_intact,
		backend_named_by_host_name,
		unreachable_backend_gets_an_error,
		backend_closing_without_answer_gets_502,
		bare_lf_lines,
		unknown_version,
		oversized_head_gets_431,
		clients_that_vanish_do_no_harm,
		bad_arguments_exit_2,
		help_lists_every_option,
		port_in_use_is_reported,
		NULL
	};
	TCase *tc;
	Suite *s = h_suite("forward", tests, &tc);

	if (h_wanted(malformed_head_gets_400))
		tcase_add_loop_test(tc, malformed_head_gets_400, 0,
		    (int)(sizeof(malformed) / sizeof(malformed[0])));
	return s;
}
