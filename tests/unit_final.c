/*
 * unit_final.c - final/'s timers, backend choice and health rules, tested
 * alone; and the suites final's test program runs (http.c's own are in
 * unit_http.c).
 */
#include <sys/types.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include <check.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../final/backend.h"
#include "../final/balance.h"
#include "../final/config.h"
#include "../final/health.h"
#include "../final/log.h"
#include "../final/loop.h"
#include "suites.h"

/* The modules under test read the configuration that final/main.c owns. */
struct config cfg = { .interval_ms = 2000, .pool_size = 4, .rise = 2,
	.fall = 3, .check_ms = 1000, .health_path = "/health" };

/* n backends on 127.0.0.1:9000 and up, all up, as lb starts them. */
static void
make_backends(int n)
{
	const char *why;
	char arg[32];
	int i;

	nbackends = 0;
	for (i = 0; i < n; i++) {
		snprintf(arg, sizeof(arg), "127.0.0.1:%d", 9000 + i);
		ck_assert_int_eq(backend_add(arg, &why), 0);
	}
}

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

/*
 * A timer moved later keeps its place in the heap (a move costs nothing)
 * but fires at its new deadline, not its old one; moved earlier, at once.
 */
START_TEST(timers_moved_later_fire_late)
{
	struct timer late, early;
	double t0 = loop_clock();

	nfired = 0;
	timer_init(&late, record, "l");
	timer_init(&early, record, "e");
	timer_arm(&late, t0 + 0.05);
	timer_arm(&late, t0 + 0.2);		/* later: a lazy move */
	timer_arm(&early, t0 + 5);
	timer_arm(&early, t0 + 0.1);		/* earlier: sifted now */
	while (nfired < 2 && loop_clock() - t0 < 3)
		loop_run_wait(1);
	ck_assert_str_eq(fired, "el");
	ck_assert(loop_clock() - t0 >= 0.2);
	ck_assert_int_eq(late.slot, -1);
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
	const char *states;	/* U up, D down */
	int	start;		/* where the round-robin cursor is */
	int	fail_open;	/* -o */
	const char *picks;	/* backends picked, one per balance_pick() */
} rr[] = {
	{ "UUU", 0, 0, "0120" },
	{ "UDU", 0, 0, "0202" },
	{ "DDD", 0, 0, "-" },
	{ "DDU", 1, 0, "222" },
	{ "UUD", 2, 0, "0101" },
	{ "DDD", 1, 1, "1201" },	/* fail open: every one in turn */
	{ "DUD", 0, 1, "111" },		/* but only while none is up */
};

START_TEST(round_robin_skips_what_is_down)
{
	const char *p;
	int i;

	make_backends((int)strlen(rr[_i].states));
	cfg.fail_open = 0;
	while (balance_pick() != (rr[_i].start + nbackends - 1) % nbackends)
		;	/* the cursor now points at start */
	for (i = 0; i < nbackends; i++)
		backends[i].up = rr[_i].states[i] == 'U';
	cfg.fail_open = rr[_i].fail_open;
	for (p = rr[_i].picks; *p != '\0'; p++)
		ck_assert_int_eq(balance_pick(), *p == '-' ? -1 : *p - '0');
	cfg.fail_open = 0;
}
END_TEST

/*
 * Smooth weighted round robin. weights: one digit per backend, a b c...
 * In the script, a letter is the backend the next pick must give (- for
 * none); !x takes x down, +x brings it back; * says the last one picked
 * failed live traffic, so the retry that comes next must go elsewhere;
 * o turns fail open (-o) on. Spaces are for the eye.
 */
