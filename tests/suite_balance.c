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

/* final/ only: weights, and the status page that shows them. */

/* "-b" "127.0.0.1:PORT,weight=N" into args[n..n+1]; the new n. */
static int
weighted(char *args[], int n, char *buf, size_t len, int port, int weight)
{
	snprintf(buf, len, "127.0.0.1:%d,weight=%d", port, weight);
	args[n] = "-b";
	args[n + 1] = buf;
	return n + 2;
}

/* The number after "key": in the status.json object named name. */
static int
json_number(const char *doc, const char *name, const char *key)
{
	char want[64];
	const char *o, *end, *v;

	snprintf(want, sizeof(want), "{\"name\": \"%s\"", name);
	o = strstr(doc, want);
	ck_assert_msg(o != NULL, "no %s in %.300s", want, doc);
	end = strchr(o, '}');
	snprintf(want, sizeof(want), "\"%s\": ", key);
	v = strstr(o, want);
	ck_assert_msg(v != NULL && v < end, "no %s for %s in %.300s", key,
	    name, o);
	return atoi(v + strlen(want));
}

/*
 * Weights 3,1,1: smooth weighted round robin gives b1 b2 b1 b3 b1, again
 * and again, per request: on one keep-alive connection as on fresh ones.
 * The status page shows each weight, and counts the same split.
 */
START_TEST(weights_share_requests_smoothly)
{
	static const char *const cycle[] = { "b1", "b2", "b1", "b3", "b1" };
	static const int weight[] = { 3, 1, 1 };
	struct h_proc *be[3], *lb;
	struct h_conn *c;
	struct h_resp r;
	char *args[12], addr[3][40], name[3][32], sarg[32], want[96], *doc;
	int i, n = 0, sport = h_free_port(), count[3] = { 0, 0, 0 };

	for (i = 0; i < 3; i++) {
		snprintf(name[i], sizeof(name[i]), "b%d", i + 1);
		be[i] = h_backend(name[i], "-q", NULL);
		n = weighted(args, n, addr[i], sizeof(addr[i]), be[i]->port,
		    weight[i]);
	}
	snprintf(sarg, sizeof(sarg), "%d", sport);
	args[n++] = "-a";
	args[n++] = sarg;
	args[n] = NULL;
	lb = h_lb_args(args);
	ck_assert_int_eq(h_wait_port(sport, h_scaled(2000)), 0);
	c = h_connect(lb->port);
	for (i = 0; i < 20; i++) {
		const char *who;

		if (i < 10) {	/* one keep-alive connection, then fresh ones */
			ck_assert_int_eq(h_sends(c, GET), 0);
			ck_assert_int_eq(h_read_response(c, &r, 0,
			    H_TIMEOUT_MS), 0);
			ck_assert_int_eq(r.status, 200);
			who = h_header(&r, "X-Backend");
			ck_assert_ptr_nonnull(who);
			snprintf(want, sizeof(want), "%s", who);
			h_resp_free(&r);
			who = want;
		} else {
			who = who_answers(lb->port);
		}
		ck_assert_msg(strcmp(who, cycle[i % 5]) == 0,
		    "request %d went to %s, not %s", i + 1, who, cycle[i % 5]);
		count[who[1] - '1']++;
	}
	h_close(c);
	ck_assert_int_eq(count[0], 12);
	ck_assert_int_eq(count[1], 4);
	ck_assert_int_eq(count[2], 4);

	ck_assert_int_eq(h_request(sport, "GET /status.json HTTP/1.1\r\n"
	    "Host: x\r\n\r\n", &r), 0);
	ck_assert_int_eq(r.status, 200);
	doc = r.body;
	for (i = 0; i < 3; i++) {
		snprintf(want, sizeof(want), "127.0.0.1:%d", be[i]->port);
		ck_assert_int_eq(json_number(doc, want, "weight"), weight[i]);
		ck_assert_int_eq(json_number(doc, want, "requests"), count[i]);
	}
	h_resp_free(&r);
	ck_assert_int_eq(h_request(sport, "GET /metrics HTTP/1.1\r\n"
	    "Host: x\r\n\r\n", &r), 0);
	for (i = 0; i < 3; i++) {
		snprintf(want, sizeof(want), "\nlb_backend_weight{backend="
		    "\"127.0.0.1:%d\"} %d\n", be[i]->port, weight[i]);
		ck_assert_msg(strstr(r.body, want) != NULL, "no '%.*s' in "
		    "/metrics", (int)strlen(want) - 2, want + 1);
	}
	h_resp_free(&r);
	ck_assert_int_eq(h_request(sport, "GET /status.txt HTTP/1.1\r\n"
	    "Host: x\r\n\r\n", &r), 0);
	for (i = 0; i < 3; i++) {
		const char *o, *w;

		snprintf(want, sizeof(want), "\n127.0.0.1:%d UP", be[i]->port);
		ck_assert_ptr_nonnull(o = strstr(r.body, want));
		snprintf(want, sizeof(want), "\n  traffic  weight %d; ",
		    weight[i]);
		w = strstr(o + 1, "\n  traffic  ");
		ck_assert_msg(w != NULL && strncmp(w, want, strlen(want)) == 0,
		    "b%d: no '%s' in %.300s", i + 1, want + 1, o + 1);
	}
	h_resp_free(&r);
}
END_TEST

/*
 * b1 (weight 3) is dead, b2 (weight 1) is not. By weight alone, b1 would
 * win the retry's pick too (3,1 gives a b a a), but the backend that
 * refused sits out the retry's pick: every request reaches b2.
 */
START_TEST(a_retry_after_a_refused_connect_goes_elsewhere)
{
	struct h_proc *be[2];
	char *args[8], addr[2][40];
	int i, n = 0, port;

	be[0] = h_backend("b1", "-q", NULL);
	be[1] = h_backend("b2", "-q", NULL);
	n = weighted(args, n, addr[0], sizeof(addr[0]), be[0]->port, 3);
	n = weighted(args, n, addr[1], sizeof(addr[1]), be[1]->port, 1);
	args[n++] = "-i";	/* no probe takes b1 out first */
	args[n++] = "60000";
	args[n] = NULL;
	port = h_lb_args(args)->port;
	h_kill(be[0]);
	for (i = 0; i < 6; i++)
		ck_assert_str_eq(who_answers(port), "b2");
}
END_TEST

START_TEST(weight_option_is_checked)
{
	static const char *const weight = "weight must be a number from 1 "
	    "to 100";
	static const char *const bad[][2] = {
		{ "weight=0", NULL }, { "weight=101", NULL },
		{ "weight=x", NULL }, { "weight=", NULL },
		{ "foo=1", "unknown option 'foo=1'" },
		{ "weight=2,foo=1", "unknown option 'foo=1'" },
		{ "drain=1", "drain takes no value" },
		{ "", "want HOST:PORT[,weight=N][,maxconn=N][,slowstart=MS]"
		    "[,drain]" },
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		h_expect_bad_backend(bad[i][0], bad[i][1] != NULL ? bad[i][1] :
		    weight);
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
	const TTest *const final_tests[] = {
		weights_share_requests_smoothly,
		a_retry_after_a_refused_connect_goes_elsewhere,
		weight_option_is_checked,
		NULL
	};
	const TTest *const *t;
	TCase *tc;
	Suite *s = h_suite("balance", tests, &tc);

	for (t = final_tests; h_level() >= 4 && *t != NULL; t++)
		if (h_wanted(*t))
			tcase_add_test(tc, *t);
	return s;
}
