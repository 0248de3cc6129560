/*
 * fnv.h - the 64-bit FNV-1a checksum, shared by tests/backend.c (which
 * reports the sum of every body it receives and sends) and the test harness
 * (which checks those sums), so a body that lost or changed one byte on its
 * way through a balancer is caught.
 */
#ifndef FNV_H
#define FNV_H

#include <stddef.h>
#include <stdint.h>

#define FNV_INIT 0xcbf29ce484222325ULL

static inline uint64_t
fnv1a(uint64_t h, const void *data, size_t n)
{
	const unsigned char *p = data;

	while (n-- > 0) {
		h ^= *p++;
		h *= 0x100000001b3ULL;
	}
	return h;
}

#endif
