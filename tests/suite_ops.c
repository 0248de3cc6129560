/*
 * suite_ops.c - final/ as an operator runs it for months: a backend
 * file (-f) read again on SIGHUP, one backend drained for maintenance,
 * and nothing dropped while that happens.
 *
 * Every test writes the backend file, starts lb on it, rewrites it (a
 * new file renamed over the old, as an operator's editor or deploy tool
 * does), sends SIGHUP, and checks from outside: who answers, what the
 * event log and the status page say, and that no client saw an error.
 */
#include <sys/types.h>

#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ask.h"
#include "harness.h"
#include "json.h"
#include "suites.h"

#define GET	"GET / HTTP/1.1\r\nHost: x\r\n\r\n"

/* The backend file of this test: in the log directory, kept for a look. */
static const char *
list_path(void)
{
	static char path[160];
	const char *dir = getenv("H_LOGDIR");

	if (path[0] == '\0')
		snprintf(path, sizeof(path), "%s/ops-%ld.list",
		    dir != NULL ? dir : "/tmp", (long)getpid());
	return path;
}

/* Write the backend file whole, then rename it into place. */
static void
write_list(const char *fmt, ...)
{
	char tmp[200];
	va_list ap;
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.new", list_path());
	ck_assert_ptr_nonnull(f = fopen(tmp, "w"));
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(rename(tmp, list_path()), 0);
}

/*
 * lb on the backend file, checking every 100 ms, status page on *sport,
 * and one more option (opt val) if opt is not NULL.
 */
static struct h_proc *
lb_on_list(int *sport, const char *opt, const char *val)
{
	static char sarg[32];
	char *args[10];
	int n = 0;

	*sport = h_free_port();
	snprintf(sarg, sizeof(sarg), "127.0.0.1:%d", *sport);
	args[n++] = "-f";
	args[n++] = (char *)list_path();
	args[n++] = "-i";
	args[n++] = "100";
	args[n++] = "-a";
	args[n++] = sarg;
	if (opt != NULL) {
		args[n++] = (char *)opt;
		args[n++] = (char *)val;
	}
	args[n] = NULL;
	return h_lb_args(args);
}

/* SIGHUP, then wait for the event line that says it was read. */
static void
reload(struct h_proc *lb, const char *want)
{
	ck_assert_int_eq(kill(lb->pid, SIGHUP), 0);
	ck_assert_msg(h_wait_for_text(lb->err, want, h_scaled(3000)),
	    "no '%s' on the balancer's stderr after SIGHUP", want);
}

/* Of n requests through lb, how many did backend be answer? */
static int
share(int port, struct h_proc *be, int n)
{
	int i, hits = 0;

	for (i = 0; i < n; i++)
		hits += strcmp(who(port), be->name) == 0;
	return hits;
}

/* status.json's backends.i.key, as a string in v. */
static void
backend_fact(int sport, int i, const char *key, char *v, size_t n)
{
	char path[64], *json = page(sport, "/status.json", NULL,
	    "application/json");

	snprintf(path, sizeof(path), "backends.%d.%s", i, key);
	json_at(json, path, v, n);
	free(json);
}

START_TEST(a_reload_adds_removes_and_reweights)
{
	struct h_proc *b1, *b2, *b3, *lb;
	char want[512], v[64];
	long connects;
	int sport;

	b1 = h_backend("b1", "-q", NULL);
	b2 = h_backend("b2", "-q", NULL);
	b3 = h_backend("b3", "-q", NULL);
	write_list("# two to start with\n127.0.0.1:%d\n\n127.0.0.1:%d  # b2\n",
	    b1->port, b2->port);
	lb = lb_on_list(&sport, "-t", "pool=60000");	/* slow runs too */
	ck_assert_int_eq(h_wait_port(sport, h_scaled(2000)), 0);
	ck_assert_int_eq(share(lb->port, b1, 4), 2);	/* b1 b2 b1 b2 */
	backend_fact(sport, 1, "connects", v, sizeof(v));
	connects = atol(v);

	write_list("127.0.0.1:%d,weight=3\n127.0.0.1:%d\n", b2->port,
	    b3->port);
	snprintf(want, sizeof(want), "reload of %s: 2 backends; added "
	    "127.0.0.1:%d; removed 127.0.0.1:%d; changed 127.0.0.1:%d "
	    "(weight 3)", list_path(), b3->port, b1->port, b2->port);
	reload(lb, want);
	snprintf(want, sizeof(want), "127.0.0.1:%d removed: its last request "
	    "is done (2 requests in all)", b1->port);
	ck_assert(h_wait_for_text(lb->err, want, h_scaled(2000)));

	/* b3 starts down and takes traffic once its checks pass. */
	wait_for(lb->port, "b3", 3000);
	ck_assert_int_eq(share(lb->port, b2, 8), 6);	/* weights 3 and 1 */
	ck_assert_int_eq(share(lb->port, b1, 8), 0);

	/* b2 stayed: its counters and its pooled connection with it. */
	backend_fact(sport, 0, "name", v, sizeof(v));
	snprintf(want, sizeof(want), "127.0.0.1:%d", b2->port);
	ck_assert_str_eq(v, want);
	backend_fact(sport, 0, "weight", v, sizeof(v));
	ck_assert_str_eq(v, "3");
	backend_fact(sport, 0, "requests", v, sizeof(v));
	ck_assert_int_ge(atol(v), 2 + 6);
	backend_fact(sport, 0, "connects", v, sizeof(v));
	ck_assert_int_eq(atol(v), connects);
}
END_TEST

/* lb -f on a file holding text exits 2, saying "lb: bad -f: FILE" and why. */
static void
expect_bad_file(const char *text, const char *why)
{
	char *argv[4], want[512], *err;
	struct h_proc *p;

	write_list("%s", text);
	argv[0] = (char *)h_lb_path();
	argv[1] = "-f";
	argv[2] = (char *)list_path();
	argv[3] = NULL;
	p = h_spawn("lb-file", argv, 0);
	ck_assert_int_eq(h_wait_exit(p, h_scaled(5000)), 2);
	err = h_slurp(p->err);
	snprintf(want, sizeof(want), "lb: bad -f: %s", list_path());
	ck_assert_msg(strstr(err, want) != NULL && strstr(err, why) != NULL,
	    "stderr '%s' lacks '%s' or '%s'", err, want, why);
	free(err);
}

START_TEST(a_bad_file_is_refused_at_start_and_ignored_on_reload)
{
	static const char *const bad[][2] = {
		{ "127.0.0.1:1\nnot-an-address\n", ":2: 'not-an-address': " },
		{ "127.0.0.1:1,weight=0\n", ":1: '127.0.0.1:1,weight=0': "
		    "weight must be a number from 1 to 100" },
		{ "127.0.0.1:1\n127.0.0.1:1,weight=2\n", ":2: "
		    "'127.0.0.1:1,weight=2': listed twice" },
		{ "127.0.0.1:1,drain=yes\n", "drain takes no value" },
		{ "# nothing\n", "lists no backend, and no -b gives one" },
	};
	struct h_proc *b1, *b2, *lb;
	char want[512];
	size_t i;
	int sport;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_bad_file(bad[i][0], bad[i][1]);

	b1 = h_backend("b1", "-q", NULL);
	b2 = h_backend("b2", "-q", NULL);
	write_list("127.0.0.1:%d\n", b1->port);
	lb = lb_on_list(&sport, NULL, NULL);
	write_list("127.0.0.1:%d\n127.0.0.1:%d,weight=x\n", b2->port,
	    b2->port);
	snprintf(want, sizeof(want), "reload failed, the running backends "
	    "stay: %s:2: '127.0.0.1:%d,weight=x': weight must be", list_path(),
	    b2->port);
	reload(lb, want);
	ck_assert_int_eq(share(lb->port, b1, 4), 4);
	unlink(list_path());
	snprintf(want, sizeof(want), "reload failed, the running backends "
	    "stay: %s: No such file or directory", list_path());
	reload(lb, want);
	ck_assert_int_eq(share(lb->port, b1, 2), 2);
	write_list("127.0.0.1:%d\n", b2->port);
	snprintf(want, sizeof(want), "removed 127.0.0.1:%d", b1->port);
	reload(lb, want);
	wait_for(lb->port, "b2", 3000);
	ck_assert_int_eq(h_wait_exit(lb, 0), -1);	/* still running */
}
END_TEST

