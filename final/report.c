/*
 * report.c - the status page's contents, in four formats from one set
 * of facts: each backend's state, why, since when, rise/fall progress,
 * its next and last probe, its weight (and its weight now, while a slow
 * start ramps it), its requests in flight and their limit, and its
 * counters; and lb's: its clients, buffers, tunnels, and the queue of
 * requests waiting for a backend slot.
 *
 * The numbers come from one table, fields[]: each row names a fact for
 * status.json and for /metrics (Prometheus text exposition format:
 * "# HELP", "# TYPE", then one sample line per backend), so the formats
 * cannot drift apart.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"
#include "balance.h"
#include "buf.h"
#include "config.h"
#include "conn.h"
#include "log.h"
#include "report.h"
#include "workers.h"

void
sbuf_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	size_t want;
	char *p;
	int n;

	if (b->oom)
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->p == NULL ? NULL : b->p + b->len, b->cap - b->len,
	    fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->oom = 1;
		return;
	}
	if ((size_t)n < b->cap - b->len) {
		b->len += (size_t)n;
		return;
	}
	want = b->cap * 2 > b->len + (size_t)n + 1 ? b->cap * 2 :
	    b->len + (size_t)n + 1024;
	if ((p = realloc(b->p, want)) == NULL) {
		b->oom = 1;
		return;
	}
	b->p = p;
	b->cap = want;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void
sbuf_free(struct sbuf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* s, made safe to stand inside an HTML text, a JSON or a label string. */
static void
sbuf_escaped(struct sbuf *b, const char *s, enum report_format f)
{
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (f == REPORT_HTML && (ch == '&' || ch == '<' || ch == '>' ||
		    ch == '"'))
			sbuf_printf(b, "&#%d;", ch);
		else if (f != REPORT_HTML && (ch == '"' || ch == '\\'))
			sbuf_printf(b, "\\%c", ch);
		else if (f == REPORT_JSON && ch < 0x20)
			sbuf_printf(b, "\\u%04x", ch);
		else if (ch < 0x20)
			sbuf_printf(b, " ");
		else
			sbuf_printf(b, "%c", ch);
	}
}

/* A number for JSON and metrics: whole, or to the microsecond. */
static void
sbuf_number(struct sbuf *b, double v)
{
	sbuf_printf(b, v == (double)(long long)v ? "%.0f" : "%.6f", v);
}

/* ---- the facts ---- */

static double
next_check_s(const struct backend *be, double now)
{
	const struct check *k = &be->check;

	if (k->stage != CHECK_IDLE || k->timer.when < now)
		return 0;
	return k->timer.when - now;
}

enum fact {
	F_UP, F_DRAIN, F_WEIGHT, F_WEIGHT_NOW, F_IN_STATE, F_PASSES, F_RISE,
	F_FAILS, F_FALL, F_NEXT_CHECK, F_LAST_CHECK, F_CHECKS_PASSED,
	F_CHECKS_FAILED, F_REQUESTS, F_FAILURES, F_BYTES, F_ACTIVE, F_IDLE,
	F_CONNECTS, F_INFLIGHT, F_MAXCONN, F_SLOWSTART
};

static double
fact(const struct backend *be, enum fact f, double now)
{
	switch (f) {
	case F_UP:		return be->up;
	case F_DRAIN:		return be->drain || be->slot == BE_GONE;
	case F_WEIGHT:		return be->weight;
	case F_WEIGHT_NOW:	return balance_weight(be, now);
	case F_IN_STATE:	return now - be->since;
	case F_PASSES:		return be->up ? 0 : be->passes;
	case F_RISE:		return cfg.rise;
	case F_FAILS:		return be->up ? be->fails : 0;
	case F_FALL:		return cfg.fall;
	case F_NEXT_CHECK:	return next_check_s(be, now);
	case F_LAST_CHECK:	return be->check.last_ms / 1e3;
	case F_CHECKS_PASSED:	return (double)be->check.passed;
	case F_CHECKS_FAILED:	return (double)be->check.failed;
	case F_REQUESTS:	return (double)be->requests;
	case F_FAILURES:	return (double)be->failures;
	case F_BYTES:		return (double)be->bytes;
	case F_ACTIVE:		return be->active;
	case F_IDLE:		return be->nidle;
	case F_CONNECTS:	return (double)be->connects;
	case F_INFLIGHT:	return be->inflight;	/* -w N: summed */
	case F_MAXCONN:		return be->maxconn;
	case F_SLOWSTART:	return be->slowstart_ms;
	}
	return 0;
}

