/*
 * unit_lesson2.c - lesson 2's round-robin choice and up/down bookkeeping,
 * reached by including its source, and the suites lesson 2 runs.
 */
#define main lesson2_main
#include "../lesson2/lb.c"
#undef main

#include <check.h>

#include "suites.h"

/*
 * A row: the backends' states ('U' up, 'D' down and cooling down, 'd'
 * down with its cool-down over), where the search starts, and the picks
 * expected one after another ('-' for none).
 */
static const struct {
	const char *states;
	int	start;
	const char *picks;
} rr[] = {
	{ "UUU", 0, "0120120" },
	{ "UUU", 2, "2012" },
	{ "U", 0, "000" },
	{ "UDU", 0, "02020" },
	{ "DUD", 0, "111" },
	{ "DDD", 1, "-" },
	{ "DdD", 0, "111" },	/* due for a retry: tried, again and again */
	{ "dUD", 1, "101" },
	{ "UUUDDDDDDU", 4, "90129" },
};

static void
set_states(const char *states, double now)
{
	int i;

	memset(backends, 0, sizeof(backends));
	nbackends = (int)strlen(states);
	for (i = 0; i < nbackends; i++) {
		backends[i].up = states[i] == 'U';
		backends[i].retry_at = states[i] == 'D' ? now + 5 : now - 1;
	}
}

START_TEST(round_robin_table)
{
	const char *p;
	double now = 1000;

	set_states(rr[_i].states, now);
	next_backend = rr[_i].start;
	for (p = rr[_i].picks; *p != '\0'; p++) {
		int want = *p == '-' ? -1 : *p - '0';
		ck_assert_msg(pick_backend(now) == want, "%s from %d: pick %d "
		    "of '%s'", rr[_i].states, rr[_i].start,
		    (int)(p - rr[_i].picks), rr[_i].picks);
	}
}
END_TEST

START_TEST(down_then_up_keeps_the_list_whole)
{
	set_states("UUU", 100);
	next_backend = 0;
	mark_down(&backends[1], 100, ECONNREFUSED);
	ck_assert_int_eq(nbackends, 3);		/* nothing was removed */
	ck_assert_int_eq(backends[1].up, 0);
	ck_assert_double_eq(backends[1].down_since, 100);
	ck_assert_double_eq(backends[1].retry_at, 100 + cooldown);
	ck_assert_str_eq(backends[1].why, "connect: Connection refused");
	/* Failing again later extends the cool-down, not the down time. */
	mark_down(&backends[1], 103, ETIMEDOUT);
	ck_assert_double_eq(backends[1].down_since, 100);
	ck_assert_double_eq(backends[1].retry_at, 103 + cooldown);
	ck_assert_int_eq(pick_backend(104), 0);
	ck_assert_int_eq(pick_backend(104), 2);	/* 1 skipped... */
	ck_assert_int_eq(pick_backend(103 + cooldown), 0);
	ck_assert_int_eq(pick_backend(103 + cooldown), 1);	/* ...then due */
	mark_up(&backends[1], 110);
	ck_assert_int_eq(backends[1].up, 1);
}
END_TEST

START_TEST(retry_after_counts_to_the_first_retry)
{
	set_states("UUU", 100);
	ck_assert_int_eq(retry_after(100), cooldown);	/* nobody down */
	backends[0].up = backends[1].up = 0;
	backends[0].retry_at = 104.2;
	backends[1].retry_at = 102.5;
	ck_assert_int_eq(retry_after(100), 3);		/* rounded up */
	ck_assert_int_eq(retry_after(102.4), 1);
	ck_assert_int_eq(retry_after(200), 1);		/* never 0 */
}
END_TEST

/* mark_down() and mark_up() log on stderr: not wanted in test output. */
static void
quiet(void)
{
	ck_assert_ptr_nonnull(freopen("/dev/null", "w", stderr));
}

static Suite *
lesson2_unit_suite(void)
{
	const struct unit units[] = {
		{ round_robin_table, ROWS(rr) },
		{ down_then_up_keeps_the_list_whole, 0 },
		{ retry_after_counts_to_the_first_retry, 0 },
		{ NULL, 0 }
	};

	return unit_suite("lesson2-unit", units, quiet, NULL);
}

Suite *(*const lesson_suites[])(void) = {
	lesson2_unit_suite, forward_suite, balance_suite, NULL
};
