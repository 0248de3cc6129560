/*
 * addr.h - "HOST:PORT" arguments and socket helpers shared by the
 * listeners, the backends and the health checks.
 */
#ifndef ADDR_H
#define ADDR_H

#include <sys/types.h>
#include <sys/socket.h>
#include <netdb.h>

struct hostport {
	char	host[256];
	char	port[6];
	char	str[270];	/* "host:port", "[v6]:port": for messages */
};

int	addr_parse(const char *s, int host_optional, struct hostport *hp,
	    const char **why);
int	addr_resolve(const struct hostport *hp, int passive,
	    struct addrinfo **res);
int	addr_listen(const struct hostport *hp, const char *opt);
int	addr_nonblock(int fd);
int	addr_connect_next(const struct addrinfo **ai, int *fd, int failed);
int	addr_connect_error(int fd);
void	addr_peer(int fd, char *out, size_t n);

#endif
