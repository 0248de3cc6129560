/*
 * main.c - final/lb: options, signals, and the loop that runs it all.
 *
 *   lb -l [HOST:]PORT -b HOST:PORT [-b HOST:PORT ...] [options]
 *
 * Modules: loop.c (the loop, timers, listeners) with mux_select.c and
 * mux_poll.c (its waiting, -e), conn.c (client connections), buf.c
 * (buffers on demand), pool.c (backends and their idle connections),
 * health.c (active checks, up and down), status.c and report.c (the
 * status page), http.c (parsing and framing), addr.c (addresses and
 * sockets), log.c (logs), workers.c (-w: a master and its workers).
 */
#include <sys/types.h>
#include <sys/resource.h>

#include <errno.h>
#include <limits.h>
#include <signal.h>
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
#include "pool.h"
#include "status.h"
#include "workers.h"

#define CLIENTS_MAX	1000000	/* -m, -p: with -e poll */

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
	.interval_ms = 2000,
	.rise = 2,
	.fall = 3,
	.health_path = "/health",
	.retries = 2,
	.pool_size = 1024,
	.max_conns = 400,
	.workers = 1,
};

struct config cfg;

static int sig_pipe[2] = { -1, -1 };
static int stop_now;
static struct timer drain_timer;

static void
usage(FILE *f)
{
	const struct config *d = &defaults;

	fprintf(f,
	    "usage: lb [-h] [-l [HOST:]PORT] -b HOST:PORT[,weight=N][,drain] "
	    "[-b ...]\n"
	    "          [-f FILE] [-w N|auto]\n"
	    "          [-H PATH] [-i MS] [-R N] [-F N] [-o] [-a [HOST:]PORT]\n"
	    "          [-t NAME=MS,...] [-x N] [-p N] [-m N] [-P HEADERS]\n"
	    "          [-e select|poll]\n"
	    "  -l [HOST:]PORT  listen here (default 127.0.0.1:8080; PORT alone: "
	    "127.0.0.1)\n"
	    "  -b HOST:PORT[,weight=N]\n"
	    "                  a backend; repeat for more (up to %d), used in "
	    "turn:\n"
	    "                  weight N: N requests for each one a weight 1 "
	    "gets, spread out\n"
	    "                  (smooth weighted round robin; N is 1-%d, "
	    "default 1);\n"
	    "                  drain: no new requests (in-flight ones "
	    "finish), still checked\n"
	    "  -f FILE         backends from FILE too, one a line as -b takes "
	    "them, # comments;\n"
	    "                  read again on SIGHUP (kill -HUP): lb changes to "
	    "its list,\n"
	    "                  dropping no connection; a bad file is logged "
	    "and ignored\n"
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
	    "                  means 127.0.0.1)\n"
	    "  -t NAME=MS,...  timeouts in milliseconds:\n"
	    "                    connect=MS   connecting to a backend "
	    "(default %d)\n"
	    "                    head=MS      a whole request head, else 408 "
	    "(default %d)\n"
	    "                    response=MS  backend silence, else 504 "
	    "(default %d)\n"
	    "                    idle=MS      an idle keep-alive client "
	    "(default %d)\n"
	    "                    drain=MS     in-flight requests on SIGTERM "
	    "(default %d)\n"
	    "                    check=MS     one health check "
	    "(default %d)\n"
	    "                    pool=MS      an idle pooled connection "
	    "(default %d)\n"
	    "                    tunnel=MS    a tunnel (WebSocket) silent both "
	    "ways\n"
	    "                                 (default %d)\n"
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
	    "  -h              show this help\n"
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
	    "    when: R request, C connecting, H response head, D response "
	    "body, T tunnel\n"
	    "  flags: -, reused (a pooled connection), retries=N\n"
	    "Event log (stderr): time lb: what happened\n",
	    MAX_BACKENDS, WEIGHT_MAX, d->health_path, d->interval_ms, d->rise,
	    d->fall, d->connect_ms, d->head_ms, d->response_ms, d->idle_ms,
	    d->drain_ms, d->check_ms, d->pool_ms, d->tunnel_ms, d->retries,
	    d->pool_size, d->max_conns, loop_limit_of("select"), WORKERS_MAX);
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

/* -t connect=2000,response=5000: getsubopt() is POSIX's parser for it. */
static int
parse_timeouts(char *arg, const char **bad)
{
	char *const names[] = { "connect", "head", "response", "idle", "drain",
	    "check", "pool", "tunnel", NULL };
	int *const fields[] = { &cfg.connect_ms, &cfg.head_ms,
	    &cfg.response_ms, &cfg.idle_ms, &cfg.drain_ms, &cfg.check_ms,
	    &cfg.pool_ms, &cfg.tunnel_ms };
	char *value;
	int i;

	while (*arg != '\0') {
		*bad = arg;
		if ((i = getsubopt(&arg, names, &value)) < 0 ||
		    number(value, 1, 86400000, fields[i]) < 0)
			return -1;
	}
	return 0;
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

static void
bad_arg(const char *msg, const char *opt, const char *val)
{
	fprintf(stderr, "lb: bad %s '%s': %s\n", opt, val, msg);
	usage(stderr);
	exit(2);
}

/* optarg is a whole number in [lo, hi], stored in *out, or we stop here. */
static void
number_arg(const char *opt, const char *what, int lo, int hi, int *out)
{
	char msg[64];

	if (number(optarg, lo, hi, out) < 0) {
		snprintf(msg, sizeof(msg), "want %s from %d to %d", what, lo,
		    hi);
		bad_arg(msg, opt, optarg);
	}
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
	if (*seen != NULL) {
		fprintf(stderr, "lb: %s given twice: '%s', then '%s'\n", opt,
		    *seen, optarg);
		usage(stderr);
		exit(2);
	}
	*seen = optarg;
}

/* The status page and the traffic cannot share one address. */
static void
check_listeners(const char *l_arg)
{
	if (!cfg.has_status || strcmp(cfg.status.str, cfg.listen.str) != 0)
		return;
	fprintf(stderr, "lb: -a %s is the -l address too%s\n", cfg.status.str,
	    l_arg == NULL ? " (-l's default)" : "");
	usage(stderr);
	exit(2);
}

static void
parse_args(int argc, char **argv)
{
	const char *why, *bad, *l_arg = NULL, *a_arg = NULL, *m_arg = NULL;
	char copy[256], err[512];
	int c;

	cfg = defaults;
	addr_parse("8080", 1, &cfg.listen, &why);
	while ((c = getopt(argc, argv, ":hl:b:f:H:i:R:F:oa:t:x:p:m:P:w:e:")) !=
	    -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			exit(0);
		case 'l':
			only_once("-l", &l_arg);
			if (addr_parse(optarg, 1, &cfg.listen, &why) < 0)
				bad_arg(why, "-l", optarg);
			break;
		case 'b':
			if (backend_add(optarg, &why) < 0)
				bad_arg(why, "-b", optarg);
			break;
		case 'f':
			if (cfg.backend_file != NULL) {
				fprintf(stderr, "lb: -f given twice\n");
				usage(stderr);
				exit(2);
			}
			cfg.backend_file = optarg;
			break;
		case 'H':
			if (!health_path_ok(optarg))
				bad_arg("want a path starting with /, at most "
				    "200 visible characters", "-H", optarg);
			cfg.health_path = optarg;
			break;
		case 'i':
			number_arg("-i", "milliseconds", 1, 3600000,
			    &cfg.interval_ms);
			break;
		case 'R':
			number_arg("-R", "a number", 1, 100, &cfg.rise);
			break;
		case 'F':
			number_arg("-F", "a number", 1, 100, &cfg.fall);
			break;
		case 'o':
			cfg.fail_open = 1;
			break;
		case 'a':
			only_once("-a", &a_arg);
			if (addr_parse(optarg, 1, &cfg.status, &why) < 0)
				bad_arg(why, "-a", optarg);
			cfg.has_status = 1;
			break;
		case 't':
			snprintf(copy, sizeof(copy), "%s", optarg);
			if (parse_timeouts(copy, &bad) < 0)
				bad_arg("want NAME=MS,... with NAME one of "
				    "connect, head, response, idle, drain, "
				    "check, pool, tunnel", "-t", optarg);
			break;
		case 'x':
			number_arg("-x", "a number", 0, MAX_BACKENDS,
			    &cfg.retries);
			break;
		case 'p':
			number_arg("-p", "a number", 0, CLIENTS_MAX,
			    &cfg.pool_size);
			break;
		case 'm':
			number_arg("-m", "a number", 1, CLIENTS_MAX,
			    &cfg.max_conns);
			m_arg = optarg;
			break;
		case 'w':
			if (strcmp(optarg, "auto") == 0)
				cfg.workers = cores();
			else
				number_arg("-w", "a number or auto", 1,
				    WORKERS_MAX, &cfg.workers);
			break;
		case 'P':
			if (strcmp(optarg, "x-forwarded") == 0)
				cfg.forwarded = FWD_X;
			else if (strcmp(optarg, "forwarded") == 0)
				cfg.forwarded = FWD_RFC7239;
			else if (strcmp(optarg, "none") == 0)
				cfg.forwarded = FWD_NONE;
			else
				bad_arg("want x-forwarded, forwarded or none",
				    "-P", optarg);
			break;
		case 'e':
			if (loop_use(optarg) < 0)
				bad_arg("want select or poll", "-e", optarg);
			break;
		case ':':
			fprintf(stderr, "lb: option -%c needs a value\n", optopt);
			usage(stderr);
			exit(2);
		default:
			fprintf(stderr, "lb: unknown option '-%c'\n", optopt);
			usage(stderr);
			exit(2);
		}
	}
	if (optind < argc)
		bad_arg("unexpected argument", "argument", argv[optind]);
	if (cfg.backend_file != NULL &&
	    roster_load(cfg.backend_file, 1, err, sizeof(err)) < 0) {
		fprintf(stderr, "lb: bad -f: %s\n", err);
		exit(2);
	}
	if (nbackends == 0) {
		fprintf(stderr, "lb: missing -b HOST:PORT or -f FILE (a "
		    "backend)\n");
		usage(stderr);
		exit(2);
	}
	check_listeners(l_arg);
	if (cfg.max_conns > loop_limit())
		bad_arg("select() watches descriptors below FD_SETSIZE only: "
		    "use -e poll for more clients", "-m", m_arg);
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
	char list[MAX_BACKENDS * 80];
	size_t n = 0;
	int i;

	list[0] = '\0';
	for (i = 0; i < nbackends && n < sizeof(list); i++) {
		const struct backend *be = &backends[i];

		n += (size_t)snprintf(list + n, sizeof(list) - n, " %s",
		    be->addr.str);
		if (be->weight != 1 && n < sizeof(list))
			n += (size_t)snprintf(list + n, sizeof(list) - n,
			    ",weight=%d", be->weight);
		if (be->drain && n < sizeof(list))
			n += (size_t)snprintf(list + n, sizeof(list) - n,
			    ",drain");
	}
	log_event("listening on %s, balancing over%s", cfg.listen.str, list);
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
 * SIGHUP: read -f FILE again. Backends change (roster_load() says how);
 * no client connection is touched.
 */
static void
reload(void)
{
	char err[512];

	if (cfg.backend_file == NULL) {
		log_event("SIGHUP: no -f FILE to read again; nothing changed");
		return;
	}
	if (roster_load(cfg.backend_file, 0, err, sizeof(err)) < 0)
		log_event("reload failed, the running backends stay: %s", err);
	else
		workers_broadcast();	/* -w N: every worker, the new set */
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
		workers_stop();
		status_stop();
		timer_arm(&drain_timer, loop_now() + cfg.drain_ms / 1e3 + 1);
		return;
	}
	log_event("stopping: finishing %d connection(s), at most %d ms",
	    conn_count(), cfg.drain_ms);
	conn_drain();
	status_stop();
	timer_arm(&drain_timer, loop_now() + cfg.drain_ms / 1e3);
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
			perror("lb: select");
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
	loop_free();
	loop_unwatch(sig_pipe[0]);
	close(sig_pipe[0]);
	close(sig_pipe[1]);
	return 0;
}

/* A worker, just forked: its own signals, clients, and the loop. */
static int
worker_run(void)
{
	timer_disarm(&drain_timer);
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
	return serve();
}