static const struct {
	const char *weights;
	const char *script;
} wrr[] = {
	{ "511", "aabacaa aabacaa" },
	{ "111", "abc abc" },
	{ "31", "abaa abaa" },		/* ties go from the cursor: b second */
	{ "221", "abcab abcab" },
	{ "311", "abaca abaca" },
	{ "123", "cbcabc cbcabc" },
	{ "511", "aab !c aabaaa aabaaa +c aabacaa" },	/* afresh each time */
	{ "511", "aaba !a bcbc +a aabacaa" },
	{ "511", "a* b* a* caaaaaba" },	/* a retry goes elsewhere */
	{ "11", "a* b a b" },		/* and the turn goes on as before */
	{ "111", "a b* c a b c" },
	/* b fails every time: its retries starve nobody (a 2, c 1). */
	{ "211", "ab*ca ab*ca ab*ca" },
	{ "51", "!b a* a a" },		/* unless that is the only one up */
	{ "111", "a !b ca* ca" },
	{ "31", "!a !b - o abaa abaa" },	/* fail open: by weight too */
};

START_TEST(smooth_weighted_round_robin)
{
	const char *w = wrr[_i].weights, *p, *why;
	char arg[48];
	int i, n = (int)strlen(w), last = -1, picks = 0;

	/* Twice: the first list only brings the cursor round to a. */
	make_backends(n);
	while (balance_pick() != n - 1)
		;
	nbackends = 0;
	for (i = 0; i < n; i++) {
		snprintf(arg, sizeof(arg), "127.0.0.1:%d,weight=%c", 9000 + i,
		    w[i]);
		ck_assert_int_eq(backend_add(arg, &why), 0);
		ck_assert_int_eq(backends[i].weight, w[i] - '0');
	}
	cfg.fail_open = 0;
	for (p = wrr[_i].script; *p != '\0'; p++) {
		if (*p == '!' || *p == '+') {
			backends[p[1] - 'a'].up = *p == '+';
			p++;
		} else if (*p == '*') {
			balance_failed(&backends[last]);
		} else if (*p == 'o') {
			cfg.fail_open = 1;
		} else if (*p != ' ') {
			last = balance_pick();
			picks++;
			ck_assert_msg(last == (*p == '-' ? -1 : *p - 'a'),
			    "weights %s, pick %d of '%s': %c", w, picks,
			    wrr[_i].script, last < 0 ? '-' : 'a' + last);
		}
	}
	cfg.fail_open = 0;
}
END_TEST

/*
 * A backend that cannot take a request (at its maxconn) sits the pick
 * out whole: it gains no credit while it waits. Before, it added its
 * weight at every pick it could not win; after a long full spell it
 * took every pick (and after 2.3 million, the sum wrapped round and it
 * took none). Freed, it takes its turn as if it had never been full.
 */
START_TEST(a_full_backend_gains_no_credit)
{
	int i, a = 0;

	make_backends(2);
	backends[0].maxconn = 1;
	backends[0].inflight = 1;	/* full */
	for (i = 0; i < 100000; i++)
		ck_assert_int_eq(balance_pick(), 1);
	backends[0].inflight = 0;
	for (i = 0; i < 10; i++)
		a += balance_pick() == 0;
	ck_assert_msg(a == 5, "freed, a took %d of 10", a);
	ck_assert_int_lt(backends[1].current, 100);
	ck_assert_int_gt(backends[1].current, -100);
}
END_TEST

/* -b HOST:PORT,weight=N: N from 1 to 100, and no other option. */
static const struct {
	const char *arg;
	int	weight;		/* 0: refused */
} weights[] = {
	{ "127.0.0.1:9000", 1 },
	{ "127.0.0.1:9000,weight=1", 1 },
	{ "127.0.0.1:9000,weight=100", 100 },
	{ "[::1]:9000,weight=3", 3 },
	{ "localhost:9000,weight=7", 7 },
	{ "127.0.0.1:9000,weight=0", 0 },
	{ "127.0.0.1:9000,weight=101", 0 },
	{ "127.0.0.1:9000,weight=x", 0 },
	{ "127.0.0.1:9000,weight=3x", 0 },
	{ "127.0.0.1:9000,weight=-1", 0 },
	{ "127.0.0.1:9000,weight=", 0 },
	{ "127.0.0.1:9000,weight", 0 },
	{ "127.0.0.1:9000,foo=1", 0 },
	{ "127.0.0.1:9000,weight=2,foo=1", 0 },
	{ "127.0.0.1:9000,", 0 },
	{ "[::1]:9000,weight=99999999999999999999", 0 },
};

