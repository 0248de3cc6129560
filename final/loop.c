/*
 * loop.c - the select() loop and its timers.
 *
 * Lesson 3 rebuilt its fd sets before every select() (select() overwrites
 * them) by walking every connection. Here two master sets are kept in
 * step with the table of what each descriptor waits for, as Redis's
 * ae_select.c does, and each pass starts from a copy of them.
 * New in final/: timers. Every timeout in the balancer (a slow client, a
 * slow backend, the next health check) is a struct timer in a binary
 * heap ordered by deadline; the nearest one becomes select()'s timeout,
 * so the loop sleeps exactly until the next thing that must happen.
 */
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"

struct watch {
	int	events;		/* EV_READ | EV_WRITE, or 0: not watched */
	loop_fn	*fn;
	void	*arg;
	unsigned long since;	/* the pass it was (re)registered in */
};

static struct watch watches[FD_SETSIZE];
static fd_set want_rd, want_wr;	/* what watches[] says, kept as fd sets */
static fd_set ready_rd;		/* what this pass's select() found readable */
static int maxfd = -1;
static unsigned long pass;
static double now;

static struct timer **heap;
static int nheap, heap_cap;

double
loop_clock(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

double
loop_now(void)
{
	if (now == 0)
		now = loop_clock();
	return now;
}

/*
 * Watch fd for events, calling fn(arg, fd, ready). A descriptor
 * >= FD_SETSIZE cannot be watched: FD_SET() would write past the end of
 * the fd_set. Callers check the -1 and refuse the connection.
 */
int
loop_watch(int fd, int events, loop_fn *fn, void *arg)
{
	if (fd < 0 || fd >= FD_SETSIZE)
		return -1;
	if (watches[fd].fn != fn || watches[fd].arg != arg)
		watches[fd].since = pass;	/* a new owner: see dispatch */
	watches[fd].events = events;
	watches[fd].fn = fn;
	watches[fd].arg = arg;
	if (events & EV_READ)
		FD_SET(fd, &want_rd);
	else
		FD_CLR(fd, &want_rd);
	if (events & EV_WRITE)
		FD_SET(fd, &want_wr);
	else
		FD_CLR(fd, &want_wr);
	if (fd > maxfd)
		maxfd = fd;
	return 0;
}

void
loop_unwatch(int fd)
{
	if (fd < 0 || fd >= FD_SETSIZE)
		return;
	memset(&watches[fd], 0, sizeof(watches[fd]));
	FD_CLR(fd, &want_rd);
	FD_CLR(fd, &want_wr);
	while (maxfd >= 0 && watches[maxfd].fn == NULL)
		maxfd--;
}

/* The heap: heap[0] is the nearest deadline; a parent is never later. */
static void
heap_set(int i, struct timer *t)
{
	heap[i] = t;
	t->slot = i;
}

static void
sift_up(int i)
{
	struct timer *t = heap[i];

	while (i > 0 && heap[(i - 1) / 2]->at > t->at) {
		heap_set(i, heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	heap_set(i, t);
}

static void
sift_down(int i)
{
	struct timer *t = heap[i];
	int c;

	while ((c = 2 * i + 1) < nheap) {
		if (c + 1 < nheap && heap[c + 1]->at < heap[c]->at)
			c++;
		if (heap[c]->at >= t->at)
			break;
		heap_set(i, heap[c]);
		i = c;
	}
	heap_set(i, t);
}

void
timer_init(struct timer *t, void (*fn)(void *), void *arg)
{
	t->fn = fn;
	t->arg = arg;
	t->slot = -1;
	t->when = t->at = 0;
}

void
timer_disarm(struct timer *t)
{
	int i = t->slot;

	if (i < 0)
		return;
	t->slot = -1;
	if (--nheap == i)
		return;
	heap_set(i, heap[nheap]);
	sift_up(i);
	sift_down(i);	/* no-op if it moved up */
}

/*
 * Arm (or move) t to fire at when. Most moves are later (a connection
 * that made progress pushes its deadline on), and those cost nothing
 * here: t keeps its place in the heap, and when that place comes up,
 * run_timers() puts it where its deadline now is. Only a move earlier
 * sifts the heap at once.
 */
void
timer_arm(struct timer *t, double when)
{
	t->when = when;
	if (t->slot >= 0 && t->at <= when)
		return;
	timer_disarm(t);
	if (nheap == heap_cap) {
		int cap = heap_cap ? heap_cap * 2 : 64;
		struct timer **h = realloc(heap, (size_t)cap * sizeof(*h));
		if (h == NULL) {
			perror("lb: timers");
			abort();	/* no memory for a deadline: cannot go on */
		}
		heap = h;
		heap_cap = cap;
	}
	t->when = t->at = when;
	heap_set(nheap, t);
	sift_up(nheap++);
}

/* Run every timer that is due; how many. A timer's fn may arm others. */
static int
run_timers(void)
{
	int n = 0;

	while (nheap > 0 && heap[0]->at <= now) {
		struct timer *t = heap[0];
		if (t->when > now) {	/* moved later since: to its place */
			t->at = t->when;
			sift_down(0);
			continue;
		}
		timer_disarm(t);
		t->fn(t->arg);
		n++;
	}
	return n;
}

/*
 * Call the callbacks of the ready descriptors. A callback may close and
 * reopen descriptors: a number registered during this pass may belong to
 * a new socket that select() never saw, so it waits for the next pass.
 */
static int
dispatch(fd_set *rd, fd_set *wr, int top)
{
	int fd, ev, n = 0;

	for (fd = 0; fd <= top; fd++) {
		struct watch *w = &watches[fd];
		if (w->fn == NULL || w->since == pass)
			continue;
		ev = (FD_ISSET(fd, rd) ? EV_READ : 0) |
		    (FD_ISSET(fd, wr) ? EV_WRITE : 0);
		ev &= w->events;
		if (ev != 0) {
			w->fn(w->arg, fd, ev);
			n++;
		}
	}
	return n;
}

/*
 * Take the waiting connections, a bounded batch per pass so one busy
 * listener cannot starve the rest. Out of descriptors (EMFILE), the
 * listening socket stays readable and select() would spin: stop
 * watching it for 100 ms. A listener with a full() says when to take no
 * client at all (a -w worker at its limit, whose siblings accept on the
 * same socket): the client stays in the kernel's queue for one of them,
 * and this one looks again in 10 ms.
 */
static void
on_listen(void *arg, int fd, int events)
{
	struct listener *l = arg;
	int i, cfd;

	(void)events;
	for (i = 0; i < 64; i++) {
		if (l->full != NULL && l->full()) {
			loop_unwatch(fd);
			timer_arm(&l->pause, loop_now() + 0.01);
			break;
		}
		if ((cfd = accept(fd, NULL, NULL)) >= 0) {
			l->fn(cfd);
			continue;
		}
		if (errno == EMFILE || errno == ENFILE) {
			loop_unwatch(fd);
			timer_arm(&l->pause, loop_now() + 0.1);
		}
		break;
	}
}

static void
resume_listen(void *arg)
{
	struct listener *l = arg;

	if (l->fd >= 0)
		loop_watch(l->fd, EV_READ, on_listen, l);
}

int
loop_listen(struct listener *l, int fd, void (*fn)(int fd))
{
	l->fd = fd;
	l->fn = fn;
	l->full = NULL;
	timer_init(&l->pause, resume_listen, l);
	return loop_watch(fd, EV_READ, on_listen, l);
}

void
loop_unlisten(struct listener *l)
{
	if (l->fd < 0)
		return;
	loop_unwatch(l->fd);
	timer_disarm(&l->pause);
	close(l->fd);
	l->fd = -1;
}

int
loop_run_once(void)
{
	return loop_run_wait(-1);
}

/*
 * One select(), sleeping until the nearest deadline, or max_s seconds
 * at most when max_s >= 0 (0: only look). Returns how many callbacks
 * and timers ran, or -1 when select() failed.
 */
int
loop_run_wait(double max_s)
{
	struct timeval tv, *tvp = NULL;
	fd_set rd = want_rd, wr = want_wr;	/* select() overwrites them */
	int top = maxfd, n;
	double wait = max_s;

	if (nheap > 0 && (max_s < 0 || heap[0]->at - loop_clock() < max_s))
		wait = heap[0]->at - loop_clock();
	if (wait >= 0 || nheap > 0) {
		if (wait < 0)
			wait = 0;
		tv.tv_sec = (time_t)wait;
		tv.tv_usec = (suseconds_t)((wait - (double)tv.tv_sec) * 1e6) +
		    (wait > 0);
		if (tv.tv_usec >= 1000000) {	/* macOS, BSDs: else EINVAL */
			tv.tv_sec++;
			tv.tv_usec -= 1000000;
		}
		tvp = &tv;
	}
	pass++;
	if (select(top + 1, &rd, &wr, NULL, tvp) < 0) {
		if (errno != EINTR)
			return -1;
		FD_ZERO(&rd);
		FD_ZERO(&wr);
	}
	now = loop_clock();
	ready_rd = rd;
	n = run_timers();
	n += dispatch(&rd, &wr, top);
	FD_ZERO(&ready_rd);
	return n;
}

/*
 * Did this pass's select() find fd readable, with its callback still to
 * come? (A descriptor registered during the pass is a new socket that
 * select() never saw: no.) pool.c asks it of an idle connection before
 * lending it, for free, where a recv(MSG_PEEK) would cost a system call
 * on every request.
 */
int
loop_readable_now(int fd)
{
	return fd >= 0 && fd < FD_SETSIZE && watches[fd].since != pass &&
	    FD_ISSET(fd, &ready_rd);
}

void
loop_free(void)
{
	free(heap);
	heap = NULL;
	nheap = heap_cap = 0;
}
