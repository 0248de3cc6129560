/*
 * proxyproto.c - the PROXY protocol, versions 1 and 2 (HAProxy's
 * doc/proxy-protocol.txt, "the spec" below).
 *
 * A sender puts one header before the first byte of a connection it
 * relays: version 1 is a line of text,
 *
 *	PROXY TCP4 203.0.113.7 192.0.2.1 56324 443\r\n
 *
 * version 2 the same facts in binary: a 12-byte signature, a version and
 * command byte, a family and transport byte, a 16-bit length, then that
 * many bytes (the addresses, then Type-Length-Value extensions).
 *
 * pp_parse is called afresh on the start of the buffer each time bytes
 * arrive, like http_parse_request: it answers "a header of n bytes",
 * "not yet" or "never", and says "never" as soon as the bytes so far
 * cannot begin a header (the spec asks receivers to abort early, so the
 * sender notices), but waits for the whole header before reading any
 * address in it.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "proxyproto.h"

/* Version 2's signature: a NUL inside, so never a C string. */
#define V2_SIG		"\r\n\r\n\0\r\nQUIT\n"
#define V2_SIG_LEN	12
#define V2_HEAD		16	/* signature, ver/cmd, family, length */
#define V2_LOCAL	0x20	/* version 2, command LOCAL */
#define V2_PROXY	0x21	/* version 2, command PROXY */
#define V2_TCP4		0x11	/* AF_INET, STREAM */
#define V2_TCP6		0x21	/* AF_INET6, STREAM */
#define TLV_CRC32C	0x03

/* The words a v1 line may name its protocol with, and what follows. */
#define V1_START	"PROXY "
#define V1_TCP4		"TCP4 "
#define V1_TCP6		"TCP6 "
#define V1_UNKNOWN	"UNKNOWN"

static const char *const errors[] = {
	"",
	"not a PROXY protocol header",
	"PROXY v1: no CRLF within 107 bytes",
	"PROXY v1: a CR or LF alone, or a byte the line cannot hold",
	"PROXY v1: not \"PROXY TCP4\", \"PROXY TCP6\" or \"PROXY UNKNOWN\"",
	"PROXY v1: not two addresses and two ports after single spaces",
	"PROXY v1: an address that is not of the family named",
	"PROXY v1: a port not in 0-65535, or with a leading zero",
	"PROXY v2: a version other than 2",
	"PROXY v2: a command neither LOCAL nor PROXY",
	"PROXY v2: an unassigned address family or transport",
	"PROXY v2: a header longer than 4096 bytes",
	"PROXY v2: an address block too short for its family",
	"PROXY v2: a TLV runs past the end of the header",
	"PROXY v2: a CRC32C TLV that does not match the header"
};

const char *
pp_strerror(int rc)
{
	if (rc >= 0 || -rc >= (int)(sizeof(errors) / sizeof(errors[0])))
		return "no error";
	return errors[-rc];
}

/* The first min(len, n) bytes of p are those of want. */
static int
starts(const char *p, size_t len, const char *want, size_t n)
{
	return memcmp(p, want, len < n ? len : n) == 0;
}

/* One end of a connection, into out: the address, its text, its port. */
static void
set_end(int family, const unsigned char *addr, unsigned port,
    struct sockaddr_storage *ss, char *text)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, addr, 4);
		sin->sin_port = htons((uint16_t)port);
		inet_ntop(AF_INET, &sin->sin_addr, text, INET6_ADDRSTRLEN);
	} else {
		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, addr, 16);
		sin6->sin6_port = htons((uint16_t)port);
		inet_ntop(AF_INET6, &sin6->sin6_addr, text, INET6_ADDRSTRLEN);
	}
}

static void
set_ends(struct pp_info *out, int family, const unsigned char *src,
    const unsigned char *dst, unsigned sport, unsigned dport)
{
	out->local = 0;
	out->family = family;
	out->kind = family == AF_INET ? "TCP4" : "TCP6";
	set_end(family, src, sport, &out->src, out->src_text);
	set_end(family, dst, dport, &out->dst, out->dst_text);
	out->src_port = sport;
	out->dst_port = dport;
}

/*
 * A v1 address: what inet_pton takes for the family (it judges IPv6's
 * many spellings), but no IPv4 number with a leading zero, which some
 * readers take for octal (the spec forbids them; not every inet_pton does).
 */
static int
v1_addr(const char *p, size_t n, int family, unsigned char *addr)
{
	char s[INET6_ADDRSTRLEN];
	size_t i;

	if (n >= sizeof(s))
		return -1;
	memcpy(s, p, n);
	s[n] = '\0';
	for (i = 0; family == AF_INET && i + 1 < n; i++)
		if (s[i] == '0' && (i == 0 || s[i - 1] == '.') &&
		    s[i + 1] != '.')
			return -1;
	return inet_pton(family, s, addr) == 1 ? 0 : -1;
}

