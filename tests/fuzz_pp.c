/*
 * fuzz_pp.c - the fuzz harness for final/proxyproto.c (make fuzz, AFL++).
 *
 * The input is the first bytes of a connection on a PROXY listener. It
 * is fed to pp_parse the way the balancer will: a byte more each time,
 * from none to all. abort()s when an answer breaks a rule the rest of
 * the balancer relies on, so that the fuzzer reports it as a crash:
 *
 *   - the answer is "more" (0) until the first byte that settles it,
 *     and more bytes never change it: a header stays the same header, of
 *     the length it had when its last byte came (so within the input,
 *     and every cut of it asks for more); a refusal stays a refusal;
 *   - PP_MAX bytes always settle it (a reader never waits for more);
 *   - a refusal has words for the log;
 *   - what a header says, built again by pp_build_v1 and pp_build_v2,
 *     parses back to the same addresses and ports.
 *
 * main() is fuzz_main.h's: AFL++'s persistent loop, or one input from
 * stdin to replay what it found.
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxyproto.h"

#define MAX_INPUT	(PP_MAX + 256)

static void
check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_pp: broken: %s\n", what);
		abort();
	}
}

/* back, read from a header built from info, says the same ends. */
static void
same_ends(const struct pp_info *info, const struct pp_info *back)
{
	check(back->local == info->local, "local changed by a rebuild");
	if (info->local)
		return;
	check(back->family == info->family &&
	    memcmp(&back->src, &info->src, sizeof(info->src)) == 0 &&
	    memcmp(&back->dst, &info->dst, sizeof(info->dst)) == 0,
	    "addresses changed by a rebuild");
	check(strcmp(back->src_text, info->src_text) == 0 &&
	    strcmp(back->dst_text, info->dst_text) == 0 &&
	    back->src_port == info->src_port &&
	    back->dst_port == info->dst_port, "texts changed by a rebuild");
}

/* What info says, built in both versions, then parsed back. */
static void
rebuild(const struct pp_info *info)
{
	char out[PP_BUILD_MAX];
	struct pp_info back;
	size_t n;

	n = pp_build_v1(&info->src, &info->dst, out, sizeof(out));
	check(n > 0 && pp_parse(out, n, &back) == (int)n,
	    "a built v1 header does not parse back");
	same_ends(info, &back);
	n = pp_build_v2(&info->src, &info->dst, out, sizeof(out));
	check(n > 0 && pp_parse(out, n, &back) == (int)n,
	    "a built v2 header does not parse back");
	same_ends(info, &back);
}

static void
one(const char *buf, size_t len)
{
	struct pp_info info, again;
	size_t n, most = len < PP_MAX ? len : PP_MAX;
	int rc = 0;

	for (n = 0; n <= most; n++)
		if ((rc = pp_parse(buf, n, &info)) != 0)
			break;
	if (rc == 0) {
		check(most < PP_MAX, "PP_MAX bytes and still no verdict");
		return;
	}
	if (rc < 0) {
		check(strcmp(pp_strerror(rc), "no error") != 0,
		    "a refusal without words");
		check(pp_parse(buf, len, &again) < 0,
		    "more bytes turned a refusal into a header");
		return;
	}
	check((size_t)rc == n, "a header is not whole when its last byte is in");
	check(pp_parse(buf, len, &again) == rc &&
	    memcmp(&info, &again, sizeof(info)) == 0,
	    "more bytes changed a header");
	rebuild(&info);
}

#include "fuzz_main.h"
