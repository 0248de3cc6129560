/*
 * pool.c - the backends: one list that never shrinks (lesson 2), round
 * robin over the ones that are up, and for each backend a small pool of
 * idle keep-alive connections.
 *
 * Reusing a connection saves a TCP handshake, a socket and a few system
 * calls on every request: it is most of what makes final/ fast. Its
 * risk is a race: the backend may close an idle connection just as we
 * send a request on it. So a pooled connection is watched while idle
 * (readable means the backend closed it, or sent bytes nobody asked
 * for: either way it is dropped), and conn.c retries a request that
 * fails on a reused connection before any response byte arrived.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "pool.h"

#define POOL_IDLE_MAX_S	30	/* a pooled connection lives this long idle */

struct backend backends[MAX_BACKENDS];
int nbackends;
static int next_backend;	/* where the next round-robin search starts */

int
pool_add(const char *arg, const char **why)
{
	struct backend *be;

	if (nbackends == MAX_BACKENDS) {
		*why = "too many backends";
		return -1;
	}
	be = &backends[nbackends];
	memset(be, 0, sizeof(*be));
	if (addr_parse(arg, 0, &be->addr, why) < 0)
		return -1;
	be->up = 1;		/* until shown otherwise, as HAProxy does */
	snprintf(be->why, sizeof(be->why), "assumed up at start");
	nbackends++;
	return 0;
}

/* Resolve every backend once: getaddrinfo() blocks, the loop must not. */
int
pool_resolve(void)
{
	int i;

	for (i = 0; i < nbackends; i++)
		if (addr_resolve(&backends[i].addr, 0, &backends[i].addrs) < 0)
			return -1;
	return 0;
}

/*
 * Round robin over the backends that are up, starting after the last
 * one picked. Down ones are skipped without losing our place (lesson 2),
 * and only health checks bring them back. When none is up, fail open
 * (-o) offers every backend in turn rather than none.
 */
int
pool_pick(void)
{
	int i, b;

	for (i = 0; i < nbackends; i++) {
		b = (next_backend + i) % nbackends;
		if (backends[b].up) {
			next_backend = (b + 1) % nbackends;
			return b;
		}
	}
	if (!cfg.fail_open || nbackends == 0)
		return -1;
	b = next_backend;
	next_backend = (b + 1) % nbackends;
	return b;
}

static void
bconn_close(struct bconn *bc)
{
	loop_unwatch(bc->fd);
	timer_disarm(&bc->timer);
	close(bc->fd);
	free(bc);
}

/* Take bc out of its backend's idle list. */
static void
unlink_idle(struct bconn *bc)
{
	struct bconn **p;

	for (p = &bc->be->idle; *p != NULL; p = &(*p)->next)
		if (*p == bc) {
			*p = bc->next;
			bc->be->nidle--;
			return;
		}
}

/* An idle connection became readable: the backend closed it. Drop it. */
static void
idle_readable(void *arg, int fd, int events)
{
	struct bconn *bc = arg;

	(void)fd;
	(void)events;
	unlink_idle(bc);
	bconn_close(bc);
}

static void
idle_expired(void *arg)
{
	struct bconn *bc = arg;

	unlink_idle(bc);
	bconn_close(bc);
}

/* A new connection to be, around a connected socket. NULL: no memory. */
struct bconn *
pool_new(struct backend *be, int fd)
{
	struct bconn *bc = calloc(1, sizeof(*bc));

	if (bc == NULL)
		return NULL;
	bc->fd = fd;
	bc->be = be;
	timer_init(&bc->timer, idle_expired, bc);
	be->active++;
	return bc;
}

/*
 * The most recently used idle connection, lent out (unwatched), or NULL.
 * Most recent first: it is the least likely to have been closed by the
 * backend's own idle timeout.
 */
struct bconn *
pool_take(struct backend *be)
{
	struct bconn *bc = be->idle;

	if (bc == NULL)
		return NULL;
	be->idle = bc->next;
	be->nidle--;
	loop_unwatch(bc->fd);
	timer_disarm(&bc->timer);
	be->active++;
	return bc;
}

/* A client is done with bc: keep it for the next request, or close it. */
void
pool_give_back(struct bconn *bc, int reusable)
{
	struct backend *be = bc->be;

	be->active--;
	if (!reusable || be->nidle >= cfg.pool_size ||
	    loop_watch(bc->fd, EV_READ, idle_readable, bc) < 0) {
		bconn_close(bc);
		return;
	}
	bc->next = be->idle;
	be->idle = bc;
	be->nidle++;
	timer_arm(&bc->timer, loop_now() + POOL_IDLE_MAX_S);
}

void
pool_free(void)
{
	int i;

	for (i = 0; i < nbackends; i++) {
		while (backends[i].idle != NULL) {
			struct bconn *bc = backends[i].idle;
			backends[i].idle = bc->next;
			bconn_close(bc);
		}
		if (backends[i].addrs != NULL)
			freeaddrinfo(backends[i].addrs);
	}
}
