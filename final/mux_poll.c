/*
 * mux_poll.c - the loop's waiting done by poll() (-e poll), POSIX too.
 *
 * poll() takes an array of struct pollfd, one per watched descriptor,
 * instead of bit sets: no FD_SETSIZE, so one process can hold as many
 * clients as it may open descriptors (main.c raises that limit for -m).
 * The array holds only descriptors that wait for something; slot[fd]
 * says where fd is in it (-1: not there), so a change is one store, and
 * a removal moves the last entry into the hole. Like select(), poll()
 * makes the kernel look at every entry on every call: each wait costs in
 * proportion to the descriptors watched, not to those ready.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>

#include "loop.h"
#include "mux.h"

static struct pollfd *pfds;
static int npfds, pfds_cap;
static int *slot;		/* fd -> its entry in pfds, or -1 */
static int nslots;

static int
poll_init(void)
{
	return 0;
}

/* No limit of its own: the process's descriptor limit is the one. */
static int
poll_limit(void)
{
	return INT_MAX;
}

/* Room for fd in slot[] and for one more entry in pfds. 0 or -1. */
static int
grow(int fd)
{
	int n, i, *s;
	struct pollfd *p;

	if (fd >= nslots) {
		n = nslots > 0 ? nslots : 64;
		while (n <= fd)
			n *= 2;
		if ((s = realloc(slot, (size_t)n * sizeof(*s))) == NULL)
			return -1;
		for (i = nslots; i < n; i++)
			s[i] = -1;
		slot = s;
		nslots = n;
	}
	if (npfds == pfds_cap) {
		n = pfds_cap > 0 ? 2 * pfds_cap : 64;
		if ((p = realloc(pfds, (size_t)n * sizeof(*p))) == NULL)
			return -1;
		pfds = p;
		pfds_cap = n;
	}
	return 0;
}

static int
poll_set(int fd, int events)
{
	int i;

	if (events == 0) {
		if (fd >= nslots || (i = slot[fd]) < 0)
			return 0;
		pfds[i] = pfds[--npfds];	/* the last fills the hole */
		slot[pfds[i].fd] = i;
		slot[fd] = -1;
		return 0;
	}
	if (grow(fd) < 0)
		return -1;
	if ((i = slot[fd]) < 0) {
		i = slot[fd] = npfds++;
		pfds[i].fd = fd;
	}
	pfds[i].events = (short)(((events & EV_READ) ? POLLIN : 0) |
	    ((events & EV_WRITE) ? POLLOUT : 0));
	return 0;
}

/*
 * An error or a hang-up is reported whatever was asked: as select()
 * does, it makes the descriptor both readable and writable, and the
 * read or write that follows says what happened.
 */
static int
poll_wait(int maxfd, double wait)
{
	int ms = wait < 0 ? -1 : wait > INT_MAX / 1000 ? INT_MAX :
	    (int)(wait * 1000) + (wait * 1000 > (int)(wait * 1000));
	int i, ev, r;

	(void)maxfd;
	if ((r = poll(pfds, (nfds_t)npfds, ms)) < 0)
		return errno == EINTR ? 0 : -1;
	for (i = 0; i < npfds && r > 0; i++) {
		short re = pfds[i].revents;

		if (re == 0)
			continue;
		r--;
		ev = ((re & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) ?
		    EV_READ : 0) | ((re & (POLLOUT | POLLHUP | POLLERR |
		    POLLNVAL)) ? EV_WRITE : 0);
		loop_ready(pfds[i].fd, ev);
	}
	return 0;
}

static void
poll_free(void)
{
	free(pfds);
	free(slot);
	pfds = NULL;
	slot = NULL;
	npfds = pfds_cap = nslots = 0;
}

const struct mux mux_poll = {
	"poll", poll_init, poll_limit, poll_set, poll_wait, poll_free
};
