/*
 * ws.h - the pieces of WebSocket (RFC 6455) that the suites' client side
 * and tests/wsecho share: SHA-1 and base64 for the handshake's keys, and
 * frame heads written, parsed and masked. Pure functions, no sockets, so
 * tests/unit_ws.c can check each against the standards' own examples.
 */
#ifndef WS_H
#define WS_H

#include <stddef.h>

/* What the server appends to the client's key before hashing it. */
#define WS_GUID		"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_KEY_LEN	24	/* base64 of the client's 16 random bytes */
#define WS_ACCEPT_LEN	28	/* base64 of a 20-byte SHA-1 */
#define WS_HEAD_MAX	14	/* 2 + an 8-byte length + a 4-byte mask */
#define WS_CONTROL_MAX	125	/* a control frame's longest payload */

/* Opcodes; from WS_CLOSE on they are control frames. */
enum ws_opcode {
	WS_CONT = 0x0,		/* the next piece of a fragmented message */
	WS_TEXT = 0x1,
	WS_BINARY = 0x2,
	WS_CLOSE = 0x8,		/* payload: a 2-byte code, then a reason */
	WS_PING = 0x9,
	WS_PONG = 0xa
};

#define WS_CLOSE_NORMAL		1000
#define WS_CLOSE_PROTOCOL	1002

/* One frame's head, as ws_parse_head() found it. */
struct ws_head {
	int	fin;		/* the last frame of its message */
	int	opcode;
	int	masked;		/* mask holds the key (clients must mask) */
	unsigned char mask[4];
	unsigned long long len;	/* payload bytes after the head */
};

void	ws_sha1(const void *p, size_t n, unsigned char out[20]);
/* Writes 4 * ((n + 2) / 3) characters and a NUL; returns their count. */
size_t	ws_base64(const void *p, size_t n, char *out);
/* Whether key is the base64 of exactly 16 bytes, as RFC 6455 wants. */
int	ws_key_valid(const char *key);
/* base64(SHA-1(key WS_GUID)): the server's Sec-WebSocket-Accept. */
void	ws_accept_key(const char *key, char out[WS_ACCEPT_LEN + 1]);

/* Write a frame head (mask NULL: unmasked); returns its size. */
size_t	ws_frame_head(unsigned char *out, int fin, int opcode,
	    const unsigned char *mask, unsigned long long len);
/* XOR n payload bytes that start offset bytes into the payload. */
void	ws_mask(unsigned char *p, size_t n, const unsigned char key[4],
	    unsigned long long offset);
/* The head's size, 0 if p[0..n) is not all of it yet, -1 if malformed. */
int	ws_parse_head(const unsigned char *p, size_t n, struct ws_head *h);

#endif
