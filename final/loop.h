/*
 * loop.h - one loop for everything: clients, backends, health checks,
 * the status page. Descriptors get a callback; timers get a deadline,
 * and the nearest deadline becomes the wait's timeout. The waiting is
 * select()'s (the default) or poll()'s (-e poll): see mux.h. Listening
 * sockets get their accept() loop here too.
 */
#ifndef LOOP_H
#define LOOP_H

#define EV_READ		1
#define EV_WRITE	2

/* Called when fd is ready: events is EV_READ and/or EV_WRITE. */
typedef void loop_fn(void *arg, int fd, int events);

/* A deadline. Embed one in whatever needs it; set fn and arg once. */
struct timer {
	double	when;		/* seconds, on the loop's clock */
	void	(*fn)(void *arg);
	void	*arg;
	int	slot;		/* its place in the heap, or -1 if not armed */
	double	at;		/* where it stands in the heap: <= when */
};

int	loop_use(const char *name);	/* -e select|poll: 0, or -1 */
const char *loop_mux_name(void);
int	loop_limit(void);		/* it watches descriptors below this */
int	loop_limit_of(const char *name);	/* the same, of -e name */
double	loop_now(void);			/* monotonic seconds, this pass */
double	loop_clock(void);		/* monotonic seconds, right now */
int	loop_watch(int fd, int events, loop_fn *fn, void *arg);
void	loop_unwatch(int fd);
void	timer_init(struct timer *t, void (*fn)(void *), void *arg);
void	timer_arm(struct timer *t, double when);
void	timer_arm_ms(struct timer *t, long ms);	/* from loop_now() */
void	timer_disarm(struct timer *t);
/* A listening socket: fn gets each accepted descriptor. */
struct listener {
	int	fd;		/* -1 once closed */
	void	(*fn)(int fd);
	int	(*full)(void);	/* NULL, or: take no client now (see on_listen) */
	struct timer pause;	/* out of descriptors: accept again later */
};

#define LISTENER_INIT	{ -1, NULL, NULL, { 0, NULL, NULL, -1, 0 } }

int	loop_listen(struct listener *l, int fd, void (*fn)(int fd));
void	loop_unlisten(struct listener *l);	/* stop, close */
int	loop_run_once(void);		/* one wait and its dispatch */
int	loop_run_wait(double max_s);	/* the same, sleeping max_s at most */
int	loop_readable_now(int fd);	/* the wait said so, this pass */
void	loop_free(void);

#endif
