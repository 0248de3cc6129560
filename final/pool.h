/*
 * pool.h - the backends: addresses, weights, up or down and why, smooth
 * weighted round robin, counters, and each one's pool of idle keep-alive
 * connections.
 * health.c decides up and down; pool.c only reads it.
 *
 * A backend's slot in backends[] never moves while anything points at
 * it (a client, a timer, an idle connection): a reload (-f FILE, SIGHUP)
 * marks a removed backend GONE, lets its in-flight requests finish, and
 * frees the slot after; a new backend takes a free slot.
 */
#ifndef POOL_H
#define POOL_H

#include "addr.h"
#include "health.h"
#include "loop.h"

#define WEIGHT_MAX	100	/* -b HOST:PORT,weight=N: N from 1 to this */

struct backend;

/* An open connection to a backend: lent to a client, or idle in the pool. */
struct bconn {
	int	fd;
	struct backend *be;
	struct bconn *next;	/* in the backend's idle list */
	struct timer timer;	/* idle too long: close it */
	int	keep_s;		/* the backend keeps it idle this long; -1: ? */
};

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
	struct hostport addr;
	struct addrinfo *addrs;	/* resolved once, at start-up */
	int	weight;		/* -b HOST:PORT,weight=N (default 1) */
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

/* How pool_apply() makes the running set what is wanted. */
enum pool_how {
	POOL_START,	/* at start-up: new ones assumed up */
	POOL_RELOAD,	/* SIGHUP: new ones down and probed, one event line */
	POOL_SYNC	/* a worker, told by the master: health as it says */
};

extern struct backend *backends;
extern int nbackends;
extern int pool_quiet;
extern unsigned long long pool_requests_gone;
extern int (*pool_busy_elsewhere)(struct backend *be);

int	pool_add(const char *arg, const char **why);
int	pool_load(const char *path, int at_start, char *err, size_t n);
int	pool_apply(struct backend *want, int nwant, enum pool_how how,
	    char *err, size_t n);
int	pool_parse(const char *arg, struct backend *be, const char **why);
struct backend *pool_find(const char *str, int file);
int	pool_resolve(void);
void	pool_move(struct backend *t);	/* -w N: into a worker's table */
int	pool_count(int usable);
int	pool_usable(const struct backend *be);
const char *pool_state(const struct backend *be);
void	pool_reap(void);
int	pool_pick(void);
void	pool_failed(const struct backend *be);
/* TEMPORARY: pool_failed() and health_result(), for conn.c (pool.c). */
void	health_note(struct backend *be, int passed, int live,
	    const char *why);
struct bconn *pool_take(struct backend *be);
struct bconn *pool_new(struct backend *be, int fd);
void	pool_give_back(struct bconn *bc, int reusable);
int	pool_shed_idle(void);	/* short of descriptors: close an idle one */
void	pool_free(void);

#endif
