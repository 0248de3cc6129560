/*
 * unit_http.c - final/http.c, table by table: request and response heads,
 * chunked bodies fed whole, byte by byte and split in two, the head
 * rewrite, and the small helpers. Each table row is one Check test.
 */
#include <sys/types.h>

#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

Suite	*http_unit_suite(void);

/* A string literal and its length, NUL bytes included. */
#define S(s)		s, sizeof(s) - 1

/* The head is valid: its length is the input's minus the tail after it. */
#define OK		1

#define MAX_HEAD	4096

#define NONE		HTTP_BODY_NONE
#define LENGTH		HTTP_BODY_LENGTH
#define CHUNKED		HTTP_BODY_CHUNKED
#define CLOSE		HTTP_BODY_CLOSE

/* What follows a complete body on a connection: never part of it. */
#define NEXT		"GET /next HTTP/1.1\r\n"

struct head_case {
	const char *in;
	size_t	len;
	size_t	max_head;
	int	head_request;	/* responses: the request was HEAD */
	int	rc;		/* OK, 0 for more, or the negative status */
	size_t	tail;		/* OK: bytes after the head */
	enum http_framing framing;
	long long content_length;
	int	keep_alive;
};

/* Valid request: tail, framing, Content-Length, keep-alive. */
#define RQ(s, t, f, cl, ka)	{ S(s), MAX_HEAD, 0, OK, t, f, cl, ka }
/* Request refused (or incomplete, rc 0). */
#define RQ_ERR(s, rc)		{ S(s), MAX_HEAD, 0, rc, 0, NONE, -1, 0 }
#define RQ_MAX(s, max, rc)	{ S(s), max, 0, rc, 0, NONE, -1, 0 }

#define H11	"GET / HTTP/1.1\r\nHost: a\r\n"
#define P11	"POST /f HTTP/1.1\r\nHost: a\r\n"

