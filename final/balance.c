/*
 * balance.c - which backend takes the next request: nginx's smooth
 * weighted round robin over the backends that are up and not drained.
 * Lesson 2's round robin took each backend in turn; weights (-b
 * HOST:PORT,weight=N) give some a bigger share, spread out rather than
 * in bursts. A backend that just failed a request sits out the retry.
 *
 * -B least sends each request to the backend with the fewest requests
 * in flight for its weight instead (the round robin breaks ties), so a
 * backend that slows down gets fewer. ,maxconn=N caps what one backend
 * has in flight (conn.c queues the rest); ,slowstart=MS lets a backend
 * that just came up take a growing share.
 *
 * It only reads the table: be->up is health.c's, be->drain roster.c's,
 * be->inflight conn.c's. With -w N each worker picks on its own, so the
 * rotation is per worker; least counts every worker's requests.
 */
#include "backend.h"
#include "balance.h"
#include "config.h"

#include "loop.h"

static int next_backend;	/* ties go to the first from here */
static int sitting_out = -1;	/* failed a request: not in the next pick */
static int worker_k, worker_n = 1;	/* -w N: this is worker k of n */
int (*balance_inflight_elsewhere)(const struct backend *be);

/*
 * -w N: each worker holds a share of every backend's maxconn (the first
 * maxconn % n workers one more), so that together they never exceed it,
 * without a lock between processes. A share is at least 1: with fewer
 * slots than workers, up to n requests may be in flight (said in the
 * README). Least requests counts every worker's (from the shared table).
 */
void
balance_worker(int k, int n)
{
	worker_k = k;
	worker_n = n > 0 ? n : 1;
}

int
balance_limit(const struct backend *be)
{
	int share;

	if (be->maxconn == 0)
		return 0;
	share = be->maxconn / worker_n + (worker_k < be->maxconn % worker_n);
	return share > 0 ? share : 1;
}

/* Every process's requests in flight to be. */
static int
inflight_all(const struct backend *be)
{
	return be->inflight + (balance_inflight_elsewhere != NULL ?
	    balance_inflight_elsewhere(be) : 0);
}

static int
full(const struct backend *be)
{
	int limit = balance_limit(be);

	return limit > 0 && be->inflight >= limit;
}

/*
 * HAProxy's slow start: for MS after a backend comes up (not at lb's
 * start: nothing was sent anywhere yet), its weight grows in a straight
 * line from a tenth to all of it, so a cold cache warms on a trickle.
 */
double
balance_weight(const struct backend *be, double now)
{
	double t;

	if (be->slowstart_ms <= 0 || be->ramp_from <= 0)
		return be->weight;
	t = (now - be->ramp_from) * 1000 / be->slowstart_ms;
	if (t >= 1)
		return be->weight;
	return be->weight * (0.1 + 0.9 * (t > 0 ? t : 0));
}

/* The weight the round robin adds: ten times balance_weight(), at least 1. */
static int
turn_weight(const struct backend *be)
{
	int w = (int)(balance_weight(be, loop_now()) * 10 + 0.5);

	return w > 0 ? w : 1;
}

/*
 * be failed live traffic just now (conn.c could not connect, or had no
 * response), and conn.c is about to retry the request: the retry must
 * not land on be again while another backend is up, so be sits out the
 * next pick. NULL: no retry comes after all (the request ran out of
 * tries), and the next pick, someone else's, leaves no one out.
 */
void
balance_failed(const struct backend *be)
{
	sitting_out = be != NULL ? (int)(be - backends) : -1;
}

/* May backend i take part in this pick? all: fail open. */
static int
may_take_part(int i, int all, int skip)
{
	return i != skip && backend_usable(&backends[i]) &&
	    (all || backends[i].up);
}

static int
count_taking_part(int all, int skip)
{
	int i, n = 0;

	for (i = 0; i < nbackends; i++)
		n += may_take_part(i, all, skip);
	return n;
}

