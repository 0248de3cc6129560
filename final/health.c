/*
 * health.c - active health checks, and the rule that says up or down.
 *
 * The balancer this project grew from checked only the servers that were
 * still in its list of healthy ones, so a server that failed was never
 * looked at again. Here every backend, up or down, has its own probe on
 * its own timer, for as long as the balancer runs. Nothing can stop it:
 * no list it could fall out of, no state that skips it.
 *
 * A probe is a chain of small non-blocking stages, each a function, all
 * inside the one select() loop (no thread, no blocking call):
 *
 *            timer                writable,             all sent
 *   IDLE ─────────────> CONNECT ─────────────> SEND ─────────────> READ
 *    ▲   (next_at)         │     SO_ERROR == 0                       │
 *    │                     │ refused                    status line │
 *    │                     ▼                                         ▼
 *    └──────────────── finish(pass or fail, why) <──── 2xx/3xx pass,
 *       arm timer at next_at        ▲                  else fail
 *                                   └── the deadline (-t check=MS) of
 *                                       any stage: "timeout after N ms"
 *
 * Results go through the rise/fall rule: FALL failures in a row take a
 * backend down, RISE passes in a row bring it back. Live traffic feeds
 * the same rule with the connects it could not make, so a dead backend
 * goes down without waiting for its probe; only probes bring one back.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "config.h"
#include "health.h"
#include "log.h"
#include "proxyproto.h"

static void probe_connect(struct backend *be, int failed);

static const char *
plural(int n)
{
	return n == 1 ? "" : "s";
}

/*
 * The rise/fall rule, alone: one result in, a state change out (+1 came
 * up, -1 went down, 0 none). While up, failures are counted and a pass
 * clears them; while down, passes are counted and a failure clears them.
 * The counts that made a change are kept until the next change, so the
 * caller can say what happened.
 */
int
health_rule(struct backend *be, int passed, int live)
{
	if (passed && be->up) {
		be->fails = be->fails_live = 0;
		return 0;
	}
	if (passed) {
		if (++be->passes < cfg.rise)
			return 0;
		be->up = 1;
		be->fails = be->fails_live = 0;
		return 1;
	}
	if (!be->up) {
		be->passes = 0;
		return 0;
	}
	be->fails++;
	be->fails_live += live != 0;
	if (be->fails < cfg.fall)
		return 0;
	be->up = 0;
	be->passes = 0;
	return -1;
}

/*
 * What to do about a failed probe, if we can tell. A 4xx says the
 * server runs but will not answer GET PATH: most often a service with no
 * /health (python3 -m http.server answers 404), and the first thing a
 * newcomer meets. A 5xx or a refused connect says nothing about -H, nor
 * do 408 (the check was too slow) and 429 (too many requests).
 */
static const char *
hint(const struct check *k)
{
	static char text[HEALTH_REQUEST_MAX];

	if (k->status < 400 || k->status > 499 || k->status == 408 ||
	    k->status == 429)
		return "";	/* too slow, too many: not the wrong path */
	snprintf(text, sizeof(text), " (the server runs, but GET %s is not "
	    "its health check: try -H / or -H PATH)", cfg.health_path);
	return text;
}

/*
 * The state change the rule made, in words on stderr. probed: the last
 * result came from be's probe (not from live traffic).
 */
static void
log_change(struct backend *be, int change, const char *why, int probed,
    double now)
{
	int n = be->fails, live = be->fails_live;
	const char *h = probed ? hint(&be->check) : "";

	if (change > 0) {
		log_event("%s UP after %d passed check%s, down for %.1f s",
		    be->addr.str, cfg.rise, plural(cfg.rise), now - be->since);
		snprintf(be->why, sizeof(be->why), "%d check%s passed",
		    cfg.rise, plural(cfg.rise));
	} else if (live == 0) {
		log_event("%s DOWN after %d failed check%s: %s%s", be->addr.str,
		    n, plural(n), why, h);
	} else if (live == n) {
		log_event("%s DOWN after %d failed connect%s by live traffic: "
		    "%s", be->addr.str, n, plural(n), why);
	} else {
		log_event("%s DOWN after %d failures (%d check%s, %d request%s)"
		    ": %s%s", be->addr.str, n, n - live, plural(n - live), live,
		    plural(live), why, h);
	}
	be->since = now;
}

