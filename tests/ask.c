/*
 * ask.c - asking a running balancer, and tests/backend, how things
 * stand: who answers, what the status page says in each of its formats,
 * what the event log said. For the suites that test health checks,
 * reloads, drains and workers (suite_health.c, suite_ops.c).
 */
#include <check.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ask.h"
#include "harness.h"
#include "json.h"

/* GET path from port: the status; *r kept if r is not NULL. */
int
get(int port, const char *path, const char *extra, struct h_resp *r)
{
	struct h_resp own;
	char req[512];
	int status;

	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\n%s\r\n",
	    path, extra != NULL ? extra : "");
	if (r == NULL)
		r = &own;
	ck_assert_int_eq(h_request(port, req, r), 0);
	status = r->status;
	if (r == &own)
		h_resp_free(r);
	return status;
}

/* Who answers GET / through the balancer ("503" when nobody does). */
const char *
who(int port)
{
	static char name[32];
	struct h_resp r;
	const char *b;

	get(port, "/", NULL, &r);
	b = h_header(&r, "X-Backend");
	snprintf(name, sizeof(name), "%s", r.status == 200 && b != NULL ? b :
	    "503");
	if (r.status != 200 && r.status != 503)
		snprintf(name, sizeof(name), "%d", r.status);
	h_resp_free(&r);
	return name;
}

/* Tell a test backend its /health is sick, or well. */
void
set_health(struct h_proc *be, const char *how)
{
	char path[32];

	snprintf(path, sizeof(path), "/control/%s", how);
	ck_assert_int_eq(get(be->port, path, NULL, NULL), 200);
}

/* How many health checks a test backend has answered. */
long
checks_seen(struct h_proc *be)
{
	struct h_resp r;
	const char *h;
	long n;

	ck_assert_int_eq(get(be->port, "/control/stats", NULL, &r), 200);
	h = strstr(r.body, "health ");
	ck_assert_ptr_nonnull(h);
	n = atol(h + 7);
	h_resp_free(&r);
	return n;
}

/* The balancer's stderr says this about backend be, within ms. */
void
expect_event(struct h_proc *lb, struct h_proc *be, const char *what, int ms)
{
	char want[160];

	snprintf(want, sizeof(want), "127.0.0.1:%d %s", be->port, what);
	ck_assert_msg(h_wait_for_text(lb->err, want, h_scaled(ms)),
	    "no '%s' on the balancer's stderr", want);
}

/* Ask until name answers, for at most ms; the ms it took. */
long
wait_for(int port, const char *name, int ms)
{
	struct timespec t0, t1;
	int i;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < h_scaled(ms) / 20; i++) {
		if (strcmp(who(port), name) == 0) {
			clock_gettime(CLOCK_MONOTONIC, &t1);
			return (t1.tv_sec - t0.tv_sec) * 1000 +
			    (t1.tv_nsec - t0.tv_nsec) / 1000000;
		}
		h_pause_ms(20);
	}
	ck_abort_msg("%s never answered within %d ms", name, h_scaled(ms));
	return -1;
}

/* A metric or label name: [a-zA-Z_:][a-zA-Z0-9_:]* (no ':' in labels). */
static size_t
name_len(const char *p, int label)
{
	size_t n = 0;

	while (isalpha((unsigned char)p[n]) || p[n] == '_' ||
	    (p[n] == ':' && !label) || (n > 0 && isdigit((unsigned char)p[n])))
		n++;
	return n;
}

/* {name="value",...}: the length, or 0 if malformed. */
static size_t
labels_len(const char *p)
{
	const char *q = p;
	size_t n;

	if (*q++ != '{')
		return 0;
	for (;;) {
		if ((n = name_len(q, 1)) == 0 || q[n] != '=' || q[n + 1] != '"')
			return 0;
		for (q += n + 2; *q != '"'; q++) {
			if (*q == '\n' || *q == '\0')
				return 0;
			if (*q == '\\' && strchr("\\\"n", *++q) == NULL)
				return 0;
		}
		if (*++q == '}')
			return (size_t)(q + 1 - p);
		if (*q++ != ',')
			return 0;
	}
}

