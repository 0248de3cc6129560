/*
 * suite_protect.c - final/: keeping backends out of trouble under load
 * (issue 24). -B least sends fewer requests to a backend that slows
 * down; ,maxconn=N holds what one backend has in flight to N, the rest
 * waiting in lb's queue, answered 503 after -t queue ms; ,slowstart=MS
 * gives a backend that just came back a share that grows. Every count
 * here is the backend's own (its /control/stats), not lb's.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "suites.h"

#define GET	"GET / HTTP/1.1\r\nHost: x\r\n\r\n"

/* Ordinary requests a backend has answered (health checks not counted). */
static long
requests_of(const struct h_proc *b)
{
	return h_backend_stat(b->port, "requests ");
}

/* One keep-alive client: N_EACH requests in a row, each after the last. */
#define N_EACH	10

static void
one_after_another(struct h_proc *self, void *arg)
{
	int port = *(int *)arg, fd = h_dial(port, 0), i, ok = 0;

	(void)self;
	for (i = 0; fd >= 0 && i < N_EACH; i++)
		if (write(fd, GET, sizeof(GET) - 1) > 0 && h_read_one(fd, 5000)
		    == 1)
			ok++;
	printf("ok %d\n", ok);
	fflush(stdout);
	_exit(ok == N_EACH ? 0 : 1);
}

/*
 * n clients at once, each with N_EACH requests one after another, through
 * lb at port: what slow gets of them (b_slow's own count).
 */
static long
share_of_slow(int port, int n, const struct h_proc *slow)
{
	struct h_proc *cl[16];
	long before = requests_of(slow);
	int i;

	for (i = 0; i < n; i++)
		cl[i] = h_fork("client", one_after_another, &port);
	for (i = 0; i < n; i++)
		ck_assert_msg(h_wait_exit(cl[i], h_scaled(20000)) == 0,
		    "client %d did not get all its answers", i);
	return requests_of(slow) - before;
}

/*
 * A backend that slows down (every answer 100 ms late) beside one that
 * answers at once. Round robin hands it its half regardless: requests
 * pile up there while the other idles. Least requests sees them in
 * flight and sends it at most half as many (11 to 14 of 80 here, where
 * round robin sends 40: with 8 clients the fast one often has as many
 * in flight at the instant of a pick, and a tie goes round).
 */
START_TEST(least_sends_fewer_to_a_slow_backend)
{
	struct h_proc *be[2], *rr, *least;
	long on_rr, on_least;

	be[0] = h_backend("fast", "-q", NULL);
	be[1] = h_backend("slow", "-q", "-d", "100", NULL);
	rr = h_lb(2, be, "-i", "60000", NULL);
	least = h_lb(2, be, "-i", "60000", "-B", "least", NULL);
	on_rr = share_of_slow(rr->port, 8, be[1]);
	on_least = share_of_slow(least->port, 8, be[1]);
	ck_assert_msg(on_rr >= 30, "round robin sent the slow one %ld of 80",
	    on_rr);
	ck_assert_msg(on_least * 2 <= on_rr, "least requests sent the slow "
	    "one %ld of 80, round robin %ld", on_least, on_rr);
}
END_TEST

/* n connections to port, each with a GET sent: all answered 200? */
static void
all_at_once(int port, int n, const char *target)
{
	struct h_conn **c = calloc((size_t)n, sizeof(*c));
	char req[128];
	struct h_resp r;
	int i;

	ck_assert_ptr_nonnull(c);
	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\n\r\n",
	    target);
	for (i = 0; i < n; i++) {
		c[i] = h_connect(port);
		ck_assert_int_eq(h_sends(c[i], req), 0);
	}
	for (i = 0; i < n; i++) {
		ck_assert_msg(h_read_response(c[i], &r, 0, h_scaled(20000)) ==
		    0 && r.status == 200, "client %d of %d: status %d", i + 1,
		    n, r.status);
		h_resp_free(&r);
		h_close(c[i]);
	}
	free(c);
}

/*
 * 200 clients at once against a backend that takes 20 ms an answer and
 * ,maxconn=5: it never has more than 5 requests at once (its own count),
 * the rest wait in lb, and every one is answered.
 */
