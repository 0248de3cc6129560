/*
 * main.c - final/lb: options, signals, and the loop that runs it all.
 *
 *   lb -l [HOST:]PORT -b HOST:PORT [-b HOST:PORT ...] [options]
 *
 * Modules: loop.c (the loop, timers, listeners) with mux_select.c and
 * mux_poll.c (its waiting, -e), conn.c (client connections), buf.c
 * (buffers on demand), backend.c (the table of backends), health.c
 * (active checks, up and down), balance.c (which backend takes a
 * request), bconn.c (connections to backends, idle ones kept), roster.c
 * (which backends there are: -f, SIGHUP), status.c and report.c (the
 * status page), http.c (parsing and framing), addr.c (addresses and
 * sockets), log.c (logs), workers.c (-w: a master and its workers),
 * notify.c (telling systemd when lb is ready, reloads, stops).
 */
#include <sys/types.h>
#include <sys/resource.h>

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "conn.h"
#include "health.h"
#include "log.h"
#include "loop.h"
#include "notify.h"
#include "backend.h"
#include "roster.h"
#include "status.h"
#include "workers.h"

#define CLIENTS_MAX	1000000	/* -m, -p: with -e poll */
/*
 * getopt(): a letter with a colon takes a value; the first colon asks
 * getopt() to tell a missing value (':') from an unknown option ('?').
 */
#define OPTIONS		":hl:b:f:B:H:i:R:F:oa:t:x:p:m:P:w:e:v"

/* The defaults, as -h shows them whatever the command line said. */
static const struct config defaults = {
	.connect_ms = 2000,
	.head_ms = 10000,
	.response_ms = 30000,
	.idle_ms = 15000,
	.drain_ms = 10000,
	.check_ms = 1000,
	.pool_ms = 4000,
	.tunnel_ms = 3600000,
	.queue_ms = 5000,
	.interval_ms = 2000,
	.rise = 2,
	.fall = 3,
	.health_path = "/health",
	.retries = 2,
	.pool_size = 1024,
	.max_conns = 400,
	.workers = 1,
};

/* -t NAME=MS: each timeout, the field it sets, and what -h says of it. */
static const struct timeout {
	char	*name;		/* getsubopt() wants char *, not const */
	size_t	field;		/* offsetof(struct config, ...) */
	const char *what;
} timeouts[] = {
	{ "connect", offsetof(struct config, connect_ms),
	    "connecting to a backend" },
	{ "head", offsetof(struct config, head_ms),
	    "a whole request head, else 408" },
	{ "response", offsetof(struct config, response_ms),
	    "backend silence, else 504" },
	{ "idle", offsetof(struct config, idle_ms),
	    "an idle keep-alive client" },
	{ "drain", offsetof(struct config, drain_ms),
	    "in-flight requests on SIGTERM" },
	{ "check", offsetof(struct config, check_ms), "one health check" },
	{ "pool", offsetof(struct config, pool_ms),
	    "an idle pooled connection" },
	{ "tunnel", offsetof(struct config, tunnel_ms),
	    "a tunnel (WebSocket) silent both ways" },
	{ "queue", offsetof(struct config, queue_ms),
	    "a request waiting for a backend slot (every usable backend at "
	    "its maxconn); then 503 with Retry-After" },
};
#define NTIMEOUTS	(sizeof(timeouts) / sizeof(timeouts[0]))

/* The options that take a whole number: the field each sets, its range. */
static const struct number_opt {
	int	opt;
	const char *what;	/* what the message says it wants */
	int	lo, hi;
	size_t	field;
} numbers[] = {
	{ 'i', "milliseconds", 1, 3600000, offsetof(struct config,
	    interval_ms) },
	{ 'R', "a number", 1, 100, offsetof(struct config, rise) },
	{ 'F', "a number", 1, 100, offsetof(struct config, fall) },
	{ 'x', "a number", 0, MAX_BACKENDS, offsetof(struct config, retries) },
	{ 'p', "a number", 0, CLIENTS_MAX, offsetof(struct config,
	    pool_size) },
	{ 'm', "a number", 1, CLIENTS_MAX, offsetof(struct config,
	    max_conns) },
};

