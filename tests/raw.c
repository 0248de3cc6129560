/*
 * raw.c - the raw backend of raw.h: a listener in a forked child of the
 * test, a grandchild per connection running the test's serve function,
 * and the small blocking helpers that function is written with.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fnv.h"
#include "raw.h"

struct raw_args {
	int	port;
	int	rcvbuf;		/* > 0: SO_RCVBUF, inherited by each connection */
	raw_serve *fn;
	void	*arg;
};

static void
on_term(int sig)
{
	(void)sig;
	_exit(0);
}

static int
listen_on(int port, int rcvbuf)
{
	struct sockaddr_in sin;
	int fd = h_loopback_socket(port, rcvbuf, &sin), one = 1;

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    listen(fd, 128) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The child: accept, and serve each connection in a grandchild. */
static void
raw_main(struct h_proc *self, void *arg)
{
	struct raw_args *a = arg;
	struct sigaction sa;
	struct raw_conn *rc;
	int lfd, fd;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGCHLD, &sa, NULL);	/* grandchildren reap themselves */
	if ((lfd = listen_on(a->port, a->rcvbuf)) < 0) {
		fprintf(stderr, "raw: cannot listen on %d: %s\n", a->port,
		    strerror(errno));
		_exit(1);
	}
	for (;;) {
		if ((fd = accept(lfd, NULL, NULL)) < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			_exit(1);
		}
		if (fork() == 0) {
			close(lfd);
			if ((rc = calloc(1, sizeof(*rc))) == NULL)
				_exit(1);
			rc->fd = fd;
			rc->self = self;
			a->fn(rc, a->arg);
			if (rc->fd >= 0)
				close(rc->fd);
			free(rc);
			_exit(0);
		}
		close(fd);
	}
}

struct h_proc *
h_raw(const char *name, raw_serve *fn, void *arg)
{
	return h_raw_rcvbuf(name, fn, arg, 0);
}

struct h_proc *
h_raw_rcvbuf(const char *name, raw_serve *fn, void *arg, int rcvbuf)
{
	struct raw_args a;
	struct h_proc *p;

	a.port = h_free_port();
	a.rcvbuf = rcvbuf;
	a.fn = fn;
	a.arg = arg;
	p = h_fork(name, raw_main, &a);
	p->port = a.port;
	ck_assert_msg(h_wait_port(p->port, 5000) == 0,
	    "raw backend %s never listened on %d", name, p->port);
	return p;
}

/* Read more into rc->buf: >0, 0 EOF (or reset), -1 timeout or full. */
static ssize_t
more(struct raw_conn *rc, long deadline)
{
	struct pollfd pfd = { rc->fd, POLLIN, 0 };
	long left;
	ssize_t r;

	if (rc->len == sizeof(rc->buf))
		return -1;
	for (;;) {
		if ((left = deadline - h_now_ms()) <= 0)
			return -1;
		if (poll(&pfd, 1, (int)left) <= 0)
			continue;
		r = read(rc->fd, rc->buf + rc->len, sizeof(rc->buf) - rc->len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return 0;
		rc->len += (size_t)r;
		return r;
	}
}

static void
take(struct raw_conn *rc, size_t n)
{
	memmove(rc->buf, rc->buf + n, rc->len - n);
	rc->len -= n;
}

int
raw_head(struct raw_conn *rc, int ms)
{
	long deadline = h_now_ms() + ms;
	size_t i;
	ssize_t r;

	for (;;) {
		for (i = 3; i < rc->len; i++) {
			if (memcmp(rc->buf + i - 3, "\r\n\r\n", 4) != 0)
				continue;
			if (i + 1 >= sizeof(rc->head))
				return -1;
			memcpy(rc->head, rc->buf, i + 1);
			rc->head[i + 1] = '\0';
			rc->head_len = i + 1;
			rc->nreq++;
			take(rc, i + 1);
			return 1;
		}
		if ((r = more(rc, deadline)) <= 0)
			return r == 0 && rc->len == 0 ? 0 : -1;
	}
}

const char *
raw_header(const struct raw_conn *rc, const char *name)
{
	static char val[1024];

	return h_head_value(rc->head, name, val, sizeof(val));
}

const char *
raw_target(const struct raw_conn *rc)
{
	static char t[1024];
	const char *s = strchr(rc->head, ' ');
	size_t n;

	t[0] = '\0';
	if (s != NULL) {
		n = strcspn(s + 1, " ");
		snprintf(t, sizeof(t), "%.*s", (int)n, s + 1);
	}
	return t;
}

long long
raw_query(const struct raw_conn *rc, const char *key, long long dflt)
{
	const char *t = raw_target(rc), *q = strchr(t, '?');
	size_t n = strlen(key);

	while (q != NULL) {
		q++;
		if (strncmp(q, key, n) == 0 && q[n] == '=')
			return atoll(q + n + 1);
		q = strchr(q, '&');
	}
	return dflt;
}

long long
raw_body(struct raw_conn *rc, long long n, unsigned long long *sum, int ms)
{
	long deadline = h_now_ms() + ms;
	unsigned long long s = FNV_INIT;
	long long got = 0;
	size_t k;
	ssize_t r;

	for (;;) {
		k = rc->len;
		if (n >= 0 && (long long)k > n - got)
			k = (size_t)(n - got);
		s = fnv1a(s, rc->buf, k);
		got += (long long)k;
		take(rc, k);
		if (n >= 0 && got == n)
			break;
		if ((r = more(rc, deadline)) <= 0)
			break;
	}
	if (sum != NULL)
		*sum = s;
	return got;
}

int
raw_send(struct raw_conn *rc, const void *p, size_t n)
{
	return h_write_all(rc->fd, p, n);
}

int
raw_sendf(struct raw_conn *rc, const char *fmt, ...)
{
	char buf[4096];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -1;
	return raw_send(rc, buf, (size_t)n);
}

void
raw_fin(struct raw_conn *rc)
{
	char scrap[4096];
	struct pollfd pfd = { rc->fd, POLLIN, 0 };

	shutdown(rc->fd, SHUT_WR);
	/* Read what still comes, so that closing sends no reset. */
	while (poll(&pfd, 1, 2000) > 0 && read(rc->fd, scrap,
	    sizeof(scrap)) > 0)
		;
	close(rc->fd);
	rc->fd = -1;
}

void
raw_rst(struct raw_conn *rc)
{
	struct linger lg = { 1, 0 };

	setsockopt(rc->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(rc->fd);
	rc->fd = -1;
}

/* One line, in one write(): lines of several grandchildren never mix. */
static void
note_line(const char *line)
{
	ssize_t w = write(1, line, strlen(line));

	(void)w;
}

void
raw_note(const struct raw_conn *rc, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	(void)rc;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	strcat(line, "\n");
	note_line(line);
}

int
raw_count(const struct h_proc *p, const char *prefix)
{
	char *log = h_slurp(p->out), *l;
	size_t n = strlen(prefix);
	int count = 0;

	for (l = log; *l != '\0'; l = strchr(l, '\n') + 1) {
		count += strncmp(l, prefix, n) == 0;
		if (strchr(l, '\n') == NULL)
			break;
	}
	free(log);
	return count;
}

/*
 * The attempts of one request are sequential (a retry starts after the
 * attempt before it failed), so counting the lines is enough.
 */
int
raw_attempt(struct raw_conn *rc, const char *key)
{
	char prefix[300];
	int n;

	snprintf(prefix, sizeof(prefix), "attempt %s ", key);
	n = raw_count(rc->self, prefix) + 1;
	raw_note(rc, "attempt %s %d", key, n);
	return n;
}