/* A v1 port: 0 to 65535 in decimal, "0" the only number starting with 0. */
static int
v1_port(const char *p, size_t n, unsigned *port)
{
	size_t i;

	if (n == 0 || n > 5 || (p[0] == '0' && n > 1))
		return -1;
	*port = 0;
	for (i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		*port = *port * 10 + (unsigned)(p[i] - '0');
	}
	return *port <= 65535 ? 0 : -1;
}

/* "SRC DST SPORT DPORT", the rest of a whole TCP4 or TCP6 line. */
static int
v1_fields(const char *p, size_t n, int family, struct pp_info *out)
{
	const char *f[4];
	size_t flen[4], i, k = 0, start = 0;
	unsigned char addr[2][16];
	unsigned port[2];

	for (i = 0; i <= n; i++) {
		if (i < n && p[i] != ' ')
			continue;
		if (k == 4 || i == start)	/* a fifth field, or "  " */
			return PP_EV1FIELDS;
		f[k] = p + start;
		flen[k++] = i - start;
		start = i + 1;
	}
	if (k != 4)
		return PP_EV1FIELDS;
	for (i = 0; i < 2; i++) {
		if (v1_addr(f[i], flen[i], family, addr[i]) < 0)
			return PP_EV1ADDR;
		if (v1_port(f[2 + i], flen[2 + i], &port[i]) < 0)
			return PP_EV1PORT;
	}
	set_ends(out, family, addr[0], addr[1], port[0], port[1]);
	return 0;
}

/* A byte a TCP4 (hex 0) or TCP6 (hex 1) line may hold after its word. */
static int
v1_tcp_byte(char c, int hex)
{
	if ((c >= '0' && c <= '9') || c == '.' || c == ' ')
		return 1;
	return hex && (c == ':' || (c >= 'a' && c <= 'f') ||
	    (c >= 'A' && c <= 'F'));
}

/*
 * The n bytes of a v1 line so far, its CRLF not among them (whole: they
 * are all of it). Checks what can be checked before the line is whole:
 * the start, the protocol word, and the bytes that word's line may hold;
 * the fields only once it is whole (the spec: not before the CRLF).
 */
static int
v1_line(const char *p, size_t n, int whole, struct pp_info *out)
{
	const char *word = p + 6;	/* after "PROXY " */
	size_t i, rest = n - 6;
	int tcp, hex;

	if (!starts(p, n, V1_START, 6))
		return PP_EV1PROTO;
	if (n <= 6)
		return whole ? PP_EV1PROTO : 0;
	tcp = starts(word, rest, V1_TCP4, 5) || starts(word, rest, V1_TCP6, 5);
	if (!tcp && (!starts(word, rest, V1_UNKNOWN, 7) ||
	    (rest > 7 && word[7] != ' ')))
		return PP_EV1PROTO;
	if (whole && (tcp ? rest < 5 : rest < 7))
		return PP_EV1PROTO;
	hex = rest > 3 && word[3] == '6';
	for (i = 6; i < n; i++)
		if (p[i] < ' ' || p[i] > '~' || (tcp && i >= 11 &&
		    (!v1_tcp_byte(p[i], hex) || (p[i] == ' ' && p[i - 1] == ' '))))
			return PP_EV1LINE;
	if (!whole)
		return 0;
	if (!tcp) {
		out->local = 1;		/* the spec: accept, use the real ends */
		out->kind = "UNKNOWN";
		return 0;
	}
	return v1_fields(word + 5, rest - 5, hex ? AF_INET6 : AF_INET, out);
}

/*
 * Version 1: a line that ends in CRLF within PP_V1_MAX bytes. A CR or an
 * LF alone never ends it (the spec), and ends it being wrong.
 */
static int
v1_parse(const char *p, size_t len, struct pp_info *out)
{
	size_t i;
	int rc;

	for (i = 0; i < len && i < PP_V1_MAX - 1; i++)
		if (p[i] == '\r' || p[i] == '\n')
			break;
	if (i == len)				/* no line end yet */
		return len >= PP_V1_MAX - 1 ? PP_EV1LONG : v1_line(p, len, 0, out);
	if (i == PP_V1_MAX - 1)			/* CRLF would end past 107 */
		return PP_EV1LONG;
	if (p[i] == '\n' || (i + 1 < len && p[i + 1] != '\n'))
		return PP_EV1LINE;
	if (i + 1 == len)			/* the CR, not yet its LF */
		return v1_line(p, i, 0, out);
	out->version = 1;
	if ((rc = v1_line(p, i, 1, out)) < 0)
		return rc;
	return (int)(i + 2);
}