static const struct field {
	enum fact fact;
	const char *json;	/* its name in status.json, or NULL */
	const char *metric;	/* lb_backend_..., or NULL */
	const char *type;	/* gauge or counter */
	const char *help;
} fields[] = {
	{ F_UP, NULL, "up", "gauge", "1 if the backend is up, 0 if it is down." },
	{ F_DRAIN, NULL, "drain", "gauge",
	    "1 if it takes no new requests (drain, or removed by a reload)." },
	{ F_WEIGHT, "weight", "weight", "gauge",
	    "Requests it gets for each one a backend of weight 1 gets." },
	{ F_WEIGHT_NOW, "weight_now", NULL, NULL, NULL },
	{ F_IN_STATE, "in_state_s", "state_seconds", "gauge",
	    "Seconds since the backend last went up or down." },
	{ F_PASSES, "passes", "check_passes", "gauge",
	    "Down: checks passed in a row, toward rise." },
	{ F_RISE, "rise", NULL, NULL, NULL },
	{ F_FAILS, "fails", "fails", "gauge",
	    "Up: failures in a row, toward fall." },
	{ F_FALL, "fall", NULL, NULL, NULL },
	{ F_NEXT_CHECK, "next_check_s", "next_check_seconds", "gauge",
	    "Seconds until the next check starts (0: one is under way)." },
	{ F_LAST_CHECK, "last_check_s", "last_check_seconds", "gauge",
	    "How long the last check took." },
	{ F_CHECKS_PASSED, "checks_passed", "checks_passed_total", "counter",
	    "Checks that passed." },
	{ F_CHECKS_FAILED, "checks_failed", "checks_failed_total", "counter",
	    "Checks that failed." },
	{ F_REQUESTS, "requests", "requests_total", "counter",
	    "Responses the backend gave to clients." },
	{ F_FAILURES, "failures", "failures_total", "counter",
	    "Connects by live traffic that failed." },
	{ F_BYTES, "bytes", "sent_bytes_total", "counter",
	    "Bytes sent to clients from the backend's responses." },
	{ F_ACTIVE, "active", "active_connections", "gauge",
	    "Connections to the backend carrying a request now." },
	{ F_IDLE, "idle", "idle_connections", "gauge",
	    "Idle connections to the backend kept for reuse." },
	{ F_CONNECTS, "connects", "connects_total", "counter",
	    "Connections opened to the backend for live traffic." },
	{ F_INFLIGHT, "inflight", "inflight", "gauge",
	    "Requests in flight to the backend now." },
	{ F_MAXCONN, "maxconn", "maxconn", "gauge",
	    "Requests it may have in flight at most (,maxconn=N); 0: no limit."
	},
	{ F_SLOWSTART, "slowstart_ms", NULL, NULL, NULL },
};
#define NFIELDS	(sizeof(fields) / sizeof(fields[0]))

static int
count_up(void)
{
	int i, n = 0;

	for (i = 0; i < nbackends; i++)
		n += backends[i].slot == BE_LIVE && backends[i].up;
	return n;
}

/*
 * When the state the text and HTML pages show began: UP or DOWN when up
 * last changed, DRAIN when a reload drained it (or lb started, if it was
 * drained from the start). status.json and /metrics keep to up and down.
 */
static double
state_since(const struct backend *be, double started)
{
	if (be->slot == BE_LIVE && be->drain)
		return be->drain_since > 0 ? be->drain_since : started;
	return be->since;
}

