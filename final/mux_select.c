/*
 * mux_select.c - the loop's waiting done by select(), as in lesson 3.
 *
 * Two master sets are kept in step with what each descriptor waits for,
 * as Redis's ae_select.c does, and each wait starts from a copy of them:
 * select() overwrites the sets it is given. FD_SETSIZE (usually 1024) is
 * the price: FD_SET() on a descriptor that large writes past the end of
 * the fd_set, so limit() says no watch may go there, and lb refuses
 * such a client (with -e poll, there is no such limit).
 */
#include <sys/select.h>
#include <sys/time.h>

#include <errno.h>
#include <time.h>

#include "loop.h"
#include "mux.h"

static fd_set want_rd, want_wr;

static int
sel_init(void)
{
	FD_ZERO(&want_rd);
	FD_ZERO(&want_wr);
	return 0;
}

static int
sel_limit(void)
{
	return FD_SETSIZE;
}

static int
sel_set(int fd, int events)
{
	if (events & EV_READ)
		FD_SET(fd, &want_rd);
	else
		FD_CLR(fd, &want_rd);
	if (events & EV_WRITE)
		FD_SET(fd, &want_wr);
	else
		FD_CLR(fd, &want_wr);
	return 0;
}

static int
sel_wait(int maxfd, double wait)
{
	fd_set rd = want_rd, wr = want_wr;	/* select() overwrites them */
	struct timeval tv, *tvp = NULL;
	int fd, ev;

	if (wait >= 0) {
		tv.tv_sec = (time_t)wait;
		tv.tv_usec = (suseconds_t)((wait - (double)tv.tv_sec) * 1e6) +
		    (wait > 0);
		if (tv.tv_usec >= 1000000) {	/* macOS, BSDs: else EINVAL */
			tv.tv_sec++;
			tv.tv_usec -= 1000000;
		}
		tvp = &tv;
	}
	if (select(maxfd + 1, &rd, &wr, NULL, tvp) < 0)
		return errno == EINTR ? 0 : -1;
	for (fd = 0; fd <= maxfd; fd++) {
		ev = (FD_ISSET(fd, &rd) ? EV_READ : 0) |
		    (FD_ISSET(fd, &wr) ? EV_WRITE : 0);
		if (ev != 0)
			loop_ready(fd, ev);
	}
	return 0;
}

static void
sel_free(void)
{
}

const struct mux mux_select = {
	"select", sel_init, sel_limit, sel_set, sel_wait, sel_free
};
