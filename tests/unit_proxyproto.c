/*
 * unit_proxyproto.c - final/proxyproto.c, the PROXY protocol v1 and v2,
 * on real bytes: headers HAProxy sent (kept here, and live when it is
 * installed), valid ones of every kind, and truncated, oversized and
 * lying ones; every valid header cut at every length; and headers built
 * by lb read back. Each table row is one test.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/time.h>
#include <unistd.h>

#include "harness.h"
#include "proxyproto.h"
#include "suites.h"

/* A string literal and its length, NUL bytes included. */
#define S(s)		s, sizeof(s) - 1

#define OK		1	/* a valid header: its length, tail aside */

/* Version 2's signature, then version/command bytes. */
#define SIG		"\r\n\r\n\0\r\nQUIT\n"
#define V2PROXY		SIG "\x21"
#define V2LOCAL		SIG "\x20"

/* 203.0.113.7:56324 to 192.0.2.1:443, in v2's address block. */
#define BLOCK4		"\xcb\x00\x71\x07" "\xc0\x00\x02\x01" "\xdc\x04\x01\xbb"
/* 2001:db8::1:56324 to 2001:db8::2:443. */
#define BLOCK6		"\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01" \
			"\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x02" \
			"\xdc\x04\x01\xbb"
#define REQ		"GET / HTTP/1.1\r\nHost: a\r\n\r\n"	/* 27 bytes */

struct pp_case {
	const char *in;
	size_t	len;
	int	rc;		/* OK, 0 for "more", or the enum pp_error */
	size_t	tail;		/* OK: the bytes after the header */
	int	version;
	int	local;
	const char *kind;
	const char *src, *dst;
	unsigned sport, dport;
};

/* ...: the source and destination addresses, then their ports. */
#define ADDRS(s, t, v, k, ...)	{ S(s), OK, t, v, 0, k, __VA_ARGS__ }
#define LOCAL(s, t, v, k)	{ S(s), OK, t, v, 1, k, "", "", 0, 0 }
#define BAD(s, rc)		{ S(s), rc, 0, 0, 0, NULL, NULL, NULL, 0, 0 }
#define MORE(s)			BAD(s, 0)

/*
 * Real bytes from a real sender: HAProxy 2.6.12 (Debian 12) in TCP mode,
 * each frontend's server line pointing at a socket of ours with
 * "send-proxy", "send-proxy-v2" or "send-proxy-v2 proxy-v2-options
 * crc32c"; a client bound to 127.0.0.2:4100N (or [::1]:4100N) connected
 * to frontend port 4800N and sent REQ, and our socket read this. The
 * source must be the client's address and port, the destination the
 * frontend's.
 */
#define HAPROXY_V1_TCP4	"PROXY TCP4 127.0.0.2 127.0.0.1 41001 48001\r\n" REQ
#define HAPROXY_V2_TCP4	V2PROXY "\x11\x00\x0c" "\x7f\x00\x00\x02" \
	"\x7f\x00\x00\x01" "\xa0\x2a\xbb\x82" REQ
#define HAPROXY_V2_CRC	V2PROXY "\x11\x00\x13" "\x7f\x00\x00\x02" \
	"\x7f\x00\x00\x01" "\xa0\x2b\xbb\x83" "\x03\x00\x04\x88\x1a\x65\x87" REQ
#define HAPROXY_V2_TCP6	V2PROXY "\x21\x00\x24" \
	"\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01" \
	"\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01" "\xa0\x2c\xbb\x84" REQ
#define HAPROXY_V1_TCP6	"PROXY TCP6 ::1 ::1 41005 48005\r\n" REQ

#define V1_4	"PROXY TCP4 203.0.113.7 192.0.2.1 56324 443\r\n"
#define A4	"203.0.113.7", "192.0.2.1", 56324, 443
#define A6	"2001:db8::1", "2001:db8::2", 56324, 443
#define FFFF	"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"

