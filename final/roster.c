/*
 * roster.c - which backends lb balances over, and changing that: -b and
 * -f at start-up, -f again on SIGHUP, and in a worker the table the
 * master sends (workers.c). A change reaches every part of a backend:
 * the table (backend.c), its probe (health.c) and its idle connections
 * (bconn.c), which is why it lives above all three.
 *
 * A reload is all or nothing: a file with a bad line, a name that does
 * not resolve, or no room in the table changes nothing, and says why.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "bconn.h"
#include "config.h"
#include "health.h"
#include "log.h"
#include "roster.h"

/* One kind of change a reload made, for its event line: " a b c". */
struct changes {
	char	text[MAX_BACKENDS * 80];
	size_t	len;
};

/* " (weight 2, maxconn 5, slowstart 3000, drain)": be's options. */
static void
options_text(const struct backend *be, char *out, size_t n)
{
	int w = snprintf(out, n, " (weight %d", be->weight);

	if (be->maxconn > 0 && w > 0 && (size_t)w < n)
		w += snprintf(out + w, n - (size_t)w, ", maxconn %d",
		    be->maxconn);
	if (be->slowstart_ms > 0 && w > 0 && (size_t)w < n)
		w += snprintf(out + w, n - (size_t)w, ", slowstart %d",
		    be->slowstart_ms);
	if (w > 0 && (size_t)w < n)
		snprintf(out + w, n - (size_t)w, "%s%s)", be->drain ? ", drain" :
		    "", be->send_proxy == 2 ? ", send-proxy-v2" :
		    be->send_proxy == 1 ? ", send-proxy" : "");
}

static void
change_add(struct changes *l, const struct backend *be, int options)
{
	size_t room = sizeof(l->text) - l->len;
	char opts[96] = "";
	int w;

	if (options)
		options_text(be, opts, sizeof(opts));
	w = snprintf(l->text + l->len, room, " %s%s", be->addr.str, opts);
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
	log_event("reload of %s: %d backend%s%s", path, backend_count(0),
	    backend_count(0) == 1 ? "" : "s", n > 0 ? text : "; no change");
}

/* A reload took be out of the set: no new requests, no probes. */
static void
remove_backend(struct backend *be)
{
	backend_gone(be);
	health_end(be);
	bconn_close_idle(be);
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
		if (why == NULL && backend_parse(p, &want[*nwant], &why) == 0) {
			for (i = 0; i < *nwant; i++)
				if (strcmp(want[i].addr.str,
				    want[*nwant].addr.str) == 0)
					why = "listed twice (for a bigger "
					    "share, use weight=N)";
			if (why == NULL &&
			    backend_lookup(want[*nwant].addr.str, 0) != NULL)
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
 * Can want[] be applied? Room for the new ones (GONE slots still count),
 * and an address for each (not at start-up: backend_resolve() does them
 * all). 0, or -1 with why in err and nothing changed. getaddrinfo()
 * blocks: for a numeric address it returns at once, for a name it may
 * wait on DNS, with the loop stopped (once per reload).
 */
static int
make_ready(struct backend *want, int nwant, enum roster_how how, char *err,
    size_t n)
{
	int i, fresh = 0;

	for (i = 0; i < nwant; i++)
		fresh += backend_lookup(want[i].addr.str,
		    want[i].from_file) == NULL;
	if (fresh > MAX_BACKENDS - backend_slots_used()) {
		snprintf(err, n, "too many backends (%d at most, counting "
		    "removed ones still finishing)", MAX_BACKENDS);
		return -1;
	}
	for (i = 0; i < nwant && how != ROSTER_START; i++)
		if (backend_lookup(want[i].addr.str, want[i].from_file) ==
		    NULL && addr_resolve(&want[i].addr, 0, &want[i].addrs) < 0) {
			snprintf(err, n, "cannot resolve %s", want[i].addr.str);
			while (i-- > 0)
				if (want[i].addrs != NULL)
					freeaddrinfo(want[i].addrs);
			return -1;
		}
	return 0;
}

/* Every backend of the running set that want[] lacks goes GONE. */
static void
remove_unwanted(const struct backend *want, int nwant, struct changes *did)
{
	struct backend *be;
	int i, j;

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
			change_add(did, be, 0);
		}
	}
}

/*
 * w joins the running set: into a free slot (room was counted), or
 * back into its GONE slot, not yet finished. Returns its slot.
 */
