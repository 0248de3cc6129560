/*
 * suite_health.c - final/'s active health checks and its status page.
 *
 * The balancer this project grew from never probed a server it had taken
 * out. Here every backend is probed, up or down: a sick one goes out
 * after FALL failed checks and comes back after RISE passes, a hung one
 * goes out by the check timeout, and with every backend down the probes
 * go on (counted at the backends) until service resumes by itself. The
 * status page must say the same thing in all four of its formats.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <check.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ask.h"
#include "harness.h"
#include "json.h"
#include "suites.h"

#define GET	"GET / HTTP/1.1\r\nHost: x\r\n\r\n"

START_TEST(a_sick_backend_goes_out_and_comes_back)
{
	struct h_proc *be[2], *lb;
	int i, seen2 = 0;

	be[0] = h_backend("b1", "-q", NULL);
	be[1] = h_backend("b2", "-q", NULL);
	lb = h_lb(2, be, "-i", "100", "-F", "2", "-R", "3", NULL);
	set_health(be[1], "sick");
	expect_event(lb, be[1], "DOWN after 2 failed checks: status 503",
	    3000);
	for (i = 0; i < 6; i++)
		ck_assert_str_eq(who(lb->port), "b1");
	/* Sick means its /health, not the rest: b2 still serves. */
	ck_assert_int_eq(get(be[1]->port, "/anything", NULL, NULL), 200);
	set_health(be[1], "well");
	expect_event(lb, be[1], "UP after 3 passed checks, down for ", 3000);
	for (i = 0; i < 4; i++)
		seen2 += strcmp(who(lb->port), "b2") == 0;
	ck_assert_int_eq(seen2, 2);
}
END_TEST

/* The seed's bug, against active checks: nothing up, then all back. */
START_TEST(all_killed_then_restarted_resume_by_themselves)
{
	struct h_proc *be[2], *lb;
	struct h_resp r;
	const char *ra;
	int i;

	be[0] = h_backend("b1", "-q", NULL);
	be[1] = h_backend("b2", "-q", NULL);
	lb = h_lb(2, be, "-i", "300", "-R", "2", NULL);
	for (i = 0; i < 2; i++)
		h_kill(be[i]);
	for (i = 0; i < 2; i++)
		expect_event(lb, be[i], "DOWN after 3 failed checks: connect: "
		    "Connection refused", 3000);
	ck_assert_int_eq(get(lb->port, "/", NULL, &r), 503);
	ra = h_header(&r, "Retry-After");
	ck_assert_ptr_nonnull(ra);
	/* The next probe within 0.3 s, the second 0.3 s later. */
	ck_assert_msg(atoi(ra) == 1, "Retry-After: %s", ra);
	h_resp_free(&r);
	for (i = 0; i < 2; i++)
		h_backend_at(be[i]->port, i == 0 ? "b1" : "b2", "-q", NULL);
	wait_for(lb->port, "b1", 3000);
	for (i = 0; i < 2; i++)
		expect_event(lb, be[i], "UP after 2 passed checks, down for ",
		    3000);
}
END_TEST

START_TEST(a_hung_backend_goes_out_by_the_check_timeout)
{
	struct h_proc *be[2], *lb;
	int i;

	be[0] = h_backend("b1", "-q", NULL);
	be[1] = h_backend("b2", "-q", "-m", "stall", NULL);
	lb = h_lb(2, be, "-i", "100", "-t", "check=200", NULL);
	expect_event(lb, be[1], "DOWN after 3 failed checks: timeout after "
	    "200 ms", 3000);
	for (i = 0; i < 4; i++)		/* no 30 s wait on b2: it is out */
		ck_assert_str_eq(who(lb->port), "b1");
}
END_TEST