static const struct pp_case cases[] = {
	/* What HAProxy sent, the request after it untouched. */
	ADDRS(HAPROXY_V1_TCP4, 27, 1, "TCP4", "127.0.0.2", "127.0.0.1",
	    41001, 48001),
	ADDRS(HAPROXY_V2_TCP4, 27, 2, "TCP4", "127.0.0.2", "127.0.0.1",
	    41002, 48002),
	ADDRS(HAPROXY_V2_CRC, 27, 2, "TCP4", "127.0.0.2", "127.0.0.1",
	    41003, 48003),
	ADDRS(HAPROXY_V2_TCP6, 27, 2, "TCP6", "::1", "::1", 41004, 48004),
	ADDRS(HAPROXY_V1_TCP6, 27, 1, "TCP6", "::1", "::1", 41005, 48005),

	/* Version 1, valid. */
	ADDRS(V1_4, 0, 1, "TCP4", A4),
	ADDRS(V1_4 "GET", 3, 1, "TCP4", A4),
	ADDRS("PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n", 0,
	    1, "TCP4", "255.255.255.255", "255.255.255.255", 65535, 65535),
	ADDRS("PROXY TCP4 0.0.0.0 10.0.100.10 0 80\r\n", 0, 1, "TCP4",
	    "0.0.0.0", "10.0.100.10", 0, 80),
	ADDRS("PROXY TCP6 2001:db8::1 2001:DB8:0:0:0:0:0:2 56324 443\r\n", 0,
	    1, "TCP6", A6),
	ADDRS("PROXY TCP6 ::ffff:192.0.2.1 ::1 1 2\r\n", 0, 1, "TCP6",
	    "::ffff:192.0.2.1", "::1", 1, 2),
	ADDRS("PROXY TCP6 " FFFF " " FFFF " 65535 65535\r\n", 0, 1, "TCP6",
	    FFFF, FFFF, 65535, 65535),			/* 104 bytes */
	LOCAL("PROXY UNKNOWN\r\n", 0, 1, "UNKNOWN"),
	LOCAL("PROXY UNKNOWN\r\nGET", 3, 1, "UNKNOWN"),
	LOCAL("PROXY UNKNOWN anything, ignored: ~!@#\r\n", 0, 1, "UNKNOWN"),
	LOCAL("PROXY UNKNOWN " FFFF " " FFFF " 65535 65535\r\n", 0, 1,
	    "UNKNOWN"),					/* 107: the most */

	/* Version 1, refused. */
	BAD("GET / HTTP/1.1\r\n", PP_ESIG),
	BAD("proxy tcp4 203.0.113.7 192.0.2.1 56324 443\r\n", PP_ESIG),
	BAD("PROXY tcp4 203.0.113.7 192.0.2.1 56324 443\r\n", PP_EV1PROTO),
	BAD("PROXY\r\n", PP_EV1PROTO),
	BAD("PROXY TCP4\r\n", PP_EV1PROTO),
	BAD("PROXY TCP5 ", PP_EV1PROTO),		/* at once */
	BAD("PROXY UDP4 ", PP_EV1PROTO),
	BAD("PROXY UNKNOWNX\r\n", PP_EV1PROTO),
	BAD("PROXY  TCP4 203.0.113.7 192.0.2.1 56324 443\r\n", PP_EV1PROTO),
	BAD("PROXY TCP4  203.0.113.7", PP_EV1LINE),	/* two spaces */
	BAD("PROXY TCP4 203.0.113.7 192.0.2.1 56324  443\r\n", PP_EV1LINE),
	BAD("PROXY TCP4 203.0.113.7\t192.0.2.1 56324 443\r\n", PP_EV1LINE),
	BAD("PROXY TCP4 2001:db8::1 2001:db8::2 1 2\r\n", PP_EV1LINE),
	BAD("PROXY TCP4 203.0.113.7 192.0.2.1 -1 443\r\n", PP_EV1LINE),
	BAD("PROXY UNKNOWN a\0b\r\n", PP_EV1LINE),
	BAD("PROXY UNKNOWN\n\r\n", PP_EV1LINE),
	BAD("PROXY TCP4 203.0.113.7 192.0.2.1 56324 443\n", PP_EV1LINE),
	BAD("PROXY TCP4 203.0.113.7 192.0.2.1 56324 443\rX", PP_EV1LINE),
	BAD("PROXY TCP4 203.0.113.7 192.0.2.1 56324 443 \r\n", PP_EV1FIELDS),
	BAD("PROXY TCP4 203.0.113.7 192.0.2.1 56324\r\n", PP_EV1FIELDS),
	BAD("PROXY TCP4 203.0.113.7 192.0.2.1 56324 443 80\r\n",
	    PP_EV1FIELDS),
	BAD("PROXY TCP4 203.0.113.256 192.0.2.1 56324 443\r\n", PP_EV1ADDR),
	BAD("PROXY TCP4 203.0.113.07 192.0.2.1 56324 443\r\n", PP_EV1ADDR),
	BAD("PROXY TCP4 203.0.113 192.0.2.1 56324 443\r\n", PP_EV1ADDR),
	BAD("PROXY TCP4 203.0.113.7.1 192.0.2.1 56324 443\r\n", PP_EV1ADDR),
	BAD("PROXY TCP6 192.0.2.7 192.0.2.1 56324 443\r\n", PP_EV1ADDR),
	BAD("PROXY TCP6 2001:db8:::1 ::1 56324 443\r\n", PP_EV1ADDR),
	BAD("PROXY TCP4 203.0.113.7 192.0.2.1 65536 443\r\n", PP_EV1PORT),
	BAD("PROXY TCP4 203.0.113.7 192.0.2.1 56324 0443\r\n", PP_EV1PORT),
	BAD("PROXY TCP4 203.0.113.7 192.0.2.1 00 443\r\n", PP_EV1PORT),
	BAD("PROXY TCP4 203.0.113.7 192.0.2.1 100000 443\r\n", PP_EV1PORT),
	BAD("PROXY TCP6 ::1 ::1 1 ab\r\n", PP_EV1PORT),

	/* Version 2, valid. */
	ADDRS(V2PROXY "\x11\x00\x0c" BLOCK4, 0, 2, "TCP4", A4),
	ADDRS(V2PROXY "\x11\x00\x0c" BLOCK4 REQ, 27, 2, "TCP4", A4),
	ADDRS(V2PROXY "\x11\x00\x13" BLOCK4 "\x04\x00\x04" "pad!", 0, 2,
	    "TCP4", A4),				/* a NOOP TLV */
	ADDRS(V2PROXY "\x11\x00\x1c" BLOCK4 "\x02\x00\x06" "a.test"
	    "\xe0\x00\x01" "x" "\x04\x00\x00", 0, 2, "TCP4", A4),
	ADDRS(V2PROXY "\x21\x00\x24" BLOCK6, 0, 2, "TCP6", A6),
	ADDRS(V2PROXY "\x21\x00\x2b" BLOCK6 "\x05\x00\x04" "id-1", 0, 2,
	    "TCP6", A6),
	LOCAL(V2LOCAL "\x00\x00\x00", 0, 2, "LOCAL"),
	LOCAL(V2LOCAL "\x00\x00\x00" REQ, 27, 2, "LOCAL"),
	/* LOCAL: the family and any block are ignored, never read. */
	LOCAL(V2LOCAL "\x11\x00\x0c" BLOCK4, 0, 2, "LOCAL"),
	LOCAL(V2LOCAL "\x11\x00\x02" "\xff\xff", 0, 2, "LOCAL"),
	/* What lb does not take addresses from: the connection's own. */
	LOCAL(V2PROXY "\x00\x00\x00", 0, 2, "UNSPEC"),
	LOCAL(V2PROXY "\x00\x00\x05" "12345", 0, 2, "UNSPEC"),
	LOCAL(V2PROXY "\x10\x00\x03" "abc", 0, 2, "UNSPEC"),
	LOCAL(V2PROXY "\x12\x00\x0c" BLOCK4, 0, 2, "UDP4"),
	LOCAL(V2PROXY "\x22\x00\x24" BLOCK6, 0, 2, "UDP6"),

	/* Version 2, refused, each as soon as the byte that says so is in. */
	BAD(SIG "\x11", PP_EV2VER),
	BAD(SIG "\x31", PP_EV2VER),
	BAD(SIG "\x22", PP_EV2CMD),
	BAD(SIG "\x2f", PP_EV2CMD),
	BAD(V2PROXY "\x41", PP_EV2FAM),
	BAD(V2PROXY "\x13", PP_EV2FAM),
	BAD(V2LOCAL "\x03", PP_EV2FAM),
	BAD("\r\n\r\n\0\r\nQUIX\n", PP_ESIG),
	BAD(V2PROXY "\x11\x10\x00", PP_EV2LONG),	/* 4112 bytes */
	BAD(V2PROXY "\x11\xff\xff", PP_EV2LONG),
	/* Lying: a block too short for the family it names. */
	BAD(V2PROXY "\x11\x00\x08", PP_EV2BLOCK),
	BAD(V2PROXY "\x21\x00\x0c", PP_EV2BLOCK),
	BAD(V2PROXY "\x22\x00\x23", PP_EV2BLOCK),
	BAD(V2PROXY "\x31\x00\x0c", PP_EV2BLOCK),
	/* Lying: bytes past the block that are not whole TLVs. */
	BAD(V2PROXY "\x11\x00\x0e" BLOCK4 "\x04\x00", PP_EV2TLV),
	BAD(V2PROXY "\x11\x00\x11" BLOCK4 "\x04\x00\x05" "ab", PP_EV2TLV),
	BAD(V2PROXY "\x11\x00\x13" BLOCK4 "\x04\x00\x01" "a" "\x04\x00\x01",
	    PP_EV2TLV),
	BAD(V2PROXY "\x21\x00\x28" BLOCK6 "\x04\xff\xff" "x", PP_EV2TLV),
	/* A CRC32C that is wrong, or not 4 bytes. */
	BAD(V2PROXY "\x11\x00\x13" "\x7f\x00\x00\x03" "\x7f\x00\x00\x01"
	    "\xa0\x2b\xbb\x83" "\x03\x00\x04\x88\x1a\x65\x87", PP_EV2CRC),
	BAD(V2PROXY "\x11\x00\x13" "\x7f\x00\x00\x02" "\x7f\x00\x00\x01"
	    "\xa0\x2b\xbb\x83" "\x03\x00\x04\x88\x1a\x65\x88", PP_EV2CRC),
	BAD(V2PROXY "\x11\x00\x12" BLOCK4 "\x03\x00\x03" "\x88\x1a\x65",
	    PP_EV2CRC),

	/* Not yet: the bytes so far may still begin a header. */
	MORE(""),
	MORE("P"),
	MORE("PROXY"),
	MORE("PROXY TC"),
	MORE("PROXY UNKNOWN"),
	MORE("PROXY TCP6 2001:db8::1 ::1 1 2\r"),
	MORE("\r\n\r\n\0"),
	MORE(V2PROXY "\x11\x00"),
	MORE(V2PROXY "\x11\x00\x0c" "\xcb\x00\x71\x07")
};

