/*
 * tool.c - what tests/backend and tests/wsecho share: their messages and
 * exit codes, the [HOST:]PORT, numbers and names of their command lines,
 * and the listening socket. One copy, so the two read their arguments
 * and say what is wrong in the same way.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netdb.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tool.h"

static const char *prog = "tool";
static void (*show_usage)(FILE *);

void
tool_init(const char *name, void (*usage)(FILE *))
{
	prog = name;
	show_usage = usage;
}

/* "PROG: " fmt "\n" on stderr. */
static void
say(const char *fmt, va_list ap)
{
	fprintf(stderr, "%s: ", prog);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
}

/* The usage on stderr, exit 2: the end of every bad command line. */
static void
bad_exit(void)
{
	if (show_usage != NULL)
		show_usage(stderr);
	exit(2);
}

void
tool_die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say(fmt, ap);
	va_end(ap);
	exit(1);
}

void
tool_bad_args(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say(fmt, ap);
	va_end(ap);
	bad_exit();
}

void
tool_bad_value(int opt, const char *val, const char *want)
{
	tool_bad_args("bad -%c value '%s': %s", opt, val, want);
}

void
tool_bad_option(int ch)
{
	if (ch == ':')
		tool_bad_args("option -%c needs a value", optopt);
	else
		tool_bad_args("unknown option '-%c'", optopt);
}

int
tool_parse_num(const char *s, long long lo, long long hi, long long *out)
{
	char *end;
	long long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

static int
is_name(const char *s)
{
	size_t n = strlen(s), i;

	for (i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] > '~')
			return 0;
	return n > 0 && n <= 64;
}

/* Split "[v6]:port", "host:port" or "port" into *hp; -1 if s is bad. */
static int
parse_hostport(const char *s, struct tool_hostport *hp)
{
	const char *colon, *end;
	size_t hlen;
	long long n;

	if (s[0] == '[') {
		if ((end = strchr(s, ']')) == NULL || end[1] != ':')
			return -1;
		s++;
		hlen = (size_t)(end - s);
		colon = end + 1;
	} else if ((colon = strrchr(s, ':')) != NULL) {
		if (strchr(s, ':') != colon)
			return -1;
		hlen = (size_t)(colon - s);
	} else {
		colon = s - 1;
		s = "127.0.0.1";
		hlen = strlen(s);
	}
	if (hlen == 0 || hlen >= sizeof(hp->host) ||
	    tool_parse_num(colon + 1, 1, 65535, &n) < 0)
		return -1;
	memcpy(hp->host, s, hlen);
	hp->host[hlen] = '\0';
	snprintf(hp->port, sizeof(hp->port), "%lld", n);
	snprintf(hp->where, sizeof(hp->where),
	    strchr(hp->host, ':') != NULL ? "[%s]:%s" : "%s:%s",
	    hp->host, hp->port);
	return 0;
}

void
tool_arg_hostport(int opt, const char *arg, struct tool_hostport *hp)
{
	if (parse_hostport(arg, hp) < 0)
		tool_bad_value(opt, arg, "want [HOST:]PORT, PORT 1-65535, "
		    "an IPv6 HOST in brackets");
}

const char *
tool_arg_name(int opt, const char *arg)
{
	if (!is_name(arg))
		tool_bad_value(opt, arg, "want 1-64 visible characters");
	return arg;
}

struct addrinfo *
tool_resolve(const struct tool_hostport *hp, const char *doing)
{
	struct addrinfo hints, *res;
	int err;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((err = getaddrinfo(hp->host, hp->port, &hints, &res)) != 0)
		tool_die("cannot %s %s: %s", doing, hp->where,
		    gai_strerror(err));
	return res;
}

int
tool_listen(const struct tool_hostport *hp, int backlog)
{
	struct addrinfo *res, *ai;
	int fd = -1, err, one = 1;

	res = tool_resolve(hp, "listen on");
	for (ai = res, err = 0; ai != NULL; ai = ai->ai_next) {
		if ((fd = socket(ai->ai_family, ai->ai_socktype,
		    ai->ai_protocol)) < 0) {
			err = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, backlog) == 0)
			break;
		err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		tool_die("cannot listen on %s: %s", hp->where, strerror(err));
	return fd;
}
