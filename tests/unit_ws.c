/*
 * unit_ws.c - tests/ws.c against the standards' own examples: SHA-1 from
 * FIPS 180, base64 from RFC 4648, the handshake key and the frames from
 * RFC 6455; then frame heads of every length form, written and read
 * back, whole and a byte at a time, and the heads a parser must refuse.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suites.h"
#include "ws.h"

/* A string literal and its length, NUL bytes included. */
#define S(s)		s, sizeof(s) - 1

static void
hex(const unsigned char *p, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
}

/*
 * The first three are FIPS 180's examples; the lengths around 56 and 64
 * put the padding's length field at the end of a block or in the next
 * one (their sums come from another implementation).
 */
static const struct {
	const char *in;
	size_t	len;
	const char *sum;
} sha1s[] = {
	{ S(""), "da39a3ee5e6b4b0d3255bfef95601890afd80709" },
	{ S("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d" },
	{ S("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
	    "84983e441c3bd26ebaae4aa1f95129e5e54670f1" },
	{ NULL, 55, "c1c8bbdc22796e28c0e15163d20899b65621d65a" },
	{ NULL, 56, "c2db330f6083854c99d4b5bfb6e8f29f201be699" },
	{ NULL, 63, "03f09f5b158a7a8cdad920bddc29b81c18a551f5" },
	{ NULL, 64, "0098ba824b5c16427bd7a1122a5a442a25ec644d" },
	{ NULL, 1000000, "34aa973cd4c4daa4f61eeb2bdbad27316534016f" },
};

/* A row with no text hashes that many letters 'a'. */
START_TEST(sha1_table)
{
	unsigned char sum[20];
	char got[41], *many = NULL;
	const char *in = sha1s[_i].in;

	if (in == NULL) {
		many = malloc(sha1s[_i].len);
		ck_assert_ptr_nonnull(many);
		memset(many, 'a', sha1s[_i].len);
		in = many;
	}
	ws_sha1(in, sha1s[_i].len, sum);
	hex(sum, sizeof(sum), got);
	ck_assert_str_eq(got, sha1s[_i].sum);
	free(many);
}
END_TEST

/* RFC 4648 section 10. */
static const struct {
	const char *in;
	size_t	len;
	const char *out;
} b64s[] = {
	{ S(""), "" }, { S("f"), "Zg==" }, { S("fo"), "Zm8=" },
	{ S("foo"), "Zm9v" }, { S("foob"), "Zm9vYg==" },
	{ S("fooba"), "Zm9vYmE=" }, { S("foobar"), "Zm9vYmFy" },
	{ S("\0\xff\xfe"), "AP/+" }, { S("\xfb\xff"), "+/8=" },
};

START_TEST(base64_table)
{
	char out[16];

	memset(out, 'x', sizeof(out));
	ck_assert_uint_eq(ws_base64(b64s[_i].in, b64s[_i].len, out),
	    strlen(b64s[_i].out));
	ck_assert_str_eq(out, b64s[_i].out);
}
END_TEST

/* RFC 6455 section 1.3's example, and the key from section 4.1's. */
START_TEST(accept_key_of_the_rfc)
{
	char out[WS_ACCEPT_LEN + 1];

	memset(out, 'x', sizeof(out));
	ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out);
	ck_assert_str_eq(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	ck_assert_int_eq(ws_key_valid("dGhlIHNhbXBsZSBub25jZQ=="), 1);
}
END_TEST

static const struct {
	const char *key;
	int	valid;
} keys[] = {
	{ "dGhlIHNhbXBsZSBub25jZQ==", 1 },
	{ "AAAAAAAAAAAAAAAAAAAAAA==", 1 },
	{ "/+/+/+/+/+/+/+/+/+/+/w==", 1 },
	{ "dGhlIHNhbXBsZSBub25jZR==", 0 },	/* bits past the 16 bytes */
	{ "dGhlIHNhbXBsZSBub25jZQ=", 0 },
	{ "dGhlIHNhbXBsZSBub25jZQ", 0 },
	{ "dGhlIHNhbXBsZSBub25jZQ===", 0 },
	{ "dGhlIHNhbXBsZSBub25j", 0 },
	{ "dGhlIHNhbXBsZSBub2!jZQ==", 0 },
	{ "dGhlIHNhbXBsZSBub25jZ===", 0 },
	{ "dGhlIHNh=XBsZSBub25jZQ==", 0 },
	{ "c2l4dGVlbiBieXRlcyE=", 0 },		/* 14 bytes, not 16 */
	{ "", 0 },
};

START_TEST(key_table)
{
	ck_assert_int_eq(ws_key_valid(keys[_i].key), keys[_i].valid);
}
END_TEST

/* Each length form at its edges, unmasked and masked. */
static const struct {
	unsigned long long len;
	int	masked;
	size_t	size;
	const char *bytes;		/* the head after its first byte */
	size_t	nbytes;
} heads[] = {
	{ 0, 0, 2, S("\x00") },
	{ 125, 0, 2, S("\x7d") },
	{ 126, 0, 4, S("\x7e\x00\x7e") },
	{ 65535, 0, 4, S("\x7e\xff\xff") },
	{ 65536, 0, 10, S("\x7f\x00\x00\x00\x00\x00\x01\x00\x00") },
	{ 0x7fffffffffffffffULL, 0, 10,
	    S("\x7f\x7f\xff\xff\xff\xff\xff\xff\xff") },
	{ 0, 1, 6, S("\x80\x01\x02\x03\x04") },
	{ 125, 1, 6, S("\xfd\x01\x02\x03\x04") },
	{ 126, 1, 8, S("\xfe\x00\x7e\x01\x02\x03\x04") },
	{ 65535, 1, 8, S("\xfe\xff\xff\x01\x02\x03\x04") },
	{ 65536, 1, 14,
	    S("\xff\x00\x00\x00\x00\x00\x01\x00\x00\x01\x02\x03\x04") },
};

/* Written, compared byte for byte, read back; a part is never enough. */
START_TEST(head_round_trip)
{
	static const unsigned char key[4] = { 1, 2, 3, 4 };
	unsigned char out[WS_HEAD_MAX + 1];
	struct ws_head h;
	size_t n, i;

	memset(out, 0xee, sizeof(out));
	n = ws_frame_head(out, 1, WS_BINARY, heads[_i].masked ? key : NULL,
	    heads[_i].len);
	ck_assert_uint_eq(n, heads[_i].size);
	ck_assert_uint_le(n, WS_HEAD_MAX);
	ck_assert_int_eq(out[0], 0x82);
	ck_assert_uint_eq(heads[_i].nbytes, n - 1);
	ck_assert_mem_eq(out + 1, heads[_i].bytes, n - 1);
	ck_assert_int_eq(out[n], 0xee);		/* nothing past the head */
	for (i = 0; i < n; i++)
		ck_assert_int_eq(ws_parse_head(out, i, &h), 0);
	memset(&h, 0xaa, sizeof(h));
	ck_assert_int_eq(ws_parse_head(out, n + 1, &h), (int)n);
	ck_assert_int_eq(h.fin, 1);
	ck_assert_int_eq(h.opcode, WS_BINARY);
	ck_assert_int_eq(h.masked, heads[_i].masked);
	ck_assert(h.len == heads[_i].len);
	if (heads[_i].masked)
		ck_assert_mem_eq(h.mask, key, 4);
}
END_TEST

/* fin and the opcode go where they belong, and come back. */
START_TEST(head_fin_and_opcode)
{
	static const int ops[] = { WS_CONT, WS_TEXT, WS_BINARY };
	unsigned char out[WS_HEAD_MAX];
	struct ws_head h;
	int i, fin;

	for (i = 0; i < 3; i++)
		for (fin = 0; fin <= 1; fin++) {
			ck_assert_uint_eq(ws_frame_head(out, fin, ops[i], NULL,
			    7), 2);
			ck_assert_int_eq(out[0], (fin ? 0x80 : 0) | ops[i]);
			ck_assert_int_eq(ws_parse_head(out, 2, &h), 2);
			ck_assert_int_eq(h.fin, fin);
			ck_assert_int_eq(h.opcode, ops[i]);
			ck_assert_int_eq(h.masked, 0);
		}
}
END_TEST

/* Masking a payload in two pieces, split anywhere, equals one pass. */
START_TEST(mask_in_pieces)
{
	static const unsigned char key[4] = { 0x37, 0xfa, 0x21, 0x3d };
	unsigned char orig[37], whole[37], parts[37];
	size_t i, k;

	for (i = 0; i < sizeof(orig); i++)
		orig[i] = (unsigned char)(i * 7 + 1);
	memcpy(whole, orig, sizeof(orig));
	ws_mask(whole, sizeof(whole), key, 0);
	ck_assert_int_eq(whole[0], orig[0] ^ 0x37);
	ck_assert_int_eq(whole[5], orig[5] ^ 0xfa);
	for (k = 0; k <= sizeof(orig); k++) {
		memcpy(parts, orig, sizeof(orig));
		ws_mask(parts, k, key, 0);
		ws_mask(parts + k, sizeof(parts) - k, key, k);
		ck_assert_mem_eq(parts, whole, sizeof(whole));
		ws_mask(parts, sizeof(parts), key, 0);	/* XOR undoes it */
		ck_assert_mem_eq(parts, orig, sizeof(orig));
	}
}
END_TEST

/* RFC 6455 section 5.7, the examples of frames whole. */
static const struct {
	const char *frame;
	size_t	len;
	int	fin, opcode, masked;
	const char *payload;		/* unmasked */
} examples[] = {
	{ S("\x81\x05\x48\x65\x6c\x6c\x6f"), 1, WS_TEXT, 0, "Hello" },
	{ S("\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"), 1, WS_TEXT, 1,
	    "Hello" },
	{ S("\x01\x03\x48\x65\x6c"), 0, WS_TEXT, 0, "Hel" },
	{ S("\x80\x02\x6c\x6f"), 1, WS_CONT, 0, "lo" },
	{ S("\x89\x05\x48\x65\x6c\x6c\x6f"), 1, WS_PING, 0, "Hello" },
	{ S("\x8a\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"), 1, WS_PONG, 1,
	    "Hello" },
};

START_TEST(rfc_examples)
{
	unsigned char out[32];
	struct ws_head h;
	size_t plen = strlen(examples[_i].payload);
	int n;

	n = ws_parse_head((const unsigned char *)examples[_i].frame,
	    examples[_i].len, &h);
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(h.fin, examples[_i].fin);
	ck_assert_int_eq(h.opcode, examples[_i].opcode);
	ck_assert_int_eq(h.masked, examples[_i].masked);
	ck_assert_uint_eq(h.len, plen);
	ck_assert_uint_eq((size_t)n + plen, examples[_i].len);
	memcpy(out, examples[_i].frame + n, plen);
	ws_mask(out, plen, h.mask, 0);		/* unmasked: a zero key */
	ck_assert_mem_eq(out, examples[_i].payload, plen);

	/* And written from the parts, the same bytes. */
	n = (int)ws_frame_head(out, h.fin, h.opcode, h.masked ? h.mask : NULL,
	    plen);
	memcpy(out + n, examples[_i].payload, plen);
	if (h.masked)
		ws_mask(out + n, plen, h.mask, 0);
	ck_assert_mem_eq(out, examples[_i].frame, examples[_i].len);
}
END_TEST

/* 256 and 65536 bytes of binary, the section's two longer examples. */
START_TEST(rfc_long_examples)
{
	unsigned char out[WS_HEAD_MAX];

	ck_assert_uint_eq(ws_frame_head(out, 1, WS_BINARY, NULL, 256), 4);
	ck_assert_mem_eq(out, "\x82\x7e\x01\x00", 4);
	ck_assert_uint_eq(ws_frame_head(out, 1, WS_BINARY, NULL, 65536), 10);
	ck_assert_mem_eq(out, "\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00",
	    10);
}
END_TEST

#define BAD	-1
#define MORE	0

/* Heads to refuse, and longer forms than needed (still accepted). */
static const struct {
	const char *in;
	size_t	len;
	int	rc;			/* BAD, MORE or the head's size */
	unsigned long long plen;
} odd_heads[] = {
	{ S("\xc1\x00"), BAD, 0 },	/* RSV1: no extension agreed */
	{ S("\xa1\x00"), BAD, 0 },	/* RSV2 */
	{ S("\x91\x00"), BAD, 0 },	/* RSV3 */
	{ S("\x83\x00"), BAD, 0 },	/* reserved data opcode */
	{ S("\x87\x00"), BAD, 0 },
	{ S("\x8b\x00"), BAD, 0 },	/* reserved control opcode */
	{ S("\x8f\x00"), BAD, 0 },
	{ S("\x09\x00"), BAD, 0 },	/* a fragmented ping */
	{ S("\x08\x02\x03\xe8"), BAD, 0 },	/* a fragmented close */
	{ S("\x0a\x80"), BAD, 0 },	/* a fragmented pong */
	{ S("\x89\x7e"), BAD, 0 },	/* a ping longer than 125 */
	{ S("\x88\x7e\x00\x7d"), BAD, 0 },	/* even if it says 125 */
	{ S("\x8a\xff"), BAD, 0 },
	{ S("\x82\x7f\x80\x00\x00\x00\x00\x00\x00\x00"), BAD, 0 },
	{ S("\x82\x7f\xff\xff\xff\xff\xff\xff\xff\xff"), BAD, 0 },
	{ S("\x82\x7f\x80\x00\x00\x00\x00\x00\x00"), MORE, 0 },
	{ S("\x82"), MORE, 0 },
	{ S(""), MORE, 0 },
	{ S("\x82\xfe\x00\x05\x01\x02\x03"), MORE, 0 },	/* mask cut */
	{ S("\x89\x7d"), 2, 125 },	/* the longest ping */
	{ S("\x82\x7e\x00\x05"), 4, 5 },	/* non-minimal lengths */
	{ S("\x82\x7f\x00\x00\x00\x00\x00\x00\x00\x05"), 10, 5 },
	{ S("\x82\x7f\x00\x00\x00\x00\x00\x00\xff\xff"), 10, 65535 },
};

START_TEST(odd_head_table)
{
	struct ws_head h;

	ck_assert_int_eq(ws_parse_head((const unsigned char *)
	    odd_heads[_i].in, odd_heads[_i].len, &h), odd_heads[_i].rc);
	if (odd_heads[_i].rc > 0)
		ck_assert(h.len == odd_heads[_i].plen);
}
END_TEST

Suite *
ws_unit_suite(void)
{
	const struct unit units[] = {
		{ sha1_table, ROWS(sha1s) },
		{ base64_table, ROWS(b64s) },
		{ accept_key_of_the_rfc, 0 },
		{ key_table, ROWS(keys) },
		{ head_round_trip, ROWS(heads) },
		{ head_fin_and_opcode, 0 },
		{ mask_in_pieces, 0 },
		{ rfc_examples, ROWS(examples) },
		{ rfc_long_examples, 0 },
		{ odd_head_table, ROWS(odd_heads) },
		{ NULL, 0 }
	};

	return unit_suite("ws-unit", units, NULL, NULL);
}
