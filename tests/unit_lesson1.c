/*
 * unit_lesson1.c - lesson 1's pure functions, reached by including its
 * source (its main() renamed so ours can exist), and the list of suites
 * lesson 1's test program runs.
 */
#define main lesson1_main
#include "../lesson1/lb.c"
#undef main

#include <check.h>

#include "suites.h"

static const struct {
	const char *in;
	int	host_optional;
	const char *host, *port;	/* NULL host: must be refused */
} hostports[] = {
	{ "127.0.0.1:8080", 0, "127.0.0.1", "8080" },
	{ "localhost:1", 0, "localhost", "1" },
	{ "[::1]:65535", 0, "::1", "65535" },
	{ "8080", 1, "127.0.0.1", "8080" },
	{ "0.0.0.0:80", 1, "0.0.0.0", "80" },
	{ "8080", 0, NULL, NULL },
	{ "host:", 0, NULL, NULL },
	{ ":80", 0, NULL, NULL },
	{ "host:0", 0, NULL, NULL },
	{ "host:65536", 0, NULL, NULL },
	{ "host:80x", 0, NULL, NULL },
	{ "host:-80", 0, NULL, NULL },
	{ "host:+80", 0, NULL, NULL },
	{ "::1:80", 0, NULL, NULL },
	{ "[::1]80", 0, NULL, NULL },
	{ "[::1", 0, NULL, NULL },
	{ "[]:80", 0, NULL, NULL },
};

START_TEST(hostport_table)
{
	struct hostport hp;
	const char *why = NULL;
	int rc = parse_hostport(hostports[_i].in, hostports[_i].host_optional,
	    &hp, &why);

	if (hostports[_i].host == NULL) {
		ck_assert_msg(rc == -1, "'%s' accepted", hostports[_i].in);
		ck_assert_ptr_nonnull(why);
	} else {
		ck_assert_msg(rc == 0, "'%s' refused: %s", hostports[_i].in, why);
		ck_assert_str_eq(hp.host, hostports[_i].host);
		ck_assert_str_eq(hp.port, hostports[_i].port);
	}
}
END_TEST

START_TEST(hostport_prints_brackets_for_ipv6)
{
	struct hostport hp;
	const char *why;

	ck_assert_int_eq(parse_hostport("[::1]:80", 0, &hp, &why), 0);
	ck_assert_str_eq(hostport_str(&hp), "[::1]:80");
	ck_assert_int_eq(parse_hostport("8080", 1, &hp, &why), 0);
	ck_assert_str_eq(hostport_str(&hp), "127.0.0.1:8080");
}
END_TEST

static const struct {
	const char *head;	/* ends with "\r\n\r\n" */
	int	status;		/* 0 = accepted */
	const char *method;
	long long content_length;
} heads[] = {
	{ "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 0, "GET", -1 },
	{ "GET / HTTP/1.0\r\n\r\n", 0, "GET", -1 },
	{ "POST /x HTTP/1.1\r\nContent-Length: 12\r\n\r\n", 0, "POST", 12 },
	{ "POST /x HTTP/1.1\r\ncontent-length:  7 \r\n\r\n", 0, "POST", 7 },
	{ "PUT /x HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n",
	    0, "PUT", 3 },
	{ "M-SEARCH * HTTP/1.1\r\nX: \r\n\r\n", 0, "M-SEARCH", -1 },
	{ "\r\n\r\n", 400, NULL, 0 },
	{ "GET / HTTP/1.2\r\n\r\n", 400, NULL, 0 },
	{ "GET / HTTP/1.10\r\n\r\n", 400, NULL, 0 },
	{ "GET /  HTTP/1.1\r\n\r\n", 400, NULL, 0 },
	{ "GET /\x7f HTTP/1.1\r\n\r\n", 400, NULL, 0 },
	{ "GET / HTTP/1.1\r\n: empty name\r\n\r\n", 400, NULL, 0 },
	{ "GET / HTTP/1.1\r\nA B: c\r\n\r\n", 400, NULL, 0 },
	{ "GET / HTTP/1.1\r\nHost\t: c\r\n\r\n", 400, NULL, 0 },
	{ "GET / HTTP/1.1\r\nA: b\r\n\tc\r\n\r\n", 400, NULL, 0 },
	{ "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400, NULL, 0 },
	{ "POST / HTTP/1.1\r\nContent-Length: \r\n\r\n", 400, NULL, 0 },
	{ "POST / HTTP/1.1\r\nContent-Length: 1, 1\r\n\r\n", 400, NULL, 0 },
	{ "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
	    400, NULL, 0 },
	{ "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
	    400, NULL, 0 },
	{ "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 501, NULL,
	    0 },
};

START_TEST(request_head_table)
{
	struct request req;
	const char *h = heads[_i].head;
	int rc = parse_request(h, strlen(h), &req);

	ck_assert_msg(rc == heads[_i].status, "'%s': got %d, want %d", h, rc,
	    heads[_i].status);
	if (rc == 0) {
		ck_assert_str_eq(req.method, heads[_i].method);
		ck_assert_int_eq(req.content_length, heads[_i].content_length);
		ck_assert_uint_eq(req.head_len, strlen(h));
	}
}
END_TEST

START_TEST(head_end_and_bad_bytes)
{
	const char *s = "GET / HTTP/1.1\r\nA: b\r\n\r\nbody";

	ck_assert_uint_eq(head_end(s, strlen(s)), strlen(s) - 4);
	ck_assert_uint_eq(head_end(s, 20), 0);
	ck_assert_int_eq(bad_bytes(s, head_end(s, strlen(s))), 0);
	ck_assert_int_eq(bad_bytes("GET / HTTP/1.1\nA: b", 19), 1);
	ck_assert_int_eq(bad_bytes("\nGET", 4), 1);
	ck_assert_int_eq(bad_bytes("GET\0 / HTTP/1.1\r\n", 17), 1);
}
END_TEST

START_TEST(rewrite_drops_connection_headers)
{
	const char *in = "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n"
	    "keep-alive: 5\r\nProxy-Connection: x\r\nX-Kept: 1\r\n\r\n";
	char out[512];
	size_t n = rewrite_head(in, strlen(in), out);

	out[n] = '\0';
	ck_assert_str_eq(out, "GET / HTTP/1.1\r\nHost: a\r\nX-Kept: 1\r\n"
	    "Connection: close\r\n\r\n");
}
END_TEST

static Suite *
lesson1_unit_suite(void)
{
	const struct unit units[] = {
		{ hostport_table, ROWS(hostports) },
		{ hostport_prints_brackets_for_ipv6, 0 },
		{ request_head_table, ROWS(heads) },
		{ head_end_and_bad_bytes, 0 },
		{ rewrite_drops_connection_headers, 0 },
		{ NULL, 0 }
	};

	return unit_suite("lesson1-unit", units, NULL, NULL);
}

Suite *(*const lesson_suites[])(void) = {
	lesson1_unit_suite, forward_suite, NULL
};