/* info says what row c does (c valid), and its texts are its addresses. */
static void
expect_info(const struct pp_case *c, const struct pp_info *info)
{
	char text[INET6_ADDRSTRLEN];
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&info->src;
	const struct sockaddr_in6 *sin6 =
	    (const struct sockaddr_in6 *)&info->src;

	ck_assert_int_eq(info->version, c->version);
	ck_assert_int_eq(info->local, c->local);
	ck_assert_str_eq(info->kind, c->kind);
	ck_assert_str_eq(info->src_text, c->src);
	ck_assert_str_eq(info->dst_text, c->dst);
	ck_assert_uint_eq(info->src_port, c->sport);
	ck_assert_uint_eq(info->dst_port, c->dport);
	if (c->local) {
		ck_assert_int_eq(info->family, AF_UNSPEC);
		return;
	}
	ck_assert_int_eq(info->src.ss_family, info->family);
	ck_assert_int_eq(info->dst.ss_family, info->family);
	if (info->family == AF_INET) {
		ck_assert_uint_eq(ntohs(sin->sin_port), c->sport);
		inet_ntop(AF_INET, &sin->sin_addr, text, sizeof(text));
	} else {
		ck_assert_int_eq(info->family, AF_INET6);
		ck_assert_uint_eq(ntohs(sin6->sin6_port), c->sport);
		inet_ntop(AF_INET6, &sin6->sin6_addr, text, sizeof(text));
	}
	ck_assert_str_eq(text, c->src);
}

