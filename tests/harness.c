/*
 * harness.c - start programs, talk HTTP to them, leave nothing behind.
 *
 * Nothing may outlive a test, not even when Check kills a test that ran
 * out of time. So the first program a test process starts also starts a
 * guard: a process in its own group that holds the read end of a pipe and
 * learns the process group of every program started. The test holds the
 * only write end; when the test process ends, however it ends, the guard
 * reads end-of-file and kills every group it was told about.
 */
#include <sys/types.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "fnv.h"
#include "harness.h"
#include "suites.h"

#define MAX_PROCS	32
#define MAX_CONNS	2048
#define MAX_ARGS	64
#define SLOW_RCVBUF	4096	/* h_connect_slow(): bytes per read */

static struct h_proc procs[MAX_PROCS];
static int nprocs;
static long next_fd_limit;	/* h_fd_limit(): for the next h_spawn() */
static int next_stdout = -1;	/* h_stdout(): the same */
static int next_stderr_too;	/* and stderr to the same descriptor */
static struct h_conn *conns[MAX_CONNS];
static pid_t guard_owner;
static int guard_fd = -1;

int
h_level(void)
{
	const char *s = getenv("LEVEL");

	return s != NULL ? atoi(s) : 1;
}

/*
 * "Promptly" means longer when the balancer runs under valgrind, which
 * slows it tenfold: the same knob that gives Check's timeouts slack.
 */
int
h_scaled(int ms)
{
	const char *s = getenv("CK_TIMEOUT_MULTIPLIER");
	int k = s != NULL ? atoi(s) : 1;

	return ms * (k > 1 ? k : 1);
}

/*
 * Check has no "skipped": a test that cannot run here returns early and
 * passes, so say so where a person reading the output will see it.
 */
void
h_skip(const char *why)
{
	fprintf(stderr, "SKIPPED %s: %s\n", tcase_name(), why);
}

/*
 * Does lb run inside a tool (valgrind, or built with ASan)? Then its
 * resident memory is mostly the tool's: shadow memory, redzones, freed
 * blocks held in quarantine.
 */
int
h_instrumented(void)
{
	const char *wrap = getenv("LB_WRAP"), *san = getenv("H_SANITIZED");

	return (wrap != NULL && *wrap != '\0') ||
	    (san != NULL && strcmp(san, "1") == 0);
}

const char *
h_lb_path(void)
{
	const char *s = getenv("LB");

	return s != NULL ? s : "../lesson1/lb";
}

long
h_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
h_pause_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* Close every descriptor from lowfd up (in a child about to exec). */
static void
close_from(int lowfd)
{
	long max = sysconf(_SC_OPEN_MAX);
	int fd;

	if (max < 0 || max > 65536)
		max = 65536;
	for (fd = lowfd; fd < max; fd++)
		close(fd);
}

/* The guard: collect process groups until EOF, then kill them all. */
static void
guard_run(int rfd)
{
	pid_t groups[MAX_PROCS * 4], g;
	int n = 0, i;
	ssize_t r;

	for (;;) {
		r = read(rfd, &g, sizeof(g));
		if (r == (ssize_t)sizeof(g)) {
			if (n < (int)(sizeof(groups) / sizeof(groups[0])))
				groups[n++] = g;
		} else if (r < 0 && errno == EINTR)
			continue;
		else
			break;
	}
	for (i = 0; i < n; i++)
		kill(-groups[i], SIGKILL);
	_exit(0);
}

static void
guard_start(void)
{
	int p[2];
	pid_t pid;

	if (guard_owner == getpid() && guard_fd >= 0)
		return;
	/* A fresh test process (Check forks one per test). */
	nprocs = 0;
	memset(conns, 0, sizeof(conns));
	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		setpgid(0, 0);	/* out of the test's group: outlive it */
		if (dup2(p[0], 3) < 0)
			_exit(1);
		close_from(4);
		guard_run(3);
	}
	close(p[0]);
	fcntl(p[1], F_SETFD, FD_CLOEXEC);
	guard_fd = p[1];
	guard_owner = getpid();
}

