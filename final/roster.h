/*
 * roster.h - which backends lb balances over, and changing that: -f at
 * start-up and on SIGHUP, a worker's table from its master (roster.c).
 */
#ifndef ROSTER_H
#define ROSTER_H

#include <stddef.h>

struct backend;

/* How roster_apply() makes the running set what is wanted. */
enum roster_how {
	ROSTER_START,	/* at start-up: new ones assumed up */
	ROSTER_RELOAD,	/* SIGHUP: new ones down and probed, one event line */
	ROSTER_SYNC	/* a worker, told by the master: health as it says */
};

int	roster_load(const char *path, int at_start, char *err, size_t n);
int	roster_apply(struct backend *want, int nwant, enum roster_how how,
	    char *err, size_t n);
void	roster_free(void);

#endif
