/*
 * log.c - access log on stdout, events on stderr.
 *
 * stdout is fully buffered and flushed once per loop pass, so a busy
 * balancer pays one write() for many lines instead of one each. stderr
 * stays unbuffered: an event (a backend going down) must be seen now.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"

#ifndef PIPE_BUF
#define PIPE_BUF	_POSIX_PIPE_BUF	/* the least POSIX allows: 512 */
#endif

static char outbuf[1 << 16];
static size_t buffered;		/* bytes in outbuf since the last flush */
static int dirty;
static size_t limit = sizeof(outbuf);	/* flush before going past it */
static char who[32] = " lb: ";	/* " lb: worker 2: " in a worker */

/*
 * A worker: its event lines say which worker (n > 0) they come from,
 * and its access log goes out PIPE_BUF bytes at most a write(), whole
 * lines only. Workers share stdout: POSIX makes a write of PIPE_BUF
 * bytes or less to a pipe atomic, so lines of two workers never mix.
 */
void
log_worker(int n)
{
	snprintf(who, sizeof(who), " lb: worker %d: ", n);
	limit = PIPE_BUF;
}

void
log_init(void)
{
	setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
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
 * 0.305 -- reused,retries=1
 * Built by hand, not by printf(): one line per request, and printf's
 * parsing of its format string and of %.3f was a measurable share of
 * the balancer's own work.
 */
void
log_access(const struct access *a)
{
	char line[32 + 64 + 24 + 256 + 270 + 128], *p = line;

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
	if (!a->reused && a->retries == 0)
		*p++ = '-';
	if (a->reused)
		p = put_str(p, a->retries > 0 ? "reused," : "reused");
	if (a->retries > 0) {
		p = put_str(p, "retries=");
		p = put_num(p, (unsigned long long)a->retries, 1);
	}
	*p++ = '\n';
	/* Flushed before a line that would not fit, never in the middle. */
	if (buffered + (size_t)(p - line) > limit) {
		fflush(stdout);
		buffered = 0;
	}
	fwrite(line, 1, (size_t)(p - line), stdout);
	buffered += (size_t)(p - line);
	dirty = 1;
}

/* One line, one write: "time lb: what happened". */
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
	fwrite(line, 1, (size_t)(p - line), stderr);
}

void
log_flush(void)
{
	if (dirty)
		fflush(stdout);
	dirty = 0;
	buffered = 0;
}
