/*
 * health.h - active health checks: every backend, up or down, is probed
 * every interval by a chain of small non-blocking stages in the loop;
 * the rise/fall rule turns results (of probes, and of live traffic's
 * connects) into up and down. What a probe holds, struct check, is
 * part of each backend's entry in the table (backend.h).
 */
#ifndef HEALTH_H
#define HEALTH_H

#include <stddef.h>

struct backend;

void	health_start(void);	/* first probes, spread over the interval */
void	health_stop(void);	/* close probes in flight, no more */
void	health_begin(struct backend *be, double at);	/* one, from at */
void	health_end(struct backend *be);	/* one: no more probes */
void	health_result(struct backend *be, int passed, int live,
	    const char *why);
void	health_judge(struct backend *be, int passed, int live,
	    const char *why);
int	health_retry_after(double now);

/* -w N (workers.c): a worker tells, the master is told of changes. */
extern void (*health_tell)(struct backend *be, const char *why);
extern void (*health_changed)(void);
extern int health_off;		/* a worker: no probes */

/* Pure pieces, for the unit tests. */
int	health_rule(struct backend *be, int passed, int live);
int	health_status_line(const char *line, size_t len);

#endif