/* -P and -B: the words each takes, and what each means (NULL-ended). */
struct word {
	const char *word;
	int	value;
};

static const struct word forwardeds[] = {
	{ "x-forwarded", FWD_X }, { "forwarded", FWD_RFC7239 },
	{ "none", FWD_NONE }, { NULL, 0 }
};

static const struct word balancers[] = {
	{ "rr", BALANCE_RR }, { "least", BALANCE_LEAST }, { NULL, 0 }
};

struct config cfg;

static int sig_pipe[2] = { -1, -1 };
static int stop_now;
static struct timer drain_timer;

/* cfg's int field at offset off (offsetof(struct config, ...)). */
static int *
cfg_field(size_t off)
{
	return (int *)((char *)&cfg + off);
}

/* The same field's default. */
static int
default_of(size_t off)
{
	return *(const int *)((const char *)&defaults + off);
}

/* The synopsis, and where lb listens and what it balances over. */
static void
usage_where(FILE *f)
{
	fprintf(f,
	    "usage: lb [-h] [-l [HOST:]PORT[,proxy]]\n"
	    "          -b " BACKEND_SYNTAX " [-b ...]\n"
	    "          [-f FILE] [-B rr|least] [-w N|auto]\n"
	    "          [-H PATH] [-i MS] [-R N] [-F N] [-o] [-a [HOST:]PORT]\n"
	    "          [-t NAME=MS,...] [-x N] [-p N] [-m N] [-P HEADERS]\n"
	    "          [-e select|poll] [-v]\n"
	    "  -l [HOST:]PORT[,proxy]\n"
	    "                  listen here (default 127.0.0.1:8080; PORT alone: "
	    "127.0.0.1);\n"
	    "                  proxy: each client first sends a PROXY protocol "
	    "header (v1 or\n"
	    "                  v2) saying who it is, from whatever is in front "
	    "(default off)\n"
	    "  -b " BACKEND_SYNTAX "\n"
	    "                  a backend; repeat for more (up to %d), used in "
	    "turn:\n"
	    "                  weight N: N requests for each one a weight 1 "
	    "gets, spread out\n"
	    "                  (smooth weighted round robin; N is 1-%d, "
	    "default 1);\n"
	    "                  maxconn N: at most N requests in flight to it "
	    "(1-%d,\n"
	    "                  default none); with every one full, requests wait "
	    "(-t queue);\n"
	    "                  slowstart MS: once it comes up, its weight grows "
	    "from a tenth\n"
	    "                  to all of it over MS, 0-%d (default 0: at "
	    "once);\n"
	    "                  drain: no new requests (in-flight ones "
	    "finish), still checked;\n"
	    "                  send-proxy, send-proxy-v2: each new connection "
	    "to it starts\n"
	    "                  with a PROXY header (v1, v2) naming the client "
	    "(default off)\n"
	    "  -f FILE         backends from FILE too, one a line as -b takes "
	    "them, with #\n"
	    "                  comments; read again on SIGHUP (kill -HUP): lb "
	    "changes to its\n"
	    "                  list, dropping no connection; a bad file is "
	    "logged and ignored\n"
	    "  -B rr|least     how a request picks among the backends up: rr, "
	    "smooth weighted\n"
	    "                  round robin; least, the fewest requests in "
	    "flight for its\n"
	    "                  weight, ties in turn (default rr)\n",
	    MAX_BACKENDS, WEIGHT_MAX, MAXCONN_MAX, SLOWSTART_MAX);
}