/*
 * b1 and b2 on the list, and lb on it (with opt val, if opt is not NULL),
 * its status page up on *sport.
 */
static struct h_proc *
lb_on_two(struct h_proc **b1, struct h_proc **b2, int *sport,
    const char *opt, const char *val)
{
	struct h_proc *lb;

	*b1 = h_backend("b1", "-q", NULL);
	*b2 = h_backend("b2", "-q", NULL);
	write_list("127.0.0.1:%d\n127.0.0.1:%d\n", (*b1)->port, (*b2)->port);
	lb = lb_on_list(sport, opt, val);
	ck_assert_int_eq(h_wait_port(*sport, h_scaled(2000)), 0);
	return lb;
}

/*
 * lb_on_two(), and a request that b1 (the first pick) answers after
 * delay_ms, in flight on *slow.
 */
static struct h_proc *
lb_with_slow_request(struct h_proc **b1, struct h_proc **b2, int *sport,
    struct h_conn **slow, int delay_ms)
{
	struct h_proc *lb = lb_on_two(b1, b2, sport, NULL, NULL);
	char req[100];

	ck_assert_ptr_nonnull(*slow = h_connect(lb->port));
	snprintf(req, sizeof(req), "GET /slow?delay=%d HTTP/1.1\r\n"
	    "Host: x\r\n\r\n", delay_ms);
	ck_assert_int_eq(h_sends(*slow, req), 0);
	h_pause_ms(100);
	return lb;
}