/* Each row: its verdict, and for a header what it says. */
START_TEST(parse_table)
{
	const struct pp_case *c = &cases[_i];
	struct pp_info info;
	int rc = pp_parse(c->in, c->len, &info);

	if (c->rc != OK) {
		ck_assert_msg(rc == c->rc, "row %d: %d (%s), not %d (%s)", _i,
		    rc, pp_strerror(rc), c->rc, pp_strerror(c->rc));
		return;
	}
	ck_assert_msg(rc == (int)(c->len - c->tail), "row %d: %d (%s), not %d",
	    _i, rc, pp_strerror(rc), (int)(c->len - c->tail));
	expect_info(c, &info);
}
END_TEST

/*
 * Each valid header cut at every length asks for more (0), never says it
 * is a header, nor a bad one: a header may arrive a byte at a time.
 */
START_TEST(every_cut_asks_for_more)
{
	const struct pp_case *c = &cases[_i];
	struct pp_info info;
	size_t n, hlen = c->len - c->tail;

	if (c->rc != OK)
		return;
	for (n = 0; n < hlen; n++)
		ck_assert_msg(pp_parse(c->in, n, &info) == 0,
		    "row %d cut at %zu: %d", _i, n, pp_parse(c->in, n, &info));
}
END_TEST

/* A v1 line of n bytes, CRLF included: "PROXY UNKNOWN " and filler. */
static int
unknown_line(size_t n, size_t cut)
{
	char line[256];
	struct pp_info info;

	memset(line, 'a', sizeof(line));
	memcpy(line, "PROXY UNKNOWN ", 14);
	memcpy(line + n - 2, "\r\n", 2);
	return pp_parse(line, cut, &info);
}

