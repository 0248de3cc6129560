/*
 * ask.h - how a running balancer and its test backends stand (ask.c).
 */
#ifndef ASK_H
#define ASK_H

#include <stddef.h>

#include "harness.h"

/* GET path from port (extra: more header lines): the status; *r kept. */
int	get(int port, const char *path, const char *extra, struct h_resp *r);
/* Who answers GET / through the balancer ("503" when nobody does). */
const char *who(int port);
void	set_health(struct h_proc *be, const char *how);	/* sick, well */
long	checks_seen(struct h_proc *be);	/* health checks it answered */
/* The balancer's stderr says "127.0.0.1:PORT what" within ms. */
void	expect_event(struct h_proc *lb, struct h_proc *be, const char *what,
	    int ms);
long	wait_for(int port, const char *name, int ms);	/* ms it took */
/* A strictly checked /metrics sample's value (backend NULL: none). */
double	metric(const char *text, const char *name, const char *backend);
/* GET path from a status listener: 200 of this type, its body. */
char	*page(int port, const char *path, const char *accept,
	    const char *type);
void	json_at(const char *doc, const char *path, char *out, size_t n);

#endif
