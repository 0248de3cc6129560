/*
 * workers.c - -w N: every core. One master process and N workers, all
 * plain fork() copies of lb.
 *
 *                      master: signals, -f and SIGHUP, health checks,
 *                      the status page; serves no client
 *                     /     |      \   one socketpair each, text lines:
 *   table of backends     ...       "fail ADDR why" (a worker could not
 *   and their health ->               connect): the master judges
 *                   /       |        \
 *             worker 1  worker 2 ... worker N: the select() loop of
 *                   \       |        /  one process, on the -l socket
 *                    listening socket   they all inherited
 *
 * Each worker accepts on the same listening socket: the kernel hands
 * each new connection to one of the workers waiting in select() (all of
 * them wake; one wins the accept(), the others get EAGAIN: the thundering
 * herd, measured in final/README). Health is the master's alone: it
 * probes each backend once per interval (not N times), logs each change
 * once, and sends every worker the whole table of backends after each
 * change or reload, so every worker sees a backend up or down at once.
 *
 * Counters: a worker's table of backends lives in memory shared with the
 * master (mmap(MAP_SHARED) before the first fork), so the status page
 * sums them without asking anyone, and each worker reads the others'
 * requests in flight there (-B least). Each worker holds a share of
 * every backend's maxconn (balance.c), so that together they keep to
 * it without a lock between them. A worker that dies is logged and
 * started again; what it counted is kept. SIGTERM or SIGINT to the
 * master drains every worker; SIGHUP is the master's (it re-reads -f
 * and tells the workers).
 */
#include <sys/types.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "balance.h"
#include "buf.h"
#include "config.h"
#include "conn.h"
#include "health.h"
#include "log.h"
#include "loop.h"
#include "roster.h"
#include "workers.h"

#define LINE_MAX_	600	/* a table line: "f HOST:PORT,weight=N,drain ..." */

/* What one worker shows the master: in shared memory. */
struct share {
	int	clients, lent, spare, tunnels;
	unsigned long long tunnels_total;
	int	queue_waiting, queue_peak;	/* conn_queue()'s */
	double	queue_longest_ms;
	unsigned long long requests_gone;	/* to backends removed since */
	unsigned long long access_dropped, events_dropped;	/* log lines */
	struct backend table[MAX_BACKENDS];	/* its backends[] */
};

/* The master's view of one worker. */
struct worker {
	pid_t	pid;		/* 0: not running */
	int	fd;		/* the master's end of the socketpair */
	double	started;
	struct timer restart;	/* died young: start again a little later */
	char	*out;		/* the table being sent, and how far */
	size_t	out_len, out_off;
	int	again;		/* the table changed while it was sent */
	char	in[LINE_MAX_];	/* a line from the worker, as it arrives */
	size_t	got;
	unsigned long long restarts;
};

static struct share *shared;	/* nworkers of them */
static struct worker *workers;
static int nworkers;
static int lfd = -1;		/* the listening socket, for new workers */
static int (*run_worker)(void);	/* main.c's loop, for a worker */
static int stopping;
static unsigned long long tunnels_retired;	/* by workers that died */
static unsigned long long access_retired, events_retired;	/* the same */
static int queue_peak_retired;		/* the most that waited, the longest */
static double queue_longest_retired;	/* wait: in workers that died */

/* In a worker: which one (1..N), and its end of the socketpair. */
static int me;
static int master_fd = -1;
static char min[LINE_MAX_];
static size_t mgot;

static void start_worker(int k);

/* Workers this master has: 0 in a worker, or in one process. */
int
workers_count(void)
{
	return me == 0 ? nworkers : 0;
}

/* ---- the master: sending the table ---- */

/*
 * The table: a line for every backend, its options as -f takes them and
 * its health (up, passes, the next probe, when its slow start began):
 * "f 127.0.0.1:9001,weight=2,maxconn=5,slowstart=3000,drain 1 0 12.3 4.5".
 * Never what a worker is doing: each counts its own requests in flight.
 */
static void
table_entry(char *p, size_t cap, size_t *n, const struct backend *be)
{
	char opts[128];

	backend_options(be, opts, sizeof(opts));
	*n += (size_t)snprintf(p + *n, cap - *n, "%c %s%s %d %d %.3f %.3f\n",
	    be->from_file ? 'f' : 'b', be->addr.str, opts, be->up,
	    be->passes, be->check.stage == CHECK_IDLE ?
	    be->check.timer.when : be->check.started, be->ramp_from);
}

