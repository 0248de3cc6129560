/*
 * http.h - HTTP/1.1 message heads and body framing (RFC 9110, RFC 9112).
 *
 * Everything here is pure: no sockets, no allocation, no globals. The
 * parser points into the caller's buffer; the body scanner walks bytes
 * as they stream past and says where a body ends, without keeping them.
 */
#ifndef HTTP_H
#define HTTP_H

#include <stddef.h>
#include <sys/types.h>

#define HTTP_MAX_HEADERS	100	/* header lines a head may have: more, 431 */
/*
 * The most header lines lb sends on: HTTP_MAX_HEADERS and its own, at
 * most a Host (for an absolute-form target that had none), three
 * forwarded lines (-P x-forwarded) and a Connection line.
 */
#define HTTP_MAX_SENT_HEADERS	(HTTP_MAX_HEADERS + 5)
#define HTTP_MAX_TARGET		8192	/* a longer request target: 414 */

/* How a message body is delimited (RFC 9112 section 6.3). */
enum http_framing {
	HTTP_BODY_NONE,		/* no body at all */
	HTTP_BODY_LENGTH,	/* exactly content_length bytes */
	HTTP_BODY_CHUNKED,	/* chunked transfer coding */
	HTTP_BODY_CLOSE		/* responses only: until the connection closes */
};

struct http_header {
	const char *name;	/* not NUL-terminated: use the lengths */
	size_t	name_len;
	const char *value;	/* surrounding whitespace already trimmed */
	size_t	value_len;
};

/* A parsed request or response head. Pointers are into the parsed buffer. */
struct http_msg {
	size_t	head_len;	/* bytes up to and including the empty line */
	int	version;	/* 10 for HTTP/1.0, 11 for HTTP/1.1 */
	/* Request line (requests only). */
	const char *method;
	size_t	method_len;
	const char *target;
	size_t	target_len;
	const char *authority;	/* absolute-form target: its host[:port] */
	size_t	authority_len;
	/* Status line (responses only). */
	int	status;
	/* Headers, in order. */
	struct http_header headers[HTTP_MAX_SENT_HEADERS];
	int	nheaders;
	/* What the headers mean. */
	enum http_framing framing;
	long long content_length;	/* HTTP_BODY_LENGTH: the length */
	int	keep_alive;	/* the connection may carry another message */
};

/*
 * Parse a request head from buf[0..len). Returns the head's length when
 * a whole valid head is there, 0 when more bytes are needed (and none
 * seen so far is wrong), or a negative HTTP status for the client:
 *   -400 malformed: bad request line, bad header line, obs-fold, space
 *        before a colon, NUL or bare CR, bad or conflicting
 *        Content-Length, Content-Length together with Transfer-Encoding,
 *        missing or repeated Host on HTTP/1.1, repeated Host on 1.0,
 *        Connection naming Content-Length, Transfer-Encoding or Host,
 *        a Transfer-Encoding whose final coding is not chunked, or
 *        that names chunked twice (no length can be found for such a
 *        body: RFC 9112 section 6.3), a target in none of its four
 *        forms (origin "/p", absolute "http://h/p", authority for
 *        CONNECT, "*" for OPTIONS), or an absolute one with userinfo or
 *        no host
 *   -414 target longer than HTTP_MAX_TARGET
 *   -431 head longer than max_head, or more than HTTP_MAX_HEADERS headers
 *   -501 another coding before a final "chunked" ("gzip, chunked")
 *   -505 an HTTP version other than 1.0 or 1.1
 * Lines end in CRLF; a bare LF is also accepted as a line end (RFC 9112
 * section 2.2 allows it). Leading empty lines before the request line are
 * skipped (section 2.2 too) and counted in head_len.
 * Framing: chunked if Transfer-Encoding: chunked; else LENGTH if a
 * Content-Length (several identical values, or a list "5, 5", are one);
 * else NONE. keep_alive: 1.1 unless Connection has "close"; 1.0 only if
 * Connection has "keep-alive" (tokens are case-insensitive, comma lists).
 */