/* How lb checks its backends, and where it shows what it found. */
static void
usage_health(FILE *f)
{
	const struct config *d = &defaults;

	fprintf(f,
	    "  -H PATH         health check: GET PATH, 2xx or 3xx passes "
	    "(default %s)\n"
	    "  -i MS           check every backend, up or down, every MS "
	    "(default %d)\n"
	    "  -R N            passed checks in a row that bring a backend up, "
	    "1-100\n                  (default %d)\n"
	    "  -F N            failures in a row that take a backend down, "
	    "1-100\n                  (default %d)\n"
	    "  -o              fail open: with every backend down, try them "
	    "anyway\n"
	    "                  instead of answering 503 (default off)\n"
	    "  -a [HOST:]PORT  serve the status page here (default off; a bare "
	    "PORT\n"
	    "                  means 127.0.0.1)\n",
	    d->health_path, d->interval_ms, d->rise, d->fall);
}

/*
 * text from column col (where the line is), its words wrapped at 80
 * columns, each line after the first indented to col; then tail (the
 * default) on the last line if it fits there, else on one of its own.
 */
static void
wrapped(FILE *f, int col, const char *text, const char *tail)
{
	int at = col, len;

	while (*text != '\0') {
		len = (int)strcspn(text, " ");
		if (at > col && at + 1 + len > 80) {
			fprintf(f, "\n%*s", col, "");
			at = col;
		}
		at += fprintf(f, "%s%.*s", at > col ? " " : "", len, text);
		text += len + (text[len] == ' ');
	}
	if (at + 1 + (int)strlen(tail) > 80)
		fprintf(f, "\n%*s%s\n", col, "", tail);
	else
		fprintf(f, " %s\n", tail);
}

/* -t, from the table: "connect=MS", its text and its default. */
static void
usage_timeouts(FILE *f)
{
	char name[16], dflt[32];
	size_t i;

	fprintf(f, "  -t NAME=MS,...  timeouts in milliseconds:\n");
	for (i = 0; i < NTIMEOUTS; i++) {
		const struct timeout *t = &timeouts[i];

		snprintf(name, sizeof(name), "%s=MS", t->name);
		snprintf(dflt, sizeof(dflt), "(default %d)",
		    default_of(t->field));
		fprintf(f, "%20s%-13s", "", name);
		wrapped(f, 33, t->what, dflt);
	}
}

/* How much lb tries and holds, how it runs, and what it tells. */
static void
usage_limits(FILE *f)
{
	const struct config *d = &defaults;

	fprintf(f,
	    "  -x N            other backends to try for one request "
	    "(default %d)\n"
	    "  -p N            idle connections kept per backend, at most; 0: no "
	    "reuse\n"
	    "                  (default %d)\n"
	    "  -m N            clients at once (default %d; with select, %d "
	    "at most)\n"
	    "  -P HEADERS      what the backend is told of the request: "
	    "x-forwarded\n"
	    "                  (X-Forwarded-For appended, -Proto and -Host set), "
	    "forwarded\n"
	    "                  (RFC 7239 Forwarded appended) or none "
	    "(default x-forwarded)\n"
	    "  -w N|auto       worker processes serving clients, 1-%d, or one "
	    "a core;\n"
	    "                  with more than 1, a master process checks "
	    "health and serves\n"
	    "                  the status page for all of them (default 1: "
	    "one process)\n"
	    "  -e select|poll  how the loop waits: select() (default), or "
	    "poll(), which has\n"
	    "                  no FD_SETSIZE: -m up to what the system lets "
	    "lb open\n"
	    "  -v              trace: each client connection's and each "
	    "backend's state\n"
	    "                  changes, one line each on stderr (default off)\n"
	    "  -h              show this help\n",
	    d->retries, d->pool_size, d->max_conns, loop_limit_of("select"),
	    WORKERS_MAX);
}

