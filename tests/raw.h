/*
 * raw.h - a backend that is a function of the test. tests/backend
 * speaks HTTP correctly; this one says exactly the bytes a test wants,
 * and ends the connection exactly where and how it wants: a FIN or a
 * reset, before a byte, mid-head, mid-body. It runs in a forked child
 * of the test, one grandchild per connection, so a serve function may
 * block, sleep and read as it likes.
 */
#ifndef RAW_H
#define RAW_H

#include <stddef.h>

#include "harness.h"

#define RAW_HEAD_MAX	16384

/* One connection, as the serve function sees it. */
struct raw_conn {
	int	fd;
	char	buf[65536];		/* read, not yet taken */
	size_t	len;
	char	head[RAW_HEAD_MAX];	/* the last request head, with a NUL */
	size_t	head_len;
	int	nreq;			/* heads read on this connection */
	const struct h_proc *self;	/* the raw backend, for its log */
};

/* Serve one connection; it is closed (FIN) when this returns. */
typedef void raw_serve(struct raw_conn *rc, void *arg);

/* A raw backend on a free port, serving every connection with fn. */
struct h_proc *h_raw(const char *name, raw_serve *fn, void *arg);
/* The same, its connections' receive buffers this small: it reads slowly. */
struct h_proc *h_raw_rcvbuf(const char *name, raw_serve *fn, void *arg,
	    int rcvbuf);

/* The next request head into rc->head: 1, 0 at EOF, -1 error or timeout. */
int	raw_head(struct raw_conn *rc, int ms);
/* The value of a header of rc->head (a static copy), or NULL. */
const char *raw_header(const struct raw_conn *rc, const char *name);
/* The request target of rc->head (a static copy). */
const char *raw_target(const struct raw_conn *rc);
/* A number from the target's query, "...?at=3&how=1": key=, or dflt. */
long long raw_query(const struct raw_conn *rc, const char *key,
	    long long dflt);
/* Read n body bytes (all if n < 0: until EOF); their FNV-1a in *sum. */
long long raw_body(struct raw_conn *rc, long long n, unsigned long long *sum,
	    int ms);
int	raw_send(struct raw_conn *rc, const void *p, size_t n);
int	raw_sendf(struct raw_conn *rc, const char *fmt, ...);
void	raw_fin(struct raw_conn *rc);	/* FIN, read until EOF, close */
void	raw_rst(struct raw_conn *rc);	/* a reset: SO_LINGER 0, close */
/* How many times any connection of this backend has asked for key. */
int	raw_attempt(struct raw_conn *rc, const char *key);
/* A line on the raw backend's stdout, for the test to read. */
void	raw_note(const struct raw_conn *rc, const char *fmt, ...);
/* How many lines of p's stdout start with prefix. */
int	raw_count(const struct h_proc *p, const char *prefix);

#endif