int	http_parse_request(const char *buf, size_t len, size_t max_head,
	    struct http_msg *m);

/*
 * Parse a response head. head_request: the request was HEAD. Returns the
 * head's length, 0 for more, or -502 when the response is malformed
 * (including bad or conflicting Content-Length, Connection naming
 * Content-Length or Transfer-Encoding, a body whose Transfer-Encoding
 * does not end in chunked or names it twice, or a head over max_head).
 * Framing (RFC 9112 section 6.3): NONE for HEAD requests, 1xx, 204 and
 * 304; else CHUNKED with a Transfer-Encoding; LENGTH with a
 * Content-Length; else CLOSE. keep_alive as for requests, and 0 when the
 * framing is CLOSE.
 */
int	http_parse_response(const char *buf, size_t len, size_t max_head,
	    int head_request, struct http_msg *m);

/*
 * Parse a head as lb sent it on: as http_parse_request (response 0) or
 * http_parse_response, but with room for HTTP_MAX_SENT_HEADERS header
 * lines. The fuzz harnesses judge what lb sends by it.
 */
int	http_parse_sent(const char *buf, size_t len, size_t max_head,
	    int response, int head_request, struct http_msg *m);

/* The value of the first header named name (case-insensitive), or NULL. */
const struct http_header *http_find(const struct http_msg *m,
	    const char *name);

/* Does the Connection header (all of them) list this token? */
int	http_connection_has(const struct http_msg *m, const char *token);

/* GET, HEAD, OPTIONS, PUT, DELETE, TRACE: safe to send twice (RFC 9110 9.2.2). */
int	http_idempotent(const char *method, size_t len);

/* "Keep-Alive: timeout=N" of a response: N seconds, or -1 for none. */
int	http_keep_alive_timeout(const struct http_msg *m);

/* Does this request ask to switch protocols (RFC 9110 section 7.8)? */
int	http_wants_upgrade(const struct http_msg *m);

/*
 * Write the head to pass on, into out[0..cap): the first line as it came,
 * then every header except the hop-by-hop ones (Connection and every
 * header it names, Keep-Alive, Proxy-Connection, TE, Upgrade, Trailer),
 * with Host set to the authority of an absolute-form target, then the
 * lines in extra (each ending in CRLF, may be ""), then the empty line.
 * flags: HTTP_KEEP_UPGRADE keeps the Upgrade lines (an upgrade passed
 * on: extra then says "Connection: upgrade"); HTTP_OWN_FORWARDED drops
 * X-Forwarded-Proto, -Host, -Ssl, -Port, -Scheme, X-Real-IP and
 * Forwarded in any spelling ('_' for '-'), and X_Forwarded_For (extra
 * holds lb's own).
 * Returns the length, or -1 when it does not fit. The header limit is
 * on what lb takes in, not on what it sends on: a message with
 * HTTP_MAX_HEADERS headers goes on with extra's lines after them, as
 * HAProxy passes on its own beside the tune.http.maxhdr it takes.
 */
#define HTTP_KEEP_UPGRADE	1
#define HTTP_OWN_FORWARDED	2
int	http_rewrite_head(const char *buf, const struct http_msg *m,
	    const char *extra, unsigned flags, char *out, size_t cap);

/*
 * Following a body as it streams past. Init from a parsed head, then feed
 * every byte that follows the head, in pieces of any size: http_body_scan
 * returns how many of the n bytes belong to this body (the rest belong to
 * whatever comes next), or -1 when chunked framing is malformed (bad hex
 * size, size overflow, missing CRLF after a chunk, bad trailer line).
 * done becomes 1 when the body is complete; for CLOSE it never does.
 */
struct http_body {
	enum http_framing framing;
	long long left;		/* LENGTH: bytes left; CHUNKED: of this chunk */
	int	state;		/* CHUNKED: where in the chunk syntax we are */
	int	done;
};

void	http_body_init(struct http_body *b, const struct http_msg *m);
ssize_t	http_body_scan(struct http_body *b, const char *p, size_t n);

#endif