/* A v1 line is 107 bytes at most: one more, or no CRLF in 107, is refused. */
START_TEST(v1_is_at_most_107_bytes)
{
	ck_assert_int_eq(unknown_line(107, 107), 107);
	ck_assert_int_eq(unknown_line(108, 108), PP_EV1LONG);
	ck_assert_int_eq(unknown_line(200, 200), PP_EV1LONG);
	/* A CR at 106 could only end a 108-byte line: refused there. */
	ck_assert_int_eq(unknown_line(108, 106), PP_EV1LONG);
	ck_assert_int_eq(unknown_line(108, 105), 0);
	ck_assert_int_eq(unknown_line(107, 106), 0);
}
END_TEST

/* A v2 header of n bytes: TCP4, then one NOOP TLV of filler. */
static char *
v2_of(size_t n)
{
	static const char head[] = V2PROXY "\x11\x00\x00" BLOCK4;
	char *p = calloc(1, n + 1);
	size_t len = n - 16, pad = n - (sizeof(head) - 1) - 3;

	ck_assert_ptr_nonnull(p);
	memcpy(p, head, sizeof(head) - 1);
	p[14] = (char)(len >> 8);
	p[15] = (char)len;
	p[sizeof(head) - 1] = 0x04;
	p[sizeof(head)] = (char)(pad >> 8);
	p[sizeof(head) + 1] = (char)pad;
	return p;
}

/*
 * A v2 header may be PP_V2_MAX bytes with its TLVs and no more; a longer
 * one is refused as soon as its length field is in, not after waiting
 * for bytes it will never be allowed to have.
 */
START_TEST(v2_is_at_most_4096_bytes)
{
	struct pp_info info;
	char *p = v2_of(PP_V2_MAX), *q = v2_of(PP_V2_MAX + 1);

	ck_assert_int_eq(pp_parse(p, PP_V2_MAX, &info), PP_V2_MAX);
	ck_assert_str_eq(info.src_text, "203.0.113.7");
	ck_assert_int_eq(pp_parse(p, PP_V2_MAX - 1, &info), 0);
	ck_assert_int_eq(pp_parse(q, 16, &info), PP_EV2LONG);
	ck_assert_int_eq(pp_parse(q, PP_V2_MAX + 1, &info), PP_EV2LONG);
	free(p);
	free(q);
}
END_TEST

