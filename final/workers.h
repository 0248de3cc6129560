/*
 * workers.h - -w N: a master that checks health and serves the status
 * page, and N workers that serve clients (workers.c).
 */
#ifndef WORKERS_H
#define WORKERS_H

#define WORKERS_MAX	64	/* -w N: N from 1 to this */

int	workers_start(int n, int lfd, int (*run)(void));
int	workers_count(void);	/* N in the master; 0 in one process */
int	workers_me(void);	/* 1..N in a worker, else 0 */
int	workers_running(void);
int	workers_listen_fd(void);
void	workers_broadcast(void);	/* the table, to every worker */
void	workers_reap(void);	/* SIGCHLD */
void	workers_stop(void);	/* SIGTERM to each */
void	workers_kill(void);	/* SIGKILL to each: the deadline passed */
void	workers_gather(void);	/* sum their counters into backends[] */
void	workers_log_dropped(unsigned long long *access,
	    unsigned long long *events);
void	workers_queue(int *waiting, int *peak, double *longest_ms);
void	workers_totals(int *clients, int *lent, int *spare, int *tunnels,
	    unsigned long long *tunnels_total);
int	workers_info(int k, long *pid, unsigned long long *restarts,
	    int *clients, unsigned long long *requests);
void	workers_publish(void);	/* a worker, once a loop pass */
void	workers_free(void);

#endif