/* CRC32C (Castagnoli, RFC 4960 appendix B) of one more byte, bitwise. */
static uint32_t
crc32c(uint32_t crc, unsigned char byte)
{
	int k;

	crc ^= byte;
	for (k = 0; k < 8; k++)
		crc = crc & 1 ? (crc >> 1) ^ 0x82f63b78 : crc >> 1;
	return crc;
}

/*
 * A CRC32C TLV whose 4-byte value is at p + at: the checksum of the whole
 * header with those 4 bytes read as zeros (the spec, 2.2.3).
 */
static int
v2_crc(const unsigned char *p, size_t total, size_t at, size_t vlen)
{
	uint32_t crc = 0xffffffff, want;
	size_t i;

	if (vlen != 4)
		return PP_EV2CRC;
	for (i = 0; i < total; i++)
		crc = crc32c(crc, i >= at && i < at + 4 ? 0 : p[i]);
	want = (uint32_t)p[at] << 24 | (uint32_t)p[at + 1] << 16 |
	    (uint32_t)p[at + 2] << 8 | p[at + 3];
	return (crc ^ 0xffffffff) == want ? 0 : PP_EV2CRC;
}

/*
 * The TLVs from off to the end of the header: each a type byte, a 16-bit
 * length and that many bytes, and together exactly what is left. lb
 * reads none of them but checks a CRC32C when there is one (the spec: a
 * receiver that can check it must).
 */
static int
v2_tlvs(const unsigned char *p, size_t off, size_t total)
{
	size_t vlen;

	while (off < total) {
		if (total - off < 3)
			return PP_EV2TLV;
		vlen = (size_t)p[off + 1] << 8 | p[off + 2];
		if (vlen > total - off - 3)
			return PP_EV2TLV;
		if (p[off] == TLV_CRC32C && v2_crc(p, total, off + 3, vlen) < 0)
			return PP_EV2CRC;
		off += 3 + vlen;
	}
	return 0;
}

/*
 * The size of the address block the header announces, or -1 when its
 * layout is not known: LOCAL (its family is to be ignored), an UNSPEC
 * family or transport (any address information is to be ignored).
 */
static int
v2_block(unsigned char ver_cmd, unsigned char fam)
{
	if (ver_cmd != V2_PROXY || (fam & 0x0f) == 0)
		return -1;
	switch (fam >> 4) {
	case 1:
		return 2 * 4 + 2 * 2;
	case 2:
		return 2 * 16 + 2 * 2;
	case 3:
		return 2 * 108;
	default:
		return -1;
	}
}

/*
 * What a whole v2 header says. Only TCP over IPv4 or IPv6 gives lb
 * addresses to use: for UDP, UNIX and UNSPEC the spec lets a receiver
 * fall back to the connection's own (as HAProxy does).
 */
static void
v2_info(const unsigned char *p, struct pp_info *out)
{
	out->version = 2;
	out->local = 1;
	if (p[12] == V2_LOCAL) {
		out->kind = "LOCAL";
		return;
	}
	switch (p[13]) {
	case V2_TCP4:
		set_ends(out, AF_INET, p + 16, p + 20,
		    (unsigned)p[24] << 8 | p[25], (unsigned)p[26] << 8 | p[27]);
		break;
	case V2_TCP6:
		set_ends(out, AF_INET6, p + 16, p + 32,
		    (unsigned)p[48] << 8 | p[49], (unsigned)p[50] << 8 | p[51]);
		break;
	case 0x12:
		out->kind = "UDP4";
		break;
	case 0x22:
		out->kind = "UDP6";
		break;
	case 0x31: case 0x32:
		out->kind = "UNIX";
		break;
	default:
		out->kind = "UNSPEC";
	}
}

/*
 * Version 2. Each fixed byte is judged as soon as it arrives, and the
 * length as soon as it is there (too long, or too short for the family
 * it names: no need to wait for the bytes it promises).
 */
static int
v2_parse(const unsigned char *p, size_t len, struct pp_info *out)
{
	size_t total;
	int block, rc;

	if (len > 12 && p[12] >> 4 != 2)
		return PP_EV2VER;
	if (len > 12 && (p[12] & 0x0f) > 1)
		return PP_EV2CMD;
	if (len > 13 && (p[13] >> 4 > 3 || (p[13] & 0x0f) > 2))
		return PP_EV2FAM;
	if (len < V2_HEAD)
		return 0;
	total = V2_HEAD + ((size_t)p[14] << 8 | p[15]);
	if (total > PP_V2_MAX)
		return PP_EV2LONG;
	block = v2_block(p[12], p[13]);
	if (block >= 0 && (size_t)block > total - V2_HEAD)
		return PP_EV2BLOCK;
	if (len < total)
		return 0;
	if (block >= 0 && (rc = v2_tlvs(p, V2_HEAD + block, total)) < 0)
		return rc;
	v2_info(p, out);
	return (int)total;
}

