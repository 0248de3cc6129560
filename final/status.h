/*
 * status.h - the status listener (-a): each backend's state, why, and
 * counters, for a browser, for curl, for scripts and for Prometheus.
 */
#ifndef STATUS_H
#define STATUS_H

int	status_listen(void);	/* if -a was given; -1 with a message */
void	status_stop(void);

#endif
