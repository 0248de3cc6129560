/*
 * fuzz_main.h - the main() of a fuzz harness that handles one input with
 * one(buf, len), which it defines before including this file last, with
 * MAX_INPUT (the longest input it looks at).
 *
 * Built by afl-clang-fast it takes inputs in a loop (AFL++'s persistent
 * mode: no fork per input); built by any other compiler it is a plain
 * program that reads one input from stdin, to replay what the fuzzer
 * found.
 */
#ifndef FUZZ_MAIN_H
#define FUZZ_MAIN_H

#include <string.h>
#include <unistd.h>

#ifdef __AFL_FUZZ_TESTCASE_LEN
__AFL_FUZZ_INIT();

int
main(void)
{
	static char buf[MAX_INPUT];
	const unsigned char *p = __AFL_FUZZ_TESTCASE_BUF;
	size_t len;

	while (__AFL_LOOP(10000)) {
		len = (size_t)__AFL_FUZZ_TESTCASE_LEN;
		if (len > sizeof(buf))
			len = sizeof(buf);
		memcpy(buf, p, len);	/* a copy: the parser may not write */
		one(buf, len);
	}
	return 0;
}
#else
int
main(void)
{
	static char buf[MAX_INPUT];
	size_t len = 0;
	ssize_t r;

	while (len < sizeof(buf) &&
	    (r = read(0, buf + len, sizeof(buf) - len)) > 0)
		len += (size_t)r;
	one(buf, len);
	return 0;
}
#endif

#endif
