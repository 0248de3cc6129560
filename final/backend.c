/*
 * backend.c - the table of backends: reading "HOST:PORT[,weight=N]
 * [,drain]", finding a backend by name, counting the ones that may take
 * requests, and the life of a slot in the table.
 *
 * The table is a fixed array of MAX_BACKENDS slots, and a slot is reused:
 * lesson 2's list of backends only ever grew, but here a reload can
 * remove a backend (roster.c). It goes GONE first, for as long as a
 * client, a connection or a timer still points at it, and backend_reap()
 * frees the slot once nothing does; a backend added later takes the
 * first free slot.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "config.h"
#include "log.h"

static struct backend table[MAX_BACKENDS];
struct backend *backends = table;	/* a worker's is shared: workers.c */
int nbackends;

static int ngone;		/* slots BE_GONE: backend_reap() has work */
int backend_quiet;		/* a worker: the master says what happens */
unsigned long long backend_requests_gone;	/* by backends reaped */
int (*backend_busy_elsewhere)(struct backend *be);	/* workers.c's */

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
int
backend_parse(const char *arg, struct backend *be, const char **why)
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
struct backend *
backend_slot(void)
{
	int i;

	for (i = 0; i < nbackends; i++)
		if (backends[i].slot == BE_FREE)
			return &backends[i];
	return nbackends < MAX_BACKENDS ? &backends[nbackends++] : NULL;
}

/* -b: one backend of the running set, for as long as lb runs. */
int
backend_add(const char *arg, const char **why)
{
	struct backend be, *slot;

	if (backend_parse(arg, &be, why) < 0)
		return -1;
	if ((slot = backend_slot()) == NULL) {
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
struct backend *
backend_lookup(const char *str, int file)
{
	int i;

	for (i = 0; i < nbackends; i++)
		if (backends[i].slot != BE_FREE &&
		    backends[i].from_file == file &&
		    strcmp(backends[i].addr.str, str) == 0)
			return &backends[i];
	return NULL;
}

/* The backend in the running set named str (file: from -f), or NULL. */
struct backend *
backend_find(const char *str, int file)
{
	struct backend *be = backend_lookup(str, file);

	return be != NULL && be->slot == BE_LIVE ? be : NULL;
}

/* Slots in use: LIVE, or GONE and still finishing. */
int
backend_slots_used(void)
{
	int i, n = 0;

	for (i = 0; i < nbackends; i++)
		n += backends[i].slot != BE_FREE;
	return n;
}

/* Backends of the running set (LIVE); usable: only those not drained. */
int
backend_count(int usable)
{
	int i, n = 0;

	for (i = 0; i < nbackends; i++)
		n += usable ? backend_usable(&backends[i]) :
		    backends[i].slot == BE_LIVE;
	return n;
}

/* May it get new requests? In the running set, and not drained. */
int
backend_usable(const struct backend *be)
{
	return be->slot == BE_LIVE && !be->drain;
}

/* The state the status page shows. */
const char *
backend_state(const struct backend *be)
{
	if (be->slot == BE_GONE)
		return "GONE";
	if (be->drain)
		return "DRAIN";
	return be->up ? "UP" : "DOWN";
}

/* Out of the running set: its slot is freed once nothing uses it. */
void
backend_gone(struct backend *be)
{
	be->slot = BE_GONE;
	ngone++;
}

/* GONE, and wanted again before its slot was freed: in the set again. */
void
backend_back(struct backend *be)
{
	be->slot = BE_LIVE;
	ngone--;
}

/* Resolve every backend once: getaddrinfo() blocks, the loop must not. */
int
backend_resolve(void)
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
backend_move(struct backend *t)
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
backend_reap(void)
{
	int i;

	for (i = 0; i < nbackends && ngone > 0; i++) {
		struct backend *be = &backends[i];

		if (be->slot != BE_GONE)
			continue;
		/* -w N: the master asks the workers (whose counts these are) */
		if (backend_busy_elsewhere != NULL ?
		    backend_busy_elsewhere(be) :
		    be->active > 0 || be->nidle > 0 || be->users > 0)
			continue;	/* still finishing */
		if (backend_busy_elsewhere != NULL)	/* workers counted */
			log_event("%s removed: its last request is done",
			    be->addr.str);
		else if (!backend_quiet)
			log_event("%s removed: its last request is done (%llu "
			    "requests in all)", be->addr.str, be->requests);
		if (be->addrs != NULL)
			freeaddrinfo(be->addrs);
		backend_requests_gone += be->requests;
		memset(be, 0, sizeof(*be));	/* BE_FREE */
		ngone--;
	}
	while (nbackends > 0 && backends[nbackends - 1].slot == BE_FREE)
		nbackends--;
}

/* At exit: every backend's addresses (their idle connections: bconn.c). */
void
backend_free(void)
{
	int i;

	for (i = 0; i < nbackends; i++)
		if (backends[i].addrs != NULL)
			freeaddrinfo(backends[i].addrs);
}
