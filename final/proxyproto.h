/*
 * proxyproto.h - the PROXY protocol, versions 1 and 2 (HAProxy's
 * doc/proxy-protocol.txt): read the header that an L4 balancer or a TLS
 * terminator puts before the first byte of a connection it relays, and
 * build the one lb puts before its own connection to a backend.
 *
 * Everything here is pure: no sockets, no allocation, no globals.
 */
#ifndef PROXYPROTO_H
#define PROXYPROTO_H

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stddef.h>

#define PP_V1_MAX	107	/* a version 1 line, CRLF included (the spec) */
#define PP_V2_MAX	4096	/* a version 2 header, TLVs included (lb's) */
#define PP_MAX		PP_V2_MAX	/* no header pp_parse takes is longer */
#define PP_BUILD_MAX	108	/* what pp_build_v1 and _v2 may write */

/*
 * Why pp_parse refused a header: it returns one of these (all negative),
 * and pp_strerror says it in words for the log.
 */
enum pp_error {
	PP_ESIG = -1,		/* neither signature: not a PROXY header */
	PP_EV1LONG = -2,	/* v1: no CRLF within 107 bytes */
	PP_EV1LINE = -3,	/* v1: a CR or LF alone, or a byte not text */
	PP_EV1PROTO = -4,	/* v1: not "PROXY TCP4", "TCP6" or "UNKNOWN" */
	PP_EV1FIELDS = -5,	/* v1: not 4 fields after single spaces */
	PP_EV1ADDR = -6,	/* v1: an address not of the family named */
	PP_EV1PORT = -7,	/* v1: a port not 0-65535 in plain decimal */
	PP_EV2VER = -8,		/* v2: a version other than 2 */
	PP_EV2CMD = -9,		/* v2: a command neither LOCAL nor PROXY */
	PP_EV2FAM = -10,	/* v2: an unassigned family or transport */
	PP_EV2LONG = -11,	/* v2: longer than PP_V2_MAX */
	PP_EV2BLOCK = -12,	/* v2: an address block too short for its family */
	PP_EV2TLV = -13,	/* v2: a TLV runs past the header's end */
	PP_EV2CRC = -14		/* v2: a CRC32C TLV that does not match */
};

/*
 * What a header says. When local is set (v2 LOCAL, v1 UNKNOWN, or a v2
 * family lb does not take addresses from: UNIX, UDP, UNSPEC), the
 * connection's own addresses are the ones to use: family is AF_UNSPEC and
 * src, dst, the texts and the ports are zero.
 */
struct pp_info {
	int	version;	/* 1 or 2 */
	int	local;		/* 1: use the connection's own addresses */
	const char *kind;	/* for logs: "TCP4", "TCP6", "UNKNOWN", "LOCAL",
				   "UDP4", "UDP6", "UNIX", "UNSPEC" */
	int	family;		/* AF_INET, AF_INET6, or AF_UNSPEC when local */
	struct sockaddr_storage src;	/* the client, as getpeername says it */
	struct sockaddr_storage dst;	/* where it connected to */
	char	src_text[INET6_ADDRSTRLEN];	/* "203.0.113.7", "2001:db8::1" */
	char	dst_text[INET6_ADDRSTRLEN];
	unsigned src_port, dst_port;
};

/*
 * Reads the PROXY header (v1 or v2, told apart by their signatures) at the
 * start of buf. Returns its length in bytes when a whole valid header is
 * there (the bytes after it are the client's), 0 while the bytes so far
 * could still begin one (read more), or a negative enum pp_error as soon
 * as they cannot. out is filled only when the return is positive.
 */
int	pp_parse(const char *buf, size_t len, struct pp_info *out);
const char *pp_strerror(int rc);

/*
 * Build a header saying that a client at src connected to dst (as
 * getpeername and getsockname give them) into out, which has room for
 * size bytes (PP_BUILD_MAX is always enough). An IPv4 end beside an IPv6
 * one is said as IPv6 (::ffff:a.b.c.d); a pair that cannot be said (a Unix
 * socket, NULL) becomes "PROXY UNKNOWN\r\n" in v1 and a LOCAL header in
 * v2. Return the header's length, or 0 if it did not fit. v1 also writes
 * a NUL after the line, which its length does not count.
 */
size_t	pp_build_v1(const struct sockaddr_storage *src,
	    const struct sockaddr_storage *dst, char *out, size_t size);
size_t	pp_build_v2(const struct sockaddr_storage *src,
	    const struct sockaddr_storage *dst, char *out, size_t size);

#endif