/* UNIX: a 216-byte block, checked for size, its addresses not used. */
START_TEST(v2_unix_uses_the_connections_own_addresses)
{
	char p[16 + 216 + 3];
	struct pp_info info;

	memset(p, 'x', sizeof(p));
	memcpy(p, V2PROXY "\x31\x00\xd8", 16);
	ck_assert_int_eq(pp_parse(p, 16 + 216, &info), 16 + 216);
	ck_assert_int_eq(info.local, 1);
	ck_assert_str_eq(info.kind, "UNIX");
	p[15] = (char)(216 + 3);	/* a TLV after: x, 0x7878 bytes long */
	ck_assert_int_eq(pp_parse(p, sizeof(p), &info), PP_EV2TLV);
	p[15] = (char)215;
	ck_assert_int_eq(pp_parse(p, 16, &info), PP_EV2BLOCK);
}
END_TEST

/* Every error has its own words, for the log. */
START_TEST(every_error_is_said)
{
	int rc, other;

	for (rc = PP_ESIG; rc >= PP_EV2CRC; rc--) {
		ck_assert_str_ne(pp_strerror(rc), "no error");
		for (other = PP_ESIG; other > rc; other--)
			ck_assert_str_ne(pp_strerror(rc), pp_strerror(other));
	}
	ck_assert_str_eq(pp_strerror(0), "no error");
	ck_assert_str_eq(pp_strerror(PP_EV2CRC - 1), "no error");
}
END_TEST

/* An address from text, as getpeername would give it (NULL: AF_UNIX). */
static void
sockaddr_of(const char *host, unsigned port, struct sockaddr_storage *ss)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (host == NULL) {
		ss->ss_family = AF_UNIX;
	} else if (strchr(host, ':') == NULL) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((unsigned short)port);
		ck_assert_int_eq(inet_pton(AF_INET, host, &sin->sin_addr), 1);
	} else {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((unsigned short)port);
		ck_assert_int_eq(inet_pton(AF_INET6, host, &sin6->sin6_addr), 1);
	}
}

struct trip {
	const char *src, *dst;		/* NULL: a Unix socket */
	unsigned sport, dport;
	const char *v1;			/* the line pp_build_v1 writes */
	const char *kind;		/* what it reads back as */
	const char *src_back, *dst_back;
};

static const struct trip trips[] = {
	{ "203.0.113.7", "192.0.2.1", 56324, 443, V1_4, "TCP4",
	    "203.0.113.7", "192.0.2.1" },
	{ "2001:db8::1", "2001:db8::2", 0, 65535,
	    "PROXY TCP6 2001:db8::1 2001:db8::2 0 65535\r\n", "TCP6",
	    "2001:db8::1", "2001:db8::2" },
	/* An IPv4 client of an IPv6 listener: both said as IPv6. */
	{ "203.0.113.7", "2001:db8::2", 1, 2,
	    "PROXY TCP6 ::ffff:203.0.113.7 2001:db8::2 1 2\r\n", "TCP6",
	    "::ffff:203.0.113.7", "2001:db8::2" },
	{ "255.255.255.255", "0.0.0.0", 65535, 0,
	    "PROXY TCP4 255.255.255.255 0.0.0.0 65535 0\r\n", "TCP4",
	    "255.255.255.255", "0.0.0.0" },
	/* What cannot be said: v1 UNKNOWN, v2 LOCAL. */
	{ NULL, "192.0.2.1", 0, 443, "PROXY UNKNOWN\r\n", NULL, "", "" },
	{ NULL, NULL, 0, 0, "PROXY UNKNOWN\r\n", NULL, "", "" }
};

