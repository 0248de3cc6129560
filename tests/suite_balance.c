/*
 * suite_balance.c - round robin and failure handling, from lesson 2 on.
 *
 * The last tests here are the reason this project exists: the balancer it
 * grew from never probed a server it had removed, so once every server
 * had failed, nothing came back until a restart. Here, every backend is
 * killed and started again, and service must resume by itself.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "suites.h"

#define GET	"GET / HTTP/1.1\r\nHost: x\r\n\r\n"

/*
 * How long a down backend waits before live traffic tries it again:
 * lessons 2 and 3 say -r SECONDS, final/ says -i MS (its check interval).
 */
static const char *
cooldown_opt(void)
{
	return h_level() >= 4 ? "-i" : "-r";
}

static const char *
cooldown_val(const char *seconds)
{
	static char ms[16];

	if (h_level() < 4)
		return seconds;
	snprintf(ms, sizeof(ms), "%d", atoi(seconds) > 0 ?
	    atoi(seconds) * 1000 : 1);
	return ms;
}

/* Three backends b1..b3 and a balancer in front of them. */
static struct h_proc *
start_three(struct h_proc *be[3], const char *cooldown)
{
	be[0] = h_backend("b1", "-q", NULL);
	be[1] = h_backend("b2", "-q", NULL);
	be[2] = h_backend("b3", "-q", NULL);
	return h_lb(3, be, cooldown_opt(), cooldown_val(cooldown), NULL);
}

/* GET / and return who answered ("503" when nobody did). */
static const char *
who_answers(int port)
{
	static char name[32];
	struct h_resp r;
	const char *b;

	ck_assert_int_eq(h_request(port, GET, &r), 0);
	b = h_header(&r, "X-Backend");
	if (r.status == 200 && b != NULL)
		snprintf(name, sizeof(name), "%s", b);
	else
		snprintf(name, sizeof(name), "%d", r.status);
	h_resp_free(&r);
	return name;
}

/* Ask until name answers or ms pass; returns how many asks it took. */
static int
wait_for_backend(int port, const char *name, int ms)
{
	struct timespec pause = { 0, 100 * 1000000L };
	int i, tries = ms / 100;

	for (i = 1; i <= tries; i++) {
		if (strcmp(who_answers(port), name) == 0)
			return i;
		nanosleep(&pause, NULL);
	}
	ck_abort_msg("%s never answered within %d ms", name, ms);
	return -1;
}

/*
 * Kill all three; the balancer finds out (final/ after three failures
 * in a row: three requests, each trying every backend).
 */
static void
kill_all(struct h_proc *be[3], int port)
{
	int i;

	for (i = 0; i < 3; i++)
		h_kill(be[i]);
	for (i = 0; i < 3; i++)
		ck_assert_str_eq(who_answers(port), "503");
}

START_TEST(round_robin_in_command_line_order)
{
	static const char *const want[] = { "b1", "b2", "b3", "b1", "b2",
	    "b3", "b1" };
	struct h_proc *be[3];
	int port = start_three(be, "5")->port, i;

	for (i = 0; i < 7; i++)
		ck_assert_str_eq(who_answers(port), want[i]);
}
END_TEST

START_TEST(a_dead_backend_costs_clients_nothing)
{
	struct h_proc *be[3], *lb = start_three(be, "60");
	char want[96];
	int i;

	h_kill(be[1]);
	for (i = 0; i < 9; i++) {
		const char *who = who_answers(lb->port);
		ck_assert_msg(strcmp(who, "b1") == 0 || strcmp(who, "b3") == 0,
		    "request %d answered by %s", i, who);
	}
	/* final/ counts three failures in a row (-F) before it says down. */
	snprintf(want, sizeof(want), "127.0.0.1:%d DOWN%s: connect: "
	    "Connection refused", be[1]->port, h_level() >= 4 ?
	    " after 3 failed connects by live traffic" : "");
	ck_assert_msg(h_wait_for_text(lb->err, want, 2000), "no '%s'", want);
}
END_TEST