/*
 * A moment on the loop's clock (since), as a UTC date and time. That
 * clock is monotonic, not a date: it is tied to the wall clock once, at
 * the first report, so the same moment prints the same way every time.
 */
static void
since_text(double since, double now, char *out, size_t n)
{
	static time_t wall0;
	static double mono0;
	struct tm tm;
	time_t t;

	if (wall0 == 0) {
		wall0 = time(NULL);
		mono0 = now;
	}
	t = wall0 + (time_t)(since - mono0 + (since >= mono0 ? 0.5 : -0.5));

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, n, "?");
}

/* "0/3 failed" while up, "1/2 passed" while down. */
static void
progress_text(const struct backend *be, char *out, size_t n)
{
	if (be->up)
		snprintf(out, n, "%d/%d failed", be->fails, cfg.fall);
	else
		snprintf(out, n, "%d/%d passed", be->passes, cfg.rise);
}

/* "passed: status 200 (0.4 ms)", or "not yet checked". */
static void
last_text(const struct backend *be, char *out, size_t n)
{
	const struct check *k = &be->check;

	if (k->last_ok < 0)
		snprintf(out, n, "not yet checked");
	else
		snprintf(out, n, "%s: %s (%.1f ms)", k->last_ok ? "passed" :
		    "failed", k->last, k->last_ms);
}

static void
next_text(const struct backend *be, double now, char *out, size_t n)
{
	if (be->check.stage != CHECK_IDLE)
		snprintf(out, n, "under way");
	else
		snprintf(out, n, "in %.1f s", next_check_s(be, now));
}

/*
 * While a slow start ramps be (,slowstart=MS, from when it came up):
 * "40% of its weight, full in 3.0 s"; else nothing.
 */
static void
ramp_text(const struct backend *be, double now, char *out, size_t n)
{
	double w = balance_weight(be, now);

	out[0] = '\0';
	if (be->slowstart_ms > 0 && be->ramp_from > 0 && w < be->weight)
		snprintf(out, n, "%.0f%% of its weight, full in %.1f s",
		    100 * w / be->weight, be->ramp_from +
		    be->slowstart_ms / 1e3 - now);
}

/* What the text and HTML pages say about one backend, in words. */
struct words {
	double	in_state;	/* seconds in the state shown */
	char	since[32], progress[32], last[160], next[32];
	char	limit[16];	/* its maxconn, or "none" */
	char	ramp[64];	/* ramp_text() */
};

static void
describe(const struct backend *be, double now, double started,
    struct words *w)
{
	double since = state_since(be, started);

	w->in_state = now - since;
	since_text(since, now, w->since, sizeof(w->since));
	progress_text(be, w->progress, sizeof(w->progress));
	last_text(be, w->last, sizeof(w->last));
	next_text(be, now, w->next, sizeof(w->next));
	if (be->maxconn > 0)
		snprintf(w->limit, sizeof(w->limit), "%d", be->maxconn);
	else
		snprintf(w->limit, sizeof(w->limit), "none");
	ramp_text(be, now, w->ramp, sizeof(w->ramp));
}

/* What the page says of lb as a whole, gathered once per page. */
struct totals {
	int	up, backends, clients, lent, spare, tunnels, workers;
	unsigned long long tunnels_total;
	unsigned long long access_dropped, events_dropped;	/* log lines */
	int	queue_waiting, queue_peak;	/* requests waiting for a slot */
	double	queue_longest_ms;
};

static void
totals(struct totals *t)
{
	t->up = count_up();
	t->backends = backend_count(0);
	t->clients = conn_count();
	buf_counts(&t->lent, &t->spare);
	conn_tunnels(&t->tunnels, &t->tunnels_total);
	workers_totals(&t->clients, &t->lent, &t->spare, &t->tunnels,
	    &t->tunnels_total);	/* -w N: theirs (the master has none) */
	t->workers = workers_count();
	t->access_dropped = t->events_dropped = 0;
	log_dropped(&t->access_dropped, &t->events_dropped);
	workers_log_dropped(&t->access_dropped, &t->events_dropped);
	conn_queue(&t->queue_waiting, &t->queue_peak, &t->queue_longest_ms);
	workers_queue(&t->queue_waiting, &t->queue_peak,
	    &t->queue_longest_ms);
}