/* What the two logs' lines hold. */
static void
usage_logs(FILE *f)
{
	fprintf(f,
	    "\n"
	    "Access log (stdout), a line a request:\n"
	    "  time client method target backend status bytes ms backend_ms "
	    "end flags\n"
	    "  end: -- as it should, else who ended it and when:\n"
	    "    who:  C client left, S backend failed, P lb refused, R lb "
	    "out of memory\n"
	    "          or sockets, c client too slow, s backend too slow, t "
	    "tunnel silent,\n"
	    "          K drain deadline, I lb found a bug in itself\n"
	    "    when: R request, Q queued (maxconn), C connecting, H response "
	    "head,\n"
	    "          D response body, T tunnel\n"
	    "  flags: -, reused (a pooled connection), retries=N, queued=MS "
	    "(waited for a\n"
	    "         free backend slot)\n"
	    "Event log (stderr): time lb: what happened\n");
}

/* Every option with its default (defaults[], whatever the command line). */
static void
usage(FILE *f)
{
	usage_where(f);
	usage_health(f);
	usage_timeouts(f);
	usage_limits(f);
	usage_logs(f);
}

/* A whole number in [lo, hi], or -1. */
static int
number(const char *s, int lo, int hi, int *out)
{
	char *end;
	long n;

	if (s == NULL || s[0] < '0' || s[0] > '9')
		return -1;
	errno = 0;
	n = strtol(s, &end, 10);
	if (*end != '\0' || errno != 0 || n < lo || n > hi)
		return -1;
	*out = (int)n;
	return 0;
}

/* A mistake on the command line: one line that names it, usage, exit 2. */
static void
usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "lb: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	usage(stderr);
	exit(2);
}

static void
bad_arg(const char *msg, const char *opt, const char *val)
{
	usage_error("bad %s '%s': %s", opt, val, msg);
}

/* optarg is a whole number in [lo, hi], stored in *out, or we stop here. */
static void
number_arg(int opt, const char *what, int lo, int hi, int *out)
{
	char msg[64], name[3] = { '-', (char)opt, '\0' };

	if (number(optarg, lo, hi, out) < 0) {
		snprintf(msg, sizeof(msg), "want %s from %d to %d", what, lo,
		    hi);
		bad_arg(msg, name, optarg);
	}
}

/* -t connect=2000,response=5000: getsubopt() is POSIX's parser for it. */
static void
timeouts_arg(void)
{
	char *names[NTIMEOUTS + 1], copy[256], *arg = copy, *value;
	char want[160] = "want NAME=MS,... with NAME one of ";
	size_t i;
	int k;

	for (i = 0; i < NTIMEOUTS; i++)
		names[i] = timeouts[i].name;
	names[NTIMEOUTS] = NULL;
	snprintf(copy, sizeof(copy), "%s", optarg);
	while (*arg != '\0') {
		if ((k = getsubopt(&arg, names, &value)) >= 0 &&
		    number(value, 1, 86400000, cfg_field(
		    timeouts[k].field)) == 0)
			continue;
		for (i = 0; i < NTIMEOUTS; i++)
			snprintf(want + strlen(want), sizeof(want) -
			    strlen(want), "%s%s", i > 0 ? ", " : "",
			    timeouts[i].name);
		bad_arg(want, "-t", optarg);
	}
}

/* A path we can put in a request line as it is. */
static int
health_path_ok(const char *p)
{
	size_t i, n = strlen(p);

	if (p[0] != '/' || n > 200)
		return 0;
	for (i = 0; i < n; i++)
		if (p[i] <= ' ' || p[i] > '~')
			return 0;
	return 1;
}

/*
 * -w auto: the cores online. POSIX has no name for that; the usual one
 * (_SC_NPROCESSORS_ONLN, in glibc, musl and the BSDs) is used where it
 * exists, else -w auto is refused and a number must be given.
 */
static int
cores(void)
{
	long n = -1;

#ifdef _SC_NPROCESSORS_ONLN
	n = sysconf(_SC_NPROCESSORS_ONLN);
#endif
	if (n < 1) {
		fprintf(stderr, "lb: -w auto: this system does not say how many "
		    "cores it has; give -w N\n");
		exit(2);
	}
	return n > WORKERS_MAX ? WORKERS_MAX : (int)n;
}