static char *
table_text(size_t *len)
{
	size_t cap = (size_t)(nbackends + 1) * LINE_MAX_, n = 0;
	char *p = malloc(cap);
	int i;

	if (p == NULL)
		return NULL;
	for (i = 0; i < nbackends; i++)
		if (backends[i].slot == BE_LIVE)
			table_entry(p, cap, &n, &backends[i]);
	n += (size_t)snprintf(p + n, cap - n, "end\n");
	*len = n;
	return p;
}

static void on_worker(void *arg, int fd, int events);

/* Write what the socket takes; watch for more room if it is full. */
static void
send_more(struct worker *w)
{
	ssize_t n;

	while (w->out != NULL && w->out_off < w->out_len) {
		n = write(w->fd, w->out + w->out_off, w->out_len - w->out_off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;	/* full (or the worker died: SIGCHLD says) */
		w->out_off += (size_t)n;
	}
	if (w->out != NULL && w->out_off == w->out_len) {
		free(w->out);
		w->out = NULL;
		if (w->again) {		/* send the newest table now */
			w->again = 0;
			if ((w->out = table_text(&w->out_len)) != NULL) {
				w->out_off = 0;
				send_more(w);
				return;
			}
		}
	}
	loop_watch(w->fd, w->out != NULL ? EV_READ | EV_WRITE : EV_READ,
	    on_worker, w);
}

/*
 * Every worker gets the whole table: after a health change, a reload,
 * or its start. The table is the whole truth, so one still on its way
 * is finished first and the newest one follows it.
 */
void
workers_broadcast(void)
{
	int k;

	for (k = 0; k < nworkers; k++) {
		struct worker *w = &workers[k];

		if (w->pid == 0)
			continue;
		if (w->out != NULL) {
			w->again = 1;
			continue;
		}
		if ((w->out = table_text(&w->out_len)) == NULL) {
			w->again = 1;	/* no memory now: with the next one */
			continue;
		}
		w->out_off = 0;
		send_more(w);
	}
}

/* ---- the master: what workers say ---- */

/* "fail b 127.0.0.1:9001 connect: Connection refused" */
static void
worker_line(struct worker *w, char *line)
{
	char *addr, *why;
	struct backend *be;

	(void)w;
	if (strncmp(line, "fail ", 5) != 0 || (line[5] != 'b' &&
	    line[5] != 'f') || line[6] != ' ')
		return;
	addr = line + 7;
	if ((why = strchr(addr, ' ')) == NULL)
		return;
	*why++ = '\0';
	if ((be = backend_find(addr, line[5] == 'f')) != NULL)
		health_judge(be, 0, 1, why);
}

static void
on_worker(void *arg, int fd, int events)
{
	struct worker *w = arg;
	char *nl;
	ssize_t r;

	if (events & EV_WRITE)
		send_more(w);
	if (!(events & EV_READ))
		return;
	r = read(fd, w->in + w->got, sizeof(w->in) - w->got - 1);
	if (r <= 0) {
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		loop_unwatch(fd);	/* it died: SIGCHLD brings it back */
		return;
	}
	w->got += (size_t)r;
	w->in[w->got] = '\0';
	while ((nl = strchr(w->in, '\n')) != NULL) {
		*nl = '\0';
		worker_line(w, w->in);
		w->got -= (size_t)(nl + 1 - w->in);
		memmove(w->in, nl + 1, w->got + 1);
	}
	if (w->got == sizeof(w->in) - 1)
		w->got = 0;	/* a line too long: not from lb */
}

/* ---- the master: counters ---- */

/* Is t (a slot of some table) the backend be: same name, same origin? */
static int
same_backend(const struct backend *t, const struct backend *be)
{
	return t->slot != BE_FREE && t->from_file == be->from_file &&
	    strcmp(t->addr.str, be->addr.str) == 0;
}

/* Add what worker table t counts for be (same name, same origin). */
static void
add_counts(struct backend *sum, const struct backend *t)
{
	int i;

	for (i = 0; i < MAX_BACKENDS; i++, t++) {
		if (!same_backend(t, sum))
			continue;
		sum->requests += t->requests;
		sum->failures += t->failures;
		sum->bytes += t->bytes;
		sum->connects += t->connects;
		sum->active += t->active;
		sum->nidle += t->nidle;
		sum->users += t->users;
		sum->inflight += t->inflight;
	}
}

/*
 * The master's backends[] take the sums of every worker's counters, and
 * of the workers that died (retired): for the status page, and for
 * backend_reap() to know when a removed backend is done everywhere. Its
 * requests in flight are the workers' now (a dead worker's are gone).
 */
void
workers_gather(void)
{
	int i, k;

	for (i = 0; i < nbackends && nworkers > 0; i++) {
		struct backend *be = &backends[i];

		if (be->slot == BE_FREE)
			continue;
		be->requests = be->retired.requests;
		be->failures = be->retired.failures;
		be->bytes = be->retired.bytes;
		be->connects = be->retired.connects;
		be->active = be->nidle = be->users = be->inflight = 0;
		for (k = 0; k < nworkers; k++)
			add_counts(be, shared[k].table);
	}
}

/* A worker died: what it counted stays in the master's totals. */
static void
retire(int k)
{
	int i;

	workers_gather();
	for (i = 0; i < nbackends; i++) {
		struct backend *be = &backends[i], t;

		if (be->slot == BE_FREE)
			continue;
		memset(&t, 0, sizeof(t));
		snprintf(t.addr.str, sizeof(t.addr.str), "%s", be->addr.str);
		t.from_file = be->from_file;
		add_counts(&t, shared[k].table);
		be->retired.requests += t.requests;
		be->retired.failures += t.failures;
		be->retired.bytes += t.bytes;
		be->retired.connects += t.connects;
	}
	tunnels_retired += shared[k].tunnels_total;
	if (shared[k].queue_peak > queue_peak_retired)
		queue_peak_retired = shared[k].queue_peak;
	if (shared[k].queue_longest_ms > queue_longest_retired)
		queue_longest_retired = shared[k].queue_longest_ms;
	access_retired += shared[k].access_dropped;
	events_retired += shared[k].events_dropped;
	memset(&shared[k], 0, sizeof(shared[k]));
}

/* Is be still in use by some worker? (backend_reap() in the master.) */
static int
busy_elsewhere(struct backend *be)
{
	workers_gather();
	return be->active > 0 || be->nidle > 0 || be->users > 0;
}

/* The status page's totals: every worker's, added to *t. */
void
workers_totals(int *clients, int *lent, int *spare, int *tunnels,
    unsigned long long *tunnels_total)
{
	int k;

	*tunnels_total += tunnels_retired;
	for (k = 0; k < nworkers; k++) {
		*clients += shared[k].clients;
		*lent += shared[k].lent;
		*spare += shared[k].spare;
		*tunnels += shared[k].tunnels;
		*tunnels_total += shared[k].tunnels_total;
	}
}

/*
 * The status page's queue: requests waiting now in every worker (each
 * has its own queue, for its share of each maxconn), added to *waiting;
 * the most that waited at once in one worker, and the longest wait in
 * any (ms), if more than *peak and *longest_ms. Workers that died count.
 */
void
workers_queue(int *waiting, int *peak, double *longest_ms)
{
	int k;

	if (queue_peak_retired > *peak)
		*peak = queue_peak_retired;
	if (queue_longest_retired > *longest_ms)
		*longest_ms = queue_longest_retired;
	for (k = 0; k < nworkers; k++) {
		*waiting += shared[k].queue_waiting;
		if (shared[k].queue_peak > *peak)
			*peak = shared[k].queue_peak;
		if (shared[k].queue_longest_ms > *longest_ms)
			*longest_ms = shared[k].queue_longest_ms;
	}
}

/* Log lines the workers dropped (log_dropped()), added to *access, *events. */
void
workers_log_dropped(unsigned long long *access, unsigned long long *events)
{
	int k;

	*access += access_retired;
	*events += events_retired;
	for (k = 0; k < nworkers; k++) {
		*access += shared[k].access_dropped;
		*events += shared[k].events_dropped;
	}
}

/* Worker k (0-based) for the status page: its pid, restarts, clients. */
int
workers_info(int k, long *pid, unsigned long long *restarts, int *clients,
    unsigned long long *requests)
{
	int i;

	if (k < 0 || k >= nworkers)
		return -1;
	*pid = (long)workers[k].pid;
	*restarts = workers[k].restarts;
	*clients = shared[k].clients;
	*requests = shared[k].requests_gone;
	for (i = 0; i < MAX_BACKENDS; i++)
		*requests += shared[k].table[i].requests;
	return 0;
}

/* ---- the master: starting, restarting, stopping ---- */

static void
restart_due(void *arg)
{
	struct worker *w = arg;

	if (!stopping)
		start_worker((int)(w - workers));
}

/* SIGCHLD: which workers died; log it, and start them again. */
void
workers_reap(void)
{
	int status, k;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (k = 0; k < nworkers && workers[k].pid != pid; k++)
			;
		if (k == nworkers)
			continue;
		workers[k].pid = 0;
		loop_unwatch(workers[k].fd);
		close(workers[k].fd);
		workers[k].fd = -1;
		free(workers[k].out);
		workers[k].out = NULL;
		workers[k].got = 0;
		retire(k);
		if (stopping) {
			if (WIFSIGNALED(status))
				log_event("worker %d (pid %ld) killed by signal "
				    "%d while stopping", k + 1, (long)pid,
				    WTERMSIG(status));
			else if (WEXITSTATUS(status) != 0)
				log_event("worker %d (pid %ld) exited with "
				    "status %d while stopping", k + 1, (long)pid,
				    WEXITSTATUS(status));
			continue;
		}
		if (WIFSIGNALED(status))
			log_event("worker %d (pid %ld) killed by signal %d; "
			    "starting it again", k + 1, (long)pid,
			    WTERMSIG(status));
		else
			log_event("worker %d (pid %ld) exited with status %d; "
			    "starting it again", k + 1, (long)pid,
			    WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		workers[k].restarts++;
		/* One that dies at once would die in a loop: at most 1/s. */
		if (loop_now() - workers[k].started < 1)
			timer_arm(&workers[k].restart, workers[k].started + 1);
		else
			start_worker(k);
	}
}

/* Workers still running. */
int
workers_running(void)
{
	int k, n = 0;

	for (k = 0; k < nworkers; k++)
		n += workers[k].pid != 0;
	return n;
}

/* SIGTERM or SIGINT reached the master: every worker drains. */
void
workers_stop(void)
{
	int k;

	stopping = 1;
	/*
	 * The master's copy of the listening socket goes now, as each
	 * worker's does when it drains: while any process holds one open,
	 * the kernel queues new clients that nobody will ever accept.
	 */
	if (lfd >= 0)
		close(lfd);
	lfd = -1;
	for (k = 0; k < nworkers; k++) {
		timer_disarm(&workers[k].restart);
		if (workers[k].pid != 0)
			kill(workers[k].pid, SIGTERM);
	}
}

/* The drain deadline passed in the master too: no more waiting. */
void
workers_kill(void)
{
	int k;

	for (k = 0; k < nworkers; k++)
		if (workers[k].pid != 0)
			kill(workers[k].pid, SIGKILL);
}

/* ---- a worker ---- */

/*
 * -B least: be's requests in flight from every other worker, read from
 * their tables in shared memory (a limit is not read this way: each
 * worker keeps to its own share of be's maxconn, balance.c). A worker
 * keeps be in the slot its own table gave it, which is be's slot here
 * too unless reloads filled and freed slots in another order: so that
 * slot first, then a search by name. No lock: each count is one int its
 * worker changes as a request takes or leaves be, so it is as fresh as
 * the reading; a request another worker starts in the same instant is
 * missed by one pick, no more.
 */
static int
inflight_elsewhere(const struct backend *be)
{
	const struct backend *t;
	int i = (int)(be - backends), k, j, n = 0;

	for (k = 0; k < nworkers; k++) {
		if (k == me - 1)
			continue;
		t = shared[k].table;
		if (same_backend(&t[i], be)) {
			n += t[i].inflight;
			continue;
		}
		for (j = 0; j < MAX_BACKENDS; j++)
			if (same_backend(&t[j], be)) {
				n += t[j].inflight;
				break;
			}
	}
	return n;
}

static void
tell_master(struct backend *be, const char *why)
{
	char line[LINE_MAX_];
	int n = snprintf(line, sizeof(line), "fail %c %s %s\n",
	    be->from_file ? 'f' : 'b', be->addr.str, why);
	ssize_t w;

	if (n <= 0 || (size_t)n >= sizeof(line))
		return;
	/* One short line, written whole (a full socket: it is lost, and
	 * the master's own probe finds the backend soon enough). */
	w = write(master_fd, line, (size_t)n);
	(void)w;
}

/* A table from the master, a line at a time, applied at "end". */
static void
table_line(char *line)
{
	static struct backend want[MAX_BACKENDS];
	static int nwant;
	char *spec, *rest, err[256];
	const char *why;
	int up, passes;
	double next, ramp;

	if (strcmp(line, "end") == 0) {
		if (roster_apply(want, nwant, ROSTER_SYNC, err, sizeof(err)) < 0)
			log_event("the master's table is not applied: %s", err);
		nwant = 0;
		return;
	}
	if ((line[0] != 'b' && line[0] != 'f') || line[1] != ' ' ||
	    nwant == MAX_BACKENDS)
		return;
	spec = line + 2;
	if ((rest = strchr(spec, ' ')) == NULL)
		return;
	*rest++ = '\0';
	if (sscanf(rest, "%d %d %lf %lf", &up, &passes, &next, &ramp) != 4 ||
	    backend_parse(spec, &want[nwant], &why) < 0)
		return;
	want[nwant].from_file = line[0] == 'f';
	want[nwant].up = up;
	want[nwant].passes = passes;
	want[nwant].check.timer.when = next;
	want[nwant].check.timer.slot = -1;
	want[nwant].ramp_from = ramp;
	nwant++;
}

static void
on_master(void *arg, int fd, int events)
{
	char *nl;
	ssize_t r;

	(void)arg;
	(void)events;
	r = read(fd, min + mgot, sizeof(min) - mgot - 1);
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r <= 0) {		/* the master is gone: finish, and go too */
		loop_unwatch(fd);
		raise(SIGTERM);
		return;
	}
	mgot += (size_t)r;
	min[mgot] = '\0';
	while ((nl = strchr(min, '\n')) != NULL) {
		*nl = '\0';
		table_line(min);
		mgot -= (size_t)(nl + 1 - min);
		memmove(min, nl + 1, mgot + 1);
	}
	if (mgot == sizeof(min) - 1)
		mgot = 0;
}

