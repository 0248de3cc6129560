/*
 * pool.h - the backends: addresses, up or down and why, round robin,
 * counters, and each one's pool of idle keep-alive connections.
 * health.c decides up and down; pool.c only reads it.
 */
#ifndef POOL_H
#define POOL_H

#include "addr.h"
#include "health.h"
#include "loop.h"

struct backend;

/* An open connection to a backend: lent to a client, or idle in the pool. */
struct bconn {
	int	fd;
	struct backend *be;
	int	uses;		/* requests it has carried so far */
	struct bconn *next;	/* in the backend's idle list */
	struct timer timer;	/* idle too long: close it */
};

struct backend {
	struct hostport addr;
	struct addrinfo *addrs;	/* resolved once, at start-up */
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
	unsigned long long requests, failures, bytes;
};

extern struct backend backends[];
extern int nbackends;

int	pool_add(const char *arg, const char **why);
int	pool_resolve(void);
int	pool_pick(void);
struct bconn *pool_take(struct backend *be);
struct bconn *pool_new(struct backend *be, int fd);
void	pool_give_back(struct bconn *bc, int reusable);
void	pool_free(void);

#endif