/* -l and -a name one address each: a second one is a mistake. */
static void
only_once(const char *opt, const char **seen)
{
	if (*seen != NULL)
		usage_error("%s given twice: '%s', then '%s'", opt, *seen,
		    optarg);
	*seen = optarg;
}

/* What the command line named beyond cfg, for the checks at its end. */
struct given {
	const char *l, *a;	/* -l, -a: each at most once */
};

/* -i, -R, -F, -x, -p, -m, from the table: 1 if c was one of them. */
static int
number_option(int c)
{
	size_t i;

	for (i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++)
		if (numbers[i].opt == c) {
			number_arg(c, numbers[i].what, numbers[i].lo,
			    numbers[i].hi, cfg_field(numbers[i].field));
			return 1;
		}
	return 0;
}

/*
 * -l [HOST:]PORT[,proxy]. An address has no comma (an IPv6 one is in
 * brackets), so the first comma ends it.
 */
static void
listen_option(const char *arg)
{
	char addr[300];
	const char *comma = strchr(arg, ','), *why;
	size_t n = comma != NULL ? (size_t)(comma - arg) : strlen(arg);

	if (comma != NULL && strcmp(comma, ",proxy") != 0)
		bad_arg("unknown option (want [HOST:]PORT[,proxy])", "-l", arg);
	if (n >= sizeof(addr))
		bad_arg("too long", "-l", arg);
	memcpy(addr, arg, n);
	addr[n] = '\0';
	if (addr_parse(addr, 1, &cfg.listen, &why) < 0)
		bad_arg(why, "-l", arg);
	cfg.accept_proxy = comma != NULL;
}

/* -l, -a, -b, -f: where lb listens, and what it balances over. */
static int
address_option(int c, struct given *g)
{
	const char *why;

	switch (c) {
	case 'l':
		only_once("-l", &g->l);
		listen_option(optarg);
		return 1;
	case 'a':
		only_once("-a", &g->a);
		if (addr_parse(optarg, 1, &cfg.status, &why) < 0)
			bad_arg(why, "-a", optarg);
		cfg.has_status = 1;
		return 1;
	case 'b':
		if (backend_add(optarg, &why) < 0)
			bad_arg(why, "-b", optarg);
		return 1;
	case 'f':
		if (cfg.backend_file != NULL)
			usage_error("-f given twice");
		cfg.backend_file = optarg;
		return 1;
	}
	return 0;
}

/* optarg, one of words[] (want says which), as its value; else we stop. */
static int
word_arg(const struct word *words, const char *opt, const char *want)
{
	for (; words->word != NULL; words++)
		if (strcmp(optarg, words->word) == 0)
			return words->value;
	bad_arg(want, opt, optarg);
	return -1;
}

/* Every other option: how lb checks, runs and tells; -h; mistakes. */
static void
other_option(int c)
{
	switch (c) {
	case 'h':
		usage(stdout);
		exit(0);
	case 'H':
		if (!health_path_ok(optarg))
			bad_arg("want a path starting with /, at most 200 "
			    "visible characters", "-H", optarg);
		cfg.health_path = optarg;
		break;
	case 't':
		timeouts_arg();
		break;
	case 'w':
		if (strcmp(optarg, "auto") == 0)
			cfg.workers = cores();
		else
			number_arg('w', "a number or auto", 1, WORKERS_MAX,
			    &cfg.workers);
		break;
	case 'P':
		cfg.forwarded = (enum forwarded)word_arg(forwardeds, "-P",
		    "want x-forwarded, forwarded or none");
		break;
	case 'B':
		cfg.balancer = (enum balancer)word_arg(balancers, "-B",
		    "want rr or least");
		break;
	case 'e':
		if (loop_use(optarg) < 0)
			bad_arg("want select or poll", "-e", optarg);
		break;
	case 'o':
		cfg.fail_open = 1;
		break;
	case 'v':
		cfg.verbose = 1;
		break;
	case ':':
		usage_error("option -%c needs a value", optopt);
		break;
	default:
		usage_error("unknown option '-%c'", optopt);
	}
}