/* Text and HTML: the queue of requests waiting for a backend slot. */
static void
queue_line(struct sbuf *b, const struct totals *t, enum report_format f)
{
	sbuf_printf(b, "%squeue: %d waiting, %d at most at once, longest wait "
	    "%.1f ms%s\n", f == REPORT_HTML ? "<p>" : "", t->queue_waiting,
	    t->queue_peak, t->queue_longest_ms, f == REPORT_HTML ? "</p>" :
	    "");
}

/* Text and HTML: a line on dropped log lines, once there are any. */
static void
dropped_line(struct sbuf *b, const struct totals *t, enum report_format f)
{
	if (t->access_dropped + t->events_dropped == 0)
		return;
	sbuf_printf(b, "%slog lines dropped, their reader stalled: %llu "
	    "access, %llu event%s\n", f == REPORT_HTML ? "<p>" : "",
	    t->access_dropped, t->events_dropped, f == REPORT_HTML ? "</p>" :
	    "");
}

/* ---- the formats ---- */

/*
 * -w N: a line (text, HTML) or an array (JSON) on each worker: its pid,
 * how often it was started again, its clients and requests now.
 */
static void
worker_lines(struct sbuf *b, enum report_format f)
{
	unsigned long long restarts, requests;
	long pid;
	int k, clients;

	if (f == REPORT_JSON)
		sbuf_printf(b, ", \"workers\": [");
	for (k = 0; workers_info(k, &pid, &restarts, &clients,
	    &requests) == 0; k++) {
		if (f == REPORT_JSON) {
			sbuf_printf(b, "%s{\"pid\": %ld, \"restarts\": %llu, "
			    "\"clients\": %d, \"requests\": %llu}", k > 0 ?
			    ", " : "", pid, restarts, clients, requests);
			continue;
		}
		sbuf_printf(b, "%sworker %d: pid %ld, %d clients, %llu "
		    "requests, started again ", f == REPORT_HTML ? "<br>" : "",
		    k + 1, pid, clients, requests);
		if (restarts == 1)
			sbuf_printf(b, "once");
		else
			sbuf_printf(b, "%llu times", restarts);
		sbuf_printf(b, "%s", f == REPORT_HTML ? "" : "\n");
	}
	if (f == REPORT_JSON)
		sbuf_printf(b, "]");
}

static void
report_text(struct sbuf *b, double now, double started)
{
	struct words w;
	struct totals t;
	int i;

	totals(&t);
	sbuf_printf(b, "lb: %d of %d backends up, %d clients, running %.0f s; "
	    "buffers %d lent, %d spare; tunnels %d open, %llu in all\n", t.up,
	    t.backends, t.clients, now - started, t.lent, t.spare, t.tunnels,
	    t.tunnels_total);
	queue_line(b, &t, REPORT_TEXT);
	dropped_line(b, &t, REPORT_TEXT);
	worker_lines(b, REPORT_TEXT);
	for (i = 0; i < nbackends; i++) {
		const struct backend *be = &backends[i];

		if (be->slot == BE_FREE)
			continue;
		describe(be, now, started, &w);
		sbuf_printf(b, "\n%s %s for %.1f s (since %s): %s\n"
		    "  checks   last %s; next %s; %s\n"
		    "  traffic  weight %d; %llu requests, %llu failures, %llu "
		    "bytes; connections %d active, %d idle, %llu opened\n"
		    "  load     %d in flight, limit %s%s%s\n",
		    be->addr.str, backend_state(be), w.in_state,
		    w.since, be->why, w.last, w.next, w.progress, be->weight,
		    be->requests, be->failures, be->bytes, be->active,
		    be->nidle, be->connects, be->inflight, w.limit,
		    w.ramp[0] != '\0' ? "; slow start: " : "", w.ramp);
	}
}

