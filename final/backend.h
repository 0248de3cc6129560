/*
 * backend.h - the table of backends: each one's address, weight, state
 * (up or down, drained, removed) and why, its probe, its counters. The
 * modules above it each keep a part of what a backend is up to:
 *
 *   health.c   probes it, and says up or down (be->up, be->why)
 *   balance.c  picks the backend for each request, among those up
 *   bconn.c    its connections: lent to clients, or idle for reuse
 *   roster.c   which backends there are: -f, SIGHUP, a worker's table
 *
 * be->up is health.c's verdict, with one exception: when the set
 * changes, roster.c sets it for a backend that joins (up at start-up,
 * down after a reload until its probes pass, as the master says in a
 * worker).
 *
 * A backend's slot in backends[] never moves while anything points at
 * it (a client, a timer, an idle connection): a reload marks a removed
 * backend GONE, lets its in-flight requests finish, and frees the slot
 * after (backend_reap()); a new backend takes a free slot.
 */
#ifndef BACKEND_H
#define BACKEND_H

#include <stddef.h>

#include "addr.h"
#include "loop.h"

#define WEIGHT_MAX	100	/* -b HOST:PORT,weight=N: N from 1 to this */
#define MAXCONN_MAX	100000	/* ,maxconn=N: N from 1 to this */
#define SLOWSTART_MAX	3600000	/* ,slowstart=MS: MS from 0 to this */

/* What backend_parse() wants, for messages and usage. */
#define BACKEND_SYNTAX	"HOST:PORT[,weight=N][,maxconn=N][,slowstart=MS][,drain]\
[,send-proxy|,send-proxy-v2]"

/*
 * A PROXY header (,send-proxy: 108 bytes at most), "GET " PATH (-H: 200
 * at most) " HTTP/1.1", Host: HOST:PORT (270), ...
 */
#define HEALTH_REQUEST_MAX	768

enum check_stage {
	CHECK_IDLE,	/* waiting for the next probe time */
	CHECK_CONNECT,	/* a non-blocking connect is under way */
	CHECK_SEND,	/* connected: the request is going out */
	CHECK_READ	/* request sent: waiting for the status line */
};

/* One backend's probe, and what the last one found (health.c runs it). */
struct check {
	enum check_stage stage;
	int	fd;
	const struct addrinfo *ai;	/* CHECK_CONNECT: the address tried */
	struct timer timer;	/* idle: the next probe; else its deadline */
	double	started;	/* this probe's start */
	double	next_at;	/* the next probe's start */
	char	request[HEALTH_REQUEST_MAX];	/* GET PATH, built once */
	int	request_len;
	size_t	sent;		/* request bytes written */
	size_t	got;		/* bytes of line[] filled */
	char	line[128];	/* the status line, as it arrives */
	int	status;		/* this probe's HTTP status, 0 if none came */
	int	last_ok;	/* the last probe: 1 passed, 0 failed, -1 none */
	double	last_ms;	/* how long it took */
	char	last[96];	/* what it found: "status 200", "timeout ..." */
	unsigned long long passed, failed;	/* probes, in all */
};

struct bconn;

/* What a slot of backends[] holds. */
enum slot {
	BE_FREE,	/* nothing: a new backend may take it */
	BE_LIVE,	/* a backend of the running set */
	BE_GONE		/* removed by a reload: in-flight requests finish */
};

struct backend {
	enum slot slot;
	int	from_file;	/* -f: a reload may change or remove it */
	int	drain;		/* ,drain: no new requests, still probed */
	double	drain_since;	/* when a reload drained it; 0: at start */
	struct hostport addr;
	struct addrinfo *addrs;	/* resolved once, when it joins */
	int	weight;		/* -b HOST:PORT,weight=N (default 1) */
	int	maxconn;	/* ,maxconn=N: requests in flight at most; 0: any */
	int	slowstart_ms;	/* ,slowstart=MS: its share grows over MS; 0: no */
	int	send_proxy;	/* ,send-proxy: 1, ,send-proxy-v2: 2; 0: none */
	double	ramp_from;	/* when its slow start began; 0: none */
	int	inflight;	/* requests in flight to it, from this process */
	int	current;	/* smooth round robin's current weight */
	int	in_turn;	/* it took part in the last pick */
	int	up;
	int	passes;		/* down: checks passed in a row */
	int	fails;		/* up: failures in a row */
	int	fails_live;	/* of those, seen by live traffic */
	double	since;		/* when up last changed */
	char	why[160];	/* why it is in its state */
	struct check check;	/* its active health check */
	struct bconn *idle;	/* idle connections, most recent first */
	int	nidle;
	int	active;		/* connections lent to clients */
	int	users;		/* clients whose request chose it (conn.c) */
	unsigned long long requests, failures, bytes;
	unsigned long long connects;	/* opened for live traffic */
	struct {		/* -w N: counted by workers that died */
		unsigned long long requests, failures, bytes, connects;
	} retired;
};

extern struct backend *backends;
extern int nbackends;
extern int backend_quiet;
extern unsigned long long backend_requests_gone;
extern int (*backend_busy_elsewhere)(struct backend *be);

int	backend_parse(const char *arg, struct backend *be, const char **why);
int	backend_add(const char *arg, const char **why);
void	backend_options(const struct backend *be, char *out, size_t n);
struct backend *backend_slot(void);
struct backend *backend_lookup(const char *str, int file);
struct backend *backend_find(const char *str, int file);
int	backend_slots_used(void);
int	backend_count(int usable);
int	backend_usable(const struct backend *be);
const char *backend_state(const struct backend *be);
void	backend_gone(struct backend *be);
void	backend_back(struct backend *be);
int	backend_resolve(void);
void	backend_move(struct backend *t);	/* -w N: to a worker's table */
void	backend_reap(void);
void	backend_free(void);

#endif
