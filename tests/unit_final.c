/*
 * unit_final.c - final/'s timers and backend choice, tested alone; and
 * the suites final's test program runs (http.c's own are in unit_http.c).
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "../final/config.h"
#include "../final/loop.h"
#include "../final/pool.h"
#include "suites.h"

/* pool.c reads the configuration that final/main.c owns. */
struct config cfg = { .interval_ms = 2000, .pool_size = 4 };

static char fired[16];
static int nfired;

static void
record(void *arg)
{
	fired[nfired++] = *(const char *)arg;
	fired[nfired] = '\0';
}

/* Timers armed out of order fire in deadline order, once each. */
START_TEST(timers_fire_in_deadline_order)
{
	static const char names[] = "abcdefgh";
	static const double when[] = { 5, 1, 4, 1.5, 3, 0.5, 2, 6 };
	struct timer t[8];
	int i;

	nfired = 0;
	for (i = 0; i < 8; i++) {
		timer_init(&t[i], record, (void *)&names[i]);
		timer_arm(&t[i], loop_clock() - 10 + when[i]);
	}
	timer_disarm(&t[2]);			/* c: never */
	timer_arm(&t[7], loop_clock() - 10);	/* h: moved to the front */
	loop_run_once();
	ck_assert_str_eq(fired, "hfbdgea");
	for (i = 0; i < 8; i++)
		ck_assert_int_eq(t[i].slot, -1);
	loop_free();
}
END_TEST

/* Deadlines in the future wait; the nearest one wakes select() up. */
START_TEST(select_sleeps_until_the_nearest_deadline)
{
	struct timer near, far;
	double t0 = loop_clock();

	nfired = 0;
	timer_init(&near, record, "n");
	timer_init(&far, record, "f");
	timer_arm(&far, t0 + 60);
	timer_arm(&near, t0 + 0.05);
	loop_run_once();
	ck_assert_str_eq(fired, "n");
	ck_assert(loop_clock() - t0 >= 0.05);
	ck_assert(loop_clock() - t0 < 5);
	timer_disarm(&far);
	loop_free();
}
END_TEST

static const struct {
	const char *states;	/* U up, D down cooling, d down and due */
	int	start;
	const char *picks;
} rr[] = {
	{ "UUU", 0, "0120" },
	{ "UDU", 0, "0202" },
	{ "DDD", 0, "-" },
	{ "dDU", 1, "202" },
};

START_TEST(round_robin_skips_what_is_down)
{
	const char *p;
	char arg[32];
	const char *why;
	int i;

	nbackends = 0;
	for (i = 0; rr[_i].states[i] != '\0'; i++) {
		snprintf(arg, sizeof(arg), "127.0.0.1:%d", 9000 + i);
		ck_assert_int_eq(pool_add(arg, &why), 0);	/* all up */
	}
	while (pool_pick(0) != (rr[_i].start + nbackends - 1) % nbackends)
		;	/* the cursor now points at start */
	for (i = 0; i < nbackends; i++) {
		backends[i].up = rr[_i].states[i] == 'U';
		backends[i].retry_at = rr[_i].states[i] == 'D' ? 105 : 99;
	}
	for (p = rr[_i].picks; *p != '\0'; p++)
		ck_assert_int_eq(pool_pick(100), *p == '-' ? -1 : *p - '0');
}
END_TEST

static Suite *
final_unit_suite(void)
{
	Suite *s = suite_create("final-unit");
	TCase *tc = tcase_create("loop-pool");

	tcase_set_timeout(tc, 5);
	tcase_add_test(tc, timers_fire_in_deadline_order);
	tcase_add_test(tc, select_sleeps_until_the_nearest_deadline);
	tcase_add_loop_test(tc, round_robin_skips_what_is_down, 0,
	    (int)(sizeof(rr) / sizeof(rr[0])));
	suite_add_tcase(s, tc);
	return s;
}

Suite *(*const lesson_suites[])(void) = {
	http_unit_suite, final_unit_suite, forward_suite, balance_suite,
	concurrency_suite, http11_suite, NULL
};