static struct backend *
join(const struct backend *w, enum roster_how how, struct changes *added)
{
	struct backend *be = backend_lookup(w->addr.str, w->from_file);

	if (be == NULL) {
		be = backend_slot();
		*be = *w;
		be->slot = BE_LIVE;
		be->up = how == ROSTER_START || (how == ROSTER_SYNC && w->up);
		snprintf(be->why, sizeof(be->why), how == ROSTER_RELOAD ?
		    "added by reload, not yet checked" : "assumed up at start");
	} else {
		backend_back(be);
		/* Not probed while it was gone: as new, not as it was. */
		be->up = how == ROSTER_SYNC && w->up;
		be->passes = be->fails = be->fails_live = 0;
		be->in_turn = -1;
		snprintf(be->why, sizeof(be->why), "added by reload, not yet "
		    "checked");
	}
	if (how != ROSTER_START && be->drain)
		be->drain_since = loop_now();	/* joins drained: from now */
	if (how == ROSTER_RELOAD)
		health_begin(be, loop_now());
	if (how != ROSTER_START)
		change_add(added, be, 0);
	return be;
}

/*
 * be, in the running set, takes w's options (weight, maxconn, slowstart,
 * drain) if they differ. What be is doing stays as it is: its requests
 * in flight (a lowered maxconn lets those over it finish, and new ones
 * wait until be is under it) and its slow start (a new length applies
 * to the ramp under way, from when it began).
 */
static void
change_options(struct backend *be, const struct backend *w,
    struct changes *changed)
{
	if (be->weight == w->weight && be->drain == w->drain &&
	    be->maxconn == w->maxconn && be->slowstart_ms == w->slowstart_ms &&
	    be->send_proxy == w->send_proxy)
		return;
	if (w->drain && !be->drain)
		be->drain_since = loop_now();
	be->weight = w->weight;
	be->drain = w->drain;
	be->maxconn = w->maxconn;
	be->slowstart_ms = w->slowstart_ms;
	be->in_turn = -1;	/* the next pick starts afresh */
	if (be->drain || be->send_proxy != w->send_proxy)
		bconn_close_idle(be);	/* opened with the other preface */
	be->send_proxy = w->send_proxy;
	change_add(changed, be, 1);
}

/*
 * A worker: be's health is what the master's table w says, and so is
 * its slow start, which began when the master saw it come up (the
 * clock is the same in every process). Its requests in flight are this
 * worker's own count, and no table touches them.
 */
static void
sync_health(struct backend *be, const struct backend *w)
{
	if (be->up != w->up)
		be->in_turn = -1;
	be->up = w->up;
	be->passes = w->passes;
	be->check.timer.when = w->check.timer.when;
	be->ramp_from = w->ramp_from;
}

/*
 * Make the running set want[0..nwant) (each entry's addr, from_file,
 * weight, maxconn, slowstart_ms, drain; and up, passes, check.timer.when
 * and ramp_from for ROSTER_SYNC). A backend is the same one if its name
 * and origin (-b or -f) are: it keeps its state, its counters, its
 * requests in flight, its slow start and its idle connections. A new one
 * starts up at start-up (ROSTER_START, as HAProxy does), down on a
 * reload (ROSTER_RELOAD: probed at once, it takes traffic once RISE
 * checks pass, as any backend coming back does), or as the master says
 * (ROSTER_SYNC, in a worker: workers.c). One missing from want[] goes
 * GONE. Anything wrong (a name that does not resolve, no room) changes
 * nothing: -1, and why in err.
 */
int
roster_apply(struct backend *want, int nwant, enum roster_how how, char *err,
    size_t n)
{
	static struct changes did[3];	/* added, removed, changed */
	struct backend *be;
	int i;

	if (make_ready(want, nwant, how, err, n) < 0)
		return -1;
	memset(did, 0, sizeof(did));
	remove_unwanted(want, nwant, &did[1]);
	for (i = 0; i < nwant; i++) {
		be = backend_find(want[i].addr.str, want[i].from_file);
		if (be == NULL)
			be = join(&want[i], how, &did[0]);
		change_options(be, &want[i], &did[2]);
		if (how == ROSTER_SYNC)	/* the master's view of health */
			sync_health(be, &want[i]);
	}
	if (how == ROSTER_RELOAD)
		log_reload(cfg.backend_file, did);
	return 0;
}

/*
 * -f FILE, at start-up or on SIGHUP: the file's backends become the
 * ones it lists, -b's stay. A bad file changes nothing: -1, why in err.
 */
int
roster_load(const char *path, int at_start, char *err, size_t n)
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
			want[nwant++] = backends[i];	/* -b's: as they are */
		}
	if (nwant == 0) {
		snprintf(err, n, "%s lists no backend, and no -b gives one",
		    path);
		return -1;
	}
	if (roster_apply(want, nwant, at_start ? ROSTER_START : ROSTER_RELOAD,
	    err, n) == 0)
		return 0;
	len = (int)strlen(err);
	snprintf(err + len, n - (size_t)len, " (%s)", path);
	return -1;
}

/* At exit: every backend's idle connections and addresses. */
void
roster_free(void)
{
	int i;

	for (i = 0; i < nbackends; i++)
		bconn_close_idle(&backends[i]);
	backend_free();
}
