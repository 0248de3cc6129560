/*
 * addr.c - addresses and sockets: parsing "HOST:PORT", resolving,
 * listening, non-blocking connects. Lesson 1 explains each call.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "loop.h"

/* "host:port", "[v6]:port", or (host_optional) "port" on 127.0.0.1. */
int
addr_parse(const char *s, int host_optional, struct hostport *hp,
    const char **why)
{
	const char *colon, *port;
	size_t hlen;
	char *end;
	long n;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL || close[1] != ':') {
			*why = "want [IPV6]:PORT";
			return -1;
		}
		hlen = (size_t)(close - s - 1);
		s++;
		port = close + 2;
	} else if ((colon = strrchr(s, ':')) != NULL) {
		if (strchr(s, ':') != colon) {
			*why = "an IPv6 address needs brackets: [::1]:PORT";
			return -1;
		}
		hlen = (size_t)(colon - s);
		port = colon + 1;
	} else if (host_optional) {
		port = s;
		s = "127.0.0.1";
		hlen = strlen(s);
	} else {
		*why = "want HOST:PORT";
		return -1;
	}
	if (hlen == 0 || hlen >= sizeof(hp->host)) {
		*why = "missing or too long host";
		return -1;
	}
	errno = 0;
	n = strtol(port, &end, 10);
	if (port[0] < '0' || port[0] > '9' || *end != '\0' || errno != 0 ||
	    n < 1 || n > 65535) {
		*why = "port must be a number from 1 to 65535";
		return -1;
	}
	memcpy(hp->host, s, hlen);
	hp->host[hlen] = '\0';
	snprintf(hp->port, sizeof(hp->port), "%ld", n);
	snprintf(hp->str, sizeof(hp->str), strchr(hp->host, ':') != NULL ?
	    "[%s]:%s" : "%s:%s", hp->host, hp->port);
	return 0;
}

int
addr_resolve(const struct hostport *hp, int passive, struct addrinfo **res)
{
	struct addrinfo hints;
	int err;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = passive ? AI_PASSIVE : 0;
	if ((err = getaddrinfo(hp->host, hp->port, &hints, res)) != 0) {
		fprintf(stderr, "lb: cannot resolve %s: %s\n", hp->str,
		    gai_strerror(err));
		return -1;
	}
	return 0;
}

int
addr_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -1;
	return fcntl(fd, F_SETFD, FD_CLOEXEC);
}

/*
 * Connections the kernel may hold for accept(): a burst of thousands of
 * new clients (a restart of everything in front of lb) waits there
 * instead of having its SYNs dropped and retried a second later. The
 * kernel cuts it to its own maximum (Linux: net.core.somaxconn, 4096
 * since 5.4); nginx's default is 511, HAProxy's the frontend's maxconn.
 */
#define BACKLOG		4096

/*
 * A non-blocking listening socket on hp, or -1 with a message naming
 * opt, the option that asked for it: lb may listen twice (-l, -a).
 */
int
addr_listen(const struct hostport *hp, const char *opt)
{
	struct addrinfo *res, *ai;
	int fd = -1, one = 1, saved = 0;

	if (addr_resolve(hp, 1, &res) < 0)
		return -1;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if ((fd = socket(ai->ai_family, ai->ai_socktype,
		    ai->ai_protocol)) < 0) {
			saved = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, BACKLOG) == 0 && addr_nonblock(fd) == 0)
			break;
		saved = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		fprintf(stderr, "lb: cannot listen on %s (%s): %s\n", hp->str,
		    opt, strerror(saved));
	return fd;
}

/*
 * Start a non-blocking connect to ai. Returns 0 with *fd set (connected,
 * or EINPROGRESS: wait for writable), or -1 with errno. TCP_NODELAY:
 * our writes are whole messages, so don't let Nagle hold them back.
 */
static int
addr_connect(const struct addrinfo *ai, int *fd)
{
	int s = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
	int one = 1, saved;

	if (s < 0)
		return -1;
	if (addr_nonblock(s) < 0)
		goto fail;
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(s, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS)
		goto fail;
	*fd = s;
	return 0;
fail:
	saved = errno;
	close(s);
	errno = saved;
	return -1;
}

/*
 * Start a connect to *ai or, if that fails at once, to the addresses
 * after it; *ai is left on the one under way. Returns 0 with *fd (wait
 * until it is writable, then ask addr_connect_error()), or -1 with *fd
 * -1 and the errno of the last failure (with *ai already NULL, errno as
 * it came: the caller's failed connect to the address before). A
 * descriptor the loop could not watch (select(): >= FD_SETSIZE) is
 * closed and reported as EMFILE.
 */
static int
addr_connect_from(const struct addrinfo **ai, int *fd)
{
	int err = errno;	/* *ai is NULL: the caller's own failure */

	for (; *ai != NULL; *ai = (*ai)->ai_next) {
		if (addr_connect(*ai, fd) < 0) {
			err = errno;
			if (err == EMFILE || err == ENFILE)
				break;
			continue;
		}
		if (*fd < loop_limit())
			return 0;
		close(*fd);
		err = EMFILE;
		break;
	}
	*fd = -1;
	errno = err;
	return -1;
}

/*
 * Connect to a backend, one address after another: the step the client
 * connections (conn.c) and the probes (health.c) share. failed: 0 to
 * start with *ai; or the errno of the connect under way on *fd (to *ai),
 * which addr_connect_error() reported: that one is unwatched and closed,
 * and the next address is tried. As addr_connect_from(): 0 with *fd
 * under way (wait for writable), or -1 with *fd -1 and errno (EMFILE or
 * ENFILE: lb, not the backend, is out of descriptors).
 */
int
addr_connect_next(const struct addrinfo **ai, int *fd, int failed)
{
	if (failed != 0) {
		loop_unwatch(*fd);
		close(*fd);
		*ai = (*ai)->ai_next;
		errno = failed;
	}
	*fd = -1;
	return addr_connect_from(ai, fd);
}

/* A non-blocking connect became writable: 0 if it worked, else its errno. */
int
addr_connect_error(int fd)
{
	socklen_t len = sizeof(int);
	int err = 0;

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	return err;
}

/* The peer's address as text, for X-Forwarded-For and the access log. */
void
addr_peer(int fd, char *out, size_t n)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	void *a = NULL;

	snprintf(out, n, "unknown");
	if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
		return;
	if (ss.ss_family == AF_INET)
		a = &((struct sockaddr_in *)&ss)->sin_addr;
	else if (ss.ss_family == AF_INET6)
		a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
	if (a != NULL)
		inet_ntop(ss.ss_family, a, out, (socklen_t)n);
}