/* -w N: set by workers.c (NULL, 0 in one process). */
void	(*health_tell)(struct backend *be, const char *why);
void	(*health_changed)(void);
int	health_off;

/*
 * A result for be through the rule, and into the logs: in one process,
 * or in the master of workers (which probes for all of them, and is told
 * of their live failures).
 */
void
health_judge(struct backend *be, int passed, int live, const char *why)
{
	int change = health_rule(be, passed, live);

	if (change != 0)
		log_change(be, change, why, !live, loop_now());
	if (change > 0)		/* up again: a slow start, if it has one */
		be->ramp_from = be->slowstart_ms > 0 ? loop_now() : 0;
	if (!passed && !be->up)		/* down: the latest reason */
		snprintf(be->why, sizeof(be->why), "%s", why);
	if (change != 0 && health_changed != NULL)
		health_changed();	/* the master tells its workers */
}

/*
 * A result for be, from its probe (live 0) or from live traffic that
 * could not connect (live 1). A worker does not judge: it tells the
 * master, so that every worker sees one state. (Whether the retry of
 * that live request may land on be again is the balancer's business:
 * conn.c tells balance_failed() itself.)
 */
void
health_result(struct backend *be, int passed, int live, const char *why)
{
	if (live) {
		be->failures++;
		if (health_tell != NULL) {
			health_tell(be, why);
			return;
		}
	}
	health_judge(be, passed, live, why);
}

/*
 * "HTTP/1.1 200 OK" (the CR, if any, still on the end): the status, or
 * -1 if this is not a status line.
 */
int
health_status_line(const char *s, size_t n)
{
	size_t i;

	if (n > 0 && s[n - 1] == '\r')
		n--;
	if (n < 12 || memcmp(s, "HTTP/1.", 7) != 0 ||
	    (s[7] != '0' && s[7] != '1') || s[8] != ' ' ||
	    (n > 12 && s[12] != ' ') || s[9] < '1' || s[9] > '5')
		return -1;
	for (i = 10; i < 12; i++)
		if (s[i] < '0' || s[i] > '9')
			return -1;
	return (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
}

static const char *const stage_name[] = { "IDLE", "CONNECT", "SEND", "READ" };

/* The probe moves to stage `to`; under -v one line says so, and why. */
static void
probe_to(struct backend *be, enum check_stage to, const char *why)
{
	struct check *k = &be->check;
	char who[300];

	if (cfg.verbose && k->stage != to) {
		snprintf(who, sizeof(who), "%s check ", be->addr.str);
		log_move(who, stage_name[k->stage], stage_name[to], why);
	}
	k->stage = to;
}

/* The probe is over: record it, close it, and wait for the next one. */
static void
probe_finish(struct backend *be, int passed, const char *fmt, ...)
{
	struct check *k = &be->check;
	double now = loop_now();
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(k->last, sizeof(k->last), fmt, ap);
	va_end(ap);
	if (k->fd >= 0) {
		loop_unwatch(k->fd);
		close(k->fd);
		k->fd = -1;
	}
	probe_to(be, CHECK_IDLE, k->last);
	k->last_ok = passed;
	k->last_ms = (now - k->started) * 1000;
	if (passed)
		k->passed++;
	else
		k->failed++;
	health_result(be, passed, 0, k->last);
	timer_arm(&k->timer, k->next_at > now ? k->next_at : now);
}

/*
 * The probe's request, once per backend. main.c keeps -H to 200
 * characters and addr.c a HOST:PORT to 270, so it always fits; if it
 * ever did not, the check would fail every time, loudly, not overrun.
 */
static void
probe_request(struct backend *be)
{
	struct check *k = &be->check;
	size_t pre = 0, room;
	int n;

	/*
	 * A backend that wants a PROXY header (,send-proxy) gets one on its
	 * probes too: LOCAL (v2) or UNKNOWN (v1), which the protocol keeps
	 * for connections the proxy makes on its own, health checks first.
	 */
	if (be->send_proxy == 2)
		pre = pp_build_v2(NULL, NULL, k->request, sizeof(k->request));
	else if (be->send_proxy == 1)
		pre = pp_build_v1(NULL, NULL, k->request, sizeof(k->request));
	room = sizeof(k->request) - pre;
	n = snprintf(k->request + pre, room, "GET %s HTTP/1.1\r\n"
	    "Host: %s\r\nUser-Agent: lb-health-check\r\nConnection: close"
	    "\r\n\r\n", cfg.health_path, be->addr.str);
	k->request_len = n > 0 && (size_t)n < room ? (int)pre + n : 0;
}

/* CHECK_SEND, writable: the request, as much as the socket takes. */
static void
probe_send(struct backend *be)
{
	struct check *k = &be->check;
	size_t n = (size_t)k->request_len;
	ssize_t w;

	if (n == 0) {
		probe_finish(be, 0, "health check request too long");
		return;
	}
	w = write(k->fd, k->request + k->sent, n - k->sent);
	if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
		probe_finish(be, 0, "send: %s", strerror(errno));
		return;
	}
	if (w > 0)
		k->sent += (size_t)w;
	if (k->sent == n) {
		probe_to(be, CHECK_READ, "request sent");	/* read it next */
	}
}