static const struct head_case requests[] = {
	/* Valid heads, and what they mean. */
	RQ(H11 "\r\n", 0, NONE, -1, 1),
	RQ("GET / HTTP/1.0\r\n\r\n", 0, NONE, -1, 0),
	RQ("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", 0, NONE, -1, 1),
	RQ("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", 0,
	    NONE, -1, 0),
	RQ(H11 "Connection: close\r\n\r\n", 0, NONE, -1, 0),
	RQ(H11 "Connection: foo,CLOSE\r\n\r\n", 0, NONE, -1, 0),
	RQ(H11 "Connection: closed\r\n\r\n", 0, NONE, -1, 1),
	RQ("GET / HTTP/1.1\nHost: a\n\n", 0, NONE, -1, 1),
	RQ("GET / HTTP/1.1\r\nHost: a\n\r\n", 0, NONE, -1, 1),
	RQ("\r\n\r\n" H11 "\r\n", 0, NONE, -1, 1),
	RQ("\n" H11 "\r\n", 0, NONE, -1, 1),
	RQ(P11 "Content-Length: 5\r\n\r\nhello", 5, LENGTH, 5, 1),
	RQ(P11 "Content-Length: 5, 5\r\n\r\nhello", 5, LENGTH, 5, 1),
	RQ(P11 "Content-Length: 5\r\ncontent-length: 05\r\n\r\n", 0, LENGTH,
	    5, 1),
	RQ(P11 "Content-Length: 0\r\n\r\n" NEXT, sizeof(NEXT) - 1, LENGTH, 0,
	    1),
	RQ(P11 "Content-Length: 9223372036854775807\r\n\r\n", 0, LENGTH,
	    LLONG_MAX, 1),
	RQ(P11 "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 5, CHUNKED, -1,
	    1),
	RQ(P11 "transfer-encoding:  Chunked \r\n\r\n", 0, CHUNKED, -1, 1),
	RQ(P11 "Content-Length: 1\r\nExpect: 100-continue\r\n\r\n", 0, LENGTH,
	    1, 1),
	RQ(P11 "Content-Length: 1\r\nexpect: 100-Continue\r\n\r\n", 0, LENGTH,
	    1, 1),
	RQ(H11 "X-Pad:  \t spaced \t \r\n\r\n", 0, NONE, -1, 1),
	RQ(H11 "X-Text: caf\xc3\xa9 \"q\" (c)\r\n\r\n", 0, NONE, -1, 1),
	RQ(H11 "X-Empty:\r\n\r\n", 0, NONE, -1, 1),
	RQ("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", 0, NONE, -1, 1),
	RQ("GET http://a/b?c=d#e HTTP/1.1\r\nHost: a\r\n\r\n", 0, NONE, -1, 1),
	RQ("M-SEARCH! /x HTTP/1.1\r\nHost:\r\n\r\n", 0, NONE, -1, 1),
	RQ("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", 0, NONE, -1, 1),
	RQ("GET HTTPS://a:8443?q HTTP/1.1\r\nHost: b\r\n\r\n", 0, NONE, -1, 1),
	/* Not there yet. */
	RQ_ERR("", 0),
	RQ_ERR("\r\n", 0),
	RQ_ERR(H11, 0),
	RQ_ERR(H11 "\r", 0),
	RQ_ERR("GET / HTTP/1.1", 0),
	/* Smuggling shapes. */
	RQ_ERR(P11 "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
	    -400),
	RQ_ERR(P11 "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
	    -400),
	/*
	 * Chunked not the final coding, or applied twice: no length can be
	 * found for the body (RFC 9112 6.3, item 4; section 7), so 400.
	 */
	RQ_ERR(P11 "Transfer-Encoding: gzip\r\n\r\n", -400),
	RQ_ERR(P11 "Transfer-Encoding: chunked, gzip\r\n\r\n", -400),
	RQ_ERR(P11 "Transfer-Encoding: chunked, identity\r\n\r\n", -400),
	RQ_ERR(P11 "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip"
	    "\r\n\r\n", -400),
	RQ_ERR(P11 "Transfer-Encoding: chunked, chunked\r\n\r\n", -400),
	RQ_ERR(P11 "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked"
	    "\r\n\r\n", -400),
	RQ_ERR(P11 "Transfer-Encoding: gzip, chunked, chunked\r\n\r\n",
	    -400),
	RQ_ERR(P11 "Transfer-Encoding: identity\r\n\r\n", -400),
	RQ_ERR(P11 "Transfer-Encoding: chunked,\r\n\r\n", -400),
	RQ_ERR(P11 "Transfer-Encoding: xchunked\r\n\r\n", -400),
	RQ_ERR(P11 "Transfer-Encoding:\r\n\r\n", -400),
	/* Chunked last, after a coding lb does not decode: 501. */
	RQ_ERR(P11 "Transfer-Encoding: gzip, chunked\r\n\r\n", -501),
	RQ_ERR(P11 "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked"
	    "\r\n\r\n", -501),
	RQ_ERR(P11 "Transfer-Encoding: , chunked\r\n\r\n", -501),
	RQ_ERR("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", -400),
	/* Connection names what frames or routes the message. */
	RQ_ERR(P11 "Connection: Content-Length\r\nContent-Length: 5\r\n\r\n",
	    -400),
	RQ_ERR(P11 "Connection: close, transfer-encoding\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n", -400),
	RQ_ERR(H11 "Connection: keep-alive\r\nConnection: HOST\r\n\r\n",
	    -400),
	/* Targets in none of the four forms, or absolute with userinfo. */
	RQ_ERR("GET x HTTP/1.1\r\nHost: a\r\n\r\n", -400),
	RQ_ERR("GET * HTTP/1.1\r\nHost: a\r\n\r\n", -400),
	RQ_ERR("GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n", -400),
	RQ_ERR("GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n", -400),
	RQ_ERR("GET http://u:p@a/ HTTP/1.1\r\nHost: a\r\n\r\n", -400),
	RQ_ERR(P11 "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", -400),
	RQ_ERR(P11 "Content-Length: 5, 6\r\n\r\n", -400),
	RQ_ERR(P11 "Content-Length: 5,,5\r\n\r\n", -400),
	RQ_ERR(P11 "Content-Length: +5\r\n\r\n", -400),
	RQ_ERR(P11 "Content-Length: -1\r\n\r\n", -400),
	RQ_ERR(P11 "Content-Length: 0x5\r\n\r\n", -400),
	RQ_ERR(P11 "Content-Length: 5 5\r\n\r\n", -400),
	RQ_ERR(P11 "Content-Length:\r\n\r\n", -400),
	RQ_ERR(P11 "Content-Length: 9223372036854775808\r\n\r\n", -400),
	RQ_ERR(P11 "Content-Length: 99999999999999999999999\r\n\r\n", -400),
	RQ_ERR("GET / HTTP/1.1\r\n Host: a\r\n\r\n", -400),
	RQ_ERR(H11 "X-A: b\r\n\tc\r\n\r\n", -400),
	RQ_ERR("GET / HTTP/1.1\r\nHost : a\r\n\r\n", -400),
	RQ_ERR("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", -400),
	RQ_ERR("GET / HTTP/1.1\r\n\r\n", -400),
	RQ_ERR("GET / HTTP/1.1\r\nX-Host: a\r\n\r\n", -400),
	RQ_ERR(H11 "Host: a\r\n\r\n", -400),
	RQ_ERR(H11 "host: b\r\n\r\n", -400),
	RQ_ERR("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", -400),
	/* Bad bytes, seen before the head is complete. */
	RQ_ERR("GET /\0 HTTP/1.1\r\n", -400),
	RQ_ERR(H11 "X-A: b\0c\r\n\r\n", -400),
	RQ_ERR(H11 "X-A: b\0", -400),
	RQ_ERR(H11 "X-A: b\rc\r\n\r\n", -400),
	RQ_ERR(H11 "X-A: b\rc", -400),
	RQ_ERR("GET / HTTP/1.1\rHost: a\r\n\r\n", -400),
	RQ_ERR(H11 "\r\r\n", -400),
	RQ_ERR("\r\r\n" H11 "\r\n", -400),
	RQ_ERR(H11 "X-A: b\x01" "c\r\n\r\n", -400),
	RQ_ERR(H11 "X-A: b\x7f\r\n\r\n", -400),
	RQ_ERR(H11 "X-A: \x1b[0m\r\n\r\n", -400),
	/* Bad request lines and header lines. */
	RQ_ERR("GET / HTTP/1.2\r\nHost: a\r\n\r\n", -505),
	RQ_ERR("GET / HTTP/2.0\r\nHost: a\r\n\r\n", -505),
	RQ_ERR("GET / HTTP/0.9\r\n\r\n", -505),
	RQ_ERR("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", -400),
	RQ_ERR("GET / HTTP/11\r\nHost: a\r\n\r\n", -400),
	RQ_ERR("GET / HTTP/1.10\r\nHost: a\r\n\r\n", -400),
	RQ_ERR("GET / http/1.1\r\nHost: a\r\n\r\n", -400),
	RQ_ERR("GET /\r\nHost: a\r\n\r\n", -400),
	RQ_ERR("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", -400),
	RQ_ERR("GET /  HTTP/1.1\r\nHost: a\r\n\r\n", -400),
	RQ_ERR("GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", -400),
	RQ_ERR(" GET / HTTP/1.1\r\nHost: a\r\n\r\n", -400),
	RQ_ERR("GET HTTP/1.1\r\nHost: a\r\n\r\n", -400),
	RQ_ERR("G@T / HTTP/1.1\r\nHost: a\r\n\r\n", -400),
	RQ_ERR("GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n", -400),
	RQ_ERR("GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", -400),
	RQ_ERR(H11 ": b\r\n\r\n", -400),
	RQ_ERR(H11 "X-A b\r\n\r\n", -400),
	RQ_ERR(H11 "X(A): b\r\n\r\n", -400),
	/* Too big. */
	RQ_MAX(H11 "X-Long: aaaaaaaaaaaaaaaaaaaa", 40, -431),
	RQ_MAX(H11 "\r\n", 26, -431),
	{ S(H11 "\r\n"), 27, 0, OK, 0, NONE, -1, 1 },
	RQ_MAX("\r\n\r\n\r\n\r\n\r\n\r\n", 10, -431),
};