/*
 * Least requests: which of a and b has fewer in flight for its weight?
 * <0: a, >0: b, 0: as loaded as each other. a.inflight / a.weight
 * against b's, multiplied out (no division, no rounding).
 */
static int
lighter(const struct backend *a, const struct backend *b)
{
	long x = (long)inflight_all(a) * turn_weight(b),
	    y = (long)inflight_all(b) * turn_weight(a);

	return x < y ? -1 : x > y;
}

/*
 * May backend b, taking part, win this pick? Not at its maxconn, and
 * under -B least among the least loaded (least is one of those).
 */
static int
in_the_running(int b, int least)
{
	return !full(&backends[b]) && (cfg.balancer != BALANCE_LEAST ||
	    lighter(&backends[b], &backends[least]) == 0);
}

/*
 * nginx's smooth weighted round robin: at each pick, every backend that
 * takes part adds its weight to its current weight; the highest wins
 * and gives back the sum of the weights. Weights 5,1,1 give a a b a c
 * a a, again and again: each its share, the light ones spread out.
 *
 * When who takes part changes (one went down or came back), every
 * current weight starts again from 0: one back from down brings neither
 * credit nor debt from its time away. A backend that sits out a retry
 * (skip) still counts in this pick, its weight added as if it took part,
 * but it cannot win: the pick goes on exactly as if it had been its turn
 * and it had passed. So equal weights stay lesson 2's round robin after a
 * retry, and a backend that fails every time takes no share from the
 * others (resetting every weight for it instead handed the next picks to
 * the heaviest backend and the failing one, in turn, and starved the
 * rest). Ties go to the first from where the last pick left off.
 *
 * A backend at its maxconn, or under -B least one more loaded than the
 * least (lighter()), sits the pick out whole, as if it were not there
 * (nginx's rule): it gains no credit while it cannot take a request,
 * which, added at every pick, would let it take every pick once freed
 * (and in millions, wrap round). The round robin picks among the rest:
 * equal loads take their turns by weight.
 */
static int
smooth_pick(int all, int skip)
{
	struct backend *be;
	int i, b, in, w, best = -1, total = 0, changed = 0, least = -1;

	for (i = 0; i < nbackends; i++) {
		in = may_take_part(i, all, -1);
		changed |= in != backends[i].in_turn;
		backends[i].in_turn = in;
		if (in && i != skip && !full(&backends[i]) && (least < 0 ||
		    lighter(&backends[i], &backends[least]) < 0))
			least = i;
	}
	if (least < 0)
		return BALANCE_FULL;	/* every one that may win is full */
	for (i = 0; i < nbackends; i++) {
		b = (next_backend + i) % nbackends;
		be = &backends[b];
		if (changed)
			be->current = 0;
		if (!be->in_turn || (b != skip && !in_the_running(b, least)))
			continue;	/* full, or not the least: sits out */
		be->current += (w = turn_weight(be));
		total += w;
		if (b != skip && (best < 0 ||
		    be->current > backends[best].current))
			best = b;
	}
	backends[best].current -= total;
	next_backend = (best + 1) % nbackends;
	return best;
}

/*
 * The backend for the next request: among those that are up; down ones
 * wait for health checks to bring them back (lesson 2's cool-down is
 * gone). When none is up, fail open (-o) offers every backend in turn
 * rather than none. A backend that just failed sits out, unless it is
 * the only one left.
 */
int
balance_pick(void)
{
	int all = 0, skip = sitting_out;

	sitting_out = -1;
	if (count_taking_part(0, -1) == 0) {
		if (!cfg.fail_open || count_taking_part(1, -1) == 0)
			return -1;
		all = 1;
	}
	if (count_taking_part(all, skip) == 0)
		skip = -1;
	return smooth_pick(all, skip);	/* or BALANCE_FULL: conn.c queues */
}
