/*
 * pool.c - the backends: one list that never shrinks (lesson 2), smooth
 * weighted round robin over the ones that are up, and for each backend
 * a pool of idle keep-alive connections.
 *
 * The pool follows the load: it keeps every connection a request has
 * given back, up to -p (default 1024: in practice, with select(),
 * FD_SETSIZE is the cap), and each goes after -t pool ms unused. A small fixed cap (it
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

static struct backend table[MAX_BACKENDS];
struct backend *backends = table;	/* a worker's is shared: workers.c */
int nbackends;
static int next_backend;	/* ties go to the first from here */
static int sitting_out = -1;	/* failed a request: not in the next pick */

static int ngone;		/* slots BE_GONE: pool_reap() has work */
int pool_quiet;			/* a worker: the master says what happens */
unsigned long long pool_requests_gone;	/* by backends whose slot was freed */
int (*pool_busy_elsewhere)(struct backend *be);	/* workers.c's */

/* ",weight=N,drain" after the address (opts without its comma): 0, or -1. */
static int
parse_options(char *opts, struct backend *be, const char **why)
{
	static char msg[128];
	char *const names[] = { "weight", "drain", NULL };
	char *value, *end;
	long n;
	int len;

	if (*opts == '\0') {
		*why = "want HOST:PORT[,weight=N][,drain]";
		return -1;
	}
	while (*opts != '\0') {
		/* The message first: getsubopt() cuts the option up. */
		len = (int)strcspn(opts, ",");
		snprintf(msg, sizeof(msg), "unknown option '%.*s' (want "
		    "HOST:PORT[,weight=N][,drain])", len, opts);
		switch (getsubopt(&opts, names, &value)) {
		case 0:
			if (value == NULL || *value < '0' || *value > '9' ||
			    (n = strtol(value, &end, 10)) < 1 ||
			    n > WEIGHT_MAX || *end != '\0') {
				snprintf(msg, sizeof(msg), "weight must be a "
				    "number from 1 to %d", WEIGHT_MAX);
				*why = msg;
				return -1;
			}
			be->weight = (int)n;
			break;
		case 1:
			if (value != NULL) {
				*why = "drain takes no value";
				return -1;
			}
			be->drain = 1;
			break;
		default:
			*why = msg;
			return -1;
		}
	}
	return 0;
}

/*
 * "HOST:PORT[,weight=N][,drain]" into *be, cleared first. An address
 * has no comma (an IPv6 one is in brackets), so the first comma ends
 * it; getsubopt() reads what follows, as main.c does for -t.
 */
static int
parse_backend(const char *arg, struct backend *be, const char **why)
{
	char copy[512], *opts;

	if (strlen(arg) >= sizeof(copy)) {
		*why = "too long";
		return -1;
	}
	snprintf(copy, sizeof(copy), "%s", arg);
	memset(be, 0, sizeof(*be));
	be->weight = 1;
	if ((opts = strchr(copy, ',')) != NULL)
		*opts++ = '\0';
	if (addr_parse(copy, 0, &be->addr, why) < 0 ||
	    (opts != NULL && parse_options(opts, be, why) < 0))
		return -1;
	return 0;
}

/* A slot for a new backend, or NULL: all MAX_BACKENDS hold one. */
static struct backend *
free_slot(void)
{
	int i;

	for (i = 0; i < nbackends; i++)
		if (backends[i].slot == BE_FREE)
			return &backends[i];
	return nbackends < MAX_BACKENDS ? &backends[nbackends++] : NULL;
}

/* -b: one backend of the running set, for as long as lb runs. */
int
pool_add(const char *arg, const char **why)
{
	struct backend be, *slot;

	if (parse_backend(arg, &be, why) < 0)
		return -1;
	if ((slot = free_slot()) == NULL) {
		*why = "too many backends";
		return -1;
	}
	*slot = be;
	slot->slot = BE_LIVE;
	slot->up = 1;		/* until shown otherwise, as HAProxy does */
	snprintf(slot->why, sizeof(slot->why), "assumed up at start");
	return 0;
}

