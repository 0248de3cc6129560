/*
 * report.h - what the balancer knows about its backends, written out for
 * the status page: plain text, HTML, JSON and Prometheus metrics.
 */
#ifndef REPORT_H
#define REPORT_H

#include <stddef.h>

/* A string that grows as it is written. oom: a write did not fit. */
struct sbuf {
	char	*p;
	size_t	len, cap;
	int	oom;
};

void	sbuf_printf(struct sbuf *b, const char *fmt, ...);
void	sbuf_free(struct sbuf *b);

enum report_format { REPORT_TEXT, REPORT_HTML, REPORT_JSON, REPORT_METRICS };

/* The whole report in one format, appended to b; times on the loop's clock. */
void	report(struct sbuf *b, enum report_format f, double now,
	    double started);

#endif
