/*
 * conn.h - client connections: accepting them, serving request after
 * request on each, and closing them (at once, or gently on SIGTERM).
 */
#ifndef CONN_H
#define CONN_H

int	conn_listen(int lfd, int shared);	/* start accepting on lfd */
void	conn_drain(void);	/* SIGTERM: finish what is in flight */
int	conn_count(void);	/* clients still connected */
void	conn_tunnels(int *open, unsigned long long *total);	/* after 101 */
/*
 * The queue of requests waiting for a backend slot (,maxconn=N): how
 * many wait now, the most that ever waited at once, and the longest any
 * waited (ms), in this process.
 */
void	conn_queue(int *waiting, int *peak, double *longest_ms);
void	conn_reap(void);	/* free the clients closed during this pass */
void	conn_free_all(void);

#endif
