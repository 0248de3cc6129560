/*
 * loop.c - the event loop: watched descriptors and their callbacks, and
 * timers.
 *
 * Lesson 3 rebuilt its fd sets before every select() (select() overwrites
 * them) by walking every connection. Here a table says what each
 * descriptor waits for and whom to call, and a multiplexer (mux.h) does
 * the waiting: select() by default (mux_select.c), poll() with -e poll
 * (mux_poll.c). This file never asks which one it has, and only the
 * multiplexer knows its limits (FD_SETSIZE is select()'s alone).
 * New in final/: timers. Every timeout in the balancer (a slow client, a
 * slow backend, the next health check) is a struct timer in a binary
 * heap ordered by deadline; the nearest one becomes the wait's timeout,
 * so the loop sleeps exactly until the next thing that must happen.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"
#include "mux.h"

struct watch {
	int	events;		/* EV_READ | EV_WRITE, or 0: not watched */
	loop_fn	*fn;
	void	*arg;
	unsigned long since;	/* the pass it was (re)registered in */
	unsigned long ready_pass;	/* the pass it was last found ready in */
	int	ready;		/* what it was found ready for, then */
};

static const struct mux *mux = &mux_select;
static int mux_started;
static struct watch *watches;	/* by descriptor; grows as they do */
static int nwatches;
static int *readyq;		/* this pass's ready descriptors, in order */
static int nready, readyq_cap;
static int maxfd = -1;
static unsigned long pass;
static int in_pass;		/* timers and callbacks of a pass run */
static double now;

static struct timer **heap;
static int nheap, heap_cap;

static const struct mux *const muxes[] = { &mux_select, &mux_poll, NULL };

static const struct mux *
find_mux(const char *name)
{
	int i;

	for (i = 0; muxes[i] != NULL; i++)
		if (strcmp(muxes[i]->name, name) == 0)
			return muxes[i];
	return NULL;
}

/* -e: "select" or "poll", before anything is watched. 0, or -1. */
int
loop_use(const char *name)
{
	const struct mux *m = find_mux(name);

	if (m == NULL)
		return -1;
	mux = m;
	return 0;
}

/* The limit (see loop_limit()) the multiplexer of that name has. */
int
loop_limit_of(const char *name)
{
	const struct mux *m = find_mux(name);

	return m != NULL ? m->limit() : 0;
}

const char *
loop_mux_name(void)
{
	return mux->name;
}

static int
start_mux(void)
{
	if (!mux_started && mux->init() < 0)
		return -1;
	mux_started = 1;
	return 0;
}

/* The multiplexer can watch descriptors below this (INT_MAX: any). */
int
loop_limit(void)
{
	return mux->limit();
}

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

/* Room in the table for fd. 0, or -1. */
static int
grow_watches(int fd)
{
	struct watch *w;
	int n = nwatches > 0 ? nwatches : 64;

	if (fd < nwatches)
		return 0;
	while (n <= fd)
		n *= 2;
	if ((w = realloc(watches, (size_t)n * sizeof(*w))) == NULL)
		return -1;
	memset(w + nwatches, 0, (size_t)(n - nwatches) * sizeof(*w));
	watches = w;
	nwatches = n;
	return 0;
}

/*
 * Watch fd for events, calling fn(arg, fd, ready). A descriptor the
 * multiplexer cannot watch (select(): >= FD_SETSIZE, where FD_SET()
 * would write past the end of the fd_set) gets -1, and so does one
 * there is no memory for. Callers check the -1 and refuse the
 * connection.
 */
int
loop_watch(int fd, int events, loop_fn *fn, void *arg)
{
	if (fd < 0 || start_mux() < 0 || fd >= mux->limit() ||
	    grow_watches(fd) < 0 || mux->set(fd, events) < 0)
		return -1;
	if (watches[fd].fn != fn || watches[fd].arg != arg)
		watches[fd].since = pass;	/* a new owner: see dispatch */
	watches[fd].events = events;
	watches[fd].fn = fn;
	watches[fd].arg = arg;
	if (fd > maxfd)
		maxfd = fd;
	return 0;
}