START_TEST(probes_go_on_while_every_backend_is_down)
{
	struct h_proc *be[2], *lb;
	long before[2];
	int i;

	be[0] = h_backend("b1", "-q", "-k", NULL);	/* sick from the start */
	be[1] = h_backend("b2", "-q", "-k", NULL);
	lb = h_lb(2, be, "-i", "100", NULL);
	for (i = 0; i < 2; i++)
		expect_event(lb, be[i], "DOWN after 3 failed checks: status 503",
		    3000);
	ck_assert_str_eq(who(lb->port), "503");
	for (i = 0; i < 2; i++)
		before[i] = checks_seen(be[i]);
	h_pause_ms(h_scaled(1000));
	for (i = 0; i < 2; i++) {
		long now = checks_seen(be[i]);
		ck_assert_msg(now >= before[i] + 5, "b%d: %ld checks, then %ld "
		    "%d ms later", i + 1, before[i], now, h_scaled(1000));
	}
	ck_assert_str_eq(who(lb->port), "503");
	set_health(be[1], "well");
	wait_for(lb->port, "b2", 3000);
}
END_TEST

/*
 * A connect that live traffic cannot make counts toward FALL, so a dead
 * backend goes out before its probe (-i 60000: b2's first probe is 30 s
 * away). Back up, it stays out until a probe says otherwise.
 */
START_TEST(live_traffic_takes_out_only_probes_bring_back)
{
	struct h_proc *be[2], *lb;
	int i;

	be[0] = h_backend("b1", "-q", NULL);
	be[1] = h_backend("b2", "-q", NULL);
	lb = h_lb(2, be, "-i", "60000", NULL);
	h_kill(be[1]);
	for (i = 0; i < 6; i++)
		ck_assert_str_eq(who(lb->port), "b1");
	expect_event(lb, be[1], "DOWN after 3 failed connects by live "
	    "traffic: connect: Connection refused", 1000);
	h_backend_at(be[1]->port, "b2", "-q", NULL);
	for (i = 0; i < 6; i++)
		ck_assert_str_eq(who(lb->port), "b1");
}
END_TEST

/*
 * A 5xx from live traffic is not a failure of the backend: it may be
 * one bad endpoint. Passed on to the client, and nothing more.
 */
START_TEST(five_hundreds_do_not_take_a_backend_out)
{
	struct h_proc *be[2], *lb;
	char *err;
	int i;

	be[0] = h_backend("b1", "-q", "-s", "500", NULL);	/* /health: 200 */
	be[1] = h_backend("b2", "-q", NULL);
	lb = h_lb(2, be, "-i", "100", "-F", "2", NULL);
	for (i = 0; i < 6; i++) {	/* b1, b2, b1, ... each answering */
		int want = i % 2 == 0 ? 500 : 200;
		ck_assert_int_eq(get(lb->port, "/", NULL, NULL), want);
	}
	h_pause_ms(h_scaled(500));	/* five checks' time */
	err = h_slurp(lb->err);
	ck_assert_msg(strstr(err, "DOWN") == NULL, "stderr: %s", err);
	free(err);
	ck_assert_int_eq(get(lb->port, "/", NULL, NULL), 500);	/* b1 */
}
END_TEST

/* -H: the path checked is the one given, not /health. */
START_TEST(the_check_path_is_the_one_given)
{
	struct h_proc *be[2], *lb;

	be[0] = h_backend("b1", "-q", NULL);
	be[1] = h_backend("b2", "-q", NULL);
	lb = h_lb(2, be, "-i", "100", "-H", "/deep/check?status=418", NULL);
	expect_event(lb, be[0], "DOWN after 3 failed checks: status 418",
	    3000);
	expect_event(lb, be[1], "DOWN after 3 failed checks: status 418",
	    3000);
	ck_assert_int_eq(get(be[0]->port, "/health", NULL, NULL), 200);
}
END_TEST

/*
 * The first minute in front of a real service, one with no /health
 * (python3 -m http.server answers 404): a 4xx says the server runs but
 * -H asks it the wrong thing, and the DOWN line says what to do. A 5xx,
 * a 429 or a refused connect says nothing about -H: no such advice.
 */
