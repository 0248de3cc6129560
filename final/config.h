/*
 * config.h - everything the command line can set, with its default.
 * main.c fills the one struct config; every module reads it.
 */
#ifndef CONFIG_H
#define CONFIG_H

#include <stddef.h>

#include "addr.h"

#define MAX_BACKENDS	64
#define HEAD_MAX	16384	/* a request or response head, at most */

/* -P: what lb tells a backend about the request it passes on. */
/* -B: how a backend is chosen for each request. */
enum balancer {
	BALANCE_RR,	/* smooth weighted round robin */
	BALANCE_LEAST	/* fewest requests in flight for its weight */
};

enum forwarded {
	FWD_X,		/* X-Forwarded-For (appended), -Proto and -Host (set) */
	FWD_RFC7239,	/* Forwarded: for=...;host=...;proto=http (appended) */
	FWD_NONE	/* nothing added, nothing removed */
};

struct config {
	struct hostport listen;		/* -l */
	int	accept_proxy;		/* -l ...,proxy: a PROXY header first */
	struct hostport status;		/* -a */
	int	has_status;
	int	connect_ms;		/* -t connect=: backend connect */
	int	head_ms;		/* -t head=: whole request head, 408 */
	int	response_ms;		/* -t response=: backend silence, 504 */
	int	idle_ms;		/* -t idle=: keep-alive client, silent */
	int	drain_ms;		/* -t drain=: in-flight work on SIGTERM */
	int	check_ms;		/* -t check=: one health check */
	int	pool_ms;		/* -t pool=: an idle pooled connection */
	int	tunnel_ms;		/* -t tunnel=: a tunnel silent both ways */
	int	queue_ms;		/* -t queue=: waiting for a slot, 503 */
	enum balancer balancer;		/* -B rr|least */
	int	interval_ms;		/* -i: between health checks */
	int	rise, fall;		/* -R, -F */
	const char *health_path;	/* -H */
	int	retries;		/* -x: other backends to try */
	int	pool_size;		/* -p: idle connections per backend */
	int	max_conns;		/* -m: clients at once */
	int	fail_open;		/* -o: all down, try them anyway */
	enum forwarded forwarded;	/* -P */
	const char *backend_file;	/* -f: read at start and on SIGHUP */
	int	workers;		/* -w: worker processes (1: just one) */
	int	verbose;		/* -v: every state change, on stderr */
};


extern struct config cfg;

#endif
