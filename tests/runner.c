/*
 * runner.c - the main() of every lesson's test program. The suites to
 * run come from lesson_suites[], which each lesson's unit-test file
 * defines (tests/unit_lesson1.c and so on).
 */
#include <check.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "suites.h"

int
main(void)
{
	struct sigaction sa;
	SRunner *sr;
	int i, failed;

	/* A balancer that hangs up while we write must not kill the test. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGPIPE, &sa, NULL);

	sr = srunner_create(lesson_suites[0]());
	for (i = 1; lesson_suites[i] != NULL; i++)
		srunner_add_suite(sr, lesson_suites[i]());
	srunner_run_all(sr, CK_ENV);	/* CK_VERBOSITY=verbose: each test */
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