START_TEST(a_4xx_check_says_what_to_do)
{
	static const char *const status[] = { "404", "405", "401", "403",
	    "500", "429" };
	static const char *const names[] = { "b1", "b2", "b3", "b4", "b5",
	    "b6", "b7" };
	struct h_proc *be[7], *lb;
	char want[160];
	int i;

	for (i = 0; i < 6; i++)	/* -s: every path but /health */
		be[i] = h_backend(names[i], "-q", "-s", status[i], NULL);
	be[6] = h_backend(names[6], "-q", NULL);
	lb = h_lb(7, be, "-i", "100", "-H", "/healthz", NULL);
	h_kill(be[6]);
	for (i = 0; i < 4; i++) {
		snprintf(want, sizeof(want), "DOWN after 3 failed checks: "
		    "status %s (the server runs, but GET /healthz is not its "
		    "health check: try -H / or -H PATH)\n", status[i]);
		expect_event(lb, be[i], want, 3000);
	}
	expect_event(lb, be[4], "DOWN after 3 failed checks: status 500\n",
	    3000);
	/* 429: too many requests, not the wrong path. */
	expect_event(lb, be[5], "DOWN after 3 failed checks: status 429\n",
	    3000);
	expect_event(lb, be[6], "DOWN after 3 failed checks: connect: "
	    "Connection refused\n", 3000);
}
END_TEST

/*
 * The balancer out of descriptors says nothing about the backends: the
 * checks it cannot make are skipped, not failed, and nothing goes down.
 */
START_TEST(lb_out_of_descriptors_takes_no_backend_down)
{
	enum { N = 40 };
	struct h_proc *be[2], *lb;
	struct h_conn *c[N];
	char *err;
	int i, base;

	be[0] = h_backend("b1", "-q", NULL);
	be[1] = h_backend("b2", "-q", NULL);
	if (!h_fd_limit(24))
		return;
	lb = h_lb(2, be, "-i", "100", "-F", "2", "-t", "head=60000", NULL);
	base = h_fd_count(lb->pid);
	for (i = 0; i < N; i++)		/* idle clients take every descriptor */
		c[i] = h_connect(lb->port);
	ck_assert_msg(h_wait_for_text(lb->err, "check skipped: lb is out of "
	    "descriptors", 3000), "no check was skipped");
	h_pause_ms(500);			/* five checks' time */
	for (i = 0; i < N; i++)
		h_close(c[i]);
	err = h_slurp(lb->err);
	ck_assert_msg(strstr(err, "DOWN") == NULL, "stderr: %s", err);
	free(err);
	/*
	 * The clients still queued behind the full table come in, one by
	 * one, and each is closed: until they are all gone, lb may be out
	 * of descriptors again. A request then would get a 503 (and move the
	 * round robin on), so wait until its descriptors are back.
	 */
	for (i = 0; i < 150 && (base < 0 || h_fd_count(lb->pid) > base); i++)
		h_pause_ms(20);
	if (base < 0)
		h_pause_ms(300);	/* no /proc: give it time */
	ck_assert_str_eq(who(lb->port), "b1");
	ck_assert_str_eq(who(lb->port), "b2");
}
END_TEST

/* -o: with every backend down, try them anyway; without it, 503. */
START_TEST(fail_open_tries_them_all_anyway)
{
	struct h_proc *be[2], *open, *shut;
	int i, seen2 = 0;

	be[0] = h_backend("b1", "-q", "-k", NULL);
	be[1] = h_backend("b2", "-q", "-k", NULL);
	open = h_lb(2, be, "-i", "100", "-o", NULL);
	shut = h_lb(2, be, "-i", "100", NULL);
	for (i = 0; i < 2; i++) {
		expect_event(open, be[i], "DOWN after 3 failed checks", 3000);
		expect_event(shut, be[i], "DOWN after 3 failed checks", 3000);
	}
	for (i = 0; i < 4; i++) {
		const char *w = who(open->port);
		ck_assert_msg(strcmp(w, "b1") == 0 || strcmp(w, "b2") == 0,
		    "fail open answered %s", w);
		seen2 += strcmp(w, "b2") == 0;
	}
	ck_assert_int_eq(seen2, 2);
	ck_assert_str_eq(who(shut->port), "503");
}
END_TEST

/* ---- the status page ---- */