/* CHECK_READ, readable: wait for the status line, then judge it. */
static void
probe_read(struct backend *be)
{
	struct check *k = &be->check;
	char *nl;
	ssize_t r = read(k->fd, k->line + k->got, sizeof(k->line) - k->got);
	int status;

	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (r < 0) {
		probe_finish(be, 0, "read: %s", strerror(errno));
		return;
	}
	if (r == 0) {
		probe_finish(be, 0, k->got == 0 ? "closed without answering" :
		    "closed before a whole status line");
		return;
	}
	k->got += (size_t)r;
	if ((nl = memchr(k->line, '\n', k->got)) == NULL) {
		if (k->got == sizeof(k->line))
			probe_finish(be, 0, "no status line");
		return;
	}
	status = health_status_line(k->line, (size_t)(nl - k->line));
	k->status = status > 0 ? status : 0;
	if (status < 0)
		probe_finish(be, 0, "no status line");
	else
		probe_finish(be, status >= 200 && status < 400, "status %d",
		    status);
}

/* Every stage's events come here. */
static void
on_probe(void *arg, int fd, int events)
{
	struct backend *be = arg;
	struct check *k = &be->check;
	int err;

	(void)fd;
	(void)events;
	switch (k->stage) {
	case CHECK_CONNECT:
		if ((err = addr_connect_error(k->fd)) != 0) {
			probe_connect(be, err);	/* the next address, or fail */
			return;
		}
		probe_to(be, CHECK_SEND, "connected");
		probe_send(be);
		break;
	case CHECK_SEND:
		probe_send(be);
		break;
	case CHECK_READ:
		probe_read(be);
		break;
	case CHECK_IDLE:
		break;
	}
	if (k->fd >= 0)
		loop_watch(k->fd, k->stage == CHECK_READ ? EV_READ : EV_WRITE,
		    on_probe, be);
}

/*
 * The balancer, not the backend, is out of descriptors: that says
 * nothing about the backend's health, so it is not a result. Try again
 * at the next interval, and say so.
 */
static void
probe_skip(struct backend *be)
{
	struct check *k = &be->check;
	double now = loop_now();

	log_event("%s check skipped: lb is out of descriptors", be->addr.str);
	probe_to(be, CHECK_IDLE, "skipped");
	timer_arm(&k->timer, k->next_at > now ? k->next_at : now);
}

/*
 * Connect to k->ai, or (failed: the errno of the connect to k->ai) to
 * the next address that works.
 */
