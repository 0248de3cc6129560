/*
 * fuzz_http.c - the fuzz harness for final/http.c (make fuzz, AFL++).
 *
 * Reads one input on stdin and feeds it to the parser the way the
 * balancer does; abort()s when an answer breaks a rule the rest of the
 * balancer relies on, so the fuzzer reports it as a crash:
 *
 *   - a head's length is within the input, and every header it returns
 *     points inside the head;
 *   - a rewritten head fits where it was told to, and parses again (with
 *     room for the lines lb adds: http_parse_sent), to the same method,
 *     target, framing and Content-Length;
 *   - a body scanned in one piece and a byte at a time ends at the same
 *     place with the same verdict.
 *
 * The first byte says what to do with the rest: bit 0 request or
 * response, bit 1 the request was HEAD, bits 2-7 where to split the
 * body for a third, two-piece scan. main() is fuzz_main.h's: AFL++'s
 * persistent loop, or one input from stdin to replay what it found.
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http.h"

#define MAX_INPUT	65536
#define MAX_HEAD	16384

static void
check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_http: broken: %s\n", what);
		abort();
	}
}

static int
parse(int response, int head_req, const char *p, size_t n,
    struct http_msg *m)
{
	return response ? http_parse_response(p, n, MAX_HEAD, head_req, m) :
	    http_parse_request(p, n, MAX_HEAD, m);
}

/* Scan body in pieces of at most step bytes (split: the first piece). */
static ssize_t
scan(const struct http_msg *m, const char *p, size_t n, size_t split,
    size_t step, int *done)
{
	struct http_body b;
	size_t used = 0, piece;
	ssize_t k;

	http_body_init(&b, m);
	while (used < n && !b.done) {
		piece = used == 0 && split > 0 ? split : step;
		if (piece > n - used)
			piece = n - used;
		if ((k = http_body_scan(&b, p + used, piece)) < 0)
			return -1;
		check((size_t)k <= piece, "scan took more than it was given");
		used += (size_t)k;
		if ((size_t)k < piece)
			break;		/* the rest belongs to what follows */
	}
	*done = b.done;
	return (ssize_t)used;
}

static void
check_head(const char *buf, size_t len, int n, const struct http_msg *m)
{
	int i;

	check((size_t)n <= len && m->head_len == (size_t)n, "head length");
	for (i = 0; i < m->nheaders; i++) {
		const struct http_header *h = &m->headers[i];
		check(h->name >= buf && h->name + h->name_len <= buf + n &&
		    h->value >= buf && h->value + h->value_len <= buf + n,
		    "header outside the head");
	}
}

/* The head rewritten, then parsed again: the same message. */
static void
check_rewrite(int response, int head_req, const char *buf,
    const struct http_msg *m)
{
	static char out[MAX_HEAD + 4096];
	struct http_msg again;
	unsigned flags = response ? 0 : HTTP_OWN_FORWARDED |
	    (http_wants_upgrade(m) ? HTTP_KEEP_UPGRADE : 0);
	int n = http_rewrite_head(buf, m, "X-Forwarded-For: 192.0.2.1\r\n",
	    flags, out, sizeof(out));

	if (n < 0)
		return;
	check((size_t)n <= sizeof(out), "rewrite overran");
	/*
	 * The rewrite may grow a head (CRLF for a bare LF, our own lines):
	 * parse it back with room for that, as the next hop has.
	 */
	check(http_parse_sent(out, (size_t)n, sizeof(out), response, head_req,
	    &again) == n, "a rewritten head does not parse back");
	check(again.framing == m->framing, "framing changed by a rewrite");
	check(m->framing != HTTP_BODY_LENGTH ||
	    again.content_length == m->content_length,
	    "Content-Length changed by a rewrite");
	check(again.method_len == m->method_len &&
	    again.target_len == m->target_len && again.status == m->status,
	    "request line or status changed by a rewrite");
}

/* One input: the mode byte, then a message. */
static void
one(const char *buf, size_t len)
{
	struct http_msg m;
	ssize_t whole, bytewise, split;
	int response, head_req, n, d1, d2, d3;

	if (len == 0)
		return;
	response = buf[0] & 1;
	head_req = (buf[0] >> 1) & 1;
	n = parse(response, head_req, buf + 1, len - 1, &m);
	if (n <= 0)
		return;
	check_head(buf + 1, len - 1, n, &m);
	check_rewrite(response, head_req, buf + 1, &m);
	whole = scan(&m, buf + 1 + n, len - 1 - n, 0, len, &d1);
	bytewise = scan(&m, buf + 1 + n, len - 1 - n, 0, 1, &d2);
	split = scan(&m, buf + 1 + n, len - 1 - n, (unsigned char)buf[0] >> 2,
	    len, &d3);
	check(whole == bytewise && whole == split,
	    "a body ends in different places depending on how it arrives");
	check(whole < 0 || (d1 == d2 && d1 == d3),
	    "a body is done or not depending on how it arrives");
}

#include "fuzz_main.h"