/* What every format says about backend i (named name): up or down? */
static void
formats_agree(int sport, int i, const char *name, int up)
{
	char path[64], v[128], row[160], line[160];
	char *json = page(sport, "/status.json", NULL, "application/json");
	char *text = page(sport, "/status.txt", NULL, "text/plain");
	char *html = page(sport, "/", "text/html,*/*;q=0.8", "text/html");
	char *plain = page(sport, "/", NULL, "text/plain");
	char *prom = page(sport, "/metrics", NULL, "text/plain");

	ck_assert_msg(json_valid(json), "not JSON: %s", json);
	snprintf(path, sizeof(path), "backends.%d.name", i);
	json_at(json, path, v, sizeof(v));
	ck_assert_str_eq(v, name);
	snprintf(path, sizeof(path), "backends.%d.state", i);
	json_at(json, path, v, sizeof(v));
	ck_assert_str_eq(v, up ? "up" : "down");
	snprintf(path, sizeof(path), "backends.%d.up", i);
	json_at(json, path, v, sizeof(v));
	ck_assert_str_eq(v, up ? "true" : "false");
	ck_assert_double_eq(metric(prom, "lb_backend_up", name), up);
	snprintf(line, sizeof(line), "%s %s for ", name, up ? "UP" : "DOWN");
	ck_assert_msg(strstr(text, line) != NULL, "no '%s' in %s", line, text);
	ck_assert_msg(strstr(plain, line) != NULL, "/ for curl: %s", plain);
	snprintf(row, sizeof(row), "<tr class=\"%s\" id=\"backend-%d\"><td>"
	    "%s</td><td class=\"state\">%s</td>", up ? "up" : "down", i + 1,
	    name, up ? "UP" : "DOWN");
	ck_assert_msg(strstr(html, row) != NULL, "no '%s' in %s", row, html);
	free(json);
	free(text);
	free(html);
	free(plain);
	free(prom);
}

START_TEST(status_page_agrees_with_reality)
{
	struct h_proc *be[2], *lb;
	char name[2][32], v[128];
	char *json, *prom;
	int i, sport = h_free_port();
	char sarg[32];

	snprintf(sarg, sizeof(sarg), "127.0.0.1:%d", sport);
	be[0] = h_backend("b1", "-q", NULL);
	be[1] = h_backend("b2", "-q", NULL);
	lb = h_lb(2, be, "-i", "100", "-a", sarg, NULL);
	ck_assert_int_eq(h_wait_port(sport, h_scaled(2000)), 0);
	for (i = 0; i < 2; i++) {
		snprintf(name[i], sizeof(name[i]), "127.0.0.1:%d", be[i]->port);
		formats_agree(sport, i, name[i], 1);
	}
	for (i = 0; i < 3; i++)
		who(lb->port);		/* b1, b2, b1 */
	set_health(be[1], "sick");
	expect_event(lb, be[1], "DOWN after 3 failed checks: status 503",
	    3000);
	formats_agree(sport, 0, name[0], 1);
	formats_agree(sport, 1, name[1], 0);

	/* The why, the counters, and the same numbers in JSON and metrics. */
	json = page(sport, "/status.json", NULL, "application/json");
	prom = page(sport, "/metrics", NULL, "text/plain");
	json_at(json, "backends.1.why", v, sizeof(v));
	ck_assert_str_eq(v, "status 503");
	json_at(json, "backends.0.requests", v, sizeof(v));
	ck_assert_str_eq(v, "2");
	ck_assert_double_eq(metric(prom, "lb_backend_requests_total",
	    name[0]), 2);
	ck_assert_double_eq(metric(prom, "lb_backend_requests_total",
	    name[1]), 1);
	ck_assert_double_eq(metric(prom, "lb_backends_up", NULL), 1);
	json_at(json, "backends_up", v, sizeof(v));
	ck_assert_str_eq(v, "1");
	json_at(json, "backends.1.fall", v, sizeof(v));
	ck_assert_str_eq(v, "3");
	json_at(json, "backends.1.checks_failed", v, sizeof(v));
	ck_assert_int_ge(atoi(v), 3);
	ck_assert(metric(prom, "lb_backend_checks_failed_total", name[1]) >= 3);
	ck_assert(json_get(json, "backends.2", v, sizeof(v)) < 0);
	free(json);
	free(prom);

	set_health(be[1], "well");
	expect_event(lb, be[1], "UP after 2 passed checks", 3000);
	formats_agree(sport, 1, name[1], 1);
}
END_TEST