/* The page's head, its style, and the line on lb as a whole. */
static void
html_top(struct sbuf *b, const struct totals *t, double now, double started)
{
	sbuf_printf(b, "<!DOCTYPE html>\n<html lang=\"en\"><head>"
	    "<meta charset=\"utf-8\">\n<meta http-equiv=\"refresh\" "
	    "content=\"2\">\n<title>lb status</title>\n<style>\n"
	    "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}\n"
	    "table{border-collapse:collapse}\n"
	    "th,td{padding:.3em .45em;border-bottom:1px solid #ddd;"
	    "text-align:left;vertical-align:top;white-space:nowrap}\n"
	    "th{white-space:normal}\n"
	    "td.w{white-space:normal;min-width:8em;max-width:16em;"
	    "overflow-wrap:anywhere}\n"
	    "div.t{overflow-x:auto}\n"
	    "td.n{text-align:right;white-space:nowrap;"
	    "font-variant-numeric:tabular-nums}\n"
	    "small{color:#666}\n"
	    "tr.up td.state{color:#060;font-weight:bold}\n"
	    "tr.down td.state{color:#b00;font-weight:bold}\n"
	    "tr.down{background:#fff3f3}\n"
	    "tr.drain td.state{color:#a60;font-weight:bold}\n</style></head><body>\n"
	    "<h1>lb status</h1>\n<p>%d of %d backends up, %d clients, "
	    "running %.0f s; buffers %d lent, %d spare; tunnels %d open, %llu "
	    "in all. This page refreshes every 2 s; also as "
	    "<a href=\"/status.txt\">text</a>, <a href=\"/status.json\">JSON"
	    "</a> and <a href=\"/metrics\">metrics</a>.</p>\n",
	    t->up, t->backends, t->clients, now - started, t->lent, t->spare,
	    t->tunnels, t->tunnels_total);
}

/* The table's heading row: a tip where a name alone may mislead. */
static void
html_columns(struct sbuf *b)
{
	static const char *const cols[] = { "backend", "state", "for", "why",
	    "rise/fall", "next check", "last check", "weight", "in flight / "
	    "limit", "requests", "failures", "bytes", "active / idle", NULL };
	static const char *const tips[] = { NULL, NULL, NULL, NULL, NULL,
	    NULL, NULL, "requests for each one a weight 1 backend gets",
	    "requests in flight to it now / its maxconn",
	    "responses relayed to clients",
	    "connects by live traffic that failed (a 5xx is not one)",
	    "sent to clients", "connections carrying a request / kept idle",
	    NULL };
	int i;

	sbuf_printf(b, "<div class=\"t\"><table>\n<tr>");
	for (i = 0; cols[i] != NULL; i++)
		if (tips[i] != NULL)
			sbuf_printf(b, "<th title=\"%s\">%s</th>", tips[i],
			    cols[i]);
		else
			sbuf_printf(b, "<th>%s</th>", cols[i]);
	sbuf_printf(b, "</tr>\n");
}

/* One backend's row; i: its slot, for the row's id. */
static void
html_row(struct sbuf *b, const struct backend *be, int i, double now,
    double started)
{
	struct words w;

	describe(be, now, started, &w);
	sbuf_printf(b, "<tr class=\"%s\" id=\"backend-%d\"><td>",
	    be->slot == BE_GONE || be->drain ? "drain" : be->up ? "up" :
	    "down", i + 1);
	sbuf_escaped(b, be->addr.str, REPORT_HTML);
	sbuf_printf(b, "</td><td class=\"state\">%s</td><td class=\"n\">"
	    "%.1f s<br><small>since %s</small></td><td class=\"w\">",
	    backend_state(be), w.in_state, w.since);
	sbuf_escaped(b, be->why, REPORT_HTML);
	sbuf_printf(b, "</td><td>%s</td><td>%s</td><td class=\"w\">",
	    w.progress, w.next);
	sbuf_escaped(b, w.last, REPORT_HTML);
	sbuf_printf(b, "</td><td class=\"n\">%d", be->weight);
	if (w.ramp[0] != '\0')
		sbuf_printf(b, "<br><small>slow start: %s</small>", w.ramp);
	sbuf_printf(b, "</td><td class=\"n\">%d / %s</td><td class=\"n\">"
	    "%llu</td><td class=\"n\">%llu</td><td class=\"n\">%llu"
	    "</td><td class=\"n\">%d / %d<br><small>%llu opened</small>"
	    "</td></tr>\n", be->inflight, w.limit, be->requests,
	    be->failures, be->bytes, be->active, be->nidle, be->connects);
}