START_TEST(all_down_gets_503_with_retry_after_at_once)
{
	struct h_proc *be[3], *lb = start_three(be, "7");
	struct h_conn *c;
	struct h_resp r;
	const char *ra;
	int i;

	for (i = 0; i < 3; i++)
		h_kill(be[i]);
	for (i = 0; i < 2; i++) {	/* first finding out, then knowing */
		c = h_connect(lb->port);
		h_sends(c, GET);
		/* At once: a second is plenty for a refused connect or three. */
		ck_assert_int_eq(h_read_response(c, &r, 0, h_scaled(1000)), 0);
		ck_assert_int_eq(r.status, 503);
		ck_assert_int_eq(r.complete, 1);
		ra = h_header(&r, "Retry-After");
		ck_assert_ptr_nonnull(ra);
		ck_assert_msg(atoi(ra) >= 1 && atoi(ra) <= 7, "Retry-After %s", ra);
		h_resp_free(&r);
		h_close(c);
	}
}
END_TEST

/* The seed's bug: all backends fail, come back, and nobody notices. */
START_TEST(all_down_then_restarted_resumes_by_itself)
{
	struct h_proc *be[3], *lb = start_three(be, "1");
	char want[96];

	kill_all(be, lb->port);
	h_backend_at(be[0]->port, "b1", "-q", NULL);
	h_backend_at(be[1]->port, "b2", "-q", NULL);
	h_backend_at(be[2]->port, "b3", "-q", NULL);
	wait_for_backend(lb->port, "b1", 5000);
	snprintf(want, sizeof(want), "127.0.0.1:%d UP after ", be[0]->port);
	ck_assert_msg(h_wait_for_text(lb->err, want, 2000), "no '%s'", want);
}
END_TEST

START_TEST(a_lone_survivor_is_used_again)
{
	struct h_proc *be[3], *lb = start_three(be, "1");
	int i;

	kill_all(be, lb->port);
	h_backend_at(be[1]->port, "b2", "-q", NULL);
	wait_for_backend(lb->port, "b2", 5000);
	for (i = 0; i < 4; i++)	/* and only b2, while the others stay down */
		ck_assert_str_eq(who_answers(lb->port), "b2");
}
END_TEST

/* -r 0: a failed backend is due again at once; each gets one try. */
START_TEST(no_cool_down_still_answers_503)
{
	struct h_proc *be[3], *lb = start_three(be, "0");
	struct h_conn *c;
	struct h_resp r;
	int i;

	for (i = 0; i < 3; i++)
		h_kill(be[i]);
	c = h_connect(lb->port);
	h_sends(c, GET);
	ck_assert_int_eq(h_read_response(c, &r, 0, h_scaled(1000)), 0);
	ck_assert_int_eq(r.status, 503);
	h_resp_free(&r);
}
END_TEST

START_TEST(cool_down_option_is_checked)
{
	static const char *const bad[] = { "abc", "-1", "", "3601" };
	char *args[5], want[32];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		args[0] = "-b";
		args[1] = "127.0.0.1:9";
		args[2] = (char *)cooldown_opt();
		args[3] = h_level() >= 4 && strcmp(bad[i], "3601") == 0 ?
		    "3600001" : (char *)bad[i];
		args[4] = NULL;
		snprintf(want, sizeof(want), "%s '%s'", args[2], args[3]);
		h_expect_bad_args(args, want);
	}
}
END_TEST

Suite *
balance_suite(void)
{
	const TTest *const tests[] = {
		round_robin_in_command_line_order,
		a_dead_backend_costs_clients_nothing,
		all_down_gets_503_with_retry_after_at_once,
		all_down_then_restarted_resumes_by_itself,
		a_lone_survivor_is_used_again,
		no_cool_down_still_answers_503,
		cool_down_option_is_checked,
		NULL
	};

	return h_suite("balance", tests, NULL);
}