START_TEST(status_page_is_read_only)
{
	struct h_proc *b, *lb;
	struct h_conn *c;
	struct h_resp r;
	int sport = h_free_port();
	char sarg[32];

	snprintf(sarg, sizeof(sarg), "%d", sport);	/* loopback */
	b = h_backend("b1", "-q", NULL);
	lb = h_lb(1, &b, "-a", sarg, NULL);
	ck_assert_int_eq(h_wait_port(sport, h_scaled(2000)), 0);
	ck_assert_int_eq(h_request(sport, "POST /status.json HTTP/1.1\r\n"
	    "Host: x\r\nContent-Length: 0\r\n\r\n", &r), 0);
	ck_assert_int_eq(r.status, 405);
	ck_assert_pstr_eq(h_header(&r, "Allow"), "GET, HEAD");
	h_resp_free(&r);
	ck_assert_int_eq(get(sport, "/control/sick", NULL, NULL), 404);
	/* HEAD: the GET's Content-Length, and not one byte of body (read
	 * as if it were a GET: the connection must close before any). */
	c = h_connect(sport);
	h_sends(c, "HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
	ck_assert_int_eq(h_read_response(c, &r, 0, h_scaled(2000)), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_int_gt(atoi(h_header(&r, "Content-Length")), 500);
	ck_assert_uint_eq(r.body_len, 0);
	ck_assert_int_eq(r.complete, 0);
	h_resp_free(&r);
	ck_assert_int_eq(h_request(sport, "nonsense\r\n\r\n", &r), 0);
	ck_assert_int_eq(r.status, 400);
	h_resp_free(&r);
	ck_assert_str_eq(who(lb->port), "b1");	/* and lb serves on */
}
END_TEST

/* Idle connections that fill every slot cannot lock the page out. */
START_TEST(idle_clients_cannot_lock_out_the_status_page)
{
	enum { N = 40 };
	struct h_proc *b, *lb;
	struct h_conn *c[N];
	int i, sport = h_free_port();
	char sarg[32], *json;

	snprintf(sarg, sizeof(sarg), "%d", sport);
	b = h_backend("b1", "-q", NULL);
	lb = h_lb(1, &b, "-a", sarg, NULL);
	ck_assert_int_eq(h_wait_port(sport, h_scaled(2000)), 0);
	for (i = 0; i < N; i++)
		c[i] = h_connect(sport);
	h_pause_ms(100);
	json = page(sport, "/status.json", NULL, "application/json");
	ck_assert(json_valid(json));
	free(json);
	for (i = 0; i < N; i++)
		h_close(c[i]);
	ck_assert_str_eq(who(lb->port), "b1");
}
END_TEST

/*
 * The HTML page in a real browser: headless Chromium loads it and the
 * DOM it builds has every backend's row. CI sets REQUIRE_CHROMIUM=1, so
 * there a missing browser is a failure, not a skip.
 */
START_TEST(status_page_loads_in_chromium)
{
	const char *chromium = getenv("CHROMIUM");
	struct h_proc *be[3], *lb, *browser;
	const char *logs = getenv("H_LOGDIR");
	char *argv[16], url[64], profile[300], sarg[32], row[96], *dom;
	char *rm[] = { "rm", "-rf", profile + 16, NULL };
	int i, n = 0, sport = h_free_port();

	if (chromium == NULL)
		chromium = "chromium";
	if (!h_on_path(chromium)) {
		ck_assert_msg(getenv("REQUIRE_CHROMIUM") == NULL,
		    "REQUIRE_CHROMIUM is set but there is no %s", chromium);
		h_skip("no chromium here (apt-get install chromium)");
		return;
	}
	snprintf(sarg, sizeof(sarg), "127.0.0.1:%d", sport);
	for (i = 0; i < 3; i++)
		be[i] = h_backend(i == 0 ? "b1" : i == 1 ? "b2" : "b3", "-q",
		    i == 2 ? "-k" : NULL, NULL);
	lb = h_lb(3, be, "-i", "100", "-a", sarg, NULL);
	expect_event(lb, be[2], "DOWN after 3 failed checks", 3000);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", sport);
	/* Its own empty profile, removed afterwards (rm[] points into it). */
	snprintf(profile, sizeof(profile), "--user-data-dir=%s/chromium-%ld",
	    logs != NULL ? logs : "/tmp", (long)getpid());
	argv[n++] = (char *)chromium;
	argv[n++] = "--headless";
	argv[n++] = "--no-sandbox";	/* CI runs as root */
	argv[n++] = "--disable-gpu";
	argv[n++] = "--no-first-run";
	argv[n++] = "--disable-background-networking";
	argv[n++] = "--disable-component-update";
	argv[n++] = "--disable-sync";
	argv[n++] = profile;
	argv[n++] = "--dump-dom";
	argv[n++] = url;
	argv[n] = NULL;
	browser = h_spawn("chromium", argv, 0);
	ck_assert_int_eq(h_wait_exit(browser, 25000), 0);
	dom = h_slurp(browser->out);
	unlink(browser->err);	/* its own chatter is not ours to judge */
	ck_assert_int_eq(h_wait_exit(h_spawn("rm", rm, 0), 10000), 0);
	ck_assert_msg(strstr(dom, "<title>lb status</title>") != NULL,
	    "not the status page: %.300s", dom);
	for (i = 0; i < 3; i++) {
		snprintf(row, sizeof(row), "<tr class=\"%s\" id=\"backend-%d\">"
		    "<td>127.0.0.1:%d</td>", i == 2 ? "down" : "up", i + 1,
		    be[i]->port);
		ck_assert_msg(strstr(dom, row) != NULL, "no row '%s' in %s",
		    row, dom);
	}
	free(dom);
}
END_TEST

/* One -l, one -a, on two addresses: else exit 2, naming the options. */
START_TEST(listen_options_are_checked)
{
	char *twice_l[] = { "-l", "9000", "-l", "9001", "-b", "127.0.0.1:9",
	    NULL };
	char *twice_a[] = { "-a", "9000", "-b", "127.0.0.1:9", "-a", "9001",
	    NULL };
	char *same[] = { "-a", "127.0.0.1:9000", "-l", "9000", "-b",
	    "127.0.0.1:9", NULL };
	char *as_default[] = { "-a", "8080", "-b", "127.0.0.1:9", NULL };

	h_expect_bad_args(twice_l, "lb: -l given twice: '9000', then '9001'");
	h_expect_bad_args(twice_a, "lb: -a given twice: '9000', then '9001'");
	h_expect_bad_args(same, "lb: -a 127.0.0.1:9000 is the -l address too");
	h_expect_bad_args(as_default, "lb: -a 127.0.0.1:8080 is the -l "
	    "address too (-l's default)");
}
END_TEST

START_TEST(health_options_are_checked)
{
	static const char *const bad[][2] = {
		{ "-H", "health" }, { "-H", "/a b" }, { "-R", "0" },
		{ "-R", "x" }, { "-F", "0" }, { "-F", "101" }, { "-a", "x:y" },
		{ "-a", "" }, { "-t", "check=0" }, { "-i", "0" },
	};
	char *args[5], want[32];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		args[0] = "-b";
		args[1] = "127.0.0.1:9";
		args[2] = (char *)bad[i][0];
		args[3] = (char *)bad[i][1];
		args[4] = NULL;
		snprintf(want, sizeof(want), "%s '%s'", bad[i][0], bad[i][1]);
		h_expect_bad_args(args, want);
	}
}
END_TEST

Suite *
health_suite(void)
{
	const TTest *const tests[] = {
		a_sick_backend_goes_out_and_comes_back,
		all_killed_then_restarted_resume_by_themselves,
		a_hung_backend_goes_out_by_the_check_timeout,
		probes_go_on_while_every_backend_is_down,
		live_traffic_takes_out_only_probes_bring_back,
		five_hundreds_do_not_take_a_backend_out,
		the_check_path_is_the_one_given,
		a_4xx_check_says_what_to_do,
		lb_out_of_descriptors_takes_no_backend_down,
		fail_open_tries_them_all_anyway,
		status_page_agrees_with_reality,
		status_page_is_read_only,
		idle_clients_cannot_lock_out_the_status_page,
		status_page_loads_in_chromium,
		health_options_are_checked,
		listen_options_are_checked,
		NULL
	};

	return h_suite("health", tests, NULL);
}