/* The backend in use (LIVE or GONE) named str, from -f (file) or -b. */
static struct backend *
find(const char *str, int file)
{
	int i;

	for (i = 0; i < nbackends; i++)
		if (backends[i].slot != BE_FREE &&
		    backends[i].from_file == file &&
		    strcmp(backends[i].addr.str, str) == 0)
			return &backends[i];
	return NULL;
}

/* Slots in use: LIVE, or GONE and still finishing. */
static int
slots_used(void)
{
	int i, n = 0;

	for (i = 0; i < nbackends; i++)
		n += backends[i].slot != BE_FREE;
	return n;
}

/* Backends of the running set (LIVE); usable: only those not drained. */
int
pool_count(int usable)
{
	int i, n = 0;

	for (i = 0; i < nbackends; i++)
		n += usable ? pool_usable(&backends[i]) :
		    backends[i].slot == BE_LIVE;
	return n;
}

/* May be get new requests? In the running set, and not drained. */
int
pool_usable(const struct backend *be)
{
	return be->slot == BE_LIVE && !be->drain;
}

/* The state the status page shows. */
const char *
pool_state(const struct backend *be)
{
	if (be->slot == BE_GONE)
		return "GONE";
	if (be->drain)
		return "DRAIN";
	return be->up ? "UP" : "DOWN";
}

static void close_idle(struct backend *be);

/* One kind of change a reload made, for its event line: " a b c". */
struct changes {
	char	text[MAX_BACKENDS * 40];
	size_t	len;
};

static void
change_add(struct changes *l, const struct backend *be, int options)
{
	size_t room = sizeof(l->text) - l->len;
	int w = options ? snprintf(l->text + l->len, room, " %s (weight %d%s)",
	    be->addr.str, be->weight, be->drain ? ", drain" : "") :
	    snprintf(l->text + l->len, room, " %s", be->addr.str);

	if (w > 0 && (size_t)w < room)
		l->len += (size_t)w;
}

/* The reload's event line: what it added, removed and changed. */
static void
log_reload(const char *path, const struct changes *c)
{
	static const char *const kind[] = { "added", "removed", "changed" };
	char text[sizeof(c->text) * 3 + 64];
	size_t n = 0;
	int i, w;

	text[0] = '\0';
	for (i = 0; i < 3; i++)
		if (c[i].len > 0 && (w = snprintf(text + n, sizeof(text) - n,
		    "; %s%s", kind[i], c[i].text)) > 0)
			n += (size_t)w;
	log_event("reload of %s: %d backend%s%s", path, pool_count(0),
	    pool_count(0) == 1 ? "" : "s", n > 0 ? text : "; no change");
}

/* A reload took be out of the set: no new requests, no probes. */
static void
remove_backend(struct backend *be)
{
	be->slot = BE_GONE;
	ngone++;
	health_end(be);
	close_idle(be);
}

/*
 * -f FILE, read into want[]: a backend a line, as -b takes it, with
 * # comments and blank lines. 0, or -1 with "FILE:LINE: what" in err.
 */
