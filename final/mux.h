/*
 * mux.h - what loop.c asks of a multiplexer: the part of the loop that
 * waits for descriptors. Two implement it, chosen by -e: select() in
 * mux_select.c (the default, and what the lessons teach) and poll() in
 * mux_poll.c (no FD_SETSIZE: as many descriptors as the process may
 * open). Each knows its own limits; nothing else in lb does.
 */
#ifndef MUX_H
#define MUX_H

struct mux {
	const char *name;
	int	(*init)(void);		/* 0, or -1 with errno */
	int	(*limit)(void);		/* it can watch descriptors below this */
	int	(*set)(int fd, int events);	/* what fd waits for; 0: none */
	/*
	 * Sleep until a watched descriptor is ready or wait seconds have
	 * passed (wait < 0: no limit); tell loop_ready() of each ready one.
	 * 0, or -1 when the system call failed (EINTR is 0: nothing ready).
	 */
	int	(*wait)(int maxfd, double wait);
	void	(*free)(void);
};

extern const struct mux mux_select, mux_poll;

/* From a mux's wait(): fd is ready for events (EV_READ, EV_WRITE). */
void	loop_ready(int fd, int events);

#endif