/* After the last option: what only the whole command line can tell. */
static void
check_args(const struct given *g)
{
	char err[512], m[16];

	if (cfg.backend_file != NULL &&
	    roster_load(cfg.backend_file, 1, err, sizeof(err)) < 0) {
		fprintf(stderr, "lb: bad -f: %s\n", err);
		exit(2);
	}
	if (nbackends == 0)
		usage_error("missing -b HOST:PORT or -f FILE (a backend)");
	/* The status page and the traffic cannot share one address. */
	if (cfg.has_status && strcmp(cfg.status.str, cfg.listen.str) == 0)
		usage_error("-a %s is the -l address too%s", cfg.status.str,
		    g->l == NULL ? " (-l's default)" : "");
	snprintf(m, sizeof(m), "%d", cfg.max_conns);
	if (cfg.max_conns > loop_limit())
		bad_arg("select() watches descriptors below FD_SETSIZE only: "
		    "use -e poll for more clients", "-m", m);
}

static void
parse_args(int argc, char **argv)
{
	struct given given = { NULL, NULL };
	const char *why;
	int c;

	cfg = defaults;
	addr_parse("8080", 1, &cfg.listen, &why);
	while ((c = getopt(argc, argv, OPTIONS)) != -1)
		if (!number_option(c) && !address_option(c, &given))
			other_option(c);
	if (optind < argc)
		bad_arg("unexpected argument", "argument", argv[optind]);
	check_args(&given);
}

/*
 * -m clients take two descriptors each (the client, its backend), and
 * lb a few of its own. select() can watch no more than its FD_SETSIZE
 * whatever the system allows (-m was checked against that); poll() can,
 * so the process's soft limit goes up to what -m needs, as far as the
 * hard limit lets it. When even that is short, the event log says so.
 */
static void
fit_descriptors(void)
{
	struct rlimit rl;
	rlim_t need = 2 * (rlim_t)cfg.max_conns + 64, was;

	if (need > (rlim_t)loop_limit())
		need = (rlim_t)loop_limit();
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur >= need)
		return;
	was = rl.rlim_cur;
	rl.rlim_cur = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need ?
	    rl.rlim_max : need;
#ifdef OPEN_MAX
	/* macOS: past OPEN_MAX, setrlimit() says EINVAL, whatever the hard limit. */
	if (rl.rlim_cur > OPEN_MAX)
		rl.rlim_cur = OPEN_MAX;
#endif
	if (rl.rlim_cur > was && setrlimit(RLIMIT_NOFILE, &rl) == 0)
		log_event("descriptor limit raised from %llu to %llu for -m %d",
		    (unsigned long long)was, (unsigned long long)rl.rlim_cur,
		    cfg.max_conns);
	else
		rl.rlim_cur = was;
	if (rl.rlim_cur < need)
		log_event("-m %d needs about %llu descriptors, and lb may open "
		    "%llu (the hard limit, ulimit -Hn): past about %llu clients,"
		    " new ones get a 503", cfg.max_conns, (unsigned long long)need,
		    (unsigned long long)rl.rlim_cur, (unsigned long long)
		    (rl.rlim_cur > 64 ? (rl.rlim_cur - 64) / 2 : 0));
}

