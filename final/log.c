/*
 * log.c - the access log on stdout, events on stderr; and neither may
 * ever make the balancer wait for whoever reads it.
 *
 * Each log is a sink: a bounded buffer in front of its descriptor. A
 * line goes into the buffer, and the buffer goes out when the descriptor
 * takes it: the access log once a loop pass (one write() for many
 * lines), the event log at once (a backend going down must be seen
 * now). A reader that stops reading (a log shipper that hangs, a pipe
 * to a `logger` that blocks) must not stop the loop, so the descriptors
 * are non-blocking: write() then says EAGAIN instead of waiting, and the
 * loop watches the descriptor for room. What does not fit in the buffer
 * meanwhile is dropped and counted (the status page shows the count),
 * with one event line when dropping starts and one when it ends: when
 * the buffer has gone out whole. From then on the reader gets every line.
 *
 * A regular file is left blocking: a write() to one never waits for a
 * reader, and making it non-blocking would change nothing.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"

#ifndef PIPE_BUF
#define PIPE_BUF	_POSIX_PIPE_BUF	/* the least POSIX allows: 512 */
#endif

#define CLOSE_WAIT_MS	1000	/* at exit: how long the last lines may take */

/* One log: its descriptor and the lines waiting for it. */
struct sink {
	int	fd;
	const char *name;
	char	*buf;
	size_t	cap, len;	/* buf[0..len) waits to be written */
	size_t	limit;		/* at most this much a write(): log_worker() */
	int	waiting;	/* write() said EAGAIN: the loop watches fd */
	int	flags;		/* fd's flags before log_init(), or -1 */
	unsigned long long dropped;	/* lines, since start */
	unsigned long long stall;	/* lines dropped since dropping began */
	double	stall_since;
};

static char access_buf[1 << 18], event_buf[1 << 16];
static struct sink access_log = { 1, "access log", access_buf,
	sizeof(access_buf), 0, sizeof(access_buf), 0, -1, 0, 0, 0 };
/* Events PIPE_BUF bytes a write at most: -w's master shares stderr too. */
static struct sink event_log = { 2, "event log", event_buf,
	sizeof(event_buf), 0, PIPE_BUF, 0, -1, 0, 0, 0 };
static char who[32] = " lb: ";	/* " lb: worker 2: " in a worker */
static int closed;		/* log_close(): the descriptors are as they were */

static void sink_flush(struct sink *s);

/* Lines in p[0..n): what a drop of those bytes costs the reader. */
static unsigned long long
count_lines(const char *p, size_t n)
{
	unsigned long long k = 0;
	const char *q;

	while (n > 0 && (q = memchr(p, '\n', n)) != NULL) {
		k++;
		n -= (size_t)(q + 1 - p);
		p = q + 1;
	}
	return k;
}

/* k more lines will never be read: the first of a stall says so. */
static void
drop(struct sink *s, unsigned long long k)
{
	s->dropped += k;
	if (k == 0)
		return;
	if (s->stall > 0) {
		s->stall += k;
		return;
	}
	s->stall = k;	/* first: the line below may be dropped too */
	s->stall_since = loop_now();
	log_event("%s: its reader is not keeping up: dropping lines until "
	    "it does", s->name);
}

/*
 * A line into s's buffer. A full buffer goes out first, if the reader
 * takes it now (a busy pass can fill it with lines no reader stalled
 * on); a line that still does not fit is dropped, and counted.
 */
static void
sink_put(struct sink *s, const char *line, size_t n)
{
	if (closed) {
		s->dropped++;
		return;
	}
	if (n > s->cap - s->len && !s->waiting)
		sink_flush(s);
	if (n > s->cap - s->len) {
		drop(s, 1);
		return;
	}
	memcpy(s->buf + s->len, line, n);
	s->len += n;
}

/* The loop found room on a sink's descriptor. */
static void
on_room(void *arg, int fd, int events)
{
	struct sink *s = arg;

	(void)events;
	s->waiting = 0;
	sink_flush(s);
	if (!s->waiting)
		loop_unwatch(fd);
}

/*
 * How much of s to write from off: up to its limit (the whole buffer;
 * in a -w worker, and for events always, PIPE_BUF), whole lines only
 * (a longer line in pieces).
 */
static size_t
chunk(const struct sink *s, size_t off)
{
	size_t n = s->len - off;
	const char *end;

	if (n <= s->limit)
		return n;
	for (end = s->buf + off + s->limit; end > s->buf + off; end--)
		if (end[-1] == '\n')
			return (size_t)(end - (s->buf + off));
	return s->limit;
}

