/*
 * tool.h - what tests/backend and tests/wsecho share: the way out with
 * a message, HOST:PORT parsing, numbers, names, resolving, a listening
 * socket.
 *
 * Every message starts with the program's name, as given to tool_init().
 * Bad command lines exit 2 after the usage on stderr; other failures
 * exit 1.
 */
#ifndef TOOL_H
#define TOOL_H

#include <stddef.h>
#include <stdio.h>

struct addrinfo;

/* An address from the command line: "[v6]:port", "host:port" or "port". */
struct tool_hostport {
	char	host[256];
	char	port[6];	/* 1-65535, as digits */
	char	where[300];	/* as messages show it: host:port, [v6]:port */
};

/* Call first: the name messages begin with, and how to show the usage. */
void	tool_init(const char *prog, void (*usage)(FILE *));

/* "PROG: what was wrong" on stderr, then exit 1. */
void	tool_die(const char *fmt, ...);
/* The same, then the usage on stderr, then exit 2. */
void	tool_bad_args(const char *fmt, ...);
/* "PROG: bad -OPT value 'VAL': WANT", the usage, exit 2. */
void	tool_bad_value(int opt, const char *val, const char *want);
/* getopt() returned ':' (a value missing) or '?': say so, exit 2. */
void	tool_bad_option(int ch);

/* A decimal number from lo to hi into *out; -1 if s is anything else. */
int	tool_parse_num(const char *s, long long lo, long long hi,
	    long long *out);
/* The value of -OPT as an address (a bare port means 127.0.0.1), ... */
void	tool_arg_hostport(int opt, const char *arg, struct tool_hostport *hp);
/* ... or as a name: 1-64 visible characters. Both exit 2 if it is not. */
const char *tool_arg_name(int opt, const char *arg);

/* hp's addresses for a stream socket, or exit 1: "cannot DOING WHERE". */
struct addrinfo *tool_resolve(const struct tool_hostport *hp,
	    const char *doing);
/* A socket listening on hp, or exit 1 saying why not. */
int	tool_listen(const struct tool_hostport *hp, int backlog);

#endif