/* n bytes built by version v read back as the row says, and only whole. */
static void
read_back(const struct trip *t, const char *p, size_t n, int v)
{
	struct pp_info info;

	ck_assert_uint_gt(n, 0);
	ck_assert_int_eq(pp_parse(p, n, &info), (int)n);
	ck_assert_int_eq(pp_parse(p, n - 1, &info), 0);
	ck_assert_int_eq(pp_parse(p, n, &info), (int)n);
	ck_assert_int_eq(info.version, v);
	ck_assert_str_eq(info.kind, t->kind != NULL ? t->kind :
	    v == 1 ? "UNKNOWN" : "LOCAL");
	ck_assert_int_eq(info.local, t->kind == NULL);
	ck_assert_str_eq(info.src_text, t->src_back);
	ck_assert_str_eq(info.dst_text, t->dst_back);
	ck_assert_uint_eq(info.src_port, t->kind != NULL ? t->sport : 0);
	ck_assert_uint_eq(info.dst_port, t->kind != NULL ? t->dport : 0);
}

/* Built, then read back: the same ends, in both versions. */
START_TEST(build_then_parse)
{
	const struct trip *t = &trips[_i];
	struct sockaddr_storage src, dst;
	char out[PP_BUILD_MAX];
	size_t n;

	sockaddr_of(t->src, t->sport, &src);
	sockaddr_of(t->dst, t->dport, &dst);
	n = pp_build_v1(&src, &dst, out, sizeof(out));
	ck_assert_uint_eq(n, strlen(t->v1));
	ck_assert_mem_eq(out, t->v1, n);
	read_back(t, out, n, 1);
	ck_assert_uint_eq(pp_build_v1(&src, &dst, out, n), 0);	/* no room */
	n = pp_build_v2(&src, &dst, out, sizeof(out));
	read_back(t, out, n, 2);
	ck_assert_uint_eq(pp_build_v2(&src, &dst, out, n - 1), 0);
}
END_TEST

/*
 * lb's v2 header for HAProxy's own connection is byte for byte what
 * HAProxy sent; LOCAL is the 16 bytes the spec describes.
 */
START_TEST(build_v2_is_what_haproxy_sends)
{
	static const char haproxy[] = HAPROXY_V2_TCP4;
	static const char local[] = V2LOCAL "\x00\x00\x00";
	struct sockaddr_storage src, dst;
	char out[PP_BUILD_MAX];

	sockaddr_of("127.0.0.2", 41002, &src);
	sockaddr_of("127.0.0.1", 48002, &dst);
	ck_assert_uint_eq(pp_build_v2(&src, &dst, out, sizeof(out)), 28);
	ck_assert_mem_eq(out, haproxy, 28);
	sockaddr_of("::1", 41004, &src);
	sockaddr_of("::1", 48004, &dst);
	ck_assert_uint_eq(pp_build_v2(&src, &dst, out, sizeof(out)), 52);
	ck_assert_mem_eq(out, HAPROXY_V2_TCP6, 52);
	ck_assert_uint_eq(pp_build_v2(NULL, NULL, out, sizeof(out)), 16);
	ck_assert_mem_eq(out, local, 16);
	ck_assert_uint_eq(pp_build_v1(NULL, &dst, out, sizeof(out)), 15);
}
END_TEST

/* The server lines of a live HAProxy, and what its header must say. */
static const struct live {
	const char *option;
	int	version;
} lives[] = {
	{ "send-proxy", 1 },
	{ "send-proxy-v2", 2 },
	{ "send-proxy-v2 proxy-v2-options crc32c", 2 }
};

/* A listening socket on 127.0.0.1, its port in *port. */
static int
listener(int *port)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd = h_loopback_socket(0, 0, &sin);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(fd, 16), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

/*
 * HAProxy in TCP mode on front, relaying to back with a server option.
 * SIGTERM kills it (no clean exit 0, as the harness wants of lb): the
 * test ends it with h_kill.
 */
static struct h_proc *
start_haproxy(int front, int back, const char *option)
{
	const char *dir = getenv("H_LOGDIR");
	char path[256];
	char *argv[] = { "haproxy", "-db", "-f", path, NULL };
	struct h_proc *p;
	FILE *f;

	snprintf(path, sizeof(path), "%s/haproxy-%ld.cfg",
	    dir != NULL ? dir : "/tmp", (long)getpid());
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fprintf(f, "defaults\n\tmode tcp\n\ttimeout connect 5s\n"
	    "\ttimeout client 5s\n\ttimeout server 5s\n"
	    "listen l\n\tbind 127.0.0.1:%d\n\tserver s 127.0.0.1:%d %s\n",
	    front, back, option);
	fclose(f);
	p = h_spawn("haproxy", argv, 0);
	ck_assert_msg(h_wait_port(front, 5000) == 0, "haproxy does not listen");
	unlink(path);
	return p;
}