/* What lb serves, and how it checks: the event log's first lines. */
static void
announce(void)
{
	char list[MAX_BACKENDS * 80], opts[128];
	size_t n = 0;
	int i;

	list[0] = '\0';
	for (i = 0; i < nbackends && n < sizeof(list); i++) {
		backend_options(&backends[i], opts, sizeof(opts));
		n += (size_t)snprintf(list + n, sizeof(list) - n, " %s%s",
		    backends[i].addr.str, opts);
	}
	log_event("listening on %s%s, balancing over%s%s", cfg.listen.str,
	    cfg.accept_proxy ? " (a PROXY header first)" : "", list,
	    cfg.balancer == BALANCE_LEAST ? " (-B least: the fewest requests "
	    "in flight first)" : "");
	log_event("checking GET %s on each every %d ms (down after %d "
	    "failures, up after %d passes)", cfg.health_path, cfg.interval_ms,
	    cfg.fall, cfg.rise);
	if (cfg.has_status)
		log_event("status page on http://%s/", cfg.status.str);
	if (cfg.workers > 1)
		log_event("%d workers (-w), each up to %d clients (-m); this "
		    "master process (pid %ld) checks health", cfg.workers,
		    cfg.max_conns, (long)getpid());
}

/*
 * The signal handler only writes a byte that names the signal (h: HUP,
 * c: a worker ended, s: a stop); the loop does the work.
 */
static void
on_signal(int sig)
{
	int saved = errno;
	ssize_t w = write(sig_pipe[1], sig == SIGHUP ? "h" : sig == SIGCHLD ?
	    "c" : "s", 1);

	(void)w;	/* a full pipe: the same news is already on its way */
	errno = saved;
}

static void
drain_over(void *arg)
{
	(void)arg;
	if (workers_count() > 0) {
		log_event("drain deadline passed: %d worker(s) still running, "
		    "killed", workers_running());
		workers_kill();
	} else
		log_event("drain deadline passed: closing %d connection(s)",
		    conn_count());
	stop_now = 1;
}

/*
 * READY=1 for systemd (notify.c), with what lb serves for `systemctl
 * status` to show, and why it says so now (after a reload: how it went).
 */
static void
ready(const char *why)
{
	char workers[32] = "";
	int i, n = 0;

	for (i = 0; i < nbackends; i++)
		n += backends[i].slot == BE_LIVE;
	if (workers_count() > 0)
		snprintf(workers, sizeof(workers), " with %d workers",
		    workers_count());
	notify("READY=1\nSTATUS=serving on %s%s, %d backend%s%s%s",
	    cfg.listen.str, workers, n, n == 1 ? "" : "s",
	    why[0] != '\0' ? "; " : "", why);
}

/*
 * SIGHUP: read -f FILE again. Backends change (roster_load() says how);
 * no client connection is touched. systemd hears RELOADING=1 before and
 * READY=1 after, however it went.
 */
static void
reload(void)
{
	char err[512], why[600];

	notify_reloading("reloading on SIGHUP");
	if (cfg.backend_file == NULL) {
		log_event("SIGHUP: no -f FILE to read again; nothing changed");
		ready("SIGHUP: no -f FILE, nothing changed");
	} else if (roster_load(cfg.backend_file, 0, err, sizeof(err)) < 0) {
		log_event("reload failed, the running backends stay: %s", err);
		snprintf(why, sizeof(why), "reload failed, the running "
		    "backends stay: %s", err);
		ready(why);
	} else {
		workers_broadcast();	/* -w N: every worker, the new set */
		ready("reloaded");
	}
}

/* SIGINT or SIGTERM arrived: stop accepting, finish in-flight requests. */
static void
stop(void)
{
	if (drain_timer.slot >= 0)
		return;		/* already draining */
	if (workers_count() > 0) {
		/* The master: each worker drains; a second more to see it. */
		log_event("stopping: %d worker(s) finishing their connections, "
		    "at most %d ms", workers_running(), cfg.drain_ms);
		notify("STOPPING=1\nSTATUS=stopping: %d worker(s) finishing "
		    "their connections, at most %d ms", workers_running(),
		    cfg.drain_ms);
		workers_stop();
		status_stop();
		timer_arm_ms(&drain_timer, cfg.drain_ms + 1000L);
		return;
	}
	log_event("stopping: finishing %d connection(s), at most %d ms",
	    conn_count(), cfg.drain_ms);
	notify("STOPPING=1\nSTATUS=stopping: finishing %d connection(s), at "
	    "most %d ms", conn_count(), cfg.drain_ms);
	conn_drain();
	status_stop();
	timer_arm_ms(&drain_timer, cfg.drain_ms);
}