static void
probe_connect(struct backend *be, int failed)
{
	struct check *k = &be->check;

	if (addr_connect_next(&k->ai, &k->fd, failed) < 0) {
		if (errno == EMFILE || errno == ENFILE)
			probe_skip(be);
		else
			probe_finish(be, 0, "connect: %s", strerror(errno));
		return;
	}
	probe_to(be, CHECK_CONNECT, failed != 0 ? "the next address" : "");
	loop_watch(k->fd, EV_WRITE, on_probe, be);
}

/* The timer: time for the next probe, or the probe in flight is late. */
static void
on_probe_timer(void *arg)
{
	struct backend *be = arg;
	struct check *k = &be->check;

	if (k->stage != CHECK_IDLE) {
		probe_finish(be, 0, "timeout after %d ms", cfg.check_ms);
		return;
	}
	k->started = loop_now();
	k->next_at = k->started + cfg.interval_ms / 1e3;
	k->sent = k->got = 0;
	k->status = 0;
	k->ai = be->addrs;
	probe_request(be);	/* a reload may have changed ,send-proxy */
	timer_arm_ms(&k->timer, cfg.check_ms);
	probe_connect(be, 0);
}

/* be's probe, from nothing: the first one at `at`. */
void
health_begin(struct backend *be, double at)
{
	struct check *k = &be->check;

	if (health_off)
		return;		/* a worker: the master probes */
	k->fd = -1;
	k->stage = CHECK_IDLE;
	k->last_ok = -1;
	snprintf(k->last, sizeof(k->last), "not yet checked");
	probe_request(be);
	be->since = loop_now();
	timer_init(&k->timer, on_probe_timer, be);
	k->next_at = at;
	timer_arm(&k->timer, at);
}

/* be is no longer probed: the probe in flight, if any, is closed. */
void
health_end(struct backend *be)
{
	struct check *k = &be->check;

	if (health_off || k->timer.fn == NULL)
		return;		/* never probed (health_begin() not run) */
	timer_disarm(&k->timer);
	if (k->fd >= 0) {
		loop_unwatch(k->fd);
		close(k->fd);
		k->fd = -1;
	}
	k->stage = CHECK_IDLE;
}

/*
 * Every backend gets a probe timer; the first probes are spread over
 * one interval, so a hundred backends are not all probed in the same
 * millisecond (and do not stay in step afterwards).
 */
void
health_start(void)
{
	double now = loop_now();
	int i;

	for (i = 0; i < nbackends; i++)
		if (backends[i].slot == BE_LIVE)
			health_begin(&backends[i], now +
			    cfg.interval_ms / 1e3 * i / nbackends);
}

void
health_stop(void)
{
	int i;

	for (i = 0; i < nbackends; i++)
		if (backends[i].slot != BE_FREE)
			health_end(&backends[i]);
}

/*
 * Retry-After for a 503: whole seconds until the probe that could bring
 * a backend back, at the soonest. A down backend needs RISE - passes more
 * passes, one per interval, counting the probe in flight (passing probes
 * are quick; a probe that hangs until its timeout delays the next, so
 * this is a hint, and a low one). If none is down (all refused live
 * traffic but are not down yet), its next probe. Drained backends do
 * not count: they take no requests whatever their probes say.
 */
int
health_retry_after(double now)
{
	double soonest = now, interval = cfg.interval_ms / 1e3, t;
	int i, secs, seen = 0;

	for (i = 0; i < nbackends; i++) {
		const struct backend *be = &backends[i];
		const struct check *k = &be->check;

		if (!backend_usable(be))
			continue;	/* drained or gone: no help coming */
		t = k->stage == CHECK_IDLE ? k->timer.when : k->started;
		if (!be->up)
			t += (cfg.rise - be->passes - 1) * interval;
		if (!seen++ || t < soonest)
			soonest = t;
	}
	t = soonest - now;
	if (t > 86400)
		return 86400;
	secs = (int)t;
	secs += secs < t;	/* rounded up */
	return secs < 1 ? 1 : secs;
}