/*
 * The header of the next connection HAProxy makes to lfd, with the
 * request after it; 0 if it is not from the client at port sport (the
 * harness's connection that saw HAProxy listen may come first, with a
 * header of its own or, closed early, nothing at all).
 */
static int
next_header(int lfd, unsigned sport, struct pp_info *info)
{
	struct pollfd pfd = { 0, POLLIN, 0 };
	struct timeval tv = { 2, 0 };
	char buf[PP_MAX + sizeof(REQ)];
	size_t len = 0;
	ssize_t r;
	int fd, rc = 0;

	pfd.fd = lfd;
	ck_assert_msg(poll(&pfd, 1, 2000) == 1,
	    "no connection from HAProxy names our client's port %u", sport);
	ck_assert_int_ge(fd = accept(lfd, NULL, NULL), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (rc == 0 && (r = read(fd, buf + len, sizeof(buf) - len)) > 0) {
		len += (size_t)r;
		rc = pp_parse(buf, len, info);
	}
	if (len == 0 || (rc > 0 && info->src_port != sport)) {
		close(fd);
		return 0;
	}
	ck_assert_msg(rc > 0, "HAProxy's header: %d (%s)", rc, pp_strerror(rc));
	while (len < (size_t)rc + sizeof(REQ) - 1 &&
	    (r = read(fd, buf + len, sizeof(buf) - len)) > 0)
		len += (size_t)r;
	ck_assert_uint_eq(len, (size_t)rc + sizeof(REQ) - 1);
	ck_assert_mem_eq(buf + rc, REQ, sizeof(REQ) - 1);
	close(fd);
	return rc;
}

/*
 * A real sender, live: HAProxy (when installed) relays a client of ours
 * to a socket of ours, and its header names that client's address and
 * port and HAProxy's own, and is followed by the request untouched.
 */
START_TEST(haproxy_is_read_as_it_sends)
{
	struct sockaddr_in me;
	socklen_t len = sizeof(me);
	struct pp_info info;
	struct h_proc *haproxy;
	int back, front, lfd, c;

	if (system("command -v haproxy > /dev/null 2>&1") != 0) {
		h_skip("haproxy is not installed");
		return;
	}
	front = h_free_port();
	lfd = listener(&back);
	haproxy = start_haproxy(front, back, lives[_i].option);
	ck_assert_int_ge(c = h_dial(front, 0), 0);
	ck_assert_int_eq(getsockname(c, (struct sockaddr *)&me, &len), 0);
	ck_assert_int_eq(h_write_all(c, REQ, sizeof(REQ) - 1), 0);
	while (next_header(lfd, ntohs(me.sin_port), &info) == 0)
		;
	ck_assert_int_eq(info.version, lives[_i].version);
	ck_assert_str_eq(info.kind, "TCP4");
	ck_assert_str_eq(info.src_text, "127.0.0.1");
	ck_assert_uint_eq(info.src_port, ntohs(me.sin_port));
	ck_assert_str_eq(info.dst_text, "127.0.0.1");
	ck_assert_uint_eq(info.dst_port, (unsigned)front);
	close(c);
	close(lfd);
	h_kill(haproxy);
}
END_TEST

Suite *
pp_unit_suite(void)
{
	const struct unit units[] = {
		{ parse_table, ROWS(cases) },
		{ every_cut_asks_for_more, ROWS(cases) },
		{ v1_is_at_most_107_bytes, 0 },
		{ v2_is_at_most_4096_bytes, 0 },
		{ v2_unix_uses_the_connections_own_addresses, 0 },
		{ every_error_is_said, 0 },
		{ build_then_parse, ROWS(trips) },
		{ build_v2_is_what_haproxy_sends, 0 },
		{ haproxy_is_read_as_it_sends, ROWS(lives) },
		{ NULL, 0 }
	};

	return unit_suite("pp-unit", units, NULL, h_teardown);
}