int
h_free_port(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd, port;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

/*
 * A TCP socket, and 127.0.0.1:port in *sin; -1 if there is none. rcvbuf
 * > 0: that small a receive buffer, set before connect() or listen() so
 * the window is small from the start.
 */
int
h_loopback_socket(int port, int rcvbuf, struct sockaddr_in *sin)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return -1;
	if (rcvbuf > 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin->sin_port = htons((unsigned short)port);
	return fd;
}

/*
 * A blocking connection to 127.0.0.1:port, or -1 (errno says why).
 * rcvbuf > 0: a client that cannot take much at a time.
 */
int
h_dial(int port, int rcvbuf)
{
	struct sockaddr_in sin;
	int fd = h_loopback_socket(port, rcvbuf, &sin);

	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		int e = errno;	/* the caller may ask why */

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int
h_wait_port(int port, int ms)
{
	long end = h_now_ms() + ms;
	int fd;

	do {
		if ((fd = h_dial(port, 0)) >= 0) {
			close(fd);
			return 0;
		}
		h_pause_ms(10);
	} while (h_now_ms() < end);
	return -1;
}

/*
 * Is port refused (nothing listens) within ms? 0 or -1. A connection
 * that is still taken in the meantime is closed at once.
 */
int
h_wait_refused(int port, int ms)
{
	long end = h_now_ms() + ms;
	int fd;

	do {
		if ((fd = h_dial(port, 0)) < 0 && errno == ECONNREFUSED)
			return 0;
		if (fd >= 0)
			close(fd);
		h_pause_ms(10);
	} while (h_now_ms() < end);
	return -1;
}

/* Split LB_WRAP into words in front of argv. */
static int
wrap_args(char *const argv[], int wrap, char **out, char *wbuf, size_t wlen)
{
	const char *w = getenv("LB_WRAP");
	int n = 0, i;
	char *tok;

	if (wrap && w != NULL && *w != '\0') {
		snprintf(wbuf, wlen, "%s", w);
		for (tok = strtok(wbuf, " "); tok != NULL && n < MAX_ARGS / 2;
		    tok = strtok(NULL, " "))
			out[n++] = tok;
	}
	for (i = 0; argv[i] != NULL && n < MAX_ARGS - 1; i++)
		out[n++] = argv[i];
	out[n] = NULL;
	return n;
}

/* A slot for a new program, with the names of its log files. */
static struct h_proc *
new_proc(const char *name)
{
	const char *dir = getenv("H_LOGDIR");
	struct h_proc *p;

	guard_start();
	ck_assert_int_lt(nprocs, MAX_PROCS);
	p = &procs[nprocs++];
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	if (dir == NULL)
		dir = "/tmp";
	/* Two programs of the same name in one test keep their own logs. */
	snprintf(p->out, sizeof(p->out), "%s/%ld-%d-%s.out", dir,
	    (long)getpid(), nprocs, name);
	snprintf(p->err, sizeof(p->err), "%s/%ld-%d-%s.err", dir,
	    (long)getpid(), nprocs, name);
	fflush(NULL);
	return p;
}

/*
 * In the child: its own process group, stdin from /dev/null, stdout and
 * stderr to p's logs (appended to: a forked child's own children may
 * write there too), no descriptor of the test's, default SIGPIPE.
 */
static void
child_setup(const struct h_proc *p)
{
	struct sigaction sa;
	int o, e, in;

	setpgid(0, 0);
	o = open(p->out, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
	e = open(p->err, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
	in = open("/dev/null", O_RDONLY);
	if (o < 0 || e < 0 || in < 0 || dup2(in, 0) < 0 ||
	    dup2(next_stdout >= 0 ? next_stdout : o, 1) < 0 ||
	    dup2(next_stderr_too ? 1 : e, 2) < 0)
		_exit(126);
	close_from(3);
	/* Ignored signals stay ignored across exec: undo ours. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGPIPE, &sa, NULL);
}

/* In the parent: the child is p, and the guard must know its group. */
static void
track(struct h_proc *p, pid_t pid)
{
	setpgid(pid, pid);
	p->pid = pid;
	ck_assert_int_eq(write(guard_fd, &pid, sizeof(pid)), (int)sizeof(pid));
}

struct h_proc *
h_spawn(const char *name, char *const argv[], int wrap)
{
	struct h_proc *p = new_proc(name);
	char *args[MAX_ARGS], wbuf[1024];
	pid_t pid;

	wrap_args(argv, wrap, args, wbuf, sizeof(wbuf));
	p->wrapped = wrap && args[0] != argv[0];
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		child_setup(p);
		if (next_fd_limit > 0) {
			struct rlimit rl;

			/* Hard too: lb raises its soft limit for -m. */
			rl.rlim_cur = rl.rlim_max = (rlim_t)next_fd_limit;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
		execvp(args[0], args);
		fprintf(stderr, "cannot run %s: %s\n", args[0], strerror(errno));
		_exit(127);
	}
	next_fd_limit = 0;
	next_stdout = -1;
	next_stderr_too = 0;
	track(p, pid);
	return p;
}

/*
 * The next program started writes its stdout to fd, not to p->out; and
 * its stderr too if err_too (as after 2>&1: p->err stays empty).
 */
void
h_stdout(int fd, int err_too)
{
	next_stdout = fd;
	next_stderr_too = err_too;
}

/*
 * The next program started may open at most n descriptors. 0 under
 * valgrind, which needs descriptors of its own (and a SKIPPED line says
 * so): the test cannot run there.
 */
int
h_fd_limit(long n)
{
	const char *wrap = getenv("LB_WRAP");

	if (wrap != NULL && *wrap != '\0') {
		h_skip("valgrind needs descriptors of its own");
		return 0;
	}
	next_fd_limit = n;
	return 1;
}

struct h_proc *
h_fork(const char *name, void (*fn)(struct h_proc *self, void *arg),
    void *arg)
{
	struct h_proc *p = new_proc(name);
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		child_setup(p);
		p->pid = getpid();
		fn(p, arg);
		_exit(0);
	}
	track(p, pid);
	return p;
}

/* Is there an executable called name in a directory of $PATH? */
/*
 * Is prog here? If not, the test says it skips what needs it; where
 * REQUIRE_DEPLOY_TOOLS is set (CI, which installs them), it fails.
 */
int
h_need(const char *prog, const char *package)
{
	char why[160];

	if (h_on_path(prog))
		return 1;
	ck_assert_msg(getenv("REQUIRE_DEPLOY_TOOLS") == NULL,
	    "REQUIRE_DEPLOY_TOOLS is set but there is no %s", prog);
	snprintf(why, sizeof(why), "no %s here (apt-get install %s)", prog,
	    package);
	h_skip(why);
	return 0;
}

int
h_on_path(const char *name)
{
	const char *path = getenv("PATH"), *end;
	char file[512];

	if (strchr(name, '/') != NULL)
		return access(name, X_OK) == 0;
	for (; path != NULL && *path != '\0'; path = *end ? end + 1 : end) {
		end = strchr(path, ':');
		if (end == NULL)
			end = path + strlen(path);
		snprintf(file, sizeof(file), "%.*s/%s", (int)(end - path), path,
		    name);
		if (access(file, X_OK) == 0)
			return 1;
	}
	return 0;
}

/* Wait until p, just started, listens on p->port; else the test fails. */
static void
await_port(struct h_proc *p, int wrap)
{
	char *err;

	if (h_wait_port(p->port, wrap && p->wrapped ? 20000 : 5000) < 0 ||
	    h_wait_exit(p, 0) != -1 || p->done) {
		err = h_slurp(p->err);
		ck_abort_msg("%s never listened on port %d; its stderr: %s",
		    p->name, p->port, err);
	}
}

/* Start a program that should listen on port, and wait until it does. */
static struct h_proc *
spawn_listener(const char *name, char *const argv[], int wrap, int port)
{
	struct h_proc *p = h_spawn(name, argv, wrap);

	p->port = port;
	await_port(p, wrap);
	return p;
}

/*
 * LB_EXTRA: words for every balancer final/'s suites start, after the
 * test's own (tests/Makefile's MUX=poll sets "-e poll"): appended to
 * argv[0..n), the new count.
 */
static int
extra_args(char **argv, int n)
{
	static char words[256];
	const char *e = getenv("LB_EXTRA");
	char *w;

	if (e == NULL || *e == '\0' || h_level() < 4)
		return n;
	snprintf(words, sizeof(words), "%s", e);
	for (w = strtok(words, " "); w != NULL && n < MAX_ARGS - 1;
	    w = strtok(NULL, " "))
		argv[n++] = w;
	return n;
}

/*
 * A test server (prog, from the environment variable env, or ./dflt)
 * on port, named name, with extra args: tests/backend and tests/wsecho
 * take the same -l and -n.
 */
static struct h_proc *
vserver(const char *env, const char *dflt, int port, const char *name,
    va_list ap)
{
	const char *prog = getenv(env);
	char *argv[MAX_ARGS], portstr[8];
	int n = 0;
	char *a;

	snprintf(portstr, sizeof(portstr), "%d", port);
	argv[n++] = (char *)(prog != NULL ? prog : dflt);
	argv[n++] = "-l";
	argv[n++] = portstr;
	argv[n++] = "-n";
	argv[n++] = (char *)name;
	while ((a = va_arg(ap, char *)) != NULL && n < MAX_ARGS - 1)
		argv[n++] = a;
	argv[n] = NULL;
	return spawn_listener(name, argv, 0, port);
}

struct h_proc *
h_backend(const char *name, ...)
{
	struct h_proc *p;
	va_list ap;

	va_start(ap, name);
	p = vserver("BACKEND", "./backend", h_free_port(), name, ap);
	va_end(ap);
	return p;
}

struct h_proc *
h_backend_at(int port, const char *name, ...)
{
	struct h_proc *p;
	va_list ap;

	va_start(ap, name);
	p = vserver("BACKEND", "./backend", port, name, ap);
	va_end(ap);
	return p;
}

struct h_proc *
h_wsecho(const char *name, ...)
{
	struct h_proc *p;
	va_list ap;

	va_start(ap, name);
	p = vserver("WSECHO", "./wsecho", h_free_port(), name, ap);
	va_end(ap);
	return p;
}

static const char *listen_opts = "";	/* h_listen_opts() */

/* ",proxy" and the like after the next lb's -l PORT. */
void
h_listen_opts(const char *opts)
{
	listen_opts = opts;
}

struct h_proc *
h_lb_start(char *const args[])
{
	char *argv[MAX_ARGS], portstr[32];
	struct h_proc *p;
	int n = 0, i, port = h_free_port();

	snprintf(portstr, sizeof(portstr), "%d%s", port, listen_opts);
	listen_opts = "";
	argv[n++] = (char *)h_lb_path();
	argv[n++] = "-l";
	argv[n++] = portstr;
	for (i = 0; args[i] != NULL && n < MAX_ARGS - 1; i++)
		argv[n++] = args[i];
	n = extra_args(argv, n);
	argv[n] = NULL;
	p = h_spawn("lb", argv, 1);
	p->port = port;
	return p;
}

struct h_proc *
h_lb_args(char *const args[])
{
	struct h_proc *p = h_lb_start(args);

	await_port(p, 1);
	return p;
}

/* The balancer in front of these backends, plus extra args (NULL-ended). */
struct h_proc *
h_lb(int nbackends, struct h_proc **backends, ...)
{
	static char addrs[MAX_PROCS][24];
	char *args[MAX_ARGS];
	int n = 0, i;
	va_list ap;
	char *a;

	for (i = 0; i < nbackends && i < MAX_PROCS; i++) {
		snprintf(addrs[i], sizeof(addrs[i]), "127.0.0.1:%d",
		    backends[i]->port);
		args[n++] = "-b";
		args[n++] = addrs[i];
	}
	va_start(ap, backends);
	while ((a = va_arg(ap, char *)) != NULL && n < MAX_ARGS - 1)
		args[n++] = a;
	va_end(ap);
	args[n] = NULL;
	return h_lb_args(args);
}

int
h_wait_exit(struct h_proc *p, int ms)
{
	long end = h_now_ms() + ms;

	while (!p->done) {
		pid_t r = waitpid(p->pid, &p->status, WNOHANG);
		if (r == p->pid)
			p->done = 1;
		else if (r < 0 && errno != EINTR)
			return -1;
		else if (h_now_ms() >= end)
			return -1;
		else
			h_pause_ms(5);
	}
	return WIFEXITED(p->status) ? WEXITSTATUS(p->status) : -1;
}

void
h_kill(struct h_proc *p)
{
	if (p->done)
		return;
	kill(-p->pid, SIGKILL);
	while (waitpid(p->pid, &p->status, 0) < 0 && errno == EINTR)
		;
	p->done = 1;
}

char *
h_slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	size_t n = 0, cap = 4096, r;
	char *s = malloc(cap);

	ck_assert_ptr_nonnull(s);
	if (f != NULL) {
		while ((r = fread(s + n, 1, cap - n - 1, f)) > 0) {
			n += r;
			if (cap - n < 2) {
				s = realloc(s, cap *= 2);
				ck_assert_ptr_nonnull(s);
			}
		}
		fclose(f);
	}
	s[n] = '\0';
	return s;
}

int
h_wait_for_text(const char *path, const char *text, int ms)
{
	long end = h_now_ms() + ms;
	int found;

	do {
		char *s = h_slurp(path);
		found = strstr(s, text) != NULL;
		free(s);
		if (found)
			return 1;
		h_pause_ms(20);
	} while (h_now_ms() < end);
	return 0;
}

/*
 * Does a sanitizer or valgrind complain in this stderr text? Or final/lb
 * itself, of a broken invariant (bug() in conn.c)?
 */
static const char *
complaint(const char *s)
{
	static const char *const marks[] = {
		"ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
		"runtime error:", "definitely lost: ", "Invalid read",
		"Invalid write", "uninitialised", "Open AF_",
		"Open file descriptor", "internal error at ", NULL
	};
	const char *m, *hit;
	int i;

	for (i = 0; marks[i] != NULL; i++) {
		if ((hit = strstr(s, marks[i])) == NULL)
			continue;
		m = marks[i];
		/* "definitely lost: 0 bytes" is valgrind saying all is well. */
		if (strcmp(m, "definitely lost: ") == 0 &&
		    strncmp(hit + strlen(m), "0 bytes", 7) == 0)
			continue;
		return hit;
	}
	return NULL;
}

/* Stop one program politely; it must exit 0 and its stderr be clean. */
static void
stop_checked(struct h_proc *p)
{
	char *err;
	const char *bad;
	int code = 0;

	if (!p->done) {
		kill(p->pid, SIGTERM);
		code = h_wait_exit(p, p->wrapped ? 30000 : 5000);
		h_kill(p);
	}
	err = h_slurp(p->err);
	bad = complaint(err);
	if (bad != NULL)
		ck_abort_msg("%s's stderr reports a problem: %.600s", p->name,
		    bad);
	free(err);
	if (code != 0)
		ck_abort_msg("%s did not exit with status 0 on SIGTERM (%d)",
		    p->name, code);
}

/*
 * After a test: close the test's connections, stop the backends, then
 * the balancer (so it is never left blocked on a backend), check each,
 * and remove the logs. A failed test never gets here, so its logs stay.
 */
void
h_teardown(void)
{
	int i, pass;

	if (guard_owner != getpid())
		return;
	for (i = 0; i < MAX_CONNS; i++)
		if (conns[i] != NULL)
			h_close(conns[i]);
	for (pass = 0; pass < 2; pass++)
		for (i = 0; i < nprocs; i++)
			if ((strcmp(procs[i].name, "lb") == 0) == pass)
				stop_checked(&procs[i]);
	for (i = 0; i < nprocs; i++) {
		unlink(procs[i].out);
		unlink(procs[i].err);
	}
	nprocs = 0;
}

/*
 * H_TEST=name runs that one test alone (CK_RUN_SUITE picks its suite;
 * each suite has one case of its name, so CK_RUN_CASE does too).
 */
int
h_wanted(const TTest *t)
{
	const char *only = getenv("H_TEST");

	return only == NULL || *only == '\0' || strcmp(only, t->name) == 0;
}

/*
 * A suite of integration tests: each gets the harness's teardown (so
 * nothing it started outlives it) and SUITE_TIMEOUT seconds. *tc, when
 * asked for, takes loop tests too (added with h_wanted() in mind).
 */
Suite *
h_suite(const char *name, const TTest *const *tests, TCase **tc)
{
	Suite *s = suite_create(name);
	TCase *t = tcase_create(name);

	tcase_add_checked_fixture(t, NULL, h_teardown);
	tcase_set_timeout(t, SUITE_TIMEOUT);
	for (; *tests != NULL; tests++)
		if (h_wanted(*tests))
			tcase_add_test(t, *tests);
	suite_add_tcase(s, t);
	if (tc != NULL)
		*tc = t;
	return s;
}

/*
 * Stop lb as an operator would (SIGTERM), which must end it cleanly,
 * then its access log, all of it: free() it.
 */
char *
h_stopped_log(struct h_proc *lb)
{
	char *log;

	ck_assert_int_eq(kill(lb->pid, SIGTERM), 0);
	ck_assert_int_eq(h_wait_exit(lb, h_scaled(5000)), 0);
	log = h_slurp(lb->out);
	ck_assert_ptr_nonnull(log);
	return log;
}

/* lb -b 127.0.0.1:9,opts must exit 2: "lb: bad -b '...,opts': why". */
void
h_expect_bad_backend(const char *opts, const char *why)
{
	char arg[96], want[256], *args[3];

	snprintf(arg, sizeof(arg), "127.0.0.1:9,%s", opts);
	snprintf(want, sizeof(want), "lb: bad -b '%s': %s", arg, why);
	args[0] = "-b";
	args[1] = arg;
	args[2] = NULL;
	h_expect_bad_args(args, want);
}

/* Run the balancer with these args; it must exit 2 naming want. */
void
h_expect_bad_args(char *const args[], const char *want)
{
	char *argv[16], *err;
	struct h_proc *p;
	int n = 0, i;

	argv[n++] = (char *)h_lb_path();
	for (i = 0; args[i] != NULL; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	p = h_spawn("lb-args", argv, 0);
	ck_assert_int_eq(h_wait_exit(p, 5000), 2);
	err = h_slurp(p->err);
	ck_assert_msg(strstr(err, want) != NULL, "stderr '%s' lacks '%s'",
	    err, want);
	ck_assert_msg(strstr(err, "usage") != NULL, "no usage in '%s'", err);
	free(err);
}

/* r's body is all len bytes the backend sent: its X-Response-Sum agrees. */
void
h_expect_sent_body(const struct h_resp *r, size_t len)
{
	char sum[17];

	ck_assert_uint_eq(r->body_len, len);
	h_sum_hex(r->body, r->body_len, sum);
	ck_assert_pstr_eq(h_header(r, "X-Response-Sum"), sum);
}

Suite *
unit_suite(const char *name, const struct unit *units, void (*setup)(void),
    void (*teardown)(void))
{
	Suite *s = suite_create(name);
	TCase *t = tcase_create(name);

	if (setup != NULL || teardown != NULL)
		tcase_add_checked_fixture(t, setup, teardown);
	tcase_set_timeout(t, 5);
	for (; units->test != NULL; units++) {
		if (!h_wanted(units->test))
			continue;
		if (units->rows > 0)
			tcase_add_loop_test(t, units->test, 0, units->rows);
		else
			tcase_add_test(t, units->test);
	}
	suite_add_tcase(s, t);
	return s;
}

struct h_conn *
h_connect(int port)
{
	return h_connect_slow(port, 0);
}

struct h_conn *
h_connect_slow(int port, int ms)
{
	struct h_conn *c;
	int i;

	for (i = 0; i < MAX_CONNS && conns[i] != NULL; i++)
		;
	ck_assert_int_lt(i, MAX_CONNS);
	c = calloc(1, sizeof(*c));
	ck_assert_ptr_nonnull(c);
	c->fd = h_dial(port, ms > 0 ? SLOW_RCVBUF : 0);
	ck_assert_msg(c->fd >= 0, "cannot connect to port %d: %s", port,
	    strerror(errno));
	c->slow_ms = ms;
	conns[i] = c;
	return c;
}

void
h_close(struct h_conn *c)
{
	int i;

	for (i = 0; i < MAX_CONNS; i++)
		if (conns[i] == c)
			conns[i] = NULL;
	close(c->fd);
	free(c->buf);
	free(c);
}

/* All n bytes to a blocking fd: 0, or -1 with errno. */
int
h_write_all(int fd, const void *p, size_t n)
{
	const char *s = p;
	ssize_t w;

	while (n > 0) {
		if ((w = write(fd, s, n)) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

int
h_send(struct h_conn *c, const void *p, size_t n)
{
	return h_write_all(c->fd, p, n);
}

int
h_sends(struct h_conn *c, const char *s)
{
	return h_send(c, s, strlen(s));
}

/*
 * Read more into c->buf before the deadline: >0 bytes, 0 the end (EOF,
 * or a reset: then c->reset is set), -1 timeout. A slow connection
 * takes SLOW_RCVBUF bytes at most, after a pause of slow_ms.
 */
static ssize_t
fill(struct h_conn *c, long deadline)
{
	struct pollfd pfd = { c->fd, POLLIN, 0 };
	size_t want;
	long left;
	ssize_t r;

	if (c->cap - c->len < 65536) {
		c->cap = c->cap * 2 + 65536;
		c->buf = realloc(c->buf, c->cap);
		ck_assert_ptr_nonnull(c->buf);
	}
	for (;;) {
		left = deadline - h_now_ms();
		if (left <= 0)
			return -1;
		if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR)
			return -1;
		if (pfd.revents == 0)
			continue;
		want = c->cap - c->len - 1;
		if (c->slow_ms > 0) {
			h_pause_ms(c->slow_ms);
			if (want > SLOW_RCVBUF)
				want = SLOW_RCVBUF;
		}
		r = read(c->fd, c->buf + c->len, want);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			c->reset = 1;	/* the end, but not a clean one */
			return 0;
		}
		c->len += (size_t)r;
		c->buf[c->len] = '\0';
		return r;
	}
}

/* Find "\r\n\r\n" in c->buf; returns the head's length or 0. */
static size_t
find_head(const struct h_conn *c)
{
	size_t i;

	for (i = 3; i < c->len; i++)
		if (memcmp(c->buf + i - 3, "\r\n\r\n", 4) == 0)
			return i + 1;
	return 0;
}

static void
consume(struct h_conn *c, size_t n)
{
	memmove(c->buf, c->buf + n, c->len - n);
	c->len -= n;
}

/*
 * Append n bytes from the connection buffer to the body. The body grows
 * by doubling: a slow reader takes 4 KB at a time, and a realloc() for
 * each of them copies a 5 MB body over a thousand times (under ASan,
 * whose realloc() always moves, that alone took the test past its
 * timeout).
 */
static void
take_body(struct h_conn *c, struct h_resp *r, size_t n)
{
	if (r->body_len + n + 1 > r->body_cap) {
		r->body_cap = (r->body_len + n + 1) * 2;
		r->body = realloc(r->body, r->body_cap);
		ck_assert_ptr_nonnull(r->body);
	}
	memcpy(r->body + r->body_len, c->buf, n);
	r->body_len += n;
	r->body[r->body_len] = '\0';
	consume(c, n);
}

/* Read exactly n body bytes. */
static int
read_fixed(struct h_conn *c, struct h_resp *r, size_t n, long deadline)
{
	while (n > 0) {
		size_t k = c->len < n ? c->len : n;
		take_body(c, r, k);
		n -= k;
		if (n > 0 && fill(c, deadline) <= 0)
			return -1;
	}
	return 0;
}

/* Read one line (CRLF) of a chunked body into line. */
static int
read_line(struct h_conn *c, char *line, size_t max, long deadline)
{
	char *nl;

	while ((nl = memchr(c->buf, '\n', c->len)) == NULL)
		if (c->len > max || fill(c, deadline) <= 0)
			return -1;
	if ((size_t)(nl - c->buf) >= max)
		return -1;
	memcpy(line, c->buf, (size_t)(nl - c->buf));
	line[nl - c->buf] = '\0';
	consume(c, (size_t)(nl - c->buf) + 1);
	return 0;
}

static int
read_chunked(struct h_conn *c, struct h_resp *r, long deadline)
{
	char line[1024], *end;
	unsigned long n;

	for (;;) {
		if (read_line(c, line, sizeof(line), deadline) < 0)
			return -1;
		n = strtoul(line, &end, 16);
		if (end == line)
			return -1;
		if (n == 0)
			break;
		if (read_fixed(c, r, n, deadline) < 0 ||
		    read_line(c, line, sizeof(line), deadline) < 0 ||
		    strcmp(line, "\r") != 0)
			return -1;
	}
	do			/* trailers, up to the empty line */
		if (read_line(c, line, sizeof(line), deadline) < 0)
			return -1;
	while (strcmp(line, "\r") != 0);
	return 0;
}

/* No length given: the body ends when the peer closes. */
static int
read_to_close(struct h_conn *c, struct h_resp *r, long deadline)
{
	ssize_t got;

	do {
		take_body(c, r, c->len);
		got = fill(c, deadline);
	} while (got > 0);
	return got == 0 && !c->reset ? 0 : -1;
}

int
h_read_response(struct h_conn *c, struct h_resp *r, int head_req, int ms)
{
	long deadline = h_now_ms() + ms;
	const char *te, *cl;
	size_t hlen;

	memset(r, 0, sizeof(*r));
	r->body = calloc(1, 1);
	ck_assert_ptr_nonnull(r->body);
	r->body_cap = 1;
	while ((hlen = find_head(c)) == 0)
		if (fill(c, deadline) <= 0)
			return -1;
	r->head = malloc(hlen + 1);
	ck_assert_ptr_nonnull(r->head);
	memcpy(r->head, c->buf, hlen);
	r->head[hlen] = '\0';
	consume(c, hlen);
	if (sscanf(r->head, "HTTP/1.%*1[01] %3d", &r->status) != 1)
		return -1;
	te = h_header(r, "Transfer-Encoding");
	cl = h_header(r, "Content-Length");
	if (head_req || r->status / 100 == 1 || r->status == 204 ||
	    r->status == 304)
		r->complete = 1;
	else if (te != NULL && strcasecmp(te, "chunked") == 0)
		r->complete = read_chunked(c, r, deadline) == 0;
	else if (cl != NULL)
		r->complete = read_fixed(c, r, strtoul(cl, NULL, 10),
		    deadline) == 0;
	else
		r->complete = read_to_close(c, r, deadline) == 0;
	if (!r->complete)
		c->len = 0;	/* the stream ended: what is left was its end */
	return 0;
}

/* Does the peer close the connection (EOF or reset) within ms? */
int
h_peer_closed(struct h_conn *c, int ms)
{
	long deadline = h_now_ms() + ms;
	ssize_t r;

	c->len = 0;
	while ((r = fill(c, deadline)) > 0)
		c->len = 0;
	return r == 0;
}

/* Does the peer close within ms, without sending one more byte? */
int
h_peer_closed_silently(struct h_conn *c, int ms)
{
	return c->len == 0 && fill(c, h_now_ms() + ms) == 0;
}

/* One request on a new connection; the response in r. 0 or -1. */
int
h_request(int port, const char *raw, struct h_resp *r)
{
	struct h_conn *c = h_connect(port);
	int head = strncmp(raw, "HEAD ", 5) == 0, rc;

	if (h_sends(c, raw) < 0) {
		memset(r, 0, sizeof(*r));
		h_close(c);
		return -1;
	}
	rc = h_read_response(c, r, head, H_TIMEOUT_MS);
	h_close(c);
	return rc;
}

/*
 * One response off fd, its body counted, not kept: 1 whole, 0 the
 * connection ended first, -1 nothing for ms (a client left hanging).
 */
int
h_read_one(int fd, int ms)
{
	char buf[16384];
	size_t len = 0;
	long long body = -1, got = 0;
	struct pollfd pfd = { fd, POLLIN, 0 };
	const char *end, *cl;
	ssize_t r;

	buf[0] = '\0';
	for (;;) {
		if (body < 0 && (end = strstr(buf, "\r\n\r\n")) != NULL) {
			if ((cl = strstr(buf, "Content-Length: ")) == NULL)
				return 0;
			body = atoll(cl + 16);
			got = (long long)len - (end + 4 - buf);
		}
		if (body >= 0 && got >= body)
			return 1;
		if (poll(&pfd, 1, ms) <= 0)
			return -1;
		if (body < 0) {
			if (len == sizeof(buf) - 1 ||
			    (r = read(fd, buf + len, sizeof(buf) - 1 - len)) <= 0)
				return 0;
			len += (size_t)r;
			buf[len] = '\0';
		} else if ((r = read(fd, buf, sizeof(buf))) <= 0)
			return 0;
		else
			got += r;
	}
}

/* The backend's /control/stats line "name N", as a number (-1: none). */
long
h_backend_stat(int port, const char *name)
{
	struct h_resp r;
	const char *p;
	long n = -1;

	ck_assert_int_eq(h_request(port, "GET /control/stats HTTP/1.1\r\n"
	    "Host: x\r\nConnection: close\r\n\r\n", &r), 0);
	if ((p = strstr(r.body, name)) != NULL)
		n = atol(p + strlen(name));
	h_resp_free(&r);
	return n;
}

/*
 * The value of the first header called name in head (a status or
 * request line, then headers), copied to out (n bytes); or NULL.
 */
const char *
h_head_value(const char *head, const char *name, char *out, size_t n)
{
	size_t len = strlen(name);
	const char *p, *v, *e;

	for (p = strstr(head, "\r\n"); p != NULL; p = strstr(p, "\r\n")) {
		p += 2;
		if (strncasecmp(p, name, len) != 0 || p[len] != ':')
			continue;
		for (v = p + len + 1; *v == ' ' || *v == '\t'; v++)
			;
		e = strstr(v, "\r\n");
		snprintf(out, n, "%.*s", (int)(e - v), v);
		return out;
	}
	return NULL;
}

/* The value of the first header called name (a static copy), or NULL. */
const char *
h_header(const struct h_resp *r, const char *name)
{
	static char vals[4][1024];
	static int next;

	if (r->head == NULL)
		return NULL;
	return h_head_value(r->head, name, vals[next++ % 4], sizeof(vals[0]));
}

int
h_header_count(const struct h_resp *r, const char *name)
{
	size_t n = strlen(name);
	const char *p;
	int count = 0;

	if (r->head == NULL)
		return 0;
	for (p = strstr(r->head, "\r\n"); p != NULL; p = strstr(p, "\r\n")) {
		p += 2;
		if (strncasecmp(p, name, n) == 0 && p[n] == ':')
			count++;
	}
	return count;
}

void
h_resp_free(struct h_resp *r)
{
	free(r->head);
	free(r->body);
	memset(r, 0, sizeof(*r));
}

void
h_sum_hex(const void *p, size_t n, char out[17])
{
	snprintf(out, 17, "%016llx", (unsigned long long)fnv1a(FNV_INIT, p, n));
}

/* Raise our own descriptor limit (children inherit it); 0 if we cannot. */
int
h_raise_fd_limit(long want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 0;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < (rlim_t)want)
		return 0;
	rl.rlim_cur = (rlim_t)want;
	return setrlimit(RLIMIT_NOFILE, &rl) == 0;
}

/*
 * Looking inside a running program. Descriptors and CPU time come from
 * Linux's /proc (-1 where there is none: the caller skips its test);
 * resident memory from ps(1), which every Unix has.
 */
int
h_fd_count(pid_t pid)
{
	char path[64];
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%ld/fd", (long)pid);
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

long
h_cpu_ms(pid_t pid)
{
	char path[64], *s, *p;
	unsigned long ut, st;
	long hz = sysconf(_SC_CLK_TCK);

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	s = h_slurp(path);
	/* Fields 14 and 15, counted after the ")" that ends the name. */
	p = strrchr(s, ')');
	if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u "
	    "%*u %*u %lu %lu", &ut, &st) != 2) {
		free(s);
		return -1;
	}
	free(s);
	return (long)((ut + st) * 1000 / (unsigned long)hz);
}

long
h_rss_kb(pid_t pid)
{
	char cmd[64];
	long kb = -1;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "ps -o rss= -p %ld", (long)pid);
	if ((f = popen(cmd, "r")) == NULL)
		return -1;
	if (fscanf(f, "%ld", &kb) != 1)
		kb = -1;
	pclose(f);
	return kb;
}
