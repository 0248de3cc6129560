/*
 * log.c - access log on stdout, events on stderr.
 *
 * stdout is fully buffered and flushed once per loop pass, so a busy
 * balancer pays one write() for many lines instead of one each. stderr
 * stays unbuffered: an event (a backend going down) must be seen now.
 */
#include <stdarg.h>
#include <stdio.h>

#include "log.h"

static char outbuf[1 << 16];
static int dirty;

void
log_init(void)
{
	setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
}

/*
 * client method target backend status bytes ms flags, e.g.
 * 127.0.0.1 GET /x 127.0.0.1:9001 200 179 0.412 reused,retries=1
 */
void
log_access(const struct access *a)
{
	printf("%s %s %s %s %d %lld %.3f ", a->client, a->method, a->target,
	    a->backend, a->status, a->bytes, a->ms);
	if (!a->reused && a->retries == 0)
		printf("-\n");
	else if (a->retries == 0)
		printf("reused\n");
	else
		printf("%sretries=%d\n", a->reused ? "reused," : "", a->retries);
	dirty = 1;
}

void
log_event(const char *fmt, ...)
{
	va_list ap;

	fputs("lb: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void
log_flush(void)
{
	if (dirty)
		fflush(stdout);
	dirty = 0;
}