static void
report_html(struct sbuf *b, double now, double started)
{
	struct totals t;
	int i;

	totals(&t);
	html_top(b, &t, now, started);
	queue_line(b, &t, REPORT_HTML);
	dropped_line(b, &t, REPORT_HTML);
	if (t.workers > 0) {
		sbuf_printf(b, "<p><small>");
		worker_lines(b, REPORT_HTML);
		sbuf_printf(b, "</small></p>\n");
	}
	html_columns(b);
	for (i = 0; i < nbackends; i++)
		if (backends[i].slot != BE_FREE)
			html_row(b, &backends[i], i, now, started);
	sbuf_printf(b, "</table></div>\n</body></html>\n");
}

static void
report_json(struct sbuf *b, double now, double started)
{
	char since[32], state[8];
	size_t f;
	struct totals t;
	int i, n = 0, j;

	totals(&t);
	sbuf_printf(b, "{\"backends_up\": %d, \"clients\": %d, \"running_s\": "
	    "%.3f, \"buffers_lent\": %d, \"buffers_spare\": %d, \"tunnels\": "
	    "%d, \"tunnels_total\": %llu, \"access_log_dropped\": %llu, "
	    "\"event_log_dropped\": %llu, \"queue_waiting\": %d, "
	    "\"queue_peak\": %d, \"queue_longest_ms\": ", t.up, t.clients,
	    now - started, t.lent, t.spare, t.tunnels, t.tunnels_total,
	    t.access_dropped, t.events_dropped, t.queue_waiting, t.queue_peak);
	sbuf_number(b, t.queue_longest_ms);
	worker_lines(b, REPORT_JSON);
	sbuf_printf(b, ", \"backends\": [");
	for (i = 0; i < nbackends; i++) {
		const struct backend *be = &backends[i];

		if (be->slot == BE_FREE)
			continue;
		since_text(be->since, now, since, sizeof(since));
		for (j = 0; backend_state(be)[j] != '\0' && j < 7; j++)
			state[j] = (char)(backend_state(be)[j] - 'A' + 'a');
		state[j] = '\0';
		sbuf_printf(b, "%s\n  {\"name\": \"", n++ > 0 ? "," : "");
		sbuf_escaped(b, be->addr.str, REPORT_JSON);
		sbuf_printf(b, "\", \"state\": \"%s\", \"up\": %s, \"drain\": %s, "
		    "\"since\": \"%s\", \"why\": \"", state, be->up ? "true" :
		    "false", fact(be, F_DRAIN, now) ? "true" : "false", since);
		sbuf_escaped(b, be->why, REPORT_JSON);
		sbuf_printf(b, "\", \"checking\": %s, \"last_check\": \"",
		    be->check.stage != CHECK_IDLE ? "true" : "false");
		sbuf_escaped(b, be->check.last_ok < 0 ? "" : be->check.last,
		    REPORT_JSON);
		sbuf_printf(b, "\", \"last_check_passed\": %s",
		    be->check.last_ok < 0 ? "null" : be->check.last_ok ?
		    "true" : "false");
		for (f = 0; f < NFIELDS; f++) {
			double v = fact(be, fields[f].fact, now);

			if (fields[f].json == NULL)
				continue;
			sbuf_printf(b, ", \"%s\": ", fields[f].json);
			if (fields[f].fact == F_MAXCONN && v == 0)
				sbuf_printf(b, "null");	/* no limit */
			else
				sbuf_number(b, v);
		}
		sbuf_printf(b, "}");
	}
	sbuf_printf(b, "\n]}\n");
}