/* Once a loop pass: what this worker shows the master. */
void
workers_publish(void)
{
	unsigned long long access, events;
	struct share *s;

	if (me == 0)
		return;
	s = &shared[me - 1];
	s->clients = conn_count();
	buf_counts(&s->lent, &s->spare);
	conn_tunnels(&s->tunnels, &s->tunnels_total);
	conn_queue(&s->queue_waiting, &s->queue_peak, &s->queue_longest_ms);
	s->requests_gone = backend_requests_gone;
	access = events = 0;
	log_dropped(&access, &events);
	s->access_dropped = access;
	s->events_dropped = events;
}

/*
 * In the child, just after fork(): drop what is the master's (probes,
 * the other workers' sockets, timers; main.c's worker_run() drops the
 * status page) and move this worker's backends[] into its shared table.
 * Counters start at 0: the master kept those of the worker that was
 * here before. It takes its share of each backend's maxconn (balance.c)
 * and reads the others' requests in flight from their tables.
 */
static void
become_worker(int k, int fd)
{
	int j;

	health_stop();
	health_off = 1;
	health_tell = tell_master;
	health_changed = NULL;
	backend_quiet = 1;
	backend_busy_elsewhere = NULL;
	backend_requests_gone = 0;		/* the master's, not this worker's */
	for (j = 0; j < nworkers; j++) {
		timer_disarm(&workers[j].restart);
		if (workers[j].fd >= 0) {
			loop_unwatch(workers[j].fd);
			close(workers[j].fd);
			workers[j].fd = -1;
		}
		free(workers[j].out);
		workers[j].out = NULL;
	}
	memset(&shared[k], 0, sizeof(shared[k]));
	backend_move(shared[k].table);
	me = k + 1;
	balance_worker(k, nworkers);	/* its share of every maxconn */
	balance_inflight_elsewhere = inflight_elsewhere;
	master_fd = fd;
	log_worker(me);
	addr_nonblock(fd);
	loop_watch(fd, EV_READ, on_master, NULL);
}

