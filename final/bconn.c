/*
 * bconn.c - connections to backends (struct bconn): each opened for a
 * client's request and lent to it, then given back and kept idle for
 * the next request to that backend, or closed.
 *
 * Reusing a connection saves a TCP handshake, a socket and a few system
 * calls on every request: it is most of what makes final/ fast. Its
 * risk is a race: the backend may close an idle connection just as we
 * send a request on it. So an idle connection is watched (readable
 * means the backend closed it, or sent bytes nobody asked for: either
 * way it is dropped), and conn.c retries an idempotent request that
 * fails on a reused connection before a response came.
 *
 * How many to keep follows the load: every connection a request gives
 * back is kept, up to -p per backend (default 1024: in practice, with
 * select(), FD_SETSIZE is the cap), and each goes after -t pool ms
 * unused. A small fixed cap (it was 32) made 400 clients reopen backend
 * connections all the time: the connects cost more than the requests.
 */
#include <stdlib.h>
#include <unistd.h>

#include "backend.h"
#include "bconn.h"
#include "config.h"
#include "loop.h"

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
bconn_new(struct backend *be, int fd)
{
	struct bconn *bc = calloc(1, sizeof(*bc));

	if (bc == NULL)
		return NULL;
	bc->fd = fd;
	bc->be = be;
	bc->keep_s = -1;
	timer_init(&bc->timer, idle_expired, bc);
	be->active++;
	be->connects++;
	return bc;
}

/*
 * The most recently used idle connection that is still quiet, lent out
 * (unwatched), or NULL.
 * Most recent first: it is the least likely to have been closed by the
 * backend's own idle timeout.
 */
struct bconn *
bconn_take(struct backend *be)
{
	struct bconn *bc;

	while ((bc = be->idle) != NULL) {
		be->idle = bc->next;
		be->nidle--;
		/*
		 * The backend may have closed it, or sent something (a 408
		 * from its own idle timeout), in this very loop pass, with
		 * idle_readable() still to run: then it is not lent.
		 */
		if (!loop_readable_now(bc->fd)) {
			loop_unwatch(bc->fd);
			timer_disarm(&bc->timer);
			be->active++;
			return bc;
		}
		bconn_close(bc);
	}
	return NULL;
}

/*
 * How long bc may stay idle: -t pool, or less when the backend
 * said it closes idle connections sooner (Keep-Alive: timeout=N): lb
 * lets go a second before it would (half of N, for N under 2), so that
 * a request is not sent on a connection the backend is closing (the
 * keep-alive race, conn.c).
 */
static long
idle_ms(const struct bconn *bc)
{
	long ms = cfg.pool_ms, hint;

	if (bc->keep_s >= 0) {
		hint = bc->keep_s >= 2 ? (bc->keep_s - 1) * 1000L :
		    bc->keep_s * 500L;
		if (hint < ms)
			ms = hint;
	}
	return ms;
}

/* A client is done with bc: keep it for the next request, or close it. */
void
bconn_give_back(struct bconn *bc, int reusable)
{
	struct backend *be = bc->be;

	be->active--;
	if (!reusable || bc->keep_s == 0 || !backend_usable(be) ||
	    be->nidle >= cfg.pool_size ||
	    loop_watch(bc->fd, EV_READ, idle_readable, bc) < 0) {
		bconn_close(bc);
		return;
	}
	bc->next = be->idle;
	be->idle = bc;
	be->nidle++;
	timer_arm_ms(&bc->timer, idle_ms(bc));
}

/*
 * lb is short of descriptors (socket() failed, or gave one select()
 * cannot watch): an idle connection is worth less than a request, so
 * one goes, from the backend that keeps the most. 1 if one was closed.
 */
int
bconn_shed_idle(void)
{
	struct backend *most = NULL;
	struct bconn *bc;
	int i;

	for (i = 0; i < nbackends; i++)
		if (backends[i].nidle > 0 && (most == NULL ||
		    backends[i].nidle > most->nidle))
			most = &backends[i];
	if (most == NULL)
		return 0;
	bc = most->idle;
	most->idle = bc->next;
	most->nidle--;
	bconn_close(bc);
	return 1;
}

/* Close be's idle connections: it is drained or gone, or lb exits. */
void
bconn_close_idle(struct backend *be)
{
	while (be->idle != NULL) {
		struct bconn *bc = be->idle;

		be->idle = bc->next;
		be->nidle--;
		bconn_close(bc);
	}
}