START_TEST(a_drained_backend_finishes_and_takes_nothing_new)
{
	struct h_proc *b1, *b2, *lb;
	struct h_conn *slow;
	struct h_resp r;
	char want[200], v[64], *text, *prom, name[32];
	long checks;
	int sport;

	/* The first request goes to b1: a slow one, in flight on the drain. */
	lb = lb_with_slow_request(&b1, &b2, &sport, &slow, 800);
	write_list("127.0.0.1:%d,drain\n127.0.0.1:%d\n", b1->port, b2->port);
	snprintf(want, sizeof(want), "changed 127.0.0.1:%d (weight 1, drain)",
	    b1->port);
	reload(lb, want);
	ck_assert_int_eq(share(lb->port, b1, 6), 0);
	ck_assert_int_eq(h_read_response(slow, &r, 0, h_scaled(3000)), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_int_eq(r.complete, 1);
	ck_assert_pstr_eq(h_header(&r, "X-Backend"), "b1");
	h_resp_free(&r);
	h_close(slow);

	/* Still probed, and shown as drained in every format. */
	checks = checks_seen(b1);
	h_pause_ms(h_scaled(400));
	ck_assert_int_gt(checks_seen(b1), checks);
	backend_fact(sport, 0, "state", v, sizeof(v));
	ck_assert_str_eq(v, "drain");
	backend_fact(sport, 0, "drain", v, sizeof(v));
	ck_assert_str_eq(v, "true");
	backend_fact(sport, 0, "up", v, sizeof(v));
	ck_assert_str_eq(v, "true");
	backend_fact(sport, 0, "idle", v, sizeof(v));
	ck_assert_str_eq(v, "0");	/* its pooled connections closed */
	snprintf(name, sizeof(name), "127.0.0.1:%d", b1->port);
	text = page(sport, "/status.txt", NULL, "text/plain");
	snprintf(want, sizeof(want), "%s DRAIN for ", name);
	ck_assert_msg(strstr(text, want) != NULL, "no '%s' in %s", want, text);
	free(text);
	prom = page(sport, "/metrics", NULL, "text/plain");
	ck_assert_double_eq(metric(prom, "lb_backend_drain", name), 1);
	free(prom);

	/* Back the same way: a reload without drain. */
	write_list("127.0.0.1:%d\n127.0.0.1:%d\n", b1->port, b2->port);
	snprintf(want, sizeof(want), "changed 127.0.0.1:%d (weight 1)",
	    b1->port);
	reload(lb, want);
	ck_assert_int_eq(share(lb->port, b1, 4), 2);
}
END_TEST

/*
 * The status page counts a drained backend's time in DRAIN from the
 * reload that drained it, not from when it last came up.
 */
START_TEST(drain_time_counts_from_the_reload_that_drained)
{
	struct h_proc *b1, *b2, *lb;
	char want[200], *text, *at;
	double secs = -1;
	int sport;

	lb = lb_on_two(&b1, &b2, &sport, NULL, NULL);
	h_pause_ms(h_scaled(1500));	/* up this long before the drain */
	write_list("127.0.0.1:%d,drain\n127.0.0.1:%d\n", b1->port, b2->port);
	snprintf(want, sizeof(want), "changed 127.0.0.1:%d (weight 1, drain)",
	    b1->port);
	reload(lb, want);
	text = page(sport, "/status.txt", NULL, "text/plain");
	snprintf(want, sizeof(want), "127.0.0.1:%d DRAIN for ", b1->port);
	ck_assert_msg((at = strstr(text, want)) != NULL, "no '%s' in %s", want,
	    text);
	ck_assert_int_eq(sscanf(at + strlen(want), "%lf", &secs), 1);
	ck_assert_msg(secs < h_scaled(1000) / 1e3, "%.1f s in DRAIN, drained "
	    "just now: %s", secs, text);
	free(text);
}
END_TEST

/*
 * A backend removed while a request is still in flight on it (GONE, no
 * longer probed), then listed again before that request ends, is as new:
 * DOWN until its checks pass. Once it came back UP on its health from
 * before it was removed, and took requests though it was sick by then.
 */
START_TEST(a_backend_listed_again_while_still_finishing_is_checked_first)
{
	struct h_proc *b1, *b2, *lb;
	struct h_conn *slow;
	struct h_resp r;
	char want[200], v[64];
	int sport;

	lb = lb_with_slow_request(&b1, &b2, &sport, &slow, h_scaled(2000));
	write_list("127.0.0.1:%d\n", b2->port);
	snprintf(want, sizeof(want), "removed 127.0.0.1:%d", b1->port);
	reload(lb, want);
	set_health(b1, "sick");
	write_list("127.0.0.1:%d\n127.0.0.1:%d\n", b1->port, b2->port);
	snprintf(want, sizeof(want), "added 127.0.0.1:%d", b1->port);
	reload(lb, want);
	backend_fact(sport, 0, "state", v, sizeof(v));
	ck_assert_str_eq(v, "down");
	ck_assert_int_eq(share(lb->port, b1, 6), 0);

	ck_assert_int_eq(h_read_response(slow, &r, 0, h_scaled(4000)), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_pstr_eq(h_header(&r, "X-Backend"), "b1");
	h_resp_free(&r);
	h_close(slow);
	set_health(b1, "well");
	wait_for(lb->port, "b1", 3000);
}
END_TEST

/* Round k's answers on c[0..n): each a 200, whole. n. */
static int
read_round(struct h_conn **c, int n, int k)
{
	struct h_resp r;
	int i;

	for (i = 0; i < n; i++) {
		ck_assert_int_eq(h_read_response(c[i], &r, 0,
		    h_scaled(H_TIMEOUT_MS)), 0);
		ck_assert_msg(r.status == 200 && r.complete, "round %d client "
		    "%d: status %d", k, i, r.status);
		h_resp_free(&r);
	}
	return n;
}

/*
 * Keep-alive clients with requests in flight at every reload: backends
 * are added, reweighted, drained and removed under them. Every request
 * gets its 200, on the connection it was sent on.
 */
START_TEST(reloads_under_keep_alive_load_fail_nothing)
{
	enum { CLIENTS = 8, ROUNDS = 24 };
	struct h_proc *b[3], *lb;
	struct h_conn *c[CLIENTS];
	int i, k, sport, ok = 0;

	for (i = 0; i < 3; i++)
		b[i] = h_backend("b", "-q", NULL);
	write_list("127.0.0.1:%d\n127.0.0.1:%d\n", b[0]->port, b[1]->port);
	lb = lb_on_list(&sport, NULL, NULL);
	for (i = 0; i < CLIENTS; i++)
		ck_assert_ptr_nonnull(c[i] = h_connect(lb->port));
	for (k = 0; k < ROUNDS; k++) {
		for (i = 0; i < CLIENTS; i++)
			ck_assert_int_eq(h_sends(c[i], "GET /?delay=30 HTTP/1.1"
			    "\r\nHost: x\r\n\r\n"), 0);
		switch (k % 4) {	/* b[1] is always there */
		case 0:
			write_list("127.0.0.1:%d\n127.0.0.1:%d,weight=2\n"
			    "127.0.0.1:%d\n", b[0]->port, b[1]->port,
			    b[2]->port);
			break;
		case 1:
			write_list("127.0.0.1:%d,drain\n127.0.0.1:%d\n"
			    "127.0.0.1:%d\n", b[0]->port, b[1]->port,
			    b[2]->port);
			break;
		case 2:
			write_list("127.0.0.1:%d\n127.0.0.1:%d\n", b[1]->port,
			    b[2]->port);
			break;
		case 3:
			write_list("127.0.0.1:%d\n127.0.0.1:%d\n", b[0]->port,
			    b[1]->port);
			break;
		}
		ck_assert_int_eq(kill(lb->pid, SIGHUP), 0);
		ok += read_round(c, CLIENTS, k);
	}
	for (i = 0; i < CLIENTS; i++)
		h_close(c[i]);
	ck_assert_int_eq(ok, CLIENTS * ROUNDS);
	ck_assert(h_wait_for_text(lb->err, "reload of", h_scaled(1000)));
}
END_TEST

/* SIGHUP with no -f: said, and nothing else happens. */
START_TEST(sighup_without_a_file_changes_nothing)
{
	struct h_proc *b1, *lb;

	b1 = h_backend("b1", "-q", NULL);
	lb = h_lb(1, &b1, NULL);
	reload(lb, "SIGHUP: no -f FILE to read again; nothing changed");
	ck_assert_int_eq(share(lb->port, b1, 2), 2);
}
END_TEST

/* How many times text occurs in the file at path. */
static int
occurrences(const char *path, const char *text)
{
	char *all = h_slurp(path), *p;
	int n = 0;

	for (p = all; p != NULL && (p = strstr(p, text)) != NULL; p++)
		n++;
	free(all);
	return n;
}

/* status.json's workers.k.key, as a number. */
static long
worker_fact(int sport, int k, const char *key)
{
	char path[64], v[64], *json = page(sport, "/status.json", NULL,
	    "application/json");

	snprintf(path, sizeof(path), "workers.%d.%s", k, key);
	json_at(json, path, v, sizeof(v));
	free(json);
	return atol(v);
}

/* Requests through lb, each on its own connection (any worker's). */
static void
requests(int port, int n, int *to_b1, int *to_b2)
{
	int i;

	for (i = 0; i < n; i++) {
		const char *w = who(port);

		*to_b1 += strcmp(w, "b1") == 0;
		*to_b2 += strcmp(w, "b2") == 0;
	}
}

/*
 * -w 2: one view of health. A backend that fails its checks is DOWN
 * once (one event line) and for both workers at once: no request goes
 * to it, whichever worker takes it. Probes are the master's alone, not
 * one set per worker. The status page adds up both workers' counters.
 */
START_TEST(workers_share_one_view_of_health_and_one_status_page)
{
	struct h_proc *b1, *b2, *lb;
	char v[64], want[128];
	long checks;
	int sport, n1 = 0, n2 = 0, k;

	lb = lb_on_two(&b1, &b2, &sport, "-w", "2");
	requests(lb->port, 40, &n1, &n2);
	ck_assert_int_eq(n1 + n2, 40);

	/* One set of probes: 100 ms apart, not two sets. */
	checks = checks_seen(b1);
	h_pause_ms(1000);
	checks = checks_seen(b1) - checks;
	ck_assert_msg(checks >= 4 && checks <= 13, "%ld checks in 1 s at "
	    "-i 100 with 2 workers", checks);

	set_health(b2, "sick");
	expect_event(lb, b2, "DOWN after 3 failed checks", 3000);
	h_pause_ms(h_scaled(200));	/* the table on its way to them */
	requests(lb->port, 40, &n1, &n2);
	snprintf(want, sizeof(want), "127.0.0.1:%d DOWN", b2->port);
	ck_assert_int_eq(occurrences(lb->err, want), 1);
	ck_assert_int_eq(n1 + n2, 80);
	ck_assert_int_le(n2, 20);	/* none after it went down */

	/* The page sums both workers: every request we made, no more. */
	backend_fact(sport, 0, "requests", v, sizeof(v));
	ck_assert_int_eq(atol(v), n1);
	backend_fact(sport, 1, "requests", v, sizeof(v));
	ck_assert_int_eq(atol(v), n2);
	for (k = 0; k < 2; k++)
		ck_assert_int_gt(worker_fact(sport, k, "pid"), 0);
	ck_assert_int_eq(worker_fact(sport, 0, "requests") +
	    worker_fact(sport, 1, "requests"), 80);
}
END_TEST

/* A worker killed is logged and started again; service goes on. */
START_TEST(a_dead_worker_is_started_again)
{
	struct h_proc *b1, *lb;
	char want[128], v[64], *text;
	long pid;
	int i, sport, n1 = 0, n2 = 0;

	b1 = h_backend("b1", "-q", NULL);
	write_list("127.0.0.1:%d\n", b1->port);
	lb = lb_on_list(&sport, "-w", "2");
	ck_assert_int_eq(h_wait_port(sport, h_scaled(2000)), 0);
	requests(lb->port, 10, &n1, &n2);
	pid = worker_fact(sport, 0, "pid");
	ck_assert_int_eq(kill((pid_t)pid, SIGKILL), 0);
	snprintf(want, sizeof(want), "worker 1 (pid %ld) killed by signal %d; "
	    "starting it again", pid, SIGKILL);
	ck_assert(h_wait_for_text(lb->err, want, h_scaled(3000)));
	/* At once, or a second after its start if it died younger. */
	for (i = 0; i < h_scaled(3000) / 50 && (worker_fact(sport, 0, "pid") ==
	    0 || worker_fact(sport, 0, "pid") == pid); i++)
		h_pause_ms(50);
	ck_assert_int_gt(worker_fact(sport, 0, "pid"), 0);
	ck_assert_int_ne(worker_fact(sport, 0, "pid"), pid);
	ck_assert_int_eq(worker_fact(sport, 0, "restarts"), 1);
	text = page(sport, "/status.txt", NULL, "text/plain");
	ck_assert_msg(strstr(text, "started again once") != NULL, "%s", text);
	ck_assert_msg(strstr(text, "started again 0 times") != NULL, "%s",
	    text);
	free(text);
	requests(lb->port, 10, &n1, &n2);
	ck_assert_int_eq(n1, 20);
	backend_fact(sport, 0, "requests", v, sizeof(v));
	ck_assert_int_eq(atol(v), 20);	/* the dead worker's count kept */
}
END_TEST

/*
 * SIGHUP reaches every worker (through the master); SIGTERM drains every
 * worker: a request in flight is answered, then all of lb exits 0.
 */
START_TEST(workers_reload_together_and_drain_together)
{
	struct h_proc *b1, *b2, *lb;
	struct h_conn *slow;
	struct h_resp r;
	char want[256];
	int sport, n1 = 0, n2 = 0, before;

	lb = lb_on_two(&b1, &b2, &sport, "-w", "2");
	requests(lb->port, 10, &n1, &n2);	/* each worker its own turn */
	ck_assert_int_eq(n1 + n2, 10);
	before = n1;
	write_list("127.0.0.1:%d\n", b2->port);
	snprintf(want, sizeof(want), "removed 127.0.0.1:%d", b1->port);
	reload(lb, want);
	h_pause_ms(100);	/* the table on its way to the workers */
	requests(lb->port, 30, &n1, &n2);
	ck_assert_int_eq(n1, before);
	ck_assert_int_eq(n1 + n2, 40);
	ck_assert_int_eq(occurrences(lb->err, "reload of"), 1);
	/* What a worker served stays its, with the backend gone. */
	snprintf(want, sizeof(want), "127.0.0.1:%d removed: its last request "
	    "is done", b1->port);
	ck_assert(h_wait_for_text(lb->err, want, h_scaled(2000)));
	ck_assert_int_eq(worker_fact(sport, 0, "requests") +
	    worker_fact(sport, 1, "requests"), 40);

	/*
	 * While a slow request finishes, nobody may take a new connection
	 * that will never be served: the master's copy of the listening
	 * socket must go as the workers' do (once, it stayed open until the
	 * master exited, and new clients hung there, then were reset).
	 */
	ck_assert_ptr_nonnull(slow = h_connect(lb->port));
	snprintf(want, sizeof(want), "GET /?delay=%d HTTP/1.1\r\n"
	    "Host: x\r\n\r\n", h_scaled(1500));
	ck_assert_int_eq(h_sends(slow, want), 0);
	h_pause_ms(150);
	ck_assert_int_eq(kill(lb->pid, SIGTERM), 0);
	ck_assert_msg(h_wait_refused(lb->port, h_scaled(700)) == 0,
	    "new connections still taken 700 ms after SIGTERM");
	ck_assert_int_eq(h_read_response(slow, &r, 0, h_scaled(4000)), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_int_eq(r.complete, 1);
	h_resp_free(&r);
	h_close(slow);
	ck_assert_int_eq(h_wait_exit(lb, h_scaled(5000)), 0);
	ck_assert_int_eq(occurrences(lb->err, "killed by signal"), 0);
}
END_TEST

/*
 * -w 2 -m 3: a worker with its 3 clients leaves the next ones to the
 * other worker, which has room, instead of taking them only to answer
 * 503 (which once happened whenever one worker won most of the accepts).
 * With both full, a newcomer waits in the kernel's queue until a client
 * leaves, then is served.
 */
START_TEST(a_full_worker_leaves_new_clients_to_the_others)
{
	enum { N = 6 };
	struct h_proc *b1, *lb;
	struct h_conn *c[N + 1];
	struct h_resp r;
	char *args[] = { "-f", (char *)list_path(), "-w", "2", "-m", "3",
	    NULL };
	int i;

	b1 = h_backend("b1", "-q", NULL);
	write_list("127.0.0.1:%d\n", b1->port);
	lb = h_lb_args(args);
	for (i = 0; i < N + 1; i++)	/* all queued before any is served */
		ck_assert_ptr_nonnull(c[i] = h_connect(lb->port));
	for (i = 0; i < N; i++) {
		ck_assert_int_eq(h_sends(c[i], GET), 0);
		ck_assert_int_eq(h_read_response(c[i], &r, 0,
		    h_scaled(H_TIMEOUT_MS)), 0);
		ck_assert_msg(r.status == 200, "client %d of %d: status %d", i +
		    1, N, r.status);
		h_resp_free(&r);
	}
	ck_assert_int_eq(h_sends(c[N], GET), 0);
	ck_assert_int_eq(h_read_response(c[N], &r, 0, 300), -1);
	h_resp_free(&r);	/* what a timed-out read had begun */
	h_close(c[0]);
	ck_assert_int_eq(h_read_response(c[N], &r, 0, h_scaled(2000)), 0);
	ck_assert_int_eq(r.status, 200);
	h_resp_free(&r);
}
END_TEST

/* n pipelined GETs of target on c: each must be answered 200. */
static void
pipelined(struct h_conn *c, const char *target, int n)
{
	char req[512];
	struct h_resp r;
	int i;

	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\n\r\n",
	    target);
	for (i = 0; i < n; i++)
		ck_assert_int_eq(h_sends(c, req), 0);
	for (i = 0; i < n; i++) {
		ck_assert_int_eq(h_read_response(c, &r, 0,
		    h_scaled(H_TIMEOUT_MS)), 0);
		ck_assert_int_eq(r.status, 200);
		h_resp_free(&r);
	}
}

/*
 * 2,000 requests (40 pipelined bursts of 50) for a target of n - 1
 * bytes, written into target: more access log than a pipe and lb's
 * buffer hold. The connection, still open.
 */
static struct h_conn *
flood_log(int port, char *target, size_t n)
{
	struct h_conn *c = h_connect(port);
	int i;

	memset(target, 'x', n - 1);
	target[0] = '/';
	target[n - 1] = '\0';
	ck_assert_ptr_nonnull(c);
	for (i = 0; i < 40; i++)
		pipelined(c, target, 50);
	return c;
}

/* What is in the pipe now: lines naming what, counted; *all: "/after" seen. */
static long
drain_pipe(int fd, const char *what, int *after)
{
	static char tail[512];
	char buf[65536 + 512], *p, *nl;
	size_t keep = strlen(tail);
	long lines = 0;
	ssize_t r;

	while ((r = read(fd, buf + keep, sizeof(buf) - keep - 1)) > 0) {
		memcpy(buf, tail, keep);
		buf[keep + (size_t)r] = '\0';
		for (p = buf; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
			*nl = '\0';
			lines += strstr(p, what) != NULL;
			*after += strstr(p, " /after ") != NULL;
		}
		keep = strlen(p) < sizeof(tail) ? strlen(p) : 0;
		memmove(tail, p, keep);
		tail[keep] = '\0';
	}
	return lines;
}

/*
 * A log reader that stops reading stops nothing. Before, lb's access
 * log was a blocking write to stdout: with a pipe nobody read, 472
 * requests were answered and then every client hung. Here lb's stdout
 * is a pipe the test does not read while 2,000 requests with long
 * targets (more log than the pipe and lb's buffer hold) go through.
 * Every one must be answered; lb says on stderr that it drops lines
 * and counts them. Then the reader comes back: each request is either
 * a line it reads or a line counted as dropped, and every request after
 * the stall ended has its line.
 */
START_TEST(a_stalled_log_reader_stops_no_request)
{
	struct h_proc *b = h_backend("b1", "-q", NULL), *lb;
	char sarg[32], target[240], v[32], *json;
	int fds[2], sport = h_free_port(), after = 0;
	long kept = 0, end;
	struct h_conn *c;

	ck_assert_int_eq(pipe(fds), 0);
	snprintf(sarg, sizeof(sarg), "127.0.0.1:%d", sport);
	h_stdout(fds[1], 0);
	lb = h_lb(1, &b, "-i", "60000", "-a", sarg, NULL);
	close(fds[1]);
	c = flood_log(lb->port, target, sizeof(target));
	ck_assert_msg(h_wait_for_text(lb->err, "access log: its reader is not "
	    "keeping up", h_scaled(2000)), "no word of dropped lines");
	fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK);
	for (end = h_now_ms() + h_scaled(3000); h_now_ms() < end &&
	    !h_wait_for_text(lb->err, "none since", 10); )
		kept += drain_pipe(fds[0], target, &after);
	ck_assert_msg(h_wait_for_text(lb->err, "none since", 0),
	    "the stall never ended for lb");
	json = page(sport, "/status.json", NULL, "application/json");
	json_at(json, "access_log_dropped", v, sizeof(v));
	free(json);
	pipelined(c, "/after", 3);
	for (end = h_now_ms() + h_scaled(2000); h_now_ms() < end &&
	    after < 3; h_pause_ms(10))
		kept += drain_pipe(fds[0], target, &after);
	close(fds[0]);
	ck_assert_msg(atol(v) > 0 && kept + atol(v) == 2000, "%ld lines read "
	    "and %s dropped, of 2000", kept, v);
	ck_assert_int_eq(after, 3);
}
END_TEST

/*
 * The same stalled reader on stdout and stderr at once (2>&1, the usual
 * way): SIGTERM must still end lb, within its drain and the logs' last
 * second. (Found by a cold review: the access log's descriptor was put
 * back to blocking at exit, and the event log's last write, to the same
 * full pipe, never returned.)
 */
START_TEST(a_stalled_log_reader_does_not_stall_the_stop)
{
	struct h_proc *b = h_backend("b1", "-q", NULL), *lb;
	char target[240];
	int fds[2];

	ck_assert_int_eq(pipe(fds), 0);
	h_stdout(fds[1], 1);
	lb = h_lb(1, &b, "-i", "60000", NULL);
	h_close(flood_log(lb->port, target, sizeof(target)));
	/*
	 * Full to the last byte (lb's lines leave room for a short one at
	 * the end of a page): the same pipe, so the same O_NONBLOCK.
	 */
	fcntl(fds[1], F_SETFL, fcntl(fds[1], F_GETFL) | O_NONBLOCK);
	while (write(fds[1], "x", 1) == 1)
		;
	ck_assert_int_eq(kill(lb->pid, SIGTERM), 0);
	ck_assert_msg(h_wait_exit(lb, h_scaled(5000)) == 0,
	    "lb did not stop with its log reader stalled");
	close(fds[1]);
	close(fds[0]);
}
END_TEST

/*
 * -e poll: one process past FD_SETSIZE. N keep-alive clients connect
 * in waves, each is answered and stays open; with all N open a new
 * client is still answered; memory stays small (the target is 32 MB
 * for 10,000 clients: final/README "Performance"); and once they leave,
 * every descriptor comes back. With select() lb stops near 500 clients.
 */
START_TEST(poll_holds_thousands_of_clients_in_one_process)
{
	enum { N = 3000, WAVE = 250 };
	static const char get[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	static int fd[N];
	struct h_proc *b, *lb;
	struct h_resp r;
	int i, j, base;
	long end, rss;

	if (h_instrumented() || !h_raise_fd_limit(N + 512)) {
		h_skip("needs N + 512 descriptors, and lb not under valgrind "
		    "or ASan, which keep their own");
		return;
	}
	b = h_backend("b1", "-q", NULL);
	lb = h_lb(1, &b, "-e", "poll", "-m", "4000", "-i", "60000", "-t",
	    "pool=200", NULL);
	base = h_fd_count(lb->pid);
	for (i = 0; i < N; i += WAVE) {
		for (j = i; j < i + WAVE; j++) {
			ck_assert_int_ge(fd[j] = h_dial(lb->port, 0), 0);
			ck_assert_int_eq(h_write_all(fd[j], get, sizeof(get) - 1),
			    0);
		}
		for (j = i; j < i + WAVE; j++)
			ck_assert_msg(h_read_one(fd[j], h_scaled(5000)) == 1,
			    "client %d of %d got no whole answer", j + 1, N);
	}
	ck_assert_int_eq(h_request(lb->port, get, &r), 0);
	ck_assert_int_eq(r.status, 200);
	h_resp_free(&r);
	ck_assert_int_ge(h_fd_count(lb->pid), base + N);
	rss = h_rss_kb(lb->pid);
	ck_assert_msg(rss < 32 * 1024, "%ld KB for %d clients", rss, N);
	for (i = 0; i < N; i++)
		close(fd[i]);
	for (end = h_now_ms() + h_scaled(3000); h_now_ms() < end &&
	    h_fd_count(lb->pid) > base; )
		h_pause_ms(20);
	ck_assert_int_le(h_fd_count(lb->pid), base);
}
END_TEST

/*
 * -v: the machines a learner draws, at work. One request through lb
 * writes each move of the connection and its probe's stages on stderr,
 * with why; without -v, not one such line.
 */
START_TEST(verbose_shows_each_state_change)
{
	struct h_proc *b = h_backend("b1", "-q", NULL), *lb, *quiet;
	char want[160], *err;
	struct h_resp r;

	lb = h_lb(1, &b, "-v", "-i", "200", NULL);
	ck_assert_int_eq(h_request(lb->port, GET, &r), 0);
	ck_assert_int_eq(r.status, 200);
	h_resp_free(&r);
	snprintf(want, sizeof(want), "IDLE -> CONNECT: GET / to 127.0.0.1:%d",
	    b->port);
	ck_assert_msg(h_wait_for_text(lb->err, want, h_scaled(2000)),
	    "no '%s'", want);
	ck_assert(h_wait_for_text(lb->err, "PROXY -> IDLE: 200, the response "
	    "is out", h_scaled(2000)));
	ck_assert(h_wait_for_text(lb->err, "response HEAD -> BODY",
	    h_scaled(2000)));
	snprintf(want, sizeof(want), "127.0.0.1:%d check READ -> IDLE: status "
	    "200", b->port);
	ck_assert_msg(h_wait_for_text(lb->err, want, h_scaled(2000)),
	    "no '%s'", want);

	quiet = h_lb(1, &b, "-i", "200", NULL);
	ck_assert_int_eq(h_request(quiet->port, GET, &r), 0);
	h_resp_free(&r);
	h_pause_ms(500);	/* two probes at least */
	err = h_slurp(quiet->err);
	ck_assert_ptr_nonnull(err);
	ck_assert_msg(strstr(err, " -> ") == NULL, "without -v: %s", err);
	free(err);
}
END_TEST

/* ---- protecting backends: limits, slow start, -B, -t queue ---- */

/*
 * ,maxconn= and ,slowstart= out of range or not numbers stop lb at start
 * with one line naming the backend and the bound, from -b and from -f
 * alike; -B takes rr or least, -t queue= milliseconds. What is in range
 * starts, and the start-up line says what lb took.
 */
START_TEST(limits_and_balancer_options_are_checked)
{
	static const char *const maxconn = "maxconn must be a number from 1 "
	    "to 100000", *const slowstart = "slowstart must be milliseconds "
	    "from 0 to 3600000";
	static const char *const bad[][2] = {
		{ "maxconn=0", NULL }, { "maxconn=100001", NULL },
		{ "maxconn=x", NULL }, { "maxconn=", NULL }, { "maxconn", NULL },
		{ "maxconn=-5", NULL }, { "slowstart=3600001", "" },
		{ "slowstart=-1", "" }, { "slowstart=1.5", "" },
		{ "weight=2,slowstart", "" },
	};
	static const char *const opts[][2] = {
		{ "-B", "foo" }, { "-B", "" }, { "-t", "queue=0" },
		{ "-t", "queue=x" },
	};
	char *args[5], arg[48], want[160];
	struct h_proc *b1, *lb;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		h_expect_bad_backend(bad[i][0], bad[i][1] == NULL ? maxconn :
		    slowstart);
	expect_bad_file("127.0.0.1:9\n127.0.0.1:10,maxconn=0\n", ":2: "
	    "'127.0.0.1:10,maxconn=0': maxconn must be a number from 1 to");
	expect_bad_file("127.0.0.1:9,slowstart=x\n", ":1: "
	    "'127.0.0.1:9,slowstart=x': slowstart must be milliseconds");
	for (i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		args[0] = "-b";
		args[1] = "127.0.0.1:9";
		args[2] = (char *)opts[i][0];
		args[3] = (char *)opts[i][1];
		args[4] = NULL;
		snprintf(want, sizeof(want), "lb: bad %s '%s': want %s",
		    opts[i][0], opts[i][1], opts[i][0][1] == 'B' ?
		    "rr or least" : "NAME=MS");
		h_expect_bad_args(args, want);
	}

	b1 = h_backend("b1", "-q", NULL);
	snprintf(arg, sizeof(arg), "127.0.0.1:%d,maxconn=100000,slowstart=0",
	    b1->port);
	lb = h_lb(0, NULL, "-b", arg, "-B", "least", "-t", "queue=250", NULL);
	ck_assert_str_eq(who(lb->port), "b1");
	snprintf(want, sizeof(want), "balancing over 127.0.0.1:%d,"
	    "maxconn=100000 (-B least: ", b1->port);
	ck_assert_msg(h_wait_for_text(lb->err, want, h_scaled(1000)),
	    "no '%s' on stderr", want);
	lb = h_lb(0, NULL, "-b", arg, "-B", "rr", "-t", "queue=1", NULL);
	ck_assert_str_eq(who(lb->port), "b1");
}
END_TEST

/* Wait until lb's event log has said "reload of" n times. */
static void
wait_reloads(struct h_proc *lb, int n)
{
	int i;

	for (i = 0; i < h_scaled(3000) / 20 &&
	    occurrences(lb->err, "reload of") < n; i++)
		h_pause_ms(20);
	ck_assert_int_eq(occurrences(lb->err, "reload of"), n);
}

/*
 * A reload that changes b[0]'s maxconn and slowstart, with keep-alive
 * clients' requests in flight at every one: each new value shows on the
 * status page and in the reload's event line, and every request gets its
 * 200 on the connection it was sent on, whether the limit went up, down
 * below what is in flight (those finish), or away.
 */
START_TEST(a_reload_changes_limits_and_drops_nothing)
{
	enum { CLIENTS = 8, ROUNDS = 12 };
	static const char *const opts[][4] = {	/* -f, event, JSON */
		{ ",maxconn=2", ", maxconn 2", "2", "0" },
		{ ",maxconn=50,slowstart=2000", ", maxconn 50, slowstart 2000",
		    "50", "2000" },
		{ "", "", "null", "0" },
		{ ",slowstart=500,maxconn=1", ", maxconn 1, slowstart 500", "1",
		    "500" },
	};
	struct h_proc *b[2], *lb;
	struct h_conn *c[CLIENTS];
	char want[160], v[32];
	int i, k, sport, ok = 0;

	for (i = 0; i < 2; i++)
		b[i] = h_backend("b", "-q", NULL);
	write_list("127.0.0.1:%d,maxconn=1,slowstart=500\n127.0.0.1:%d\n",
	    b[0]->port, b[1]->port);
	lb = lb_on_list(&sport, NULL, NULL);
	for (i = 0; i < CLIENTS; i++)
		ck_assert_ptr_nonnull(c[i] = h_connect(lb->port));
	for (k = 0; k < ROUNDS; k++) {
		const char *const *o = opts[k % 4];

		for (i = 0; i < CLIENTS; i++)
			ck_assert_int_eq(h_sends(c[i], "GET /?delay=30 HTTP/1.1"
			    "\r\nHost: x\r\n\r\n"), 0);
		write_list("127.0.0.1:%d%s\n127.0.0.1:%d\n", b[0]->port, o[0],
		    b[1]->port);
		ck_assert_int_eq(kill(lb->pid, SIGHUP), 0);
		wait_reloads(lb, k + 1);
		snprintf(want, sizeof(want), "changed 127.0.0.1:%d (weight 1%s)"
		    "\n", b[0]->port, o[1]);
		ck_assert_int_eq(occurrences(lb->err, want), k / 4 + 1);
		backend_fact(sport, 0, "maxconn", v, sizeof(v));
		ck_assert_str_eq(v, o[2]);
		backend_fact(sport, 0, "slowstart_ms", v, sizeof(v));
		ck_assert_str_eq(v, o[3]);
		ok += read_round(c, CLIENTS, k);
	}
	for (i = 0; i < CLIENTS; i++)
		h_close(c[i]);
	ck_assert_int_eq(ok, CLIENTS * ROUNDS);
	/* A limit out of range is a bad file: the running ones stay. */
	write_list("127.0.0.1:%d,maxconn=0\n", b[0]->port);
	reload(lb, "reload failed, the running backends stay");
	ck_assert(h_wait_for_text(lb->err, "maxconn must be a number",
	    h_scaled(1000)));
	backend_fact(sport, 0, "maxconn", v, sizeof(v));
	ck_assert_str_eq(v, "1");
}
END_TEST

/* status.json's value at path, which must be v. */
static void
expect_json(const char *json, const char *path, const char *v)
{
	char got[64];

	json_at(json, path, got, sizeof(got));
	ck_assert_msg(strcmp(got, v) == 0, "%s is %s, not %s", path, got, v);
}

/*
 * Each format shows each backend's requests in flight (none at rest),
 * its limit (none without maxconn), its weight now (all of it: nothing
 * ramps), and the queue; with -w 2 too, summed over the workers.
 */
static void
expect_load_shown(int sport, const char *b1, const char *b2)
{
	char *json = page(sport, "/status.json", NULL, "application/json");
	char *prom = page(sport, "/metrics", NULL, "text/plain");
	char *text = page(sport, "/status.txt", NULL, "text/plain");
	char *html = page(sport, "/status.html", NULL, "text/html");
	static const char *const rows[][2] = {
		{ "backends.0.inflight", "0" }, { "backends.1.inflight", "0" },
		{ "backends.0.maxconn", "7" }, { "backends.1.maxconn", "null" },
		{ "backends.0.weight_now", "1" }, { "backends.1.weight_now", "2" },
		{ "backends.0.slowstart_ms", "1500" },
		{ "backends.1.slowstart_ms", "0" }, { "queue_waiting", "0" },
		{ "queue_peak", "0" }, { "queue_longest_ms", "0" },
	};
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		expect_json(json, rows[i][0], rows[i][1]);
	ck_assert_double_eq(metric(prom, "lb_backend_inflight", b1), 0);
	ck_assert_double_eq(metric(prom, "lb_backend_inflight", b2), 0);
	ck_assert_double_eq(metric(prom, "lb_backend_maxconn", b1), 7);
	ck_assert_double_eq(metric(prom, "lb_backend_maxconn", b2), 0);
	ck_assert_double_eq(metric(prom, "lb_queue_waiting", NULL), 0);
	ck_assert_double_eq(metric(prom, "lb_queue_peak", NULL), 0);
	ck_assert_double_eq(metric(prom, "lb_queue_longest_wait_seconds",
	    NULL), 0);
	ck_assert_msg(strstr(text, "\n  load     0 in flight, limit 7\n") !=
	    NULL && strstr(text, "\n  load     0 in flight, limit none\n") !=
	    NULL && strstr(text, "\nqueue: 0 waiting, 0 at most at once, "
	    "longest wait 0.0 ms\n") != NULL, "%s", text);
	ck_assert_msg(strstr(html, "<td class=\"n\">0 / 7</td>") != NULL &&
	    strstr(html, "<td class=\"n\">0 / none</td>") != NULL &&
	    strstr(html, "<p>queue: 0 waiting") != NULL, "%s", html);
	free(json);
	free(prom);
	free(text);
	free(html);
}

START_TEST(status_shows_requests_in_flight_limits_and_the_queue)
{
	struct h_proc *b1, *b2, *lb;
	char n1[32], n2[32];
	int sport, w, x = 0, y = 0;

	b1 = h_backend("b1", "-q", NULL);
	b2 = h_backend("b2", "-q", NULL);
	snprintf(n1, sizeof(n1), "127.0.0.1:%d", b1->port);
	snprintf(n2, sizeof(n2), "127.0.0.1:%d", b2->port);
	write_list("%s,maxconn=7,slowstart=1500\n%s,weight=2\n", n1, n2);
	for (w = 1; w <= 2; w++) {
		lb = lb_on_list(&sport, "-w", w == 1 ? "1" : "2");
		ck_assert_int_eq(h_wait_port(sport, h_scaled(2000)), 0);
		requests(lb->port, 6, &x, &y);
		ck_assert_int_eq(x + y, 6 * w);
		expect_load_shown(sport, n1, n2);
		h_kill(lb);
	}
}
END_TEST

/*
 * tests/backend's /control/stats: ordinary requests in flight now, and
 * the most at once, each from its head to its response written whole,
 * its delay included (the maxconn tests count on it); health checks and
 * the stats themselves are not among them.
 */
START_TEST(the_test_backend_counts_requests_in_flight)
{
	enum { N = 3 };
	struct h_proc *b = h_backend("b1", "-q", NULL);
	struct h_conn *c[N];
	struct h_resp r;
	int i;

	ck_assert_int_eq(h_backend_stat(b->port, "inflight "), 0);
	for (i = 0; i < N; i++) {
		ck_assert_ptr_nonnull(c[i] = h_connect(b->port));
		ck_assert_int_eq(h_sends(c[i], "GET /?delay=400 HTTP/1.1\r\n"
		    "Host: x\r\n\r\n"), 0);
	}
	ck_assert_int_eq(get(b->port, "/health", NULL, &r), 200);
	h_resp_free(&r);
	h_pause_ms(100);
	ck_assert_int_eq(h_backend_stat(b->port, "inflight "), N);
	ck_assert_int_eq(h_backend_stat(b->port, "inflight-peak "), N);
	for (i = 0; i < N; i++) {
		ck_assert_int_eq(h_read_response(c[i], &r, 0,
		    h_scaled(H_TIMEOUT_MS)), 0);
		ck_assert_int_eq(r.status, 200);
		h_resp_free(&r);
		h_close(c[i]);
	}
	ck_assert_int_eq(h_backend_stat(b->port, "inflight "), 0);
	ck_assert_int_eq(h_backend_stat(b->port, "inflight-peak "), N);
	ck_assert_int_eq(h_backend_stat(b->port, "requests "), N);
}
END_TEST

/* ---- needing conn.c's in-flight counts and queue, health.c's ramp ---- */

/* n clients, each with GET target sent through port; into c[]. */
static void
send_all(struct h_conn **c, int n, int port, int delay_ms)
{
	char req[128];
	int i;

	snprintf(req, sizeof(req), "GET /?delay=%d HTTP/1.1\r\nHost: x\r\n"
	    "\r\n", delay_ms);
	for (i = 0; i < n; i++) {
		ck_assert_ptr_nonnull(c[i] = h_connect(port));
		ck_assert_int_eq(h_sends(c[i], req), 0);
	}
}

/* Every one of c[0..n) gets its 200, whole; then they close. */
static void
expect_all_answered(struct h_conn **c, int n)
{
	int i;

	read_round(c, n, 0);
	for (i = 0; i < n; i++)
		h_close(c[i]);
}

/*
 * Requests in flight show while they are (3 held by a slow backend: 3
 * in every format, every worker's with -w 2), and go when they end; a
 * reload that lowers maxconn under them keeps the count, and lets them
 * finish.
 */
START_TEST(status_counts_requests_in_flight_through_a_reload)
{
	enum { N = 3 };
	struct h_proc *b1, *lb;
	struct h_conn *c[N];
	char name[32], *prom, v[32];
	int sport, w;

	b1 = h_backend("b1", "-q", NULL);
	snprintf(name, sizeof(name), "127.0.0.1:%d", b1->port);
	for (w = 1; w <= 2; w++) {
		write_list("%s\n", name);
		lb = lb_on_list(&sport, "-w", w == 1 ? "1" : "2");
		ck_assert_int_eq(h_wait_port(sport, h_scaled(2000)), 0);
		/* Scaled as the pause is: valgrind slows lb, not b1. */
		send_all(c, N, lb->port, h_scaled(800));
		h_pause_ms(h_scaled(300));
		backend_fact(sport, 0, "inflight", v, sizeof(v));
		ck_assert_str_eq(v, "3");
		write_list("%s,maxconn=1\n", name);
		reload(lb, "reload of");
		backend_fact(sport, 0, "inflight", v, sizeof(v));
		ck_assert_str_eq(v, "3");	/* kept: live state */
		prom = page(sport, "/metrics", NULL, "text/plain");
		ck_assert_double_eq(metric(prom, "lb_backend_inflight", name),
		    3);
		ck_assert_double_eq(metric(prom, "lb_backend_maxconn", name), 1);
		free(prom);
		expect_all_answered(c, N);
		backend_fact(sport, 0, "inflight", v, sizeof(v));
		ck_assert_str_eq(v, "0");
		h_kill(lb);
	}
}
END_TEST

/*
 * -w 2: a reload's new maxconn reaches the workers through the master's
 * table. b1 without a limit, then maxconn=2 (a share of 1 a worker): 8
 * requests at once, and b1 never holds more than 2, all answered.
 */
START_TEST(workers_take_a_reloaded_maxconn)
{
	enum { N = 8 };
	struct h_proc *b1, *lb;
	struct h_conn *c[N];
	int sport;

	b1 = h_backend("b1", "-q", NULL);
	write_list("127.0.0.1:%d\n", b1->port);
	lb = lb_on_list(&sport, "-w", "2");
	ck_assert_int_eq(h_wait_port(sport, h_scaled(2000)), 0);
	write_list("127.0.0.1:%d,maxconn=2\n", b1->port);
	reload(lb, "maxconn 2)");
	h_pause_ms(h_scaled(200));	/* the table on its way to them */
	send_all(c, N, lb->port, 300);
	expect_all_answered(c, N);
	ck_assert_int_le(h_backend_stat(b1->port, "inflight-peak "), 2);
	ck_assert_int_eq(h_backend_stat(b1->port, "requests "), N);
}
END_TEST

/*
 * The queue on the status page: b1 with maxconn=1 and 4 requests at once
 * holds 3 waiting; once all are answered, none waits, 3 did at most, and
 * the longest waited about 3 delays. -w 2: the same, counted per worker.
 */
START_TEST(status_shows_the_queue)
{
	enum { N = 4 };
	struct h_proc *b1, *lb;
	struct h_conn *c[N];
	char *json, v[32];
	int sport;

	b1 = h_backend("b1", "-q", NULL);
	write_list("127.0.0.1:%d,maxconn=1\n", b1->port);
	lb = lb_on_list(&sport, NULL, NULL);
	ck_assert_int_eq(h_wait_port(sport, h_scaled(2000)), 0);
	send_all(c, N, lb->port, h_scaled(300));	/* as the pause */
	h_pause_ms(h_scaled(150));
	json = page(sport, "/status.json", NULL, "application/json");
	expect_json(json, "queue_waiting", "3");
	expect_json(json, "backends.0.inflight", "1");
	free(json);
	expect_all_answered(c, N);
	json = page(sport, "/status.json", NULL, "application/json");
	expect_json(json, "queue_waiting", "0");
	expect_json(json, "queue_peak", "3");
	json_at(json, "queue_longest_ms", v, sizeof(v));
	ck_assert_msg(atof(v) >= 2.5 * h_scaled(300), "longest wait %s ms", v);
	free(json);
}
END_TEST

/*
 * A reload that raises maxconn lets the queue go at once: a request
 * waiting behind a slow one (maxconn=1) is answered long before the
 * slow one ends. Nothing looked at the queue until a slot freed, once:
 * the waiting request waited out the slow one.
 */
START_TEST(a_raised_maxconn_lets_the_queue_go)
{
	struct h_proc *b1, *lb;
	struct h_conn *slow[1], *waiting;
	struct h_resp r;
	int sport;

	b1 = h_backend("b1", "-q", NULL);
	write_list("127.0.0.1:%d,maxconn=1\n", b1->port);
	lb = lb_on_list(&sport, NULL, NULL);
	send_all(slow, 1, lb->port, h_scaled(4000));
	h_pause_ms(100);
	waiting = h_connect(lb->port);
	ck_assert_int_eq(h_sends(waiting, "GET / HTTP/1.1\r\nHost: x\r\n"
	    "\r\n"), 0);
	h_pause_ms(100);
	write_list("127.0.0.1:%d,maxconn=5\n", b1->port);
	reload(lb, "maxconn 5)");
	ck_assert_int_eq(h_read_response(waiting, &r, 0, h_scaled(2000)), 0);
	ck_assert_int_eq(r.status, 200);
	h_resp_free(&r);
	h_close(waiting);
	expect_all_answered(slow, 1);
}
END_TEST

/*
 * slowstart=3000: b1, back up after a spell down, shows how far its ramp
 * has come, its weight now under its weight, and all of it once the ramp
 * is over.
 */
START_TEST(status_shows_a_slow_start)
{
	struct h_proc *b1, *b2, *lb;
	char *text, v[32];
	int sport;

	b1 = h_backend("b1", "-q", NULL);
	b2 = h_backend("b2", "-q", NULL);
	write_list("127.0.0.1:%d,weight=10,slowstart=3000\n127.0.0.1:%d\n",
	    b1->port, b2->port);
	lb = lb_on_list(&sport, NULL, NULL);
	ck_assert_int_eq(h_wait_port(sport, h_scaled(2000)), 0);
	backend_fact(sport, 0, "weight_now", v, sizeof(v));
	ck_assert_str_eq(v, "10");	/* at start: no ramp */
	set_health(b1, "sick");
	expect_event(lb, b1, "DOWN after", 3000);
	set_health(b1, "well");
	expect_event(lb, b1, "UP after", 3000);
	backend_fact(sport, 0, "weight_now", v, sizeof(v));
	ck_assert_msg(atof(v) >= 1 && atof(v) < 10, "weight_now %s", v);
	text = page(sport, "/status.txt", NULL, "text/plain");
	ck_assert_msg(strstr(text, "; slow start: ") != NULL &&
	    strstr(text, "% of its weight, full in ") != NULL, "%s", text);
	free(text);
	h_pause_ms(h_scaled(3200));
	backend_fact(sport, 0, "weight_now", v, sizeof(v));
	ck_assert_str_eq(v, "10");
}
END_TEST

Suite *
ops_suite(void)
{
	const TTest *const tests[] = {
		a_reload_adds_removes_and_reweights,
		a_bad_file_is_refused_at_start_and_ignored_on_reload,
		a_drained_backend_finishes_and_takes_nothing_new,
		drain_time_counts_from_the_reload_that_drained,
		a_backend_listed_again_while_still_finishing_is_checked_first,
		reloads_under_keep_alive_load_fail_nothing,
		sighup_without_a_file_changes_nothing,
		workers_share_one_view_of_health_and_one_status_page,
		a_dead_worker_is_started_again,
		workers_reload_together_and_drain_together,
		a_full_worker_leaves_new_clients_to_the_others,
		a_stalled_log_reader_stops_no_request,
		a_stalled_log_reader_does_not_stall_the_stop,
		poll_holds_thousands_of_clients_in_one_process,
		verbose_shows_each_state_change,
		limits_and_balancer_options_are_checked,
		a_reload_changes_limits_and_drops_nothing,
		status_shows_requests_in_flight_limits_and_the_queue,
		the_test_backend_counts_requests_in_flight,
		status_counts_requests_in_flight_through_a_reload,
		workers_take_a_reloaded_maxconn,
		status_shows_the_queue,
		a_raised_maxconn_lets_the_queue_go,
		status_shows_a_slow_start,
		NULL
	};

	return h_suite("ops", tests, NULL);
}