START_TEST(weights_are_parsed)
{
	const char *why = NULL;
	int r;

	nbackends = 0;
	r = backend_add(weights[_i].arg, &why);
	if (weights[_i].weight == 0) {
		ck_assert_int_eq(r, -1);
		ck_assert_int_eq(nbackends, 0);
		ck_assert_ptr_nonnull(why);
	} else {
		ck_assert_int_eq(r, 0);
		ck_assert_int_eq(backends[0].weight, weights[_i].weight);
		ck_assert_str_eq(backends[0].addr.port, "9000");
	}
}
END_TEST

/*
 * The rise/fall rule. Results: P a passed check, F a failed check, L a
 * connect that live traffic could not make. After each one the backend
 * is U(p) or D(own); a capital letter where that result changed it.
 */
static const struct {
	int	rise, fall;
	const char *results;
	const char *states;
} rules[] = {
	{ 2, 3, "FFF", "uuD" },
	{ 2, 3, "PPPP", "uuuu" },
	{ 2, 3, "FFPFFF", "uuuuuD" },		/* a pass clears failures */
	{ 2, 3, "FFFPP", "uuDdU" },
	{ 2, 3, "FFFPFPP", "uuDdddU" },		/* a failure clears passes */
	{ 2, 3, "FFFPPF", "uuDdUu" },		/* one failure is not three */
	{ 2, 3, "LLL", "uuD" },			/* live traffic counts too */
	{ 2, 3, "LFL", "uuD" },
	{ 2, 3, "FFFPLP", "uuDddd" },		/* and resets a rise */
	{ 2, 3, "FFFLLLLPP", "uuDdddddU" },
	{ 1, 1, "FPFP", "DUDU" },
	{ 3, 2, "FFPPPP", "uDddUu" },
	{ 5, 5, "FFFFFPPPPP", "uuuuDddddU" },
};

START_TEST(rise_and_fall)
{
	const char *r = rules[_i].results, *want = rules[_i].states;
	struct backend *be = &backends[0];
	int i, change, live = 0;

	make_backends(1);
	cfg.rise = rules[_i].rise;
	cfg.fall = rules[_i].fall;
	for (i = 0; r[i] != '\0'; i++) {
		change = health_rule(be, r[i] == 'P', r[i] == 'L');
		live += r[i] == 'L';
		ck_assert_msg(be->up == (want[i] == 'u' || want[i] == 'U'),
		    "after %.*s: up is %d", i + 1, r, be->up);
		ck_assert_int_eq(change, want[i] == 'U' ? 1 : want[i] == 'D' ?
		    -1 : 0);
		if (want[i] == 'D') {	/* the run that took it down */
			ck_assert_int_eq(be->fails, cfg.fall);
			ck_assert_int_le(be->fails_live, live);
		}
	}
	cfg.rise = 2;
	cfg.fall = 3;
}
END_TEST

static const struct {
	const char *line;
	int	status;
} lines[] = {
	{ "HTTP/1.1 200 OK\r", 200 },
	{ "HTTP/1.1 200 OK", 200 },
	{ "HTTP/1.0 503 Service Unavailable\r", 503 },
	{ "HTTP/1.1 204\r", 204 },
	{ "HTTP/1.1 301 Moved Permanently\r", 301 },
	{ "HTTP/1.1 599 x", 599 },
	{ "HTTP/1.1 100 Continue\r", 100 },
	{ "HTTP/1.1 099 x", -1 },
	{ "HTTP/1.1 600 x", -1 },
	{ "HTTP/1.1 20 OK", -1 },
	{ "HTTP/1.1 2000 OK", -1 },
	{ "HTTP/1.1  200 OK", -1 },
	{ "HTTP/1.1 2x0 OK", -1 },
	{ "HTTP/2 200 OK", -1 },
	{ "HTTP/1.2 200 OK", -1 },
	{ "http/1.1 200 OK", -1 },
	{ "ok", -1 },
	{ "", -1 },
	{ "\r", -1 },
};