START_TEST(maxconn_holds_while_200_arrive_together)
{
	struct h_proc *b = h_backend("b1", "-q", "-d", "20", NULL), *lb;
	char arg[64], *log;
	long peak;

	snprintf(arg, sizeof(arg), "127.0.0.1:%d,maxconn=5", b->port);
	lb = h_lb_args((char *[]){ "-b", arg, "-i", "60000", "-m", "400",
	    "-t", "queue=20000", NULL });
	all_at_once(lb->port, 200, "/");
	peak = h_backend_stat(b->port, "inflight-peak ");
	ck_assert_msg(peak >= 1 && peak <= 5, "the backend had %ld at once",
	    peak);
	ck_assert_int_eq(requests_of(b), 200);
	log = h_stopped_log(lb);
	ck_assert_msg(strstr(log, "queued=") != NULL, "no queued= in\n%s", log);
	free(log);
}
END_TEST

/* lb in front of b alone, with maxconn=1 and -t queue (NAME=MS). */
static struct h_proc *
one_slot(const struct h_proc *b, const char *queue)
{
	static char arg[64];

	snprintf(arg, sizeof(arg), "127.0.0.1:%d,maxconn=1", b->port);
	return h_lb_args((char *[]){ "-b", arg, "-i", "60000", "-t",
	    (char *)queue, NULL });
}

/* A client whose request holds the one slot for ms, already there. */
static struct h_conn *
holding(int port, int ms)
{
	struct h_conn *c = h_connect(port);
	char req[96];

	snprintf(req, sizeof(req), "GET /?delay=%d HTTP/1.1\r\nHost: x\r\n"
	    "\r\n", ms);
	ck_assert_int_eq(h_sends(c, req), 0);
	h_pause_ms(100);
	return c;
}

/*
 * maxconn=1 and a request holding it: the next waits -t queue ms, then
 * gets 503 with Retry-After, logged sQ (the backends were too slow,
 * while it queued). The first is answered as if nothing happened.
 */
START_TEST(a_request_that_outwaits_the_queue_gets_503)
{
	struct h_proc *b = h_backend("b1", "-q", NULL), *lb;
	struct h_conn *first, *second;
	struct h_resp r;
	char *log;
	long t;

	lb = one_slot(b, "queue=300");
	first = holding(lb->port, 1500);
	second = h_connect(lb->port);
	t = h_now_ms();
	ck_assert_int_eq(h_sends(second, GET), 0);
	ck_assert_int_eq(h_read_response(second, &r, 0, h_scaled(3000)), 0);
	t = h_now_ms() - t;
	ck_assert_int_eq(r.status, 503);
	ck_assert_ptr_nonnull(h_header(&r, "Retry-After"));
	ck_assert_msg(t >= 250 && t < h_scaled(1200), "503 after %ld ms", t);
	h_resp_free(&r);
	ck_assert_int_eq(h_read_response(first, &r, 0, h_scaled(5000)), 0);
	ck_assert_int_eq(r.status, 200);
	h_resp_free(&r);
	h_close(first);
	h_close(second);
	log = h_stopped_log(lb);
	ck_assert_msg(strstr(log, " 503 ") != NULL && strstr(log, " sQ ") !=
	    NULL && strstr(log, "queued=") != NULL, "log:\n%s", log);
	free(log);
}
END_TEST

/*
 * A client that leaves (a reset) while its request waits for a slot
 * leaves the queue: the backend never sees its request (nothing of it
 * was sent anywhere), and the log says 499 CQ. One that only
 * half-closes (FIN: it sends no more) keeps its place and its answer.
 */
START_TEST(a_queued_client_that_leaves_is_never_sent)
{
	struct h_proc *b = h_backend("b1", "-q", NULL), *lb;
	struct h_conn *first, *leaver, *half;
	struct linger rst;
	struct h_resp r;
	char *log;

	lb = one_slot(b, "queue=5000");
	first = holding(lb->port, 600);
	leaver = h_connect(lb->port);
	ck_assert_int_eq(h_sends(leaver, "GET /leaver HTTP/1.1\r\nHost: x\r\n"
	    "\r\n"), 0);
	half = h_connect(lb->port);
	ck_assert_int_eq(h_sends(half, "GET /half HTTP/1.0\r\n\r\n"), 0);
	ck_assert_int_eq(shutdown(half->fd, SHUT_WR), 0);
	h_pause_ms(100);
	rst.l_onoff = 1;	/* by name: POSIX does not fix their order */
	rst.l_linger = 0;
	ck_assert_int_eq(setsockopt(leaver->fd, SOL_SOCKET, SO_LINGER, &rst,
	    sizeof(rst)), 0);
	h_close(leaver);		/* a reset */
	ck_assert_int_eq(h_read_response(first, &r, 0, h_scaled(5000)), 0);
	ck_assert_int_eq(r.status, 200);
	h_resp_free(&r);
	h_close(first);
	ck_assert_int_eq(h_read_response(half, &r, 0, h_scaled(5000)), 0);
	ck_assert_int_eq(r.status, 200);
	h_resp_free(&r);
	h_close(half);
	h_pause_ms(300);
	ck_assert_int_eq(requests_of(b), 2);	/* first and half, not leaver */
	ck_assert_int_eq(h_request(lb->port, GET, &r), 0);	/* still serves */
	ck_assert_int_eq(r.status, 200);
	h_resp_free(&r);
	log = h_stopped_log(lb);
	ck_assert_msg(strstr(log, "/leaver - 499 ") != NULL && strstr(log,
	    " CQ ") != NULL, "log:\n%s", log);
	free(log);
}
END_TEST

