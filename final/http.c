/*
 * http.c - HTTP/1.1 message heads and body framing (RFC 9110, RFC 9112).
 *
 * A head is parsed afresh from the start of the buffer every time more
 * bytes arrive, one line at a time, so a bad line is reported as soon as
 * it is complete rather than when the whole head is there. A body is not
 * kept at all: http_body_scan only follows its framing, byte by byte,
 * across reads of any size.
 */
#include <sys/types.h>

#include <ctype.h>
#include <limits.h>
#include <string.h>
#include <strings.h>

#include "http.h"

/* One line of a head: [p, end) without its line end; next follows it. */
struct line {
	const char *p;
	const char *end;
	const char *next;
};

/* An output buffer that remembers when something did not fit. */
struct out {
	char	*buf;
	size_t	cap;
	size_t	len;
	int	full;
};

/* Where the chunked body scanner is in the chunk syntax (RFC 9112 7.1). */
enum chunk_state {
	CS_SIZE_FIRST,		/* the first hex digit of a chunk size */
	CS_SIZE,		/* more hex digits */
	CS_SIZE_BWS,		/* whitespace after the size: only ";" may follow */
	CS_EXT,			/* a chunk extension, outside quotes */
	CS_EXT_QUOTED,		/* inside a quoted-string of an extension */
	CS_EXT_ESCAPED,		/* after a backslash inside that quoted-string */
	CS_SIZE_LF,		/* the CR ending the size line was seen */
	CS_DATA,		/* chunk data, left bytes to go */
	CS_DATA_CR,		/* the line end that must follow the data */
	CS_DATA_LF,		/* the CR after the data was seen */
	CS_TRAILER_START,	/* a trailer line or the final empty line */
	CS_TRAILER_NAME,	/* a trailer field's name */
	CS_TRAILER_VALUE,	/* a trailer field's value */
	CS_TRAILER_LF,		/* the CR ending a trailer line was seen */
	CS_LAST_LF,		/* the CR of the final empty line was seen */
	CS_ERROR		/* malformed: every later call fails too */
};

/*
 * What may be removed from a message on its way, in one rule. Removed:
 * the hop-by-hop headers of RFC 9110 section 7.6.1 and Trailer, and
 * every header that Connection names. Never removed: the headers that
 * frame the message (and, in a request, Host, which says where it goes),
 * because lb frames and routes the message by them; if Connection could
 * name them, the next hop would read a different message from the one lb
 * read. So a message whose Connection names one is refused (400 for a
 * request, 502 for a response), not forwarded. Transfer-Encoding stays
 * too: bodies go through unchanged, chunks and all.
 */
static const char *const hop_by_hop[] = {
	"Connection", "Keep-Alive", "Proxy-Connection", "TE", "Upgrade",
	"Trailer", NULL
};


/* The methods that may be sent twice (RFC 9110 section 9.2.2). */
static const char *const idempotent[] = {
	"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE", NULL
};