/* A byte (or a few) from on_signal(): what arrived, in order. */
static void
on_signal_byte(void *arg, int fd, int events)
{
	char buf[16];
	ssize_t i, r = read(fd, buf, sizeof(buf));

	(void)arg;
	(void)events;
	for (i = 0; i < r; i++) {
		if (buf[i] == 'h')
			reload();
		else if (buf[i] == 'c')
			workers_reap();
		else
			stop();
	}
}

/*
 * The signals, through a pipe of our own. A worker makes a new one (the
 * master's is the master's), leaves SIGHUP to the master (which re-reads
 * -f and tells every worker) and has no workers to wait for.
 */
static int
setup_signals(void)
{
	struct sigaction sa;
	int worker = workers_me() > 0;

	if (sig_pipe[0] >= 0) {
		loop_unwatch(sig_pipe[0]);
		close(sig_pipe[0]);
		close(sig_pipe[1]);
	}
	if (pipe(sig_pipe) < 0 || addr_nonblock(sig_pipe[0]) < 0 ||
	    addr_nonblock(sig_pipe[1]) < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	if (worker)
		sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = worker ? SIG_DFL : on_signal;
	sigaction(SIGCHLD, &sa, NULL);
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (!worker)
		sigaction(SIGHUP, &sa, NULL);
	/*
	 * Now let signals in: a new worker was born with every one blocked
	 * (workers.c); lb itself starts with whatever mask it inherited.
	 */
	sigemptyset(&sa.sa_mask);
	sigprocmask(SIG_SETMASK, &sa.sa_mask, NULL);
	return loop_watch(sig_pipe[0], EV_READ, on_signal_byte, NULL);
}

/* Stopping, and all done: no client left (or, the master: no worker). */
static int
done(void)
{
	if (stop_now)
		return 1;
	if (drain_timer.slot < 0)
		return 0;
	return workers_count() > 0 && workers_me() == 0 ?
	    workers_running() == 0 : conn_count() == 0;
}

/* The loop, until done; then everything is let go. */
static int
serve(void)
{
	while (!done()) {
		if (loop_run_once() < 0) {
			perror("lb: waiting for events (-e)");
			break;
		}
		conn_reap();
		backend_reap();
		workers_publish();
		log_flush();
	}
	conn_free_all();
	buf_free_spares();
	status_stop();
	health_stop();
	roster_free();
	workers_free();		/* the master: waits for every worker */
	log_close();
	loop_unwatch(sig_pipe[0]);
	loop_free();
	close(sig_pipe[0]);
	close(sig_pipe[1]);
	return 0;
}

/* A worker, just forked: its own signals, clients, and the loop. */
static int
worker_run(void)
{
	timer_disarm(&drain_timer);
	status_stop();		/* the status page is the master's */
	notify_forget();	/* systemd hears the master alone */
	if (setup_signals() < 0 || conn_listen(workers_listen_fd(), 1) < 0)
		return 1;
	return serve();
}

int
main(int argc, char **argv)
{
	int lfd;

	parse_args(argc, argv);
	log_init();
	notify_init();
	fit_descriptors();
	timer_init(&drain_timer, drain_over, NULL);
	if (backend_resolve() < 0 || setup_signals() < 0)
		return 1;
	if ((lfd = addr_listen(&cfg.listen, "-l")) < 0 || status_listen() < 0)
		return 1;
	announce();
	if (cfg.workers > 1 ? workers_start(cfg.workers, lfd, worker_run) < 0 :
	    conn_listen(lfd, 0) < 0)
		return 1;
	health_start();
	ready("");
	return serve();
}
