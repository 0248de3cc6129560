/*
 * balance.c - which backend takes the next request: nginx's smooth
 * weighted round robin over the backends that are up and not drained.
 * Lesson 2's round robin took each backend in turn; weights (-b
 * HOST:PORT,weight=N) give some a bigger share, spread out rather than
 * in bursts. A backend that just failed a request sits out the retry.
 *
 * It only reads the table: be->up is health.c's, be->drain roster.c's.
 * With -w N each worker picks on its own, so the rotation is per worker.
 */
#include "backend.h"
#include "balance.h"
#include "config.h"

static int next_backend;	/* ties go to the first from here */
static int sitting_out = -1;	/* failed a request: not in the next pick */

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
 */
static int
smooth_pick(int all, int skip)
{
	struct backend *be;
	int i, b, in, best = -1, total = 0, changed = 0;

	for (i = 0; i < nbackends; i++) {
		in = may_take_part(i, all, -1);
		changed |= in != backends[i].in_turn;
		backends[i].in_turn = in;
	}
	for (i = 0; i < nbackends; i++) {
		b = (next_backend + i) % nbackends;
		be = &backends[b];
		if (changed)
			be->current = 0;
		if (!be->in_turn)
			continue;
		be->current += be->weight;
		total += be->weight;
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
	return smooth_pick(all, skip);
}