/* RFC 9110 "tchar": the characters of a token (a method, a field name). */
static int
is_tchar(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z') ||
	    (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* A visible ASCII character: what a request target is made of. */
static int
is_vchar(int c)
{
	return c > ' ' && c < 0x7f;
}

/* A byte of a field value or reason phrase: VCHAR, SP, HTAB, obs-text. */
static int
is_field_byte(int c)
{
	return c == '\t' || (c >= ' ' && c != 0x7f);
}

static int
is_ows(int c)
{
	return c == ' ' || c == '\t';
}

static int
is_digit(int c)
{
	return c >= '0' && c <= '9';
}

/* The value of a hex digit, or -1. */
static int
hex_value(int c)
{
	if (is_digit(c))
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Does [p, p + n) spell s, ignoring case? */
static int
span_is(const char *p, size_t n, const char *s)
{
	return strlen(s) == n && strncasecmp(p, s, n) == 0;
}

static int
is_named(const struct http_header *h, const char *name)
{
	return span_is(h->name, h->name_len, name);
}

/*
 * Is h named name, reading '_' as '-'? CGI, WSGI and PHP turn both into
 * the same HTTP_X_FORWARDED_PROTO, so a client's X_Forwarded_Proto
 * would pass for lb's own X-Forwarded-Proto.
 */
static int
is_named_loosely(const struct http_header *h, const char *name)
{
	size_t i;

	if (strlen(name) != h->name_len)
		return 0;
	for (i = 0; i < h->name_len; i++) {
		int a = h->name[i] == '_' ? '-' : tolower((unsigned char)h->name[i]);

		if (a != tolower((unsigned char)name[i]))
			return 0;
	}
	return 1;
}

/*
 * What a client may not say in lb's name when lb sets the forwarded
 * headers (HTTP_OWN_FORWARDED): the protocol and host, in any spelling;
 * the other well-known headers a framework may take for a proxy's word
 * (Rack reads X-Forwarded-Ssl: on as https); an RFC 7239 Forwarded,
 * which some read first; and an X-Forwarded-For spelt with '_', which
 * would merge with lb's. The client's own X-Forwarded-For stays: lb's
 * line comes after it.
 */
static int
spoofs_forwarded(const struct http_header *h)
{
	static const char *const names[] = { "X-Forwarded-Proto",
	    "X-Forwarded-Host", "X-Forwarded-Ssl", "X-Forwarded-Port",
	    "X-Forwarded-Scheme", "X-Real-IP", "Forwarded", NULL };
	int i;

	for (i = 0; names[i] != NULL; i++)
		if (is_named_loosely(h, names[i]))
			return 1;
	return memchr(h->name, '_', h->name_len) != NULL &&
	    is_named_loosely(h, "X-Forwarded-For");
}

/*
 * Find the line that starts at p. Returns 1 and fills l, 0 when its end
 * has not arrived yet, or -1 for a NUL or a CR not followed by LF: a bare
 * CR ends a line for some parsers and not for others, and that kind of
 * disagreement is what request smuggling is made of.
 */
static int
next_line(const char *p, const char *end, struct line *l)
{
	const char *q;

	for (q = p; q < end; q++) {
		if (*q == '\0' || (*q == '\r' && q + 1 < end && q[1] != '\n'))
			return -1;
		if (*q == '\n') {
			l->p = p;
			l->end = q > p && q[-1] == '\r' ? q - 1 : q;
			l->next = q + 1;
			return 1;
		}
	}
	return 0;
}

/* Step over empty lines (RFC 9112 section 2.2 says to ignore them). */
static const char *
skip_empty_lines(const char *p, const char *end)
{
	struct line l;

	while (next_line(p, end, &l) > 0 && l.p == l.end)
		p = l.next;
	return p;
}

/*
 * Take the next element of the comma-separated list at *p (up to e),
 * without the whitespace around it. Empty elements are returned too.
 * Returns 0 when the list is used up; *p is NULL after the last one.
 */
static int
next_element(const char **p, const char *e, const char **el, size_t *len)
{
	const char *s = *p, *c, *t;

	if (s == NULL)
		return 0;
	for (c = s; c < e && *c != ','; c++)
		;
	*p = c < e ? c + 1 : NULL;
	while (s < c && is_ows(*s))
		s++;
	for (t = c; t > s && is_ows(t[-1]); t--)
		;
	*el = s;
	*len = (size_t)(t - s);
	return 1;
}

/* Does any header called name list the token [tok, tok + n)? */
static int
list_has(const struct http_msg *m, const char *name, const char *tok,
    size_t n)
{
	const struct http_header *h;
	const char *p, *el;
	size_t len;
	int i;

	for (i = 0; i < m->nheaders; i++) {
		h = &m->headers[i];
		if (!is_named(h, name))
			continue;
		p = h->value;
		while (next_element(&p, h->value + h->value_len, &el, &len))
			if (len == n && strncasecmp(el, tok, n) == 0)
				return 1;
	}
	return 0;
}

/*
 * Parse "HTTP/" DIGIT "." DIGIT, the 8 bytes at p. Returns 10 or 11, 0
 * for another well-formed version, or -1 when it is malformed.
 */
static int
parse_version(const char *p)
{
	int v;

	if (strncmp(p, "HTTP/", 5) != 0 || !is_digit(p[5]) || p[6] != '.' ||
	    !is_digit(p[7]))
		return -1;
	v = (p[5] - '0') * 10 + (p[7] - '0');
	return v == 10 || v == 11 ? v : 0;
}

/*
 * The four forms of a request target (RFC 9112 section 3.2): origin
 * ("/path?q"), absolute ("http://host/path"), authority ("host:443",
 * CONNECT only) and asterisk ("*", OPTIONS only). For the absolute form,
 * note its authority: it replaces Host (section 3.2.2). A userinfo part
 * ("http://user@host/") is refused, as RFC 9110 section 4.2.4 advises.
 */
static int
target_form(struct http_msg *m)
{
	const char *t = m->target, *e = t + m->target_len, *a, *ae;

	if (t[0] == '/')
		return 0;
	if (span_is(m->method, m->method_len, "CONNECT"))
		return 0;
	if (m->target_len == 1 && t[0] == '*')
		return span_is(m->method, m->method_len, "OPTIONS") ? 0 : -400;
	if (m->target_len > 7 && strncasecmp(t, "http://", 7) == 0)
		a = t + 7;
	else if (m->target_len > 8 && strncasecmp(t, "https://", 8) == 0)
		a = t + 8;
	else
		return -400;
	for (ae = a; ae < e && *ae != '/' && *ae != '?' && *ae != '#'; ae++)
		if (*ae == '@')
			return -400;
	if (ae == a)
		return -400;
	m->authority = a;
	m->authority_len = (size_t)(ae - a);
	return 0;
}

/* "METHOD SP TARGET SP HTTP/x.y", exactly one space each. 0 or -status. */
static int
parse_request_line(const struct line *l, struct http_msg *m)
{
	const char *p = l->p, *e = l->end, *q;
	int v;

	for (q = p; q < e && is_tchar((unsigned char)*q); q++)
		;
	if (q == p || q == e || *q != ' ')
		return -400;
	m->method = p;
	m->method_len = (size_t)(q - p);
	for (p = q + 1, q = p; q < e && is_vchar((unsigned char)*q); q++)
		;
	if (q - p > HTTP_MAX_TARGET)
		return -414;
	if (q == p || q == e || *q != ' ')
		return -400;
	m->target = p;
	m->target_len = (size_t)(q - p);
	if (e - (q + 1) != 8 || (v = parse_version(q + 1)) < 0)
		return -400;
	if (v == 0)
		return -505;
	m->version = v;
	return target_form(m);
}

/*
 * On a request line that has not ended yet: has the target already grown
 * past the limit? Then the client hears 414, not 431, for a long URI.
 */
static int
target_too_long(const char *p, const char *end)
{
	const char *q;

	for (q = p; q < end && is_tchar((unsigned char)*q); q++)
		;
	if (q == p || q == end || *q != ' ')
		return 0;
	for (p = ++q; q < end && is_vchar((unsigned char)*q); q++)
		;
	return q - p > HTTP_MAX_TARGET;
}

/* "HTTP/1.x SP 3DIGIT [SP reason]". Returns 0 or -1. */
static int
parse_status_line(const struct line *l, struct http_msg *m)
{
	const char *p = l->p, *e = l->end, *q;
	int v;

	if (e - p < 12 || (v = parse_version(p)) <= 0 || p[8] != ' ' ||
	    !is_digit(p[9]) || !is_digit(p[10]) || !is_digit(p[11]))
		return -1;
	if (e - p > 12 && p[12] != ' ')
		return -1;
	for (q = e - p > 12 ? p + 13 : e; q < e; q++)
		if (!is_field_byte((unsigned char)*q))
			return -1;
	m->version = v;
	m->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
	return m->status >= 100 && m->status <= 599 ? 0 : -1;
}

/*
 * "Name: value". The name must reach the colon with token characters
 * only, which also refuses obs-fold (a line starting with SP or HTAB) and
 * "Name : value". Returns 0 or -1.
 */
static int
parse_header_line(const struct line *l, struct http_header *h)
{
	const char *p = l->p, *e = l->end, *colon, *q, *v, *ve;

	for (colon = p; colon < e && is_tchar((unsigned char)*colon); colon++)
		;
	if (colon == p || colon == e || *colon != ':')
		return -1;
	for (v = colon + 1; v < e && is_ows(*v); v++)
		;
	for (ve = e; ve > v && is_ows(ve[-1]); ve--)
		;
	for (q = v; q < ve; q++)
		if (!is_field_byte((unsigned char)*q))
			return -1;
	h->name = p;
	h->name_len = (size_t)(colon - p);
	h->value = v;
	h->value_len = (size_t)(ve - v);
	return 0;
}

static void
msg_init(struct http_msg *m)
{
	m->head_len = 0;
	m->version = 0;
	m->method = m->target = m->authority = NULL;
	m->method_len = m->target_len = m->authority_len = 0;
	m->status = 0;
	m->nheaders = 0;
	m->framing = HTTP_BODY_NONE;
	m->content_length = -1;
	m->keep_alive = 0;
}

/* The head has not ended yet: wait for more, unless it is already too big. */
static int
unfinished(size_t len, size_t max_head)
{
	return len >= max_head ? -431 : 0;
}

/*
 * Read the lines of a head: the first line, then the headers (at most
 * max_headers) up to the empty line. Returns the head's length, 0 for
 * more, or -status as for a request (the response parser turns every
 * error into 502).
 */
static int
read_head(const char *buf, size_t len, size_t max_head, int max_headers,
    int request, struct http_msg *m)
{
	const char *end = buf + (len < max_head ? len : max_head), *p = buf;
	struct line l;
	int rc;

	msg_init(m);
	if (request)
		p = skip_empty_lines(buf, end);
	if ((rc = next_line(p, end, &l)) == 0)
		return request && target_too_long(p, end) ? -414 :
		    unfinished(len, max_head);
	if (rc < 0)
		return -400;
	rc = request ? parse_request_line(&l, m) : parse_status_line(&l, m);
	if (rc < 0)
		return rc;
	for (p = l.next; (rc = next_line(p, end, &l)) > 0; p = l.next) {
		if (l.p == l.end) {
			m->head_len = (size_t)(l.next - buf);
			return m->head_len > INT_MAX ? -431 : (int)m->head_len;
		}
		if (m->nheaders == max_headers)
			return -431;
		if (parse_header_line(&l, &m->headers[m->nheaders++]) < 0)
			return -400;
	}
	return rc < 0 ? -400 : unfinished(len, max_head);
}

static int
count_headers(const struct http_msg *m, const char *name)
{
	int i, n = 0;

	for (i = 0; i < m->nheaders; i++)
		n += is_named(&m->headers[i], name);
	return n;
}

/* 1*DIGIT into *v, refusing what would overflow. Returns 0 or -1. */
static int
parse_digits(const char *p, size_t n, long long *v)
{
	size_t i;

	if (n == 0)
		return -1;
	for (*v = 0, i = 0; i < n; i++) {
		if (!is_digit(p[i]) || *v > (LLONG_MAX - (p[i] - '0')) / 10)
			return -1;
		*v = *v * 10 + (p[i] - '0');
	}
	return 0;
}

/*
 * The Content-Length of a message, -1 when it has none. Several headers,
 * or a list "5, 5", are one length when all values agree; values that
 * differ let two parsers frame the body differently, so they are an
 * error, and so is a value that is not plain digits ("+5", "0x5").
 */
static int
content_length(const struct http_msg *m, long long *out)
{
	const struct http_header *h;
	const char *p, *el;
	size_t len;
	long long v;
	int i;

	*out = -1;
	for (i = 0; i < m->nheaders; i++) {
		h = &m->headers[i];
		if (!is_named(h, "Content-Length"))
			continue;
		p = h->value;
		while (next_element(&p, h->value + h->value_len, &el, &len)) {
			if (parse_digits(el, len, &v) < 0 ||
			    (*out >= 0 && v != *out))
				return -1;
			*out = v;
		}
	}
	return 0;
}

/* What the Transfer-Encoding headers, joined into one list, say. */
struct codings {
	int	present;	/* there is a Transfer-Encoding header */
	int	count;		/* list elements, empty ones included */
	int	chunked;	/* how many of them are "chunked" */
	int	last_chunked;	/* the final coding is chunked */
};

static void
transfer_codings(const struct http_msg *m, struct codings *tc)
{
	const struct http_header *h;
	const char *p, *el;
	size_t len;
	int i;

	tc->present = tc->count = tc->chunked = tc->last_chunked = 0;
	for (i = 0; i < m->nheaders; i++) {
		h = &m->headers[i];
		if (!is_named(h, "Transfer-Encoding"))
			continue;
		tc->present = 1;
		p = h->value;
		while (next_element(&p, h->value + h->value_len, &el, &len)) {
			tc->count++;
			tc->last_chunked = span_is(el, len, "chunked");
			tc->chunked += tc->last_chunked;
		}
	}
}

/*
 * Can lb find where a body with these codings ends? Only when chunked
 * is the final coding, and there once: RFC 9112 section 6.3 (item 4)
 * says that otherwise a request's body length cannot be determined, and
 * section 7 forbids chunked twice. The RFC lets a response without
 * chunked last run until the backend closes; lb does not, so that one
 * rule holds both ways (as in HAProxy): a message with a body and a
 * Transfer-Encoding that does not frame it is refused, 400 for a
 * request (and the connection closed), 502 for a response. A proxy that
 * passed on a body it cannot frame would let the two sides disagree on
 * where that body ends.
 */
static int
chunked_frames(const struct codings *tc)
{
	return tc->chunked == 1 && tc->last_chunked;
}

/* Does Connection name a header that frames the message? See hop_by_hop. */
static int
names_framing(const struct http_msg *m)
{
	return http_connection_has(m, "Content-Length") ||
	    http_connection_has(m, "Transfer-Encoding");
}

static int
keep_alive(const struct http_msg *m)
{
	if (http_connection_has(m, "close"))
		return 0;
	return m->version == 11 || http_connection_has(m, "keep-alive");
}

/*
 * What a complete request head means for framing and the connection.
 * Every framing the backend could read differently from us is refused
 * with 400: Content-Length with Transfer-Encoding, Transfer-Encoding on
 * HTTP/1.0 (RFC 9112 section 6.1), and codings lb cannot frame by (see
 * chunked_frames). A coding before a final chunked one is 501: the body
 * can be framed, but lb takes no coding but a lone "chunked".
 */
static int
request_meaning(struct http_msg *m)
{
	struct codings tc;
	long long cl;
	int hosts = count_headers(m, "Host");

	if (hosts > 1 || (hosts == 0 && m->version == 11))
		return -400;
	if (names_framing(m) || http_connection_has(m, "Host"))
		return -400;
	if (content_length(m, &cl) < 0)
		return -400;
	transfer_codings(m, &tc);
	if (tc.present && (cl >= 0 || m->version == 10))
		return -400;
	if (tc.present && !chunked_frames(&tc))
		return -400;
	if (tc.present && tc.count != 1)
		return -501;
	if (tc.present)
		m->framing = HTTP_BODY_CHUNKED;
	else if (cl >= 0)
		m->framing = HTTP_BODY_LENGTH;
	m->content_length = cl;
	m->keep_alive = keep_alive(m);
	return 0;
}

/*
 * The same for a response (RFC 9112 section 6.3): Transfer-Encoding
 * overrides Content-Length, and a body it does not frame is refused
 * (see chunked_frames). Without either, the body runs until the
 * backend closes. Returns 0 or -1.
 */
static int
response_meaning(struct http_msg *m, int head_request)
{
	struct codings tc;
	long long cl;

	if (content_length(m, &cl) < 0 || names_framing(m))
		return -1;
	transfer_codings(m, &tc);
	if (tc.present && m->version == 10)
		return -1;	/* RFC 9112 6.1: faulty framing. */
	m->keep_alive = keep_alive(m);
	if (head_request || m->status < 200 || m->status == 204 ||
	    m->status == 304)
		m->framing = HTTP_BODY_NONE;
	else if (tc.present && !chunked_frames(&tc))
		return -1;
	else if (tc.present)
		m->framing = HTTP_BODY_CHUNKED;
	else if (cl >= 0) {
		m->framing = HTTP_BODY_LENGTH;
		m->content_length = cl;
	} else
		m->framing = HTTP_BODY_CLOSE;
	if (m->framing == HTTP_BODY_CLOSE)
		m->keep_alive = 0;
	return 0;
}

/* A request or response head, with at most max_headers header lines. */
static int
parse_head(const char *buf, size_t len, size_t max_head, int max_headers,
    int response, int head_request, struct http_msg *m)
{
	int n, rc;

	n = read_head(buf, len, max_head, max_headers, !response, m);
	if (response)
		return n < 0 || (n > 0 && response_meaning(m, head_request) < 0) ?
		    -502 : n;
	if (n > 0 && (rc = request_meaning(m)) < 0)
		return rc;
	return n;
}

int
http_parse_request(const char *buf, size_t len, size_t max_head,
    struct http_msg *m)
{
	return parse_head(buf, len, max_head, HTTP_MAX_HEADERS, 0, 0, m);
}

int
http_parse_response(const char *buf, size_t len, size_t max_head,
    int head_request, struct http_msg *m)
{
	return parse_head(buf, len, max_head, HTTP_MAX_HEADERS, 1,
	    head_request, m);
}

int
http_parse_sent(const char *buf, size_t len, size_t max_head, int response,
    int head_request, struct http_msg *m)
{
	return parse_head(buf, len, max_head, HTTP_MAX_SENT_HEADERS, response,
	    head_request, m);
}

const struct http_header *
http_find(const struct http_msg *m, const char *name)
{
	int i;

	for (i = 0; i < m->nheaders; i++)
		if (is_named(&m->headers[i], name))
			return &m->headers[i];
	return NULL;
}

int
http_connection_has(const struct http_msg *m, const char *token)
{
	return list_has(m, "Connection", token, strlen(token));
}

/*
 * How long a server says it keeps an idle connection open: "Keep-Alive:
 * timeout=5, max=100", the header Apache and others send (RFC 2068
 * section 19.7.1.1 described it; no later RFC defines it, and many
 * servers send none). Its seconds, at most a day, or -1 for no word.
 */
int
http_keep_alive_timeout(const struct http_msg *m)
{
	const struct http_header *h;
	const char *p, *el;
	long long v;
	size_t len;
	int k;

	for (k = 0; k < m->nheaders; k++) {
		h = &m->headers[k];
		if (!is_named(h, "Keep-Alive"))
			continue;
		p = h->value;
		while (next_element(&p, h->value + h->value_len, &el, &len))
			if (len > 8 && strncasecmp(el, "timeout=", 8) == 0 &&
			    parse_digits(el + 8, len - 8, &v) == 0)
				return v > 86400 ? 86400 : (int)v;
	}
	return -1;
}

/*
 * An upgrade is asked for by "Connection: upgrade" and an Upgrade header
 * together, and only in HTTP/1.1: RFC 9110 section 7.8 tells a server to
 * ignore Upgrade in a 1.0 request (a 1.0 proxy on the way could have
 * passed it on without knowing it was hop-by-hop).
 */
int
http_wants_upgrade(const struct http_msg *m)
{
	const struct http_header *h = http_find(m, "Upgrade");

	return m->version == 11 && h != NULL && h->value_len > 0 &&
	    http_connection_has(m, "upgrade");
}

int
http_idempotent(const char *method, size_t len)
{
	int i;

	for (i = 0; idempotent[i] != NULL; i++)
		if (strlen(idempotent[i]) == len &&
		    memcmp(method, idempotent[i], len) == 0)
			return 1;
	return 0;
}

static void
put(struct out *o, const char *s, size_t n)
{
	if (o->full || n == 0)
		return;
	if (n > o->cap - o->len) {
		o->full = 1;
		return;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
}

/*
 * Is this a header to leave out when passing the message on? Besides the
 * hop-by-hop ones, a Content-Length beside a Transfer-Encoding goes:
 * RFC 9112 section 6.3 says a proxy that forwards such a message MUST
 * remove it, so that the next hop cannot frame the body by it.
 */
static int
drop_header(const struct http_msg *m, const struct http_header *h,
    unsigned flags)
{
	int i;

	if ((flags & HTTP_KEEP_UPGRADE) && is_named(h, "Upgrade"))
		return 0;	/* the caller adds "Connection: upgrade" */
	if ((flags & HTTP_OWN_FORWARDED) && spoofs_forwarded(h))
		return 1;	/* the caller sets its own: never the client's */
	for (i = 0; hop_by_hop[i] != NULL; i++)
		if (is_named(h, hop_by_hop[i]))
			return 1;
	if (is_named(h, "Content-Length") &&
	    http_find(m, "Transfer-Encoding") != NULL)
		return 1;
	return list_has(m, "Connection", h->name, h->name_len);
}

int
http_rewrite_head(const char *buf, const struct http_msg *m,
    const char *extra, unsigned flags, char *out, size_t cap)
{
	struct out o = { out, cap, 0, 0 };
	const struct http_header *h;
	const char *end = buf + m->head_len;
	struct line l;
	int i;

	if (next_line(skip_empty_lines(buf, end), end, &l) <= 0)
		return -1;
	put(&o, l.p, (size_t)(l.end - l.p));
	put(&o, "\r\n", 2);
	for (i = 0; i < m->nheaders; i++) {
		h = &m->headers[i];
		if (drop_header(m, h, flags))
			continue;
		put(&o, h->name, h->name_len);
		put(&o, ": ", 2);
		if (m->authority != NULL && is_named(h, "Host"))
			put(&o, m->authority, m->authority_len);
		else
			put(&o, h->value, h->value_len);
		put(&o, "\r\n", 2);
	}
	if (m->authority != NULL && http_find(m, "Host") == NULL) {
		put(&o, "Host: ", 6);	/* HTTP/1.0 may have none */
		put(&o, m->authority, m->authority_len);
		put(&o, "\r\n", 2);
	}
	if (extra != NULL)
		put(&o, extra, strlen(extra));
	put(&o, "\r\n", 2);
	return o.full || o.len > INT_MAX ? -1 : (int)o.len;
}

void
http_body_init(struct http_body *b, const struct http_msg *m)
{
	b->framing = m->framing;
	b->left = m->framing == HTTP_BODY_LENGTH ? m->content_length : 0;
	b->state = CS_SIZE_FIRST;
	b->done = m->framing == HTTP_BODY_NONE ||
	    (m->framing == HTTP_BODY_LENGTH && b->left <= 0);
}

/* A line of the chunk syntax has ended; lf_state says which line. */
static void
chunk_line_done(struct http_body *b, int lf_state)
{
	switch (lf_state) {
	case CS_SIZE_LF:
		b->state = b->left > 0 ? CS_DATA : CS_TRAILER_START;
		break;
	case CS_DATA_LF:
		b->state = CS_SIZE_FIRST;
		break;
	case CS_TRAILER_LF:
		b->state = CS_TRAILER_START;
		break;
	default:
		b->done = 1;
		break;
	}
}

/*
 * c must end a line: a CR (then lf_state waits for its LF) or a bare LF,
 * which RFC 9112 section 2.2 lets us take as a line end. Returns 0 or -1.
 */
static int
chunk_eol(struct http_body *b, int c, int lf_state)
{
	if (c == '\r')
		b->state = lf_state;
	else if (c == '\n')
		chunk_line_done(b, lf_state);
	else
		return -1;
	return 0;
}

/* The chunk size and the whitespace after it. Returns 0 or -1. */
static int
chunk_size_byte(struct http_body *b, int c)
{
	int h = hex_value(c);

	if (h >= 0 && b->state != CS_SIZE_BWS) {
		/* A wrapped size would frame the body unlike the backend. */
		if (b->left > (LLONG_MAX - h) / 16)
			return -1;
		b->left = b->left * 16 + h;
		b->state = CS_SIZE;
		return 0;
	}
	if (b->state == CS_SIZE_FIRST)
		return -1;
	if (c == ';')
		b->state = CS_EXT;
	else if (is_ows(c))
		b->state = CS_SIZE_BWS;
	else if (b->state == CS_SIZE_BWS)
		return -1;
	else
		return chunk_eol(b, c, CS_SIZE_LF);
	return 0;
}

/*
 * Chunk extensions are skipped, not understood: token characters, ";",
 * "=", whitespace and quoted-strings. A CR or LF inside quotes is an
 * error, not a line end. Returns 0 or -1.
 */
static int
chunk_ext_byte(struct http_body *b, int c)
{
	if (b->state == CS_EXT_ESCAPED) {
		if (!is_field_byte(c))
			return -1;
		b->state = CS_EXT_QUOTED;
	} else if (b->state == CS_EXT_QUOTED) {
		if (c == '"')
			b->state = CS_EXT;
		else if (c == '\\')
			b->state = CS_EXT_ESCAPED;
		else if (!is_field_byte(c))
			return -1;
	} else if (c == '"')
		b->state = CS_EXT_QUOTED;
	else if (c == '\r' || c == '\n')
		return chunk_eol(b, c, CS_SIZE_LF);
	else if (!is_tchar(c) && c != ';' && c != '=' && !is_ows(c))
		return -1;
	return 0;
}

/* Trailer fields after the last chunk, then the empty line. 0 or -1. */
static int
chunk_trailer_byte(struct http_body *b, int c)
{
	switch (b->state) {
	case CS_TRAILER_START:
		if (c == '\r' || c == '\n')
			return chunk_eol(b, c, CS_LAST_LF);
		if (!is_tchar(c))
			return -1;
		b->state = CS_TRAILER_NAME;
		return 0;
	case CS_TRAILER_NAME:
		if (c == ':')
			b->state = CS_TRAILER_VALUE;
		else if (!is_tchar(c))
			return -1;
		return 0;
	default:
		if (c == '\r' || c == '\n')
			return chunk_eol(b, c, CS_TRAILER_LF);
		return is_field_byte(c) ? 0 : -1;
	}
}

/* One byte of chunk syntax outside the data. Returns 0 or -1. */
static int
chunk_byte(struct http_body *b, int c)
{
	switch (b->state) {
	case CS_SIZE_FIRST:
	case CS_SIZE:
	case CS_SIZE_BWS:
		return chunk_size_byte(b, c);
	case CS_EXT:
	case CS_EXT_QUOTED:
	case CS_EXT_ESCAPED:
		return chunk_ext_byte(b, c);
	case CS_DATA_CR:
		return chunk_eol(b, c, CS_DATA_LF);
	case CS_SIZE_LF:
	case CS_DATA_LF:
	case CS_TRAILER_LF:
	case CS_LAST_LF:
		if (c != '\n')
			return -1;	/* a bare CR */
		chunk_line_done(b, b->state);
		return 0;
	case CS_TRAILER_START:
	case CS_TRAILER_NAME:
	case CS_TRAILER_VALUE:
		return chunk_trailer_byte(b, c);
	default:
		return -1;
	}
}

/* Data is skipped a run at a time; everything else goes byte by byte. */
static ssize_t
scan_chunked(struct http_body *b, const char *p, size_t n)
{
	size_t i = 0, take;

	if (b->state == CS_ERROR)
		return -1;
	while (i < n && !b->done) {
		if (b->state == CS_DATA) {
			take = n - i;
			if ((unsigned long long)b->left < take)
				take = (size_t)b->left;
			i += take;
			b->left -= (long long)take;
			if (b->left == 0)
				b->state = CS_DATA_CR;
		} else if (chunk_byte(b, (unsigned char)p[i++]) < 0) {
			b->state = CS_ERROR;
			return -1;
		}
	}
	return (ssize_t)i;
}

ssize_t
http_body_scan(struct http_body *b, const char *p, size_t n)
{
	if (n > SSIZE_MAX)
		n = SSIZE_MAX;
	switch (b->framing) {
	case HTTP_BODY_CHUNKED:
		return b->done ? 0 : scan_chunked(b, p, n);
	case HTTP_BODY_CLOSE:
		return (ssize_t)n;
	case HTTP_BODY_LENGTH:
		if ((unsigned long long)b->left < n)
			n = (size_t)b->left;
		b->left -= (long long)n;
		b->done = b->left <= 0;
		return (ssize_t)n;
	default:
		b->done = 1;
		return 0;
	}
}