/* Valid response: head_request, tail, framing, Content-Length, keep-alive. */
#define RS(s, hr, t, f, cl, ka) { S(s), MAX_HEAD, hr, OK, t, f, cl, ka }
#define RS_ERR(s, rc)		{ S(s), MAX_HEAD, 0, rc, 0, NONE, -1, 0 }
#define RS_MAX(s, max, rc)	{ S(s), max, 0, rc, 0, NONE, -1, 0 }

static const struct head_case responses[] = {
	RS("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 0, 5, LENGTH,
	    5, 1),
	RS("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 0, 0,
	    CHUNKED, -1, 1),
	RS("HTTP/1.1 200 OK\r\n\r\nuntil close", 0, 11, CLOSE, -1, 0),
	RS("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", 1, 0, NONE, -1, 1),
	RS("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 1, 0,
	    NONE, -1, 1),
	RS("HTTP/1.1 204 No Content\r\n\r\n" "HTTP/1.1", 0, 8, NONE, -1, 1),
	RS("HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n", 0, 0,
	    NONE, -1, 1),
	RS("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n", 0, 17, NONE,
	    -1, 1),
	RS("HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n", 0, 0, NONE,
	    -1, 1),
	RS("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n", 0, 0, CHUNKED, -1, 1),
	RS("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 0,
	    0, CHUNKED, -1, 1),
	RS("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n"
	    "Transfer-Encoding: CHUNKED\r\n\r\n", 0, 0, CHUNKED, -1, 1),
	/* Codings that frame no body: nothing to frame, nothing refused. */
	RS("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", 1, 0, NONE,
	    -1, 1),
	RS("HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked, "
	    "chunked\r\n\r\n", 0, 0, NONE, -1, 1),
	RS("HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\n", 0, 0, LENGTH, 5,
	    0),
	RS("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n"
	    "Content-Length: 5\r\n\r\n", 0, 0, LENGTH, 5, 1),
	RS("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\n\r\n",
	    0, 0, LENGTH, 5, 0),
	RS("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", 0, 0, LENGTH, 0, 1),
	RS("HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n", 0, 0, LENGTH, 0, 1),
	RS("HTTP/1.1 599 Odd\t\xe2\x9c\x93 (x)\nContent-Length: 1\n\n", 0, 0,
	    LENGTH, 1, 1),
	RS("HTTP/1.1 404 Not Found\r\nContent-Length: 3, 3\r\n\r\n", 0, 0,
	    LENGTH, 3, 1),
	RS_ERR("HTTP/1.1 200 OK\r\nContent-Length: 5", 0),
	RS_ERR("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
	    "Content-Length: 6\r\n\r\n", -502),
	RS_ERR("HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n", -502),
	RS_ERR("HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", -502),
	RS_ERR("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", -502),
	/* A body lb cannot frame by chunked: 502, as for a request 400. */
	RS_ERR("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", -502),
	RS_ERR("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
	    -502),
	RS_ERR("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n"
	    "Content-Length: 5\r\n\r\n", -502),
	RS_ERR("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n"
	    "\r\n", -502),
	RS_ERR("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n", -502),
	RS_ERR("HTTP/1.1 200 OK\r\nConnection: Content-Length\r\n"
	    "Content-Length: 5\r\n\r\n", -502),
	RS_ERR("HTTP/1.1 200 OK\r\nConnection: Transfer-Encoding\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n", -502),
	RS_ERR("HTTP/1.1 099 Low\r\n\r\n", -502),
	RS_ERR("HTTP/1.1 600 High\r\n\r\n", -502),
	RS_ERR("HTTP/1.1 20 OK\r\n\r\n", -502),
	RS_ERR("HTTP/1.1 2000 OK\r\n\r\n", -502),
	RS_ERR("HTTP/1.1 2x0 OK\r\n\r\n", -502),
	RS_ERR("HTTP/1.1  200 OK\r\n\r\n", -502),
	RS_ERR("HTTP/1.1 200OK\r\n\r\n", -502),
	RS_ERR("HTTP/2.0 200 OK\r\n\r\n", -502),
	RS_ERR("HTTP/1.2 200 OK\r\n\r\n", -502),
	RS_ERR("http/1.1 200 OK\r\n\r\n", -502),
	RS_ERR("HTTP/1.1 200 O\x01K\r\n\r\n", -502),
	RS_ERR("\r\nHTTP/1.1 200 OK\r\n\r\n", -502),
	RS_ERR("HTTP/1.1 200 OK\r\n Folded: x\r\n\r\n", -502),
	RS_ERR("HTTP/1.1 200 OK\r\nX-A : b\r\n\r\n", -502),
	RS_ERR("HTTP/1.1 200 OK\r\nX-A: b\0\r\n\r\n", -502),
	RS_ERR("HTTP/1.1 200 OK\r\nX-A: b\rc\r\n\r\n", -502),
	RS_ERR("HTTP/1.1 200 OK\r\nX-A: b\rc", -502),
	RS_MAX("HTTP/1.1 200 OK\r\nX-Long: aaaaaaaaaaaaaaaa", 30, -502),
	RS_MAX("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 37, -502),
	{ S("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), 38, 0, OK, 0,
	    LENGTH, 0, 1 },
};

static int
want_rc(const struct head_case *c)
{
	return c->rc == OK ? (int)(c->len - c->tail) : c->rc;
}

static int
parse(const struct head_case *c, int response, size_t len,
    struct http_msg *m)
{
	if (response)
		return http_parse_response(c->in, len, c->max_head,
		    c->head_request, m);
	return http_parse_request(c->in, len, c->max_head, m);
}

/*
 * One table row: the whole input, then every prefix of it. A prefix must
 * need more bytes or already be wrong in the same way, never anything
 * else: that is what lets the caller parse again as bytes trickle in.
 */
static void
check_head(const struct head_case *c, int response, int row)
{
	struct http_msg m;
	int rc, want = want_rc(c);
	size_t k;

	rc = parse(c, response, c->len, &m);
	ck_assert_msg(rc == want, "row %d \"%.40s\": got %d, want %d", row,
	    c->in, rc, want);
	if (rc > 0) {
		ck_assert_uint_eq(m.head_len, (size_t)rc);
		ck_assert_int_eq(m.framing, c->framing);
		ck_assert_int_eq(m.content_length, c->content_length);
		ck_assert_int_eq(m.keep_alive, c->keep_alive);
	}
	for (k = 0; k < c->len; k++) {
		rc = parse(c, response, k, &m);
		if (want > 0 && k < (size_t)want)
			ck_assert_msg(rc == 0, "row %d: prefix %zu gave %d",
			    row, k, rc);
		else
			ck_assert_msg(rc == 0 || rc == want,
			    "row %d: prefix %zu gave %d, want %d", row, k, rc,
			    want);
	}
}

START_TEST(request_table)
{
	check_head(&requests[_i], 0, _i);
}
END_TEST

START_TEST(response_table)
{
	check_head(&responses[_i], 1, _i);
}
END_TEST

START_TEST(request_fields)
{
	const char *in = "\r\nPUT /x?y HTTP/1.1\r\nHost:  a.b \r\n"
	    "X-Tab:\tv\t\r\n\r\n";
	struct http_msg m;

	ck_assert_int_eq(http_parse_request(in, strlen(in), MAX_HEAD, &m),
	    (int)strlen(in));
	ck_assert_int_eq(m.version, 11);
	ck_assert_uint_eq(m.method_len, 3);
	ck_assert_mem_eq(m.method, "PUT", 3);
	ck_assert_uint_eq(m.target_len, 4);
	ck_assert_mem_eq(m.target, "/x?y ", 5);
	ck_assert_int_eq(m.nheaders, 2);
	ck_assert_uint_eq(m.headers[0].name_len, 4);
	ck_assert_uint_eq(m.headers[0].value_len, 3);
	ck_assert_mem_eq(m.headers[0].value, "a.b", 3);
	ck_assert_uint_eq(m.headers[1].value_len, 1);
	ck_assert_mem_eq(m.headers[1].value, "v", 1);
}
END_TEST

START_TEST(response_fields)
{
	const char *in = "HTTP/1.0 503 Busy\r\nRetry-After: 2\r\n\r\n";
	struct http_msg m;

	ck_assert_int_eq(http_parse_response(in, strlen(in), MAX_HEAD, 0, &m),
	    (int)strlen(in));
	ck_assert_int_eq(m.version, 10);
	ck_assert_int_eq(m.status, 503);
	ck_assert_int_eq(m.nheaders, 1);
	ck_assert_int_eq(m.framing, CLOSE);
}
END_TEST

/* A request whose target is n bytes long, the head complete or not. */
static size_t
long_target(char *buf, size_t n, int complete)
{
	size_t len;

	memcpy(buf, "GET /", 5);
	memset(buf + 5, 'a', n - 1);
	len = n + 4;
	if (complete) {
		memcpy(buf + len, " HTTP/1.1\r\nHost: a\r\n\r\n", 22);
		len += 22;
	}
	return len;
}

START_TEST(target_limit)
{
	static char buf[HTTP_MAX_TARGET + 64];
	struct http_msg m;
	size_t len;

	len = long_target(buf, HTTP_MAX_TARGET, 1);
	ck_assert_int_eq(http_parse_request(buf, len, sizeof(buf), &m),
	    (int)len);
	ck_assert_uint_eq(m.target_len, HTTP_MAX_TARGET);
	len = long_target(buf, HTTP_MAX_TARGET + 1, 1);
	ck_assert_int_eq(http_parse_request(buf, len, sizeof(buf), &m), -414);
	/* A long URI is 414 even before its line ends, and beats 431. */
	len = long_target(buf, HTTP_MAX_TARGET + 1, 0);
	ck_assert_int_eq(http_parse_request(buf, len, sizeof(buf), &m), -414);
	ck_assert_int_eq(http_parse_request(buf, len, len, &m), -414);
	len = long_target(buf, HTTP_MAX_TARGET, 0);
	ck_assert_int_eq(http_parse_request(buf, len, sizeof(buf), &m), 0);
	ck_assert_int_eq(http_parse_request(buf, len, len, &m), -431);
}
END_TEST

/* A head with Host and then n - 1 more headers. */
static size_t
many_headers(char *buf, size_t cap, int n, int response)
{
	size_t len;
	int i;

	len = (size_t)snprintf(buf, cap, "%s", response ?
	    "HTTP/1.1 200 OK\r\nHost: a\r\n" : "GET / HTTP/1.1\r\nHost: a\r\n");
	for (i = 1; i < n; i++)
		len += (size_t)snprintf(buf + len, cap - len, "X-%d: %d\r\n", i,
		    i);
	len += (size_t)snprintf(buf + len, cap - len, "\r\n");
	return len;
}

START_TEST(header_count_limit)
{
	static char buf[8192];
	struct http_msg m;
	size_t len;

	len = many_headers(buf, sizeof(buf), HTTP_MAX_HEADERS, 0);
	ck_assert_int_eq(http_parse_request(buf, len, sizeof(buf), &m),
	    (int)len);
	ck_assert_int_eq(m.nheaders, HTTP_MAX_HEADERS);
	len = many_headers(buf, sizeof(buf), HTTP_MAX_HEADERS + 1, 0);
	ck_assert_int_eq(http_parse_request(buf, len, sizeof(buf), &m), -431);
	len = many_headers(buf, sizeof(buf), HTTP_MAX_HEADERS, 1);
	ck_assert_int_eq(http_parse_response(buf, len, sizeof(buf), 0, &m),
	    (int)len);
	len = many_headers(buf, sizeof(buf), HTTP_MAX_HEADERS + 1, 1);
	ck_assert_int_eq(http_parse_response(buf, len, sizeof(buf), 0, &m),
	    -502);
	/* What lb sends on may hold its own lines too, and no more. */
	len = many_headers(buf, sizeof(buf), HTTP_MAX_SENT_HEADERS, 0);
	ck_assert_int_eq(http_parse_sent(buf, len, sizeof(buf), 0, 0, &m),
	    (int)len);
	ck_assert_int_eq(m.nheaders, HTTP_MAX_SENT_HEADERS);
	len = many_headers(buf, sizeof(buf), HTTP_MAX_SENT_HEADERS + 1, 0);
	ck_assert_int_eq(http_parse_sent(buf, len, sizeof(buf), 0, 0, &m),
	    -431);
}
END_TEST

/*
 * The header limit is on what lb takes in, not on what it sends on: a
 * request with 100 headers goes to the backend with lb's own lines after
 * them (the most it adds: three forwarded ones and Connection), and a
 * response with 100 goes to the client with lb's Connection. What comes
 * out parses with http_parse_sent, not under lb's own limit.
 */
static void
rewrite_appends(int response, const char *extra, int added)
{
	static char buf[8192], out[8192], want[8192];
	struct http_msg m;
	size_t len;
	int n;

	len = many_headers(buf, sizeof(buf), HTTP_MAX_HEADERS, response);
	ck_assert_int_eq(http_parse_sent(buf, len, sizeof(buf), response, 0,
	    &m), (int)len);
	snprintf(want, sizeof(want), "%.*s%s\r\n", (int)len - 2, buf, extra);
	n = http_rewrite_head(buf, &m, extra, 0, out, sizeof(out));
	ck_assert_int_eq(n, (int)strlen(want));
	ck_assert(memcmp(out, want, strlen(want)) == 0);
	ck_assert_int_eq(http_parse_sent(out, (size_t)n, sizeof(out), response,
	    0, &m), n);
	ck_assert_int_eq(m.nheaders, HTTP_MAX_HEADERS + added);
	ck_assert_int_eq(response ? http_parse_response(out, (size_t)n,
	    sizeof(out), 0, &m) : http_parse_request(out, (size_t)n,
	    sizeof(out), &m), response ? -502 : -431);
}

START_TEST(rewrite_adds_its_lines_to_100_headers)
{
	rewrite_appends(0, "X-Forwarded-For: a\r\nX-Forwarded-Proto: http\r\n"
	    "X-Forwarded-Host: a\r\nConnection: keep-alive\r\n", 4);
	rewrite_appends(1, "Connection: close\r\n", 1);
}
END_TEST

enum chunk_want {
	CK_DONE,	/* a whole body: NEXT after it stays unconsumed */
	CK_MORE,	/* valid so far, not finished: all of it consumed */
	CK_BAD		/* -1 */
};

static const struct chunk_case {
	const char *in;
	size_t	len;
	enum chunk_want want;
} chunks[] = {
	{ S("0\r\n\r\n"), CK_DONE },
	{ S("5\r\nhello\r\n0\r\n\r\n"), CK_DONE },
	{ S("5\nhello\n0\n\n"), CK_DONE },
	{ S("5\r\nhello\n0\r\n\n"), CK_DONE },
	{ S("A\r\n0123456789\r\na\r\nabcdefghij\r\n0\r\n\r\n"), CK_DONE },
	{ S("1\r\nx\r\n2\r\nyz\r\n3\r\n\r\n\r\r\n0\r\n\r\n"), CK_DONE },
	{ S("0005\r\nhello\r\n000\r\n\r\n"), CK_DONE },
	{ S("5;name=value\r\nhello\r\n0\r\n\r\n"), CK_DONE },
	{ S("5 ; a = b ;c;d=\"q\"\r\nhello\r\n0;last\r\n\r\n"), CK_DONE },
	{ S("5;a=\"x;\\\"y\\\\ \t\xc3\xa9\"\r\nhello\r\n0\r\n\r\n"),
	    CK_DONE },
	{ S("0\r\nX-Sum: abc\r\nY:\r\n\r\n"), CK_DONE },
	{ S("0\nX-Sum: a b\t\xff\n\n"), CK_DONE },
	{ S("2\r\n\r\n\r\n0\r\n\r\n"), CK_DONE },
	{ S("5\r\nhel"), CK_MORE },
	{ S("5\r\nhello"), CK_MORE },
	{ S("5\r\nhello\r\n"), CK_MORE },
	{ S("0\r\n"), CK_MORE },
	{ S("0\r\nX: 1\r\n"), CK_MORE },
	{ S("0\r\n\r"), CK_MORE },
	{ S("7fffffffffffffff\r\nabc"), CK_MORE },
	{ S("00000000000000000000001\r\n"), CK_MORE },
	{ S("g\r\n"), CK_BAD },
	{ S("\r\n"), CK_BAD },
	{ S("-5\r\nhello\r\n0\r\n\r\n"), CK_BAD },
	{ S(" 5\r\nhello\r\n0\r\n\r\n"), CK_BAD },
	{ S("0x5\r\nhello\r\n0\r\n\r\n"), CK_BAD },
	{ S("5 \r\nhello\r\n0\r\n\r\n"), CK_BAD },
	{ S("5\r\nhelloX\r\n0\r\n\r\n"), CK_BAD },
	{ S("5\r\nhello0\r\n\r\n"), CK_BAD },
	{ S("5\r\nhello\rX"), CK_BAD },
	{ S("5\rhello\r\n0\r\n\r\n"), CK_BAD },
	{ S("8000000000000000\r\n"), CK_BAD },
	{ S("ffffffffffffffffff\r\n"), CK_BAD },
	{ S("5;a\rb\r\nhello\r\n0\r\n\r\n"), CK_BAD },
	{ S("5;a=\"x\ny\"\r\nhello\r\n0\r\n\r\n"), CK_BAD },
	{ S("5;a=\"x\ry\"\r\nhello\r\n0\r\n\r\n"), CK_BAD },
	{ S("5;a\0\r\nhello\r\n0\r\n\r\n"), CK_BAD },
	{ S("5;a=(b)\r\nhello\r\n0\r\n\r\n"), CK_BAD },
	{ S("0\r\n X: 1\r\n\r\n"), CK_BAD },
	{ S("0\r\nX : 1\r\n\r\n"), CK_BAD },
	{ S("0\r\nno-colon\r\n\r\n"), CK_BAD },
	{ S("0\r\nX: a\x01\r\n\r\n"), CK_BAD },
	{ S("0\r\nX: a\rb\r\n\r\n"), CK_BAD },
	{ S("0\r\n\rX"), CK_BAD },
};

static void
chunked_init(struct http_body *b)
{
	struct http_msg m;

	m.framing = CHUNKED;
	m.content_length = -1;
	http_body_init(b, &m);
	ck_assert_int_eq(b->done, 0);
}

/*
 * Feed p[0..n) to a fresh chunked scanner: the first split bytes in one
 * call, the rest in pieces of step (0: all at once). Returns the bytes
 * taken, or -1, and whether the body ended.
 */
static ssize_t
feed(const char *p, size_t n, size_t split, size_t step, int *done)
{
	struct http_body b;
	size_t off = 0, k;
	ssize_t r, taken = 0;

	chunked_init(&b);
	while (off < n) {
		k = off == 0 && split > 0 ? split : step == 0 ? n - off : step;
		if (k > n - off)
			k = n - off;
		if ((r = http_body_scan(&b, p + off, k)) < 0)
			return -1;
		ck_assert((size_t)r <= k);
		/* Taking less than offered means the body has ended. */
		ck_assert(b.done || (size_t)r == k);
		taken += r;
		off += k;
	}
	*done = b.done;
	return taken;
}

START_TEST(chunked_table)
{
	const struct chunk_case *c = &chunks[_i];
	char buf[256];
	size_t n = c->len, split;
	ssize_t want = c->want == CK_BAD ? -1 : (ssize_t)c->len, r;
	int done;

	memcpy(buf, c->in, c->len);
	if (c->want == CK_DONE) {
		memcpy(buf + n, NEXT, sizeof(NEXT) - 1);
		n += sizeof(NEXT) - 1;
	}
	for (split = 0; split < n; split++) {
		r = feed(buf, n, split, 0, &done);
		ck_assert_msg(r == want, "row %d split %zu: took %zd, want %zd",
		    _i, split, r, want);
		if (r >= 0)
			ck_assert_int_eq(done, c->want == CK_DONE);
	}
	r = feed(buf, n, 0, 1, &done);
	ck_assert_msg(r == want, "row %d byte by byte: took %zd, want %zd", _i,
	    r, want);
	if (r >= 0)
		ck_assert_int_eq(done, c->want == CK_DONE);
}
END_TEST

START_TEST(chunked_error_sticks)
{
	struct http_body b;

	chunked_init(&b);
	ck_assert_int_eq(http_body_scan(&b, "z", 1), -1);
	ck_assert_int_eq(http_body_scan(&b, "0\r\n\r\n", 5), -1);
	ck_assert_int_eq(http_body_scan(&b, "", 0), -1);
	chunked_init(&b);
	ck_assert_int_eq(http_body_scan(&b, "0\r\n\r\n", 5), 5);
	ck_assert_int_eq(b.done, 1);
	ck_assert_int_eq(http_body_scan(&b, "0\r\n\r\n", 5), 0);
}
END_TEST

START_TEST(length_none_close)
{
	struct http_msg m;
	struct http_body b;

	m.framing = LENGTH;
	m.content_length = 5;
	http_body_init(&b, &m);
	ck_assert_int_eq(b.done, 0);
	ck_assert_int_eq(http_body_scan(&b, "he", 2), 2);
	ck_assert_int_eq(http_body_scan(&b, "", 0), 0);
	ck_assert_int_eq(http_body_scan(&b, "llo" NEXT, 3 + 4), 3);
	ck_assert_int_eq(b.done, 1);
	ck_assert_int_eq(http_body_scan(&b, NEXT, 4), 0);
	m.content_length = 0;
	http_body_init(&b, &m);
	ck_assert_int_eq(b.done, 1);
	ck_assert_int_eq(http_body_scan(&b, NEXT, 4), 0);
	m.framing = NONE;
	http_body_init(&b, &m);
	ck_assert_int_eq(b.done, 1);
	ck_assert_int_eq(http_body_scan(&b, NEXT, 4), 0);
	m.framing = CLOSE;
	http_body_init(&b, &m);
	ck_assert_int_eq(http_body_scan(&b, NEXT, 4), 4);
	ck_assert_int_eq(http_body_scan(&b, NEXT, 9), 9);
	ck_assert_int_eq(b.done, 0);
}
END_TEST

static const struct rewrite_case {
	const char *in;
	int	response;
	const char *extra;
	const char *out;
	unsigned flags;
} rewrites[] = {
	{ H11 "\r\n", 0, "", H11 "\r\n", 0 },
	{ H11 "X-A:  b \r\n\r\n", 0, "X-F: 1\r\nX-G: 2\r\n",
	    H11 "X-A: b\r\nX-F: 1\r\nX-G: 2\r\n\r\n", 0 },
	{ "\r\nGET /a%20b?c HTTP/1.0\nHost:a\n\n", 0, NULL,
	    "GET /a%20b?c HTTP/1.0\r\nHost: a\r\n\r\n", 0 },
	{ H11 "Connection: keep-alive\r\nKeep-Alive: timeout=5\r\n"
	    "proxy-connection: x\r\nTE: trailers\r\nUpgrade: h2c\r\n"
	    "Trailer: X-Sum\r\nX-Kept: 1\r\n\r\n", 0, "",
	    H11 "X-Kept: 1\r\n\r\n", 0 },
	{ H11 "Connection: close, X-Foo\r\nx-foo: 1\r\nX-Foo-Bar: 2\r\n"
	    "CONNECTION: x-bar\r\nX-BAR: 3\r\n\r\n", 0, "",
	    H11 "X-Foo-Bar: 2\r\n\r\n", 0 },
	{ P11 "Transfer-Encoding: chunked\r\n\r\n", 0, "X: y\r\n",
	    P11 "Transfer-Encoding: chunked\r\nX: y\r\n\r\n", 0 },
	{ "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n"
	    "\r\nhello", 1, "", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", 0 },
	/* An absolute-form target names the host (RFC 9112 3.2.2). */
	{ "GET http://b/x HTTP/1.1\r\nHost: a\r\nX: 1\r\n\r\n", 0, "",
	    "GET http://b/x HTTP/1.1\r\nHost: b\r\nX: 1\r\n\r\n", 0 },
	{ "GET HTTP://B:8?y HTTP/1.1\r\nhost: a\r\n\r\n", 0, "",
	    "GET HTTP://B:8?y HTTP/1.1\r\nhost: B:8\r\n\r\n", 0 },
	{ "GET http://b/ HTTP/1.0\r\n\r\n", 0, "X: 1\r\n",
	    "GET http://b/ HTTP/1.0\r\nHost: b\r\nX: 1\r\n\r\n", 0 },
	{ "HTTP/1.1 200\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n"
	    "\r\n", 1, "", "HTTP/1.1 200\r\nTransfer-Encoding: chunked\r\n\r\n", 0 },
	/* An upgrade passed on: Upgrade stays, Connection is lb's own. */
	{ H11 "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: websocket\r\n"
	    "HTTP2-Settings: x\r\nSec-WebSocket-Key: k\r\n\r\n", 0,
	    "Connection: upgrade\r\n", H11 "Upgrade: websocket\r\n"
	    "Sec-WebSocket-Key: k\r\nConnection: upgrade\r\n\r\n",
	    HTTP_KEEP_UPGRADE },
	{ "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Accept: a\r\n\r\n", 1,
	    "Connection: upgrade\r\n", "HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\nSec-WebSocket-Accept: a\r\n"
	    "Connection: upgrade\r\n\r\n", HTTP_KEEP_UPGRADE },
	/* The client's X-Forwarded-Proto and -Host go when lb sets its own. */
	{ H11 "X-Forwarded-For: 1.2.3.4\r\nX-Forwarded-Proto: https\r\n"
	    "x-forwarded-host: evil\r\n\r\n", 0, "X-Forwarded-Proto: http\r\n",
	    H11 "X-Forwarded-For: 1.2.3.4\r\nX-Forwarded-Proto: http\r\n\r\n",
	    HTTP_OWN_FORWARDED },
	/* In every spelling a CGI backend reads the same, and as RFC 7239. */
	{ H11 "X_Forwarded_Proto: https\r\nX-FORWARDED_HOST: e\r\n"
	    "X_Forwarded-For: 6.6.6.6\r\nForwarded: proto=https\r\n"
	    "X-Forwarded-Ssl: on\r\nx-real-ip: 1\r\nX-Forwarded-Port: 443\r\n"
	    "X_Forwarded_Scheme: https\r\n"
	    "X-Forwarded-Protocol: k\r\n\r\n", 0, "",
	    H11 "X-Forwarded-Protocol: k\r\n\r\n", HTTP_OWN_FORWARDED },
	{ H11 "X-Forwarded-Proto: https\r\n\r\n", 0, "",
	    H11 "X-Forwarded-Proto: https\r\n\r\n", 0 },
};

START_TEST(rewrite_table)
{
	const struct rewrite_case *c = &rewrites[_i];
	struct http_msg m;
	char out[512];
	size_t len = strlen(c->out), cap, i;
	int rc;

	rc = c->response ? http_parse_response(c->in, strlen(c->in), MAX_HEAD,
	    0, &m) : http_parse_request(c->in, strlen(c->in), MAX_HEAD, &m);
	ck_assert_int_gt(rc, 0);
	rc = http_rewrite_head(c->in, &m, c->extra, c->flags, out,
	    sizeof(out));
	ck_assert_int_eq(rc, (int)len);
	ck_assert_mem_eq(out, c->out, len);
	/* Every cap too small fails, and nothing lands past the cap. */
	for (cap = 0; cap <= len; cap++) {
		memset(out, '#', sizeof(out));
		rc = http_rewrite_head(c->in, &m, c->extra, c->flags, out, cap);
		ck_assert_int_eq(rc, cap < len ? -1 : (int)len);
		for (i = cap; i < sizeof(out); i++)
			ck_assert_msg(out[i] == '#', "row %d: byte %zu of cap %zu"
			    " written", _i, i, cap);
	}
}
END_TEST

static const struct {
	const char *method;
	size_t	len;
	int	want;
} methods[] = {
	{ S("GET"), 1 }, { S("HEAD"), 1 }, { S("OPTIONS"), 1 },
	{ S("PUT"), 1 }, { S("DELETE"), 1 }, { S("TRACE"), 1 },
	{ "GET /", 3, 1 }, { "DELETEX", 6, 1 },
	{ S("POST"), 0 }, { S("PATCH"), 0 }, { S("CONNECT"), 0 },
	{ S("get"), 0 }, { S("GETS"), 0 }, { S("GE"), 0 }, { S(""), 0 },
	{ "GET", 2, 0 },
};

static const struct {
	const char *head;
	int	want;
} upgrades[] = {
	{ H11 "Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n", 1 },
	{ H11 "Connection: keep-alive, upgrade\r\nUpgrade: a, b/2\r\n\r\n", 1 },
	{ H11 "Connection: x\r\nConnection: UPGRADE\r\nupgrade: h2c\r\n\r\n", 1 },
	{ H11 "Upgrade: websocket\r\n\r\n", 0 },	/* not asked of lb */
	{ H11 "Connection: upgrade\r\n\r\n", 0 },	/* to nothing */
	{ H11 "Connection: upgrade\r\nUpgrade:\r\n\r\n", 0 },
	{ H11 "Connection: upgraded\r\nUpgrade: websocket\r\n\r\n", 0 },
	{ "GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n"
	    "\r\n", 0 },		/* RFC 9110 7.8: ignored in 1.0 */
};

START_TEST(wants_upgrade_table)
{
	struct http_msg m;
	const char *h = upgrades[_i].head;

	ck_assert_int_gt(http_parse_request(h, strlen(h), MAX_HEAD, &m), 0);
	ck_assert_msg(http_wants_upgrade(&m) == upgrades[_i].want, "row %d", _i);
}
END_TEST

START_TEST(idempotent_table)
{
	ck_assert_int_eq(http_idempotent(methods[_i].method, methods[_i].len),
	    methods[_i].want);
}
END_TEST

static const struct {
	const char *headers;
	const char *token;
	int	want;
} connections[] = {
	{ "Connection: close\r\n", "close", 1 },
	{ "Connection: CLOSE\r\n", "close", 1 },
	{ "Connection: keep-alive, Close\r\n", "close", 1 },
	{ "Connection: keep-alive,close \r\n", "close", 1 },
	{ "Connection: a\r\nX: b\r\nconnection: upgrade\r\n", "Upgrade", 1 },
	{ "Connection: ,, close ,\r\n", "close", 1 },
	{ "Connection: closed\r\n", "close", 0 },
	{ "Connection: clos\r\n", "close", 0 },
	{ "Connection: keep-alive\r\n", "close", 0 },
	{ "X-Connection: close\r\n", "close", 0 },
	{ "Keep-Alive: close\r\n", "close", 0 },
	{ "", "close", 0 },
	{ "Connection:\r\n", "close", 0 },
};

START_TEST(connection_table)
{
	struct http_msg m;
	char buf[256];
	int n;

	n = snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\n%s\r\n",
	    connections[_i].headers);
	ck_assert_int_eq(http_parse_request(buf, (size_t)n, MAX_HEAD, &m), n);
	ck_assert_int_eq(http_connection_has(&m, connections[_i].token),
	    connections[_i].want);
}
END_TEST

static const struct {
	const char *headers;
	int	want;
} keep_alives[] = {
	{ "Keep-Alive: timeout=5, max=100\r\n", 5 },
	{ "Keep-Alive: max=100, timeout=15\r\n", 15 },
	{ "keep-alive: TIMEOUT=2\r\n", 2 },
	{ "Keep-Alive: timeout=0\r\n", 0 },
	{ "Keep-Alive: max=5\r\nKeep-Alive: timeout=7\r\n", 7 },
	{ "Keep-Alive: timeout=99999999999\r\n", 86400 },
	{ "Keep-Alive: timeout=\r\n", -1 },
	{ "Keep-Alive: timeout=5s\r\n", -1 },
	{ "Keep-Alive: xtimeout=5\r\n", -1 },
	{ "X-Keep-Alive: timeout=5\r\n", -1 },
	{ "", -1 },
};

START_TEST(keep_alive_timeout_table)
{
	struct http_msg m;
	char buf[256];
	int n;

	n = snprintf(buf, sizeof(buf), "HTTP/1.1 200 OK\r\n%s"
	    "Content-Length: 0\r\n\r\n", keep_alives[_i].headers);
	ck_assert_int_eq(http_parse_response(buf, (size_t)n, MAX_HEAD, 0,
	    &m), n);
	ck_assert_int_eq(http_keep_alive_timeout(&m), keep_alives[_i].want);
}
END_TEST

START_TEST(find_header)
{
	const char *in = H11 "X-A: 1\r\nx-a: 2\r\nX-AB: 3\r\n\r\n";
	const struct http_header *h;
	struct http_msg m;

	ck_assert_int_gt(http_parse_request(in, strlen(in), MAX_HEAD, &m), 0);
	h = http_find(&m, "x-A");
	ck_assert_ptr_nonnull(h);
	ck_assert_uint_eq(h->value_len, 1);
	ck_assert_int_eq(h->value[0], '1');
	h = http_find(&m, "X-AB");
	ck_assert_ptr_nonnull(h);
	ck_assert_int_eq(h->value[0], '3');
	ck_assert_ptr_null(http_find(&m, "X"));
	ck_assert_ptr_null(http_find(&m, "X-ABC"));
}
END_TEST

#define NROWS(a)	((int)(sizeof(a) / sizeof((a)[0])))

Suite *
http_unit_suite(void)
{
	Suite *s = suite_create("http-unit");
	TCase *heads = tcase_create("heads");
	TCase *bodies = tcase_create("bodies");
	TCase *rest = tcase_create("rewrite-and-helpers");

	tcase_set_timeout(heads, 5);
	tcase_add_loop_test(heads, request_table, 0, NROWS(requests));
	tcase_add_loop_test(heads, response_table, 0, NROWS(responses));
	tcase_add_test(heads, request_fields);
	tcase_add_test(heads, response_fields);
	tcase_add_test(heads, target_limit);
	tcase_add_test(heads, rewrite_adds_its_lines_to_100_headers);
	tcase_add_test(heads, header_count_limit);
	suite_add_tcase(s, heads);
	tcase_set_timeout(bodies, 5);
	tcase_add_loop_test(bodies, chunked_table, 0, NROWS(chunks));
	tcase_add_test(bodies, chunked_error_sticks);
	tcase_add_test(bodies, length_none_close);
	suite_add_tcase(s, bodies);
	tcase_set_timeout(rest, 5);
	tcase_add_loop_test(rest, rewrite_table, 0, NROWS(rewrites));
	tcase_add_loop_test(rest, idempotent_table, 0, NROWS(methods));
	tcase_add_loop_test(rest, wants_upgrade_table, 0, NROWS(upgrades));
	tcase_add_loop_test(rest, connection_table, 0, NROWS(connections));
	tcase_add_loop_test(rest, keep_alive_timeout_table, 0,
	    NROWS(keep_alives));
	tcase_add_test(rest, find_header);
	suite_add_tcase(s, rest);
	return s;
}

#ifdef HTTP_UNIT_MAIN
int
main(void)
{
	SRunner *sr = srunner_create(http_unit_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
#endif