static void
report_metrics(struct sbuf *b, double now, double started)
{
	size_t f;
	struct totals t;
	int i;

	totals(&t);
	sbuf_printf(b, "# HELP lb_clients Client connections open now.\n"
	    "# TYPE lb_clients gauge\nlb_clients %d\n"
	    "# HELP lb_backends_up Backends that are up.\n"
	    "# TYPE lb_backends_up gauge\nlb_backends_up %d\n"
	    "# HELP lb_uptime_seconds Seconds since lb started.\n"
	    "# TYPE lb_uptime_seconds gauge\nlb_uptime_seconds %.3f\n"
	    "# HELP lb_buffers_lent Buffers holding bytes in flight now.\n"
	    "# TYPE lb_buffers_lent gauge\nlb_buffers_lent %d\n"
	    "# HELP lb_buffers_spare Empty buffers kept for reuse.\n"
	    "# TYPE lb_buffers_spare gauge\nlb_buffers_spare %d\n"
	    "# HELP lb_tunnels WebSocket/Upgrade tunnels open now.\n"
	    "# TYPE lb_tunnels gauge\nlb_tunnels %d\n"
	    "# HELP lb_tunnels_total Tunnels opened since start.\n"
	    "# TYPE lb_tunnels_total counter\nlb_tunnels_total %llu\n"
	    "# HELP lb_log_lines_dropped_total Log lines dropped: their "
	    "reader stalled.\n# TYPE lb_log_lines_dropped_total counter\n"
	    "lb_log_lines_dropped_total{log=\"access\"} %llu\n"
	    "lb_log_lines_dropped_total{log=\"event\"} %llu\n",
	    t.clients, t.up, now - started, t.lent, t.spare, t.tunnels,
	    t.tunnels_total, t.access_dropped, t.events_dropped);
	sbuf_printf(b, "# HELP lb_queue_waiting Requests waiting for a backend "
	    "slot now (every backend they may take at its maxconn).\n"
	    "# TYPE lb_queue_waiting gauge\nlb_queue_waiting %d\n"
	    "# HELP lb_queue_peak The most requests that waited at once (-w N: "
	    "in one worker).\n# TYPE lb_queue_peak gauge\nlb_queue_peak %d\n"
	    "# HELP lb_queue_longest_wait_seconds The longest a request "
	    "waited for a backend slot.\n"
	    "# TYPE lb_queue_longest_wait_seconds gauge\n"
	    "lb_queue_longest_wait_seconds ", t.queue_waiting, t.queue_peak);
	sbuf_number(b, t.queue_longest_ms / 1e3);
	sbuf_printf(b, "\n");
	for (f = 0; f < NFIELDS; f++) {
		if (fields[f].metric == NULL)
			continue;
		sbuf_printf(b, "# HELP lb_backend_%s %s\n# TYPE lb_backend_%s %s\n",
		    fields[f].metric, fields[f].help, fields[f].metric,
		    fields[f].type);
		for (i = 0; i < nbackends; i++) {
			if (backends[i].slot == BE_FREE)
				continue;
			sbuf_printf(b, "lb_backend_%s{backend=\"",
			    fields[f].metric);
			sbuf_escaped(b, backends[i].addr.str, REPORT_METRICS);
			sbuf_printf(b, "\"} ");
			sbuf_number(b, fact(&backends[i], fields[f].fact, now));
			sbuf_printf(b, "\n");
		}
	}
}

void
report(struct sbuf *b, enum report_format f, double now, double started)
{
	workers_gather();	/* -w N: the counters are the workers' */
	switch (f) {
	case REPORT_TEXT:
		report_text(b, now, started);
		break;
	case REPORT_HTML:
		report_html(b, now, started);
		break;
	case REPORT_JSON:
		report_json(b, now, started);
		break;
	case REPORT_METRICS:
		report_metrics(b, now, started);
		break;
	}
}
