/*
 * pool.c - the backends: one list that never shrinks (lesson 2), smooth
 * weighted round robin over the ones that are up, and for each backend
 * a pool of idle keep-alive connections.
 *
 * The pool follows the load: it keeps every connection a request has
 * given back, up to -p (default 1024: in practice, FD_SETSIZE is the
 * cap), and each goes after -t pool ms unused. A small fixed cap (it
 * was 32) made 400 clients reopen backend connections all the time: the
 * connects cost more than the requests.
 *
 * Reusing a connection saves a TCP handshake, a socket and a few system
 * calls on every request: it is most of what makes final/ fast. Its
 * risk is a race: the backend may close an idle connection just as we
 * send a request on it. So a pooled connection is watched while idle
 * (readable means the backend closed it, or sent bytes nobody asked
 * for: either way it is dropped), and conn.c retries an idempotent
 * request that fails on a reused connection before a response came.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "pool.h"

struct backend backends[MAX_BACKENDS];
int nbackends;
static int next_backend;	/* ties go to the first from here */
static int sitting_out = -1;	/* failed a request: not in the next pick */

/* ",weight=N" after the address (opts without its comma): 0, or -1. */
static int
parse_options(char *opts, struct backend *be, const char **why)
{
	static char msg[128];
	char *const names[] = { "weight", NULL };
	char *value, *end;
	long n;
	int len;

	if (*opts == '\0') {
		*why = "want HOST:PORT or HOST:PORT,weight=N";
		return -1;
	}
	while (*opts != '\0') {
		/* The message first: getsubopt() cuts the option up. */
		len = (int)strcspn(opts, ",");
		snprintf(msg, sizeof(msg), "unknown option '%.*s' (want "
		    "HOST:PORT,weight=N)", len, opts);
		if (getsubopt(&opts, names, &value) != 0) {
			*why = msg;
			return -1;
		}
		if (value == NULL || *value < '0' || *value > '9' ||
		    (n = strtol(value, &end, 10)) < 1 || n > WEIGHT_MAX ||
		    *end != '\0') {
			snprintf(msg, sizeof(msg), "weight must be a number "
			    "from 1 to %d", WEIGHT_MAX);
			*why = msg;
			return -1;
		}
		be->weight = (int)n;
	}
	return 0;
}

/*
 * "HOST:PORT" or "HOST:PORT,weight=N". An address has no comma (an IPv6
 * one is in brackets), so the first comma ends it; getsubopt() reads
 * what follows, as main.c does for -t.
 */
int
pool_add(const char *arg, const char **why)
{
	struct backend *be;
	char copy[512], *opts;

	if (nbackends == MAX_BACKENDS) {
		*why = "too many backends";
		return -1;
	}
	if (strlen(arg) >= sizeof(copy)) {
		*why = "too long";
		return -1;
	}
	snprintf(copy, sizeof(copy), "%s", arg);
	be = &backends[nbackends];
	memset(be, 0, sizeof(*be));
	be->weight = 1;
	if ((opts = strchr(copy, ',')) != NULL)
		*opts++ = '\0';
	if (addr_parse(copy, 0, &be->addr, why) < 0 ||
	    (opts != NULL && parse_options(opts, be, why) < 0))
		return -1;
	be->up = 1;		/* until shown otherwise, as HAProxy does */
	snprintf(be->why, sizeof(be->why), "assumed up at start");
	nbackends++;
	return 0;
}

/* Resolve every backend once: getaddrinfo() blocks, the loop must not. */
int
pool_resolve(void)
{
	int i;

	for (i = 0; i < nbackends; i++)
		if (addr_resolve(&backends[i].addr, 0, &backends[i].addrs) < 0)
			return -1;
	return 0;
}

/*
 * be failed live traffic just now (health_note() says so), and conn.c
 * is about to retry the request: the retry must not land on be again
 * while another backend is up, so be sits out the next pick. NULL: no
 * retry comes after all (the request ran out of tries), and the next
 * pick, someone else's, leaves no one out.
 */
void
pool_failed(const struct backend *be)
{
	sitting_out = be != NULL ? (int)(be - backends) : -1;
}

/* May backend i take part in this pick? all: fail open. */
static int
may_take_part(int i, int all, int skip)
{
	return i != skip && (all || backends[i].up);
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
pool_pick(void)
{
	int all = 0, skip = sitting_out;

	sitting_out = -1;
	if (count_taking_part(0, -1) == 0) {
		if (!cfg.fail_open || nbackends == 0)
			return -1;
		all = 1;
	}
	if (count_taking_part(all, skip) == 0)
		skip = -1;
	return smooth_pick(all, skip);
}

static void
bconn_close(struct bconn *bc)
{
	loop_unwatch(bc->fd);
	timer_disarm(&bc->timer);
	close(bc->fd);
	free(bc);
}

/* Take bc out of its backend's idle list. */
static void
unlink_idle(struct bconn *bc)
{
	struct bconn **p;

	for (p = &bc->be->idle; *p != NULL; p = &(*p)->next)
		if (*p == bc) {
			*p = bc->next;
			bc->be->nidle--;
			return;
		}
}

/* An idle connection became readable: the backend closed it. Drop it. */
static void
idle_readable(void *arg, int fd, int events)
{
	struct bconn *bc = arg;

	(void)fd;
	(void)events;
	unlink_idle(bc);
	bconn_close(bc);
}

static void
idle_expired(void *arg)
{
	struct bconn *bc = arg;

	unlink_idle(bc);
	bconn_close(bc);
}

/* A new connection to be, around a connected socket. NULL: no memory. */
struct bconn *
pool_new(struct backend *be, int fd)
{
	struct bconn *bc = calloc(1, sizeof(*bc));

	if (bc == NULL)
		return NULL;
	bc->fd = fd;
	bc->be = be;
	timer_init(&bc->timer, idle_expired, bc);
	be->active++;
	be->connects++;
	return bc;
}

/*
 * The most recently used idle connection that is still quiet, lent out
 * (unwatched), or NULL.
 * Most recent first: it is the least likely to have been closed by the
 * backend's own idle timeout.
 */
struct bconn *
pool_take(struct backend *be)
{
	struct bconn *bc;

	while ((bc = be->idle) != NULL) {
		be->idle = bc->next;
		be->nidle--;
		/*
		 * The backend may have closed it, or sent something (a 408
		 * from its own idle timeout), in this very loop pass, with
		 * idle_readable() still to run: then it is not lent.
		 */
		if (!loop_readable_now(bc->fd)) {
			loop_unwatch(bc->fd);
			timer_disarm(&bc->timer);
			be->active++;
			return bc;
		}
		bconn_close(bc);
	}
	return NULL;
}

/* A client is done with bc: keep it for the next request, or close it. */
void
pool_give_back(struct bconn *bc, int reusable)
{
	struct backend *be = bc->be;

	be->active--;
	if (!reusable || be->nidle >= cfg.pool_size ||
	    loop_watch(bc->fd, EV_READ, idle_readable, bc) < 0) {
		bconn_close(bc);
		return;
	}
	bc->next = be->idle;
	be->idle = bc;
	be->nidle++;
	timer_arm(&bc->timer, loop_now() + cfg.pool_ms / 1e3);
}

void
pool_free(void)
{
	int i;

	for (i = 0; i < nbackends; i++) {
		while (backends[i].idle != NULL) {
			struct bconn *bc = backends[i].idle;
			backends[i].idle = bc->next;
			bconn_close(bc);
		}
		if (backends[i].addrs != NULL)
			freeaddrinfo(backends[i].addrs);
	}
}