int
pp_parse(const char *buf, size_t len, struct pp_info *out)
{
	memset(out, 0, sizeof(*out));
	out->family = AF_UNSPEC;
	if (starts(buf, len, V2_SIG, V2_SIG_LEN))
		return v2_parse((const unsigned char *)buf, len, out);
	if (starts(buf, len, "PROXY", 5))
		return v1_parse(buf, len, out);
	return PP_ESIG;
}

/* The two ends of a connection, said in one family. */
struct ends {
	int	family;			/* AF_INET or AF_INET6 */
	unsigned char addr[2][16];	/* source, destination */
	unsigned port[2];
};

/* One end as family says it (an IPv4 address as IPv6: ::ffff:a.b.c.d). */
static void
end_in(const struct sockaddr_storage *ss, int family, unsigned char *addr,
    unsigned *port)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

	if (ss->ss_family == AF_INET6) {
		memcpy(addr, &sin6->sin6_addr, 16);
		*port = ntohs(sin6->sin6_port);
		return;
	}
	*port = ntohs(sin->sin_port);
	if (family == AF_INET) {
		memcpy(addr, &sin->sin_addr, 4);
		return;
	}
	memset(addr, 0, 10);
	addr[10] = addr[11] = 0xff;
	memcpy(addr + 12, &sin->sin_addr, 4);
}

/* 0: both ends said in e; -1: they cannot be said (not IP, or NULL). */
static int
ends_of(const struct sockaddr_storage *src,
    const struct sockaddr_storage *dst, struct ends *e)
{
	if (src == NULL || dst == NULL ||
	    (src->ss_family != AF_INET && src->ss_family != AF_INET6) ||
	    (dst->ss_family != AF_INET && dst->ss_family != AF_INET6))
		return -1;
	e->family = src->ss_family == AF_INET && dst->ss_family == AF_INET ?
	    AF_INET : AF_INET6;
	end_in(src, e->family, e->addr[0], &e->port[0]);
	end_in(dst, e->family, e->addr[1], &e->port[1]);
	return 0;
}

size_t
pp_build_v1(const struct sockaddr_storage *src,
    const struct sockaddr_storage *dst, char *out, size_t size)
{
	char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];
	struct ends e;
	int n;

	if (ends_of(src, dst, &e) < 0)
		n = snprintf(out, size, "PROXY UNKNOWN\r\n");
	else {
		inet_ntop(e.family, e.addr[0], s, sizeof(s));
		inet_ntop(e.family, e.addr[1], d, sizeof(d));
		n = snprintf(out, size, "PROXY %s %s %s %u %u\r\n",
		    e.family == AF_INET ? "TCP4" : "TCP6", s, d, e.port[0],
		    e.port[1]);
	}
	return n < 0 || (size_t)n >= size ? 0 : (size_t)n;
}

size_t
pp_build_v2(const struct sockaddr_storage *src,
    const struct sockaddr_storage *dst, char *out, size_t size)
{
	unsigned char *p = (unsigned char *)out;
	struct ends e;
	size_t alen, block, i;

	if (ends_of(src, dst, &e) < 0) {
		if (size < V2_HEAD)
			return 0;
		memcpy(p, V2_SIG, V2_SIG_LEN);
		p[12] = V2_LOCAL;	/* the spec: UNSPEC, no address */
		p[13] = p[14] = p[15] = 0;
		return V2_HEAD;
	}
	alen = e.family == AF_INET ? 4 : 16;
	block = 2 * alen + 2 * 2;
	if (size < V2_HEAD + block)
		return 0;
	memcpy(p, V2_SIG, V2_SIG_LEN);
	p[12] = V2_PROXY;
	p[13] = e.family == AF_INET ? V2_TCP4 : V2_TCP6;
	p[14] = 0;
	p[15] = (unsigned char)block;
	for (i = 0; i < 2; i++) {
		memcpy(p + V2_HEAD + i * alen, e.addr[i], alen);
		p[V2_HEAD + 2 * alen + 2 * i] = (unsigned char)(e.port[i] >> 8);
		p[V2_HEAD + 2 * alen + 2 * i + 1] = (unsigned char)e.port[i];
	}
	return V2_HEAD + block;
}