/*
 * Write what the descriptor takes now, and never wait for it. EAGAIN:
 * the rest waits, watched. Any other error (EPIPE: nobody will ever
 * read it): the buffer is dropped, counted.
 */
static void
sink_flush(struct sink *s)
{
	unsigned long long k;
	size_t off = 0;
	ssize_t w = 0;

	while (off < s->len) {
		w = write(s->fd, s->buf + off, chunk(s, off));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
		/* The buffer is settled first: drop() logs, into s maybe. */
		k = count_lines(s->buf + off, s->len - off);
		s->len = 0;
		drop(s, k);
		return;
	}
	if (w < 0 && !s->waiting &&
	    loop_watch(s->fd, EV_WRITE, on_room, s) == 0)
		s->waiting = 1;
	memmove(s->buf, s->buf + off, s->len - off);
	s->len -= off;
	if (s->len == 0 && w > 0 && s->stall > 0) {
		unsigned long long k = s->stall;

		s->stall = 0;	/* the reader is back, and has every line */
		log_event("%s: %llu line%s dropped in %.1f s while its reader "
		    "was stalled; none since", s->name, k, k == 1 ? "" : "s",
		    loop_now() - s->stall_since);
	}
}

/* Never wait for a reader: a descriptor other than a file goes O_NONBLOCK. */
static void
sink_init(struct sink *s)
{
	struct stat st;
	int fl;

	if (fstat(s->fd, &st) < 0 || S_ISREG(st.st_mode) ||
	    (fl = fcntl(s->fd, F_GETFL)) < 0 || (fl & O_NONBLOCK))
		return;
	if (fcntl(s->fd, F_SETFL, fl | O_NONBLOCK) == 0)
		s->flags = fl;	/* put back at exit: the shell shares it */
}

/*
 * At exit: what is left goes out if the reader takes it before end
 * (else it is dropped). The descriptor stays non-blocking until both
 * sinks are done: stdout and stderr are often one (2>&1), and a blocking
 * write to a stalled reader would never return.
 */
static void
sink_drain(struct sink *s, double end)
{
	struct pollfd p;

	p.fd = s->fd;
	p.events = POLLOUT;
	for (;;) {
		sink_flush(s);
		if (s->len == 0 || loop_clock() >= end ||
		    poll(&p, 1, (int)((end - loop_clock()) * 1000) + 1) < 0)
			break;
	}
	if (s->waiting)
		loop_unwatch(s->fd);
	s->waiting = 0;
	s->dropped += count_lines(s->buf, s->len);
	s->len = 0;
}

/* The descriptor's flags as they were before log_init(). */
static void
sink_restore(struct sink *s)
{
	if (s->flags >= 0)
		fcntl(s->fd, F_SETFL, s->flags);
	s->flags = -1;
}

void
log_init(void)
{
	sink_init(&access_log);
	sink_init(&event_log);
}

void
log_close(void)
{
	double end = loop_clock() + CLOSE_WAIT_MS / 1e3;

	sink_drain(&access_log, end);
	sink_drain(&event_log, end);	/* the line a stall's end adds too */
	sink_restore(&access_log);
	sink_restore(&event_log);
	closed = 1;		/* nothing may block after this */
}

/*
 * A worker, just forked: its event lines say which worker (n > 0) they
 * come from, and its logs go out PIPE_BUF bytes at most a write(),
 * whole lines only. Workers share stdout and stderr: POSIX makes a
 * write of PIPE_BUF bytes or less to a pipe atomic, so lines of two
 * workers never mix. What the master had buffered is the master's to
 * write, and the descriptors' flags are the master's to put back.
 */
void
log_worker(int n)
{
	struct sink *s[2] = { &access_log, &event_log };
	int i;

	snprintf(who, sizeof(who), " lb: worker %d: ", n);
	for (i = 0; i < 2; i++) {
		if (s[i]->waiting)
			loop_unwatch(s[i]->fd);
		s[i]->waiting = 0;
		s[i]->len = 0;
		s[i]->limit = PIPE_BUF;
		s[i]->flags = -1;
		s[i]->dropped = s[i]->stall = 0;
	}
}

void
log_dropped(unsigned long long *access, unsigned long long *events)
{
	*access += access_log.dropped;
	*events += event_log.dropped;
}

/* s at p: the end. */
static char *
put_str(char *p, const char *s)
{
	size_t n = strlen(s);

	memcpy(p, s, n);
	return p + n;
}

/*
 * Now, in UTC, as ISO 8601 to the millisecond (2026-12-03T08:34:16.123Z),
 * at p: the end. gmtime_r() and strftime() run once a second, not once
 * a line: the seconds part is kept and only the milliseconds change.
 */