static void
start_worker(int k)
{
	struct worker *w = &workers[k];
	sigset_t all, old;
	int sv[2], err;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
		log_event("worker %d: socketpair: %s; trying again in 1 s",
		    k + 1, strerror(errno));
		timer_arm_ms(&w->restart, 1000);
		return;
	}
	log_flush();		/* nothing buffered is written twice */
	/*
	 * Until the child has made its own signal pipe, a signal to it would
	 * run the master's handler, which writes to the master's pipe: a
	 * SIGTERM meant for one new worker would stop them all. So signals
	 * are blocked across fork(): in the master for an instant, in the
	 * child until setup_signals() (main.c) unblocks them, and a signal
	 * that came meanwhile is delivered then, to the worker's handler.
	 */
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	pid = fork();
	err = errno;
	if (pid != 0)
		sigprocmask(SIG_SETMASK, &old, NULL);
	if (pid < 0) {
		log_event("worker %d: fork: %s; trying again in 1 s", k + 1,
		    strerror(err));
		close(sv[0]);
		close(sv[1]);
		timer_arm_ms(&w->restart, 1000);
		return;
	}
	if (pid == 0) {
		close(sv[0]);
		become_worker(k, sv[1]);
		exit(run_worker());
	}
	close(sv[1]);
	w->pid = pid;
	w->fd = sv[0];
	w->started = loop_now();
	w->got = 0;
	addr_nonblock(w->fd);
	loop_watch(w->fd, EV_READ, on_worker, w);
	w->again = 0;
	if ((w->out = table_text(&w->out_len)) != NULL) {
		w->out_off = 0;
		send_more(w);
	}
}