START_TEST(status_lines)
{
	const char *l = lines[_i].line;

	ck_assert_int_eq(health_status_line(l, strlen(l)), lines[_i].status);
}
END_TEST

/*
 * Retry-After: the seconds until the probe that could bring a backend
 * back. Each backend: up or down, its passes so far, and when its next
 * probe starts (seconds from now; negative: one started that long ago
 * and is under way). Interval 2 s, rise 2.
 */
static const struct {
	int	n;
	struct { int up, passes; double next; } be[3];
	int	want;
} waits[] = {
	{ 1, { { 0, 0, 0.5 } }, 3 },		/* 0.5 s, then 2 s more */
	{ 1, { { 0, 1, 0.5 } }, 1 },		/* this probe will do */
	{ 1, { { 0, 1, 1.2 } }, 2 },
	{ 1, { { 0, 0, -0.1 } }, 2 },		/* under way, one more */
	{ 1, { { 0, 1, -0.1 } }, 1 },
	{ 2, { { 0, 0, 1.5 }, { 0, 1, 1.9 } }, 2 },	/* the sooner */
	{ 2, { { 1, 0, 0.3 }, { 0, 0, 0.1 } }, 1 },	/* up: its probe */
	{ 3, { { 0, 0, 1.9 }, { 0, 0, 1.0 }, { 0, 0, 1.5 } }, 3 },
};

START_TEST(retry_after_counts_the_probes_still_needed)
{
	double now = 1000;
	int i;

	make_backends(waits[_i].n);
	for (i = 0; i < waits[_i].n; i++) {
		struct backend *be = &backends[i];
		double next = waits[_i].be[i].next;

		be->up = waits[_i].be[i].up;
		be->passes = waits[_i].be[i].passes;
		be->check.stage = next < 0 ? CHECK_READ : CHECK_IDLE;
		be->check.started = now + next;
		be->check.timer.when = now + next;
	}
	ck_assert_int_eq(health_retry_after(now), waits[_i].want);
}
END_TEST

/* The first probes are spread over one interval, in backend order. */
START_TEST(first_probes_are_spread)
{
	double t0;
	int i;

	make_backends(4);
	t0 = loop_now();
	health_start();
	for (i = 0; i < 4; i++) {
		ck_assert_int_ge(backends[i].check.timer.slot, 0);
		ck_assert_double_eq_tol(backends[i].check.timer.when,
		    t0 + 0.5 * i, 1e-9);
		ck_assert_int_eq(backends[i].check.last_ok, -1);
	}
	health_stop();
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(backends[i].check.timer.slot, -1);
	loop_free();
}
END_TEST

/*
 * A pass that ends many requests fills the access log's buffer with
 * lines no reader stalled on: they must go out, not be dropped. (A
 * bench of 10,000 clients answered in one burst once dropped 2,560
 * lines a pass to a file, which never stalls.) stdout is a file here.
 */
START_TEST(a_full_log_buffer_goes_out_before_a_line_is_dropped)
{
	enum { N = 10000 };
	struct access a = { "127.0.0.1", "GET", "/a-path-of-some-length", "-",
	    200, 100, 0.1, 0.1, "--", 0, 0, -1 };
	unsigned long long access = 0, events = 0;
	FILE *f = tmpfile();
	char line[512];
	int i, n = 0;

	ck_assert_ptr_nonnull(f);
	ck_assert_int_ge(dup2(fileno(f), 1), 0);
	log_init();
	for (i = 0; i < N; i++)		/* a million bytes, in one pass */
		log_access(&a);
	log_flush();
	log_dropped(&access, &events);
	ck_assert_int_eq(access, 0);
	rewind(f);
	while (fgets(line, sizeof(line), f) != NULL)
		n += strstr(line, " GET /a-path-of-some-length ") != NULL;
	ck_assert_int_eq(n, N);
	fclose(f);
}
END_TEST