/*
 * Check a Prometheus text exposition line by line, strictly: "# HELP
 * name text", then "# TYPE name gauge|counter" (a counter's name ends in
 * _total), then that family's samples and no other, each "name number"
 * or "name{label="value",...} number". Returns the value of the sample
 * "name{backend="<backend>"}" (plain "name" if backend is NULL), and
 * fails the test if there is not exactly one.
 */
double
metric(const char *text, const char *name, const char *backend)
{
	char fam[64] = "", helped[64] = "", want[160];
	const char *line, *end, *p;
	double found = -1, v;
	int hits = 0, families = 0;
	size_t n;
	char *num_end;

	if (backend != NULL)
		snprintf(want, sizeof(want), "%s{backend=\"%s\"}", name, backend);
	else
		snprintf(want, sizeof(want), "%s", name);
	for (line = text; *line != '\0'; line = end + 1) {
		end = strchr(line, '\n');
		ck_assert_msg(end != NULL, "unterminated line: %s", line);
		if (strncmp(line, "# HELP ", 7) == 0) {
			n = name_len(line + 7, 0);
			ck_assert_msg(n > 0 && n < sizeof(helped) && line[7 + n] ==
			    ' ', "bad: %.*s", (int)(end - line), line);
			snprintf(helped, sizeof(helped), "%.*s", (int)n, line + 7);
			continue;
		}
		if (strncmp(line, "# TYPE ", 7) == 0) {
			n = name_len(line + 7, 0);
			ck_assert_msg(n == strlen(helped) && strncmp(line + 7,
			    helped, n) == 0, "TYPE without HELP: %.*s",
			    (int)(end - line), line);
			p = line + 7 + n;
			ck_assert_msg(strncmp(p, " gauge\n", 7) == 0 ||
			    (strncmp(p, " counter\n", 9) == 0 && n > 6 &&
			    strncmp(p - 6, "_total", 6) == 0), "bad: %.*s",
			    (int)(end - line), line);
			snprintf(fam, sizeof(fam), "%s", helped);
			helped[0] = '\0';
			families++;
			continue;
		}
		n = name_len(line, 0);
		ck_assert_msg(n > 0 && n == strlen(fam) && strncmp(line, fam,
		    n) == 0, "sample outside its family (%s): %.*s", fam,
		    (int)(end - line), line);
		p = line + n;
		if (*p == '{') {
			ck_assert_msg((n = labels_len(p)) > 0, "bad labels: %.*s",
			    (int)(end - line), line);
			p += n;
		}
		ck_assert_msg(*p == ' ', "no value: %.*s", (int)(end - line),
		    line);
		v = strtod(p + 1, &num_end);
		ck_assert_msg(num_end == end && num_end > p + 1, "bad value: "
		    "%.*s", (int)(end - line), line);
		if ((size_t)(p - line) == strlen(want) &&
		    strncmp(line, want, strlen(want)) == 0) {
			found = v;
			hits++;
		}
	}
	ck_assert_int_gt(families, 10);
	ck_assert_msg(hits == 1, "%s: %d samples", want, hits);
	return found;
}

/* GET path from the status listener: 200, and the body (free it). */
char *
page(int port, const char *path, const char *accept, const char *type)
{
	struct h_resp r;
	char extra[128] = "", *body;

	if (accept != NULL)
		snprintf(extra, sizeof(extra), "Accept: %s\r\n", accept);
	ck_assert_int_eq(get(port, path, extra, &r), 200);
	ck_assert_int_eq(r.complete, 1);
	ck_assert_ptr_nonnull(h_header(&r, "Content-Type"));
	ck_assert_msg(strncmp(h_header(&r, "Content-Type"), type,
	    strlen(type)) == 0, "%s: Content-Type %s", path,
	    h_header(&r, "Content-Type"));
	body = r.body;
	r.body = NULL;
	h_resp_free(&r);
	return body;
}

/* status.json's value at path, which must be there. */
void
json_at(const char *doc, const char *path, char *out, size_t n)
{
	ck_assert_msg(json_get(doc, path, out, n) == 0, "no %s in %s", path,
	    doc);
}