/*
 * The master: shared memory for n workers' tables, then each worker.
 * run: what a worker runs (main.c's loop, on listening socket fd).
 * 0, or -1 if the shared memory cannot be had.
 */
int
workers_start(int n, int fd, int (*run)(void))
{
	size_t size = sizeof(struct share) * (size_t)n;
	char path[] = "/tmp/lb-shared-XXXXXX";
	void *p;
	int k, sfd;

	/*
	 * POSIX has no anonymous shared mapping: a file, unlinked at once,
	 * mapped MAP_SHARED before any fork, shared by every child.
	 */
	if ((sfd = mkstemp(path)) < 0) {
		perror("lb: shared memory for -w: mkstemp");
		return -1;
	}
	unlink(path);
	if (ftruncate(sfd, (off_t)size) < 0 || (p = mmap(NULL, size,
	    PROT_READ | PROT_WRITE, MAP_SHARED, sfd, 0)) == MAP_FAILED) {
		perror("lb: shared memory for -w");
		close(sfd);
		return -1;
	}
	close(sfd);
	shared = p;
	if ((workers = calloc((size_t)n, sizeof(*workers))) == NULL)
		return -1;
	nworkers = n;
	lfd = fd;
	run_worker = run;
	health_changed = workers_broadcast;
	backend_busy_elsewhere = busy_elsewhere;
	for (k = 0; k < n; k++) {
		workers[k].fd = -1;
		timer_init(&workers[k].restart, restart_due, &workers[k]);
	}
	for (k = 0; k < n; k++)
		start_worker(k);
	return 0;
}

/* The listening socket, for the worker about to run (main.c). */
int
workers_listen_fd(void)
{
	return lfd;
}

/* Is this process a worker? 1..N, or 0 (the master, or one process). */
int
workers_me(void)
{
	return me;
}

void
workers_free(void)
{
	int k;

	for (k = 0; k < nworkers && me == 0; k++) {
		if (workers[k].pid != 0) {	/* the deadline passed */
			kill(workers[k].pid, SIGKILL);
			waitpid(workers[k].pid, NULL, 0);
		}
		timer_disarm(&workers[k].restart);
		if (workers[k].fd >= 0) {
			loop_unwatch(workers[k].fd);
			close(workers[k].fd);
		}
		free(workers[k].out);
	}
	free(workers);
	workers = NULL;
	if (shared != NULL)
		munmap(shared, sizeof(struct share) * (size_t)nworkers);
	shared = NULL;
	nworkers = 0;
	if (me == 0 && lfd >= 0)	/* a worker's is conn.c's to close */
		close(lfd);
	lfd = -1;
	if (master_fd >= 0) {
		loop_unwatch(master_fd);
		close(master_fd);
		master_fd = -1;
	}
}
