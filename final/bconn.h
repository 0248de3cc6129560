/*
 * bconn.h - connections to backends: lent to a client, or idle and kept
 * for the next request to the same backend (bconn.c).
 */
#ifndef BCONN_H
#define BCONN_H

#include "loop.h"

struct backend;

/* An open connection to a backend: lent to a client, or idle. */
struct bconn {
	int	fd;
	struct backend *be;
	struct bconn *next;	/* in the backend's idle list */
	struct timer timer;	/* idle too long: close it */
	int	keep_s;		/* the backend keeps it idle this long; -1: ? */
	int	named;		/* it began with a PROXY header: one client's */
};

struct bconn *bconn_new(struct backend *be, int fd);	/* lent */
struct bconn *bconn_take(struct backend *be);	/* an idle one, lent */
void	bconn_give_back(struct bconn *bc, int reusable);
int	bconn_shed_idle(void);	/* short of descriptors: close an idle one */
void	bconn_close_idle(struct backend *be);

#endif
