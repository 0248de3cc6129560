/*
 * backend.c - the table of backends: reading "HOST:PORT[,weight=N]
 * [,maxconn=N][,slowstart=MS][,drain]", finding a backend by name, counting the ones that may take
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

#include <stddef.h>
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

/*
 * The options that take a number: the field each sets, and its range.
 *
 * maxconn=N caps the requests in flight to one backend at N, 1 to
 * 100000. 0 would be "take nothing", which is what drain says, so a
 * backend without maxconn has no limit instead. 100000 is far past what
 * one server takes at once, and past what is useful to lb: one process
 * holds -m clients in all, over every backend, and a limit no traffic
 * can reach is no limit. A bound also catches a slip of the keyboard
 * (maxconn=50000000) that would have meant none.
 *
 * slowstart=MS ramps a backend that comes up over MS, 0 (no ramp) to an
 * hour, as -i's interval is bounded: a ramp longer than that is a
 * backend kept half out of service by mistake.
 */
static const struct number_opt {
	char	*name;		/* getsubopt() wants char *, not const */
	const char *what;	/* what the message says it must be */
	int	lo, hi;
	size_t	field;		/* offsetof(struct backend, ...) */
} numbers[] = {
	{ "weight", "a number", 1, WEIGHT_MAX,
	    offsetof(struct backend, weight) },
	{ "maxconn", "a number", 1, MAXCONN_MAX,
	    offsetof(struct backend, maxconn) },
	{ "slowstart", "milliseconds", 0, SLOWSTART_MAX,
	    offsetof(struct backend, slowstart_ms) },
};
#define NNUMBERS	(sizeof(numbers) / sizeof(numbers[0]))

/* value for option o, into its field of be: 0, or -1 with why in msg. */
static int
number_value(const struct number_opt *o, const char *value,
    struct backend *be, char *msg, size_t n)
{
	char *end;
	long v;

	if (value == NULL || *value < '0' || *value > '9' ||
	    (v = strtol(value, &end, 10)) < o->lo || v > o->hi ||
	    *end != '\0') {
		snprintf(msg, n, "%s must be %s from %d to %d", o->name,
		    o->what, o->lo, o->hi);
		return -1;
	}
	*(int *)((char *)be + o->field) = (int)v;
	return 0;
}

/* ",weight=N,drain" and the rest after the address (opts without its comma). */
static int
parse_options(char *opts, struct backend *be, const char **why)
{
	static char msg[192];
	char *names[NNUMBERS + 4], *value;
	size_t i;
	int len, k;

	if (*opts == '\0') {
		*why = "want " BACKEND_SYNTAX;
		return -1;
	}
	for (i = 0; i < NNUMBERS; i++)
		names[i] = numbers[i].name;
	names[NNUMBERS] = "drain";
	names[NNUMBERS + 1] = "send-proxy";	/* be->send_proxy 1 */
	names[NNUMBERS + 2] = "send-proxy-v2";	/* and 2 */
	names[NNUMBERS + 3] = NULL;
	while (*opts != '\0') {
		/* The message first: getsubopt() cuts the option up. */
		len = (int)strcspn(opts, ",");
		snprintf(msg, sizeof(msg), "unknown option '%.*s' (want "
		    BACKEND_SYNTAX ")", len, opts);
		k = getsubopt(&opts, names, &value);
		if (k >= 0 && (size_t)k < NNUMBERS) {
			if (number_value(&numbers[k], value, be, msg,
			    sizeof(msg)) < 0) {
				*why = msg;
				return -1;
			}
		} else if (k >= (int)NNUMBERS && value == NULL) {
			if ((size_t)k == NNUMBERS)
				be->drain = 1;
			else
				be->send_proxy = k - (int)NNUMBERS;
		} else {
			if (k >= (int)NNUMBERS)
				snprintf(msg, sizeof(msg), "%s takes no value",
				    names[k]);
			*why = msg;
			return -1;
		}
	}
	return 0;
}

/*
 * "HOST:PORT[,weight=N][,maxconn=N][,slowstart=MS][,drain]" into *be,
 * cleared first (no limit, no slow start, weight 1). An address
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

/*
 * be's options as backend_parse() reads them, those not at their
 * default (",weight=2,maxconn=5,slowstart=3000,drain"), into out[n].
 */
void
backend_options(const struct backend *be, char *out, size_t n)
{
	size_t len;

	if (n == 0)
		return;
	out[0] = '\0';
	if (be->weight != 1)
		snprintf(out, n, ",weight=%d", be->weight);
	if (be->maxconn > 0 && (len = strlen(out)) < n)
		snprintf(out + len, n - len, ",maxconn=%d", be->maxconn);
	if (be->slowstart_ms > 0 && (len = strlen(out)) < n)
		snprintf(out + len, n - len, ",slowstart=%d", be->slowstart_ms);
	if (be->drain && (len = strlen(out)) < n)
		snprintf(out + len, n - len, ",drain");
	if (be->send_proxy > 0 && (len = strlen(out)) < n)
		snprintf(out + len, n - len, be->send_proxy == 2 ?
		    ",send-proxy-v2" : ",send-proxy");
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
 * the worker before it counted), nothing in flight, no idle connection,
 * no probe.
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
		be.active = be.nidle = be.users = be.inflight = 0;
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