/* Of n requests in a row through port, how many does name answer? */
static int
answered_by(int port, int n, const char *name)
{
	struct h_resp r;
	const char *who;
	int i, k = 0;

	for (i = 0; i < n; i++) {
		ck_assert_int_eq(h_request(port, GET, &r), 0);
		ck_assert_int_eq(r.status, 200);
		who = h_header(&r, "X-Backend");
		k += who != NULL && strcmp(who, name) == 0;
		h_resp_free(&r);
	}
	return k;
}

/*
 * ,slowstart=3000: a backend back from down starts with a tenth of its
 * weight, and has all of it 3 s later. Equal weights: at first it gets
 * about one request in eleven, then one in two.
 */
START_TEST(slow_start_ramps_a_returning_backend)
{
	struct h_proc *be[2], *lb;
	char a0[64], a1[64], want[64];
	int early, late;

	be[0] = h_backend("b1", "-q", NULL);
	be[1] = h_backend("b2", "-q", NULL);
	snprintf(a0, sizeof(a0), "127.0.0.1:%d", be[0]->port);
	snprintf(a1, sizeof(a1), "127.0.0.1:%d,slowstart=3000", be[1]->port);
	lb = h_lb_args((char *[]){ "-b", a0, "-b", a1, "-i", "100", "-R", "1",
	    "-F", "1", NULL });
	ck_assert_int_ge(answered_by(lb->port, 20, "b2"), 8);	/* no ramp */
	h_kill(be[1]);
	snprintf(want, sizeof(want), "127.0.0.1:%d DOWN", be[1]->port);
	ck_assert(h_wait_for_text(lb->err, want, h_scaled(3000)));
	be[1] = h_backend_at(be[1]->port, "b2", "-q", NULL);
	snprintf(want, sizeof(want), "127.0.0.1:%d UP", be[1]->port);
	ck_assert(h_wait_for_text(lb->err, want, h_scaled(3000)));
	early = answered_by(lb->port, 40, "b2");
	h_pause_ms(3200);
	late = answered_by(lb->port, 40, "b2");
	ck_assert_msg(early <= 10, "b2 took %d of 40 at the ramp's start",
	    early);
	ck_assert_msg(late >= 16 && late <= 24, "b2 took %d of 40 after it",
	    late);
}
END_TEST

/*
 * -w 2: each worker holds half of a backend's maxconn (workers share no
 * lock), so together they never pass it, whichever worker the kernel
 * hands each client; with -B least too.
 */
START_TEST(workers_hold_maxconn_together)
{
	struct h_proc *b = h_backend("b1", "-q", "-d", "20", NULL), *lb;
	char arg[64];
	long peak;

	snprintf(arg, sizeof(arg), "127.0.0.1:%d,maxconn=4", b->port);
	lb = h_lb_args((char *[]){ "-b", arg, "-w", "2", "-B", "least", "-i",
	    "60000", "-t", "queue=20000", NULL });
	all_at_once(lb->port, 100, "/");
	peak = h_backend_stat(b->port, "inflight-peak ");
	ck_assert_msg(peak >= 1 && peak <= 4, "the backend had %ld at once",
	    peak);
	ck_assert_int_eq(requests_of(b), 100);
}
END_TEST

Suite *
protect_suite(void)
{
	const TTest *const tests[] = {
		least_sends_fewer_to_a_slow_backend,
		maxconn_holds_while_200_arrive_together,
		a_request_that_outwaits_the_queue_gets_503,
		a_queued_client_that_leaves_is_never_sent,
		slow_start_ramps_a_returning_backend,
		workers_hold_maxconn_together,
		NULL
	};

	return h_suite("protect", tests, NULL);
}