static char *put_num(char *p, unsigned long long v, int width);

static char *
put_time(char *p)
{
	static time_t last = (time_t)-1;
	static char secs[24];
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (ts.tv_sec != last && gmtime_r(&ts.tv_sec, &tm) != NULL &&
	    strftime(secs, sizeof(secs), "%Y-%m-%dT%H:%M:%S", &tm) > 0)
		last = ts.tv_sec;
	p = put_str(p, secs);
	*p++ = '.';
	p = put_num(p, (unsigned long long)(ts.tv_nsec / 1000000), 3);
	*p++ = 'Z';
	return p;
}

/* v in decimal, at least width digits, at p: the end. */
static char *
put_num(char *p, unsigned long long v, int width)
{
	char d[24];
	int n = 0;

	do {
		d[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0 || n < width);
	while (n > 0)
		*p++ = d[--n];
	return p;
}

/* ms to the microsecond, as 0.412; or "-" when there is none (< 0). */
static char *
put_ms(char *p, double ms)
{
	unsigned long long us;

	if (ms < 0) {
		*p++ = '-';
		return p;
	}
	us = (unsigned long long)(ms * 1000 + 0.5);
	p = put_num(p, us / 1000, 1);
	*p++ = '.';
	return put_num(p, us % 1000, 3);
}

/*
 * time client method target backend status bytes ms backend_ms end
 * flags, e.g.
 * 2026-12-03T08:34:16.123Z 127.0.0.1 GET /x 127.0.0.1:9001 200 179 0.412
 * 0.305 -- reused,retries=1 (and queued=MS: it waited for a slot)
 * Built by hand, not by printf(): one line per request, and printf's
 * parsing of its format string and of %.3f was a measurable share of
 * the balancer's own work.
 */
void
log_access(const struct access *a)
{
	char line[32 + 64 + 24 + 256 + 270 + 160], *p = line, *flags;

	p = put_time(p);
	*p++ = ' ';
	p = put_str(p, a->client);
	*p++ = ' ';
	p = put_str(p, a->method);
	*p++ = ' ';
	p = put_str(p, a->target);
	*p++ = ' ';
	p = put_str(p, a->backend);
	*p++ = ' ';
	if (a->status > 0)
		p = put_num(p, (unsigned long long)a->status, 1);
	else
		*p++ = '-';	/* no answer at all: cut by the drain deadline */
	*p++ = ' ';
	p = put_num(p, (unsigned long long)(a->bytes > 0 ? a->bytes : 0), 1);
	*p++ = ' ';
	p = put_ms(p, a->ms);
	*p++ = ' ';
	p = put_ms(p, a->backend_ms);
	*p++ = ' ';
	*p++ = a->end[0];
	*p++ = a->end[1];
	*p++ = ' ';
	flags = p;
	if (a->reused)
		p = put_str(p, "reused");
	if (a->retries > 0) {
		p = put_str(p, p > flags ? ",retries=" : "retries=");
		p = put_num(p, (unsigned long long)a->retries, 1);
	}
	if (a->queued_ms >= 0) {
		p = put_str(p, p > flags ? ",queued=" : "queued=");
		p = put_ms(p, a->queued_ms);
	}
	if (p == flags)
		*p++ = '-';
	*p++ = '\n';
	sink_put(&access_log, line, (size_t)(p - line));
}

/* One line, sent at once: "time lb: what happened". */
void
log_event(const char *fmt, ...)
{
	char line[8192], *p = line;
	va_list ap;
	int n;

	p = put_time(p);
	p = put_str(p, who);
	va_start(ap, fmt);
	n = vsnprintf(p, sizeof(line) - (size_t)(p - line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	p += (size_t)n < sizeof(line) - (size_t)(p - line) - 1 ? (size_t)n :
	    strlen(p);
	*p++ = '\n';
	sink_put(&event_log, line, (size_t)(p - line));
	if (!event_log.waiting)
		sink_flush(&event_log);
}

/*
 * One move of a state machine, for -v: a client connection's or its
 * request's or response's (conn.c), a probe's (health.c).
 */
void
log_move(const char *who, const char *from, const char *to, const char *why)
{
	log_event("%s%s -> %s%s%s", who, from, to, why[0] != '\0' ? ": " : "",
	    why);
}

/* Once a loop pass: the access log's lines of this pass, in one write. */
void
log_flush(void)
{
	if (access_log.len > 0 && !access_log.waiting)
		sink_flush(&access_log);
	if (event_log.len > 0 && !event_log.waiting)
		sink_flush(&event_log);
}