/* A new worker's table, and what the master saw in it (shared memory). */
struct watched {
	volatile int	stop, reading;
	volatile long	reads, seen;
	struct backend	table[1];
};

/* As the master's status page does: read the counters, again and again. */
static void
watch_counters(struct watched *w)
{
	volatile struct backend *t = w->table;

	w->reading = 1;
	while (!w->stop) {
		if (t->requests != 0 || t->failures != 0 || t->bytes != 0 ||
		    t->connects != 0 || t->active != 0 || t->nidle != 0 ||
		    t->users != 0)
			w->seen++;
		w->reads++;
	}
	_exit(0);
}

/*
 * -w N: a worker just forked moves its backends[] into its table in
 * shared memory, counters at 0. Its backends[] are the master's, copied
 * by fork(), and their counters hold the master's sums of every worker:
 * they must never show in the table, not even for an instant, or a
 * status page read in that instant counts every request again (once,
 * 30 requests for 20, in a_dead_worker_is_started_again). Here another
 * process reads the table all the while, as the master does.
 */
START_TEST(a_new_worker_never_shows_the_masters_sums)
{
	struct backend *home = backends, *src;
	struct watched *w;
	FILE *f = tmpfile();
	pid_t reader;
	double end;
	int status;
	long moves = 0;

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(ftruncate(fileno(f), sizeof(*w)), 0);
	w = mmap(NULL, sizeof(*w), PROT_READ | PROT_WRITE, MAP_SHARED,
	    fileno(f), 0);
	ck_assert_ptr_ne(w, MAP_FAILED);
	make_backends(1);
	src = backends;
	src[0].requests = 10;	/* the master's sums, as fork() copied them */
	src[0].failures = src[0].bytes = src[0].connects = 10;
	src[0].active = src[0].nidle = src[0].users = 1;
	ck_assert_int_ge(reader = fork(), 0);
	if (reader == 0)
		watch_counters(w);
	while (!w->reading)
		;
	end = loop_clock() + 0.5;
	while (w->seen == 0 && loop_clock() < end) {
		backends = src;
		backend_move(w->table);
		moves++;
	}
	w->stop = 1;
	ck_assert_int_eq(waitpid(reader, &status, 0), reader);
	ck_assert_msg(w->seen == 0, "the master's sums in a new worker's "
	    "table, seen %ld times in %ld reads (%ld moves)", w->seen,
	    w->reads, moves);
	ck_assert_ptr_eq(backends, w->table);
	ck_assert_int_eq(w->table[0].slot, BE_LIVE);
	ck_assert_int_eq(w->table[0].requests, 0);
	backends = home;
	munmap(w, sizeof(*w));
	fclose(f);
}
END_TEST

static Suite *
final_unit_suite(void)
{
	const struct unit units[] = {
		{ timers_fire_in_deadline_order, 0 },
		{ select_sleeps_until_the_nearest_deadline, 0 },
		{ timers_moved_later_fire_late, 0 },
		{ round_robin_skips_what_is_down, ROWS(rr) },
		{ smooth_weighted_round_robin, ROWS(wrr) },
		{ a_full_backend_gains_no_credit, 0 },
		{ weights_are_parsed, ROWS(weights) },
		{ rise_and_fall, ROWS(rules) },
		{ status_lines, ROWS(lines) },
		{ retry_after_counts_the_probes_still_needed, ROWS(waits) },
		{ first_probes_are_spread, 0 },
		{ a_full_log_buffer_goes_out_before_a_line_is_dropped, 0 },
		{ a_new_worker_never_shows_the_masters_sums, 0 },
		{ NULL, 0 }
	};

	return unit_suite("final-unit", units, NULL, NULL);
}

Suite *(*const lesson_suites[])(void) = {
	http_unit_suite, final_unit_suite, conn_unit_suite, pp_unit_suite,
	forward_suite,
	balance_suite,
	concurrency_suite, http11_suite, health_suite, faults_suite,
	ws_unit_suite, tunnel_suite, ops_suite, deploy_suite, protect_suite,
	origin_suite, NULL
};