void
loop_unwatch(int fd)
{
	if (fd < 0 || fd >= nwatches)
		return;
	memset(&watches[fd], 0, sizeof(watches[fd]));
	mux->set(fd, 0);
	while (maxfd >= 0 && watches[maxfd].fn == NULL)
		maxfd--;
}

/* From the multiplexer: fd is ready for events, this pass. */
void
loop_ready(int fd, int events)
{
	int *q;

	if (fd < 0 || fd >= nwatches)
		return;
	if (nready == readyq_cap) {
		int cap = readyq_cap > 0 ? 2 * readyq_cap : 64;

		if ((q = realloc(readyq, (size_t)cap * sizeof(*q))) == NULL)
			return;	/* it stays ready: the next pass sees it */
		readyq = q;
		readyq_cap = cap;
	}
	readyq[nready++] = fd;
	watches[fd].ready_pass = pass;
	watches[fd].ready = events;
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

/*
 * Arm t to fire ms milliseconds from now: from this pass's clock,
 * loop_now(), as every deadline in lb counts (-t connect=MS, ...).
 */
void
timer_arm_ms(struct timer *t, long ms)
{
	timer_arm(t, loop_now() + ms / 1e3);
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
 * a new socket the wait never saw, so it waits for the next pass.
 */
static int
dispatch(void)
{
	int i, fd, ev, n = 0;

	for (i = 0; i < nready; i++) {
		fd = readyq[i];
		if (watches[fd].fn == NULL || watches[fd].since == pass)
			continue;
		ev = watches[fd].ready & watches[fd].events;
		if (ev != 0) {
			watches[fd].fn(watches[fd].arg, fd, ev);
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
			timer_arm_ms(&l->pause, 10);
			break;
		}
		if ((cfd = accept(fd, NULL, NULL)) >= 0) {
			l->fn(cfd);
			continue;
		}
		if (errno == EMFILE || errno == ENFILE) {
			loop_unwatch(fd);
			timer_arm_ms(&l->pause, 100);
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
 * One wait, sleeping until the nearest deadline, or max_s seconds at
 * most when max_s >= 0 (0: only look). Returns how many callbacks and
 * timers ran, or -1 when the multiplexer's system call failed.
 */
int
loop_run_wait(double max_s)
{
	double wait = max_s;
	int n;

	if (start_mux() < 0)
		return -1;
	if (nheap > 0 && (max_s < 0 || heap[0]->at - loop_clock() < max_s))
		wait = heap[0]->at - loop_clock();
	if (nheap > 0 && wait < 0)
		wait = 0;
	pass++;
	nready = 0;
	if (mux->wait(maxfd, wait) < 0)
		return -1;
	now = loop_clock();
	in_pass = 1;
	n = run_timers();
	n += dispatch();
	in_pass = 0;
	return n;
}

/*
 * Did this pass's wait find fd readable, with its callback still to
 * come? (A descriptor registered during the pass is a new socket that
 * the wait never saw: no.) bconn.c asks it of an idle connection before
 * lending it, for free, where a recv(MSG_PEEK) would cost a system call
 * on every request.
 */
int
loop_readable_now(int fd)
{
	return in_pass && fd >= 0 && fd < nwatches &&
	    watches[fd].since != pass && watches[fd].ready_pass == pass &&
	    (watches[fd].ready & EV_READ);
}

void
loop_free(void)
{
	free(heap);
	heap = NULL;
	nheap = heap_cap = 0;
	free(watches);
	watches = NULL;
	nwatches = 0;
	maxfd = -1;
	free(readyq);
	readyq = NULL;
	nready = readyq_cap = 0;
	if (mux_started)
		mux->free();
	mux_started = 0;
}
