/*
 * health.h - active health checks: every backend, up or down, is probed
 * every interval by a chain of small non-blocking stages in the loop;
 * the rise/fall rule turns results (of probes, and of live traffic's
 * connects) into up and down.
 */
#ifndef HEALTH_H
#define HEALTH_H

#include <stddef.h>

#include "loop.h"

struct backend;
struct addrinfo;

/* "GET " PATH (-H: 200 at most) " HTTP/1.1", Host: HOST:PORT (270), ... */
#define HEALTH_REQUEST_MAX	640

enum check_stage {
	CHECK_IDLE,	/* waiting for the next probe time */
	CHECK_CONNECT,	/* a non-blocking connect is under way */
	CHECK_SEND,	/* connected: the request is going out */
	CHECK_READ	/* request sent: waiting for the status line */
};

/* One backend's probe, and what the last one found. */
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