static int
read_file(const char *path, struct backend *want, int *nwant, char *err,
    size_t n)
{
	char line[600], *p, *e;
	const char *why;
	FILE *f;
	int lineno = 0, i;

	*nwant = 0;
	if ((f = fopen(path, "r")) == NULL) {
		snprintf(err, n, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		why = NULL;
		if (strchr(line, '\n') == NULL && !feof(f))
			why = "line too long";
		if ((p = strchr(line, '#')) != NULL)
			*p = '\0';
		p = line + strspn(line, " \t\r\n");
		for (e = p + strlen(p); e > p && strchr(" \t\r\n", e[-1]); e--)
			;
		*e = '\0';
		if (why == NULL && *p == '\0')
			continue;
		if (why == NULL && *nwant == MAX_BACKENDS)
			why = "too many backends";
		if (why == NULL && parse_backend(p, &want[*nwant], &why) == 0) {
			for (i = 0; i < *nwant; i++)
				if (strcmp(want[i].addr.str,
				    want[*nwant].addr.str) == 0)
					why = "listed twice (for a bigger "
					    "share, use weight=N)";
			if (why == NULL && find(want[*nwant].addr.str, 0))
				why = "given with -b too";
			if (why == NULL) {
				(*nwant)++;
				continue;
			}
		}
		snprintf(err, n, "%s:%d: '%.60s': %s", path, lineno, p, why);
		fclose(f);
		return -1;
	}
	i = ferror(f);
	fclose(f);
	if (i) {
		snprintf(err, n, "%s: read error", path);
		return -1;
	}
	return 0;
}

/*
 * Make the running set want[0..nwant) (each entry's addr, from_file,
 * weight, drain; and up, passes and check.timer.when for POOL_SYNC).
 * A backend is the same one if its name and origin (-b or -f) are: it
 * keeps its state, its counters and its idle connections. A new one
 * starts up at start-up (POOL_START, as HAProxy does), down on a reload
 * (POOL_RELOAD: probed at once, it takes traffic once RISE checks pass,
 * as any backend coming back does), or as the master says (POOL_SYNC,
 * in a worker: workers.c). One missing from want[] goes GONE.
 *
 * Anything wrong (a name that does not resolve, no room) changes
 * nothing: -1, and why in err. getaddrinfo() blocks: for a numeric
 * address it returns at once, for a name it may wait on DNS, with the
 * loop stopped (once per reload).
 */
int
pool_apply(struct backend *want, int nwant, enum pool_how how, char *err,
    size_t n)
{
	static struct changes did[3];	/* added, removed, changed */
	struct backend *be;
	int i, j, fresh = 0;
	double now = loop_now();

	for (i = 0; i < nwant; i++)
		fresh += find(want[i].addr.str, want[i].from_file) == NULL;
	if (fresh > MAX_BACKENDS - slots_used()) {
		snprintf(err, n, "too many backends (%d at most, counting "
		    "removed ones still finishing)", MAX_BACKENDS);
		return -1;
	}
	for (i = 0; i < nwant && how != POOL_START; i++)
		if (find(want[i].addr.str, want[i].from_file) == NULL &&
		    addr_resolve(&want[i].addr, 0, &want[i].addrs) < 0) {
			snprintf(err, n, "cannot resolve %s", want[i].addr.str);
			while (i-- > 0)
				if (want[i].addrs != NULL)
					freeaddrinfo(want[i].addrs);
			return -1;
		}

	/* From here on, nothing fails. */
	memset(did, 0, sizeof(did));
	for (i = 0; i < nbackends; i++) {
		be = &backends[i];
		if (be->slot != BE_LIVE)
			continue;
		for (j = 0; j < nwant; j++)
			if (want[j].from_file == be->from_file &&
			    strcmp(want[j].addr.str, be->addr.str) == 0)
				break;
		if (j == nwant) {
			remove_backend(be);
			change_add(&did[1], be, 0);
		}
	}
	for (i = 0; i < nwant; i++) {
		if ((be = find(want[i].addr.str, want[i].from_file)) == NULL) {
			be = free_slot();	/* room was counted above */
			*be = want[i];
			be->slot = BE_LIVE;
			be->up = how == POOL_START || (how == POOL_SYNC &&
			    want[i].up);
			snprintf(be->why, sizeof(be->why), how == POOL_RELOAD ?
			    "added by reload, not yet checked" : "assumed up at "
			    "start");
			if (how == POOL_RELOAD)
				health_begin(be, now);
			if (how != POOL_START)
				change_add(&did[0], be, 0);
		} else if (be->slot == BE_GONE) {	/* back before it went */
			be->slot = BE_LIVE;
			ngone--;
			/* Not probed while it was gone: as new, not as it was. */
			be->up = how == POOL_SYNC && want[i].up;
			be->passes = be->fails = be->fails_live = 0;
			be->in_turn = -1;
			snprintf(be->why, sizeof(be->why), "added by reload, "
			    "not yet checked");
			if (how == POOL_RELOAD)
				health_begin(be, now);
			change_add(&did[0], be, 0);
		}
		if (be->weight != want[i].weight ||
		    be->drain != want[i].drain) {
			be->weight = want[i].weight;
			be->drain = want[i].drain;
			be->in_turn = -1;	/* the next pick starts afresh */
			if (be->drain)
				close_idle(be);
			change_add(&did[2], be, 1);
		}
		if (how == POOL_SYNC) {		/* the master's view of health */
			if (be->up != want[i].up)
				be->in_turn = -1;
			be->up = want[i].up;
			be->passes = want[i].passes;
			be->check.timer.when = want[i].check.timer.when;
		}
	}
	if (how == POOL_RELOAD)
		log_reload(cfg.backend_file, did);
	return 0;
}

/*
 * -f FILE, at start-up or on SIGHUP: the file's backends become the
 * ones it lists, -b's stay. A bad file changes nothing: -1, why in err.
 */
int
pool_load(const char *path, int at_start, char *err, size_t n)
{
	static struct backend want[MAX_BACKENDS];
	int nwant, i, len;

	if (read_file(path, want, &nwant, err, n) < 0)
		return -1;
	for (i = 0; i < nwant; i++)
		want[i].from_file = 1;
	for (i = 0; i < nbackends; i++)
		if (backends[i].slot == BE_LIVE && !backends[i].from_file) {
			if (nwant == MAX_BACKENDS) {
				snprintf(err, n, "%s: too many backends with "
				    "-b's", path);
				return -1;
			}
			want[nwant++] = backends[i];	/* -b's stay as they are */
		}
	if (nwant == 0) {
		snprintf(err, n, "%s lists no backend, and no -b gives one",
		    path);
		return -1;
	}
	if (pool_apply(want, nwant, at_start ? POOL_START : POOL_RELOAD, err,
	    n) == 0)
		return 0;
	len = (int)strlen(err);
	snprintf(err + len, n - (size_t)len, " (%s)", path);
	return -1;
}

/* The backend in the running set named str (file: from -f), or NULL. */
struct backend *
pool_find(const char *str, int file)
{
	struct backend *be = find(str, file);

	return be != NULL && be->slot == BE_LIVE ? be : NULL;
}

/* parse_backend(), for workers.c: "HOST:PORT[,weight=N][,drain]". */
int
pool_parse(const char *arg, struct backend *be, const char **why)
{
	return parse_backend(arg, be, why);
}

/* Resolve every backend once: getaddrinfo() blocks, the loop must not. */
int
pool_resolve(void)
{
	int i;

	for (i = 0; i < nbackends; i++)
		if (backends[i].slot != BE_FREE && backends[i].addrs == NULL &&
		    addr_resolve(&backends[i].addr, 0, &backends[i].addrs) < 0)
			return -1;
	return 0;
}

/*
 * -w N, in a worker just forked: backends[] moves to t, its table in
 * memory the master shares, every counter at 0 (the master keeps what
 * the worker before it counted), no idle connection, no probe.
 *
 * The counters fork() copied are the master's sums of every worker (its
 * status page put them there), and the master may read t at any moment.
 * So each entry is made aside and stored whole, its counters already 0:
 * copied into t and zeroed there, it showed those sums for an instant,
 * and a page read in that instant counted every request twice.
 */
void
pool_move(struct backend *t)
{
	struct backend be;
	int i;

	for (i = 0; i < nbackends; i++) {
		be = backends[i];
		be.requests = be.failures = be.bytes = be.connects = 0;
		be.active = be.nidle = be.users = 0;
		be.idle = NULL;
		memset(&be.retired, 0, sizeof(be.retired));
		be.check.fd = -1;
		be.check.timer.slot = -1;
		t[i] = be;
	}
	backends = t;
}

/*
 * Once a loop pass: a GONE backend whose last client and connection
 * are done is forgotten, and its slot is free for the next reload.
 */
void
pool_reap(void)
{
	int i;

	for (i = 0; i < nbackends && ngone > 0; i++) {
		struct backend *be = &backends[i];

		if (be->slot != BE_GONE)
			continue;
		/* -w N: the master asks the workers (whose counts these are) */
		if (pool_busy_elsewhere != NULL ? pool_busy_elsewhere(be) :
		    be->active > 0 || be->nidle > 0 || be->users > 0)
			continue;	/* still finishing */
		if (pool_busy_elsewhere != NULL)	/* workers counted */
			log_event("%s removed: its last request is done",
			    be->addr.str);
		else if (!pool_quiet)
			log_event("%s removed: its last request is done (%llu "
			    "requests in all)", be->addr.str, be->requests);
		if (be->addrs != NULL)
			freeaddrinfo(be->addrs);
		pool_requests_gone += be->requests;
		memset(be, 0, sizeof(*be));	/* BE_FREE */
		ngone--;
	}
	while (nbackends > 0 && backends[nbackends - 1].slot == BE_FREE)
		nbackends--;
}

/*
 * be failed live traffic just now (conn.c could not connect, or had no
 * response), and conn.c is about to retry the request: the retry must
 * not land on be again while another backend is up, so be sits out the
 * next pick. NULL: no
 * retry comes after all (the request ran out of tries), and the next
 * pick, someone else's, leaves no one out.
 */
void
pool_failed(const struct backend *be)
{
	sitting_out = be != NULL ? (int)(be - backends) : -1;
}

/*
 * TEMPORARY, for conn.c's backend_failed() until it calls pool_failed()
 * and health_result() itself: the two, as health_note() once did both.
 */
void
health_note(struct backend *be, int passed, int live, const char *why)
{
	if (live)
		pool_failed(be);
	health_result(be, passed, live, why);
}

/* May backend i take part in this pick? all: fail open. */
static int
may_take_part(int i, int all, int skip)
{
	return i != skip && pool_usable(&backends[i]) &&
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
pool_pick(void)
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
	bc->keep_s = -1;
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

/*
 * How long bc may wait in the pool: -t pool, or less when the backend
 * said it closes idle connections sooner (Keep-Alive: timeout=N): lb
 * lets go a second before it would (half of N, for N under 2), so that
 * a request is not sent on a connection the backend is closing (the
 * keep-alive race, conn.c).
 */
static double
idle_s(const struct bconn *bc)
{
	double s = cfg.pool_ms / 1e3, hint = bc->keep_s;

	if (hint >= 0) {
		hint = hint >= 2 ? hint - 1 : hint / 2;
		if (hint < s)
			s = hint;
	}
	return s;
}

/* A client is done with bc: keep it for the next request, or close it. */
void
pool_give_back(struct bconn *bc, int reusable)
{
	struct backend *be = bc->be;

	be->active--;
	if (!reusable || bc->keep_s == 0 || !pool_usable(be) ||
	    be->nidle >= cfg.pool_size ||
	    loop_watch(bc->fd, EV_READ, idle_readable, bc) < 0) {
		bconn_close(bc);
		return;
	}
	bc->next = be->idle;
	be->idle = bc;
	be->nidle++;
	timer_arm(&bc->timer, loop_now() + idle_s(bc));
}

/*
 * lb is short of descriptors (socket() failed, or gave one select()
 * cannot watch): an idle connection is worth less than a request, so
 * one goes, from the backend that keeps the most. 1 if one was closed.
 */
int
pool_shed_idle(void)
{
	struct backend *most = NULL;
	struct bconn *bc;
	int i;

	for (i = 0; i < nbackends; i++)
		if (backends[i].nidle > 0 && (most == NULL ||
		    backends[i].nidle > most->nidle))
			most = &backends[i];
	if (most == NULL)
		return 0;
	bc = most->idle;
	most->idle = bc->next;
	most->nidle--;
	bconn_close(bc);
	return 1;
}

/* Close be's idle connections: it is drained or gone. */
static void
close_idle(struct backend *be)
{
	while (be->idle != NULL) {
		struct bconn *bc = be->idle;

		be->idle = bc->next;
		be->nidle--;
		bconn_close(bc);
	}
}

void
pool_free(void)
{
	int i;

	for (i = 0; i < nbackends; i++) {
		close_idle(&backends[i]);
		if (backends[i].addrs != NULL)
			freeaddrinfo(backends[i].addrs);
	}
}
