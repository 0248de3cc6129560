/*
 * ws.c - SHA-1 (FIPS 180-4), base64 (RFC 4648) and WebSocket frame
 * heads (RFC 6455 section 5.2), written from the standards. The handshake
 * needs the first two only to show that the server read the client's
 * key, so a small, plain SHA-1 is all it takes.
 */
#include <stdint.h>
#include <string.h>

#include "ws.h"

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* SHA-1 fed in pieces, so the key and the GUID need no common buffer. */
struct sha1 {
	uint32_t h[5];
	unsigned char block[64];
	size_t	used;			/* bytes in block */
	unsigned long long bytes;	/* fed so far */
};

static uint32_t
rol(uint32_t x, int n)
{
	return (x << n) | (x >> (32 - n));
}

/* The compression of one 64-byte block (FIPS 180-4 section 6.1.2). */
static void
sha1_block(uint32_t h[5], const unsigned char *p)
{
	uint32_t w[80], a, b, c, d, e, f, k, t;
	int i;

	for (i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 |
		    (uint32_t)p[4 * i + 1] << 16 |
		    (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (i = 16; i < 80; i++)
		w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
	for (i = 0; i < 80; i++) {
		if (i < 20) {
			f = (b & c) | (~b & d);
			k = 0x5a827999;
		} else if (i < 40) {
			f = b ^ c ^ d;
			k = 0x6ed9eba1;
		} else if (i < 60) {
			f = (b & c) | (b & d) | (c & d);
			k = 0x8f1bbcdc;
		} else {
			f = b ^ c ^ d;
			k = 0xca62c1d6;
		}
		t = rol(a, 5) + f + e + k + w[i];
		e = d;
		d = c;
		c = rol(b, 30);
		b = a;
		a = t;
	}
	h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
}

static void
sha1_init(struct sha1 *s)
{
	static const uint32_t h0[5] = { 0x67452301, 0xefcdab89, 0x98badcfe,
	    0x10325476, 0xc3d2e1f0 };

	memcpy(s->h, h0, sizeof(h0));
	s->used = 0;
	s->bytes = 0;
}

static void
sha1_update(struct sha1 *s, const void *data, size_t n)
{
	const unsigned char *p = data;
	size_t k;

	s->bytes += n;
	while (n > 0) {
		k = sizeof(s->block) - s->used < n ?
		    sizeof(s->block) - s->used : n;
		memcpy(s->block + s->used, p, k);
		s->used += k;
		p += k;
		n -= k;
		if (s->used == sizeof(s->block)) {
			sha1_block(s->h, s->block);
			s->used = 0;
		}
	}
}

/* Pad with 0x80, zeros, then the length in bits (section 5.1.1). */
static void
sha1_final(struct sha1 *s, unsigned char out[20])
{
	static const unsigned char pad[64] = { 0x80 };
	unsigned long long bits = s->bytes * 8;
	unsigned char len[8];
	int i;

	for (i = 0; i < 8; i++)
		len[i] = (unsigned char)(bits >> (56 - 8 * i));
	/* The length must end a block: pad to 56 bytes past a boundary. */
	sha1_update(s, pad, s->used < 56 ? 56 - s->used : 120 - s->used);
	sha1_update(s, len, 8);
	for (i = 0; i < 20; i++)
		out[i] = (unsigned char)(s->h[i / 4] >> (24 - 8 * (i % 4)));
}

void
ws_sha1(const void *p, size_t n, unsigned char out[20])
{
	struct sha1 s;

	sha1_init(&s);
	sha1_update(&s, p, n);
	sha1_final(&s, out);
}

size_t
ws_base64(const void *data, size_t n, char *out)
{
	const unsigned char *p = data;
	unsigned long v;
	size_t i, o = 0;

	for (i = 0; i + 3 <= n; i += 3) {
		v = (unsigned long)p[i] << 16 | (unsigned long)p[i + 1] << 8 |
		    p[i + 2];
		out[o++] = b64[v >> 18 & 63];
		out[o++] = b64[v >> 12 & 63];
		out[o++] = b64[v >> 6 & 63];
		out[o++] = b64[v & 63];
	}
	if (i < n) {		/* one or two bytes left: pad to four */
		v = (unsigned long)p[i] << 16;
		if (i + 1 < n)
			v |= (unsigned long)p[i + 1] << 8;
		out[o++] = b64[v >> 18 & 63];
		out[o++] = b64[v >> 12 & 63];
		out[o++] = i + 1 < n ? b64[v >> 6 & 63] : '=';
		out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}

/*
 * 16 bytes are 21 whole characters and 2 bits of a 22nd, whose other 4
 * bits must be zero (A, Q, g or w), then "==".
 */
int
ws_key_valid(const char *key)
{
	int i;

	if (strlen(key) != WS_KEY_LEN)
		return 0;
	for (i = 0; i < 21; i++)
		if (strchr(b64, key[i]) == NULL)
			return 0;
	return strchr("AQgw", key[21]) != NULL && strcmp(key + 22, "==") == 0;
}

void
ws_accept_key(const char *key, char out[WS_ACCEPT_LEN + 1])
{
	unsigned char sum[20];
	struct sha1 s;

	sha1_init(&s);
	sha1_update(&s, key, strlen(key));
	sha1_update(&s, WS_GUID, strlen(WS_GUID));
	sha1_final(&s, sum);
	ws_base64(sum, sizeof(sum), out);
}

/* The shortest of the three length forms: 7 bits, then 16, then 64. */
size_t
ws_frame_head(unsigned char *out, int fin, int opcode,
    const unsigned char *mask, unsigned long long len)
{
	size_t n = 2;
	int i;

	out[0] = (unsigned char)((fin ? 0x80 : 0) | (opcode & 0x0f));
	out[1] = mask != NULL ? 0x80 : 0;
	if (len < 126)
		out[1] |= (unsigned char)len;
	else if (len <= 0xffff) {
		out[1] |= 126;
		out[n++] = (unsigned char)(len >> 8);
		out[n++] = (unsigned char)len;
	} else {
		out[1] |= 127;
		for (i = 7; i >= 0; i--)
			out[n++] = (unsigned char)(len >> (8 * i));
	}
	if (mask != NULL) {
		memcpy(out + n, mask, 4);
		n += 4;
	}
	return n;
}

/* Payload byte j takes key[j % 4], wherever this piece starts. */
void
ws_mask(unsigned char *p, size_t n, const unsigned char key[4],
    unsigned long long offset)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] ^= key[(offset + i) & 3];
}

static int
known_opcode(int op)
{
	return op == WS_CONT || op == WS_TEXT || op == WS_BINARY ||
	    op == WS_CLOSE || op == WS_PING || op == WS_PONG;
}

/*
 * What can be judged from the first two bytes is judged there, so a bad
 * head is refused before its length bytes arrive. Lengths in a longer form
 * than needed are accepted: RFC 6455 asks senders, not receivers.
 */
int
ws_parse_head(const unsigned char *p, size_t n, struct ws_head *h)
{
	unsigned long long len;
	size_t extra, need, i;
	int op;

	if (n < 2)
		return 0;
	op = p[0] & 0x0f;
	len = p[1] & 0x7f;
	if ((p[0] & 0x70) != 0 || !known_opcode(op))
		return -1;	/* RSV bits or opcodes no extension gave us */
	if (op >= WS_CLOSE && ((p[0] & 0x80) == 0 || len > WS_CONTROL_MAX))
		return -1;	/* control frames are short and whole */
	extra = len == 126 ? 2 : len == 127 ? 8 : 0;
	need = 2 + extra + ((p[1] & 0x80) != 0 ? 4 : 0);
	if (n < need)
		return 0;
	if (extra > 0) {
		for (len = 0, i = 0; i < extra; i++)
			len = len << 8 | p[2 + i];
		if (len >> 63 != 0)
			return -1;
	}
	h->fin = (p[0] & 0x80) != 0;
	h->opcode = op;
	h->masked = (p[1] & 0x80) != 0;
	if (h->masked)
		memcpy(h->mask, p + 2 + extra, 4);
	else
		memset(h->mask, 0, 4);
	h->len = len;
	return (int)need;
}
