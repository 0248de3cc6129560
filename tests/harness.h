/*
 * harness.h - what every suite needs to test a balancer for real: start
 * programs on free loopback ports, talk HTTP to them, and make sure
 * nothing outlives a test.
 *
 * Environment (set by tests/Makefile):
 *   LB       the balancer under test (default ../lesson1/lb)
 *   LEVEL    which lesson it is: 1, 2, 3, or 4 for final/
 *   BACKEND  tests/backend
 *   WSECHO   tests/wsecho
 *   LB_WRAP  words put before LB when it starts, e.g. a valgrind command
 *   H_LOGDIR where captured stdout/stderr go (default /tmp)
 */
#ifndef HARNESS_H
#define HARNESS_H

#include <sys/types.h>
#include <netinet/in.h>
#include <check.h>
#include <stddef.h>

#define H_TIMEOUT_MS	5000	/* default wait for a response */

/* A program a test started, in its own process group. */
struct h_proc {
	pid_t	pid;
	char	name[32];
	char	out[256];	/* its captured stdout */
	char	err[256];	/* its captured stderr */
	int	port;		/* where it listens, or 0 */
	int	wrapped;	/* started under LB_WRAP */
	int	done;		/* reaped */
	int	status;		/* waitpid status once done */
};

/* One HTTP response as read off a connection. */
struct h_resp {
	int	status;		/* 0 if no status line arrived */
	char	*head;		/* status line and headers, NUL-terminated */
	char	*body;		/* the body, de-chunked, NUL-terminated */
	size_t	body_len;
	size_t	body_cap;	/* what body has room for (the harness's) */
	int	complete;	/* its framing said where it ends, and it did */
};

/* A client connection with its own read buffer (for pipelining). */
struct h_conn {
	int	fd;
	char	*buf;
	size_t	len, cap;
	int	slow_ms;	/* h_connect_slow(): pause before each read */
	int	reset;		/* the peer reset the connection */
};

int	 h_level(void);
long	 h_now_ms(void);		/* a monotonic clock */
int	 h_write_all(int fd, const void *p, size_t n);
void	 h_pause_ms(int ms);
int	 h_scaled(int ms);
void	 h_skip(const char *why);	/* say a test could not run here */	/* ms, times CK_TIMEOUT_MULTIPLIER (valgrind) */
int	 h_instrumented(void);	/* lb under valgrind or ASan */
const char *h_lb_path(void);
int	 h_free_port(void);
int	 h_wait_port(int port, int ms);
int	 h_loopback_socket(int port, int rcvbuf, struct sockaddr_in *sin);
int	 h_wait_refused(int port, int ms);	/* nothing listens there */

struct h_proc *h_spawn(const char *name, char *const argv[], int wrap);
/* fn(self, arg) in a forked child, tracked and logged like a program. */
struct h_proc *h_fork(const char *name,
	    void (*fn)(struct h_proc *self, void *arg), void *arg);
struct h_proc *h_backend(const char *name, ...);	/* extra args, NULL */
struct h_proc *h_backend_at(int port, const char *name, ...);
struct h_proc *h_wsecho(const char *name, ...);	/* tests/wsecho */
struct h_proc *h_lb(int nbackends, struct h_proc **backends, ...);
struct h_proc *h_lb_args(char *const args[]);	/* LB args, no -l */
/* The same, started but not waited for: it may not listen yet. */
struct h_proc *h_lb_start(char *const args[]);
int	 h_wait_exit(struct h_proc *p, int ms);	/* exit status or -1 */
void	 h_expect_bad_args(char *const args[], const char *want);
void	 h_expect_bad_backend(const char *opts, const char *why);
char	*h_stopped_log(struct h_proc *lb);	/* SIGTERM, clean exit, stdout */
void	 h_kill(struct h_proc *p);		/* SIGKILL, reap */
void	 h_teardown(void);
Suite	*h_suite(const char *name, const TTest *const *tests, TCase **tc);
int	 h_wanted(const TTest *t);	/* not filtered out by H_TEST */
char	*h_slurp(const char *path);		/* file contents, free() it */
int	 h_on_path(const char *name);	/* an executable in $PATH */
int	 h_need(const char *prog, const char *package);	/* or skip */
void	 h_listen_opts(const char *opts);	/* next lb: -l PORT,opts */
int	 h_wait_for_text(const char *path, const char *text, int ms);

struct h_conn *h_connect(int port);
/* A reader that takes 4 KB at a time, ms apart, with a small window. */
struct h_conn *h_connect_slow(int port, int ms);
int	 h_send(struct h_conn *c, const void *p, size_t n);
int	 h_sends(struct h_conn *c, const char *s);
int	 h_read_response(struct h_conn *c, struct h_resp *r, int head_req,
	    int ms);
int	 h_peer_closed(struct h_conn *c, int ms);
int	 h_peer_closed_silently(struct h_conn *c, int ms);
void	 h_close(struct h_conn *c);
int	 h_request(int port, const char *raw, struct h_resp *r);
/* A blocking connection to 127.0.0.1:port, or -1; rcvbuf > 0: small. */
int	 h_dial(int port, int rcvbuf);
/* One response off fd, counted: 1 whole, 0 cut, -1 nothing for ms. */
int	 h_read_one(int fd, int ms);
const char *h_header(const struct h_resp *r, const char *name);
const char *h_head_value(const char *head, const char *name, char *out,
	    size_t n);
int	 h_header_count(const struct h_resp *r, const char *name);
void	 h_resp_free(struct h_resp *r);
long	 h_backend_stat(int port, const char *name);	/* "requests " */
void	 h_sum_hex(const void *p, size_t n, char out[17]);
void	 h_expect_sent_body(const struct h_resp *r, size_t len);

int	 h_raise_fd_limit(long want);
int	 h_fd_limit(long n);	/* for the next program started; 0: skip */	/* ours and our children's; 0: no */
void	 h_stdout(int fd, int err_too);	/* for the next program started */
int	 h_fd_count(pid_t pid);		/* -1: cannot tell here */
long	 h_cpu_ms(pid_t pid);		/* -1: cannot tell here */
long	 h_rss_kb(pid_t pid);

#endif
