/*
 * balance.h - choosing the backend for each request: nginx's smooth
 * weighted round robin over the backends that are up (balance.c).
 */
#ifndef BALANCE_H
#define BALANCE_H

struct backend;

int	balance_pick(void);	/* an index into backends[], or -1: none */
void	balance_failed(const struct backend *be);

#endif
