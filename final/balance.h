/*
 * balance.h - choosing the backend for each request: nginx's smooth
 * weighted round robin over the backends that are up (balance.c).
 */
#ifndef BALANCE_H
#define BALANCE_H

struct backend;

#define BALANCE_FULL	(-2)	/* balance_pick(): all usable are at maxconn */

int	balance_pick(void);	/* an index into backends[], -1: none, or FULL */
void	balance_failed(const struct backend *be);
/* be's weight now: less during its slow start (,slowstart=MS). */
double	balance_weight(const struct backend *be, double now);
/* How many requests be may have in flight from this process; 0: any. */
int	balance_limit(const struct backend *be);
/* -w N: worker k of n (a share of each maxconn), and others' counts. */
void	balance_worker(int k, int n);
extern int (*balance_inflight_elsewhere)(const struct backend *be);

#endif
