/*
 * lesson2/lb.c - round robin over several backends, still blocking.
 *
 *                       +--> backend 1
 *   client --HTTP--> lb +--> backend 2   (each request: the next one up)
 *                       +--> backend 3
 *
 * Lesson 1's forwarder, plus a list of backends. Each request goes to the
 * next backend in turn. A backend that refuses a connection is marked
 * down, with the time and the reason, and the request moves on to the
 * next one, so the client never notices while any backend works. A down
 * backend stays in the list and becomes eligible again after a cool-down:
 * nothing is ever removed, so nothing is lost. With every backend down,
 * the client gets 503 and a Retry-After at once.
 *
 * Build: cc -std=c99 -D_POSIX_C_SOURCE=200809L -o lb lb.c
 * Usage: lb -l [HOST:]PORT -b HOST:PORT [-b HOST:PORT ...] [-r SECONDS]
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <netdb.h>

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_LISTEN	"8080"
#define DEFAULT_COOLDOWN 5	/* seconds before a down backend is retried */
#define MAX_BACKENDS	64
#define HEAD_MAX	16384	/* request line + headers; larger gets 431 */
#define IO_BUF		65536	/* one read or write of a body */

/* What a "-l" or "-b" argument says: host and port, as strings. */
struct hostport {
	char	host[256];
	char	port[6];
};

/* The parts of a request head that lesson 1 needs. */
struct request {
	char	method[32];
	size_t	head_len;	/* bytes up to and including the blank line */
	long long content_length;	/* -1 when there is no body */
};

/*
 * One backend and what we know about it. A down backend is never removed
 * from the list: it keeps its place and says why and since when.
 */
struct backend {
	struct hostport addr;
	int	up;		/* 1 until a connect fails */
	double	down_since;	/* down: when it went down */
	double	retry_at;	/* down: when it may be tried again */
	char	why[160];	/* down: the reason, for the log */
};

static struct backend backends[MAX_BACKENDS];
static int nbackends;
static int next_backend;	/* where the next round-robin search starts */
static int cooldown = DEFAULT_COOLDOWN;

/* The listening socket, for the signal handler to close. */
static int listen_fd = -1;

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: lb [-h] [-l [HOST:]PORT] [-r SECONDS] -b HOST:PORT "
	    "[-b HOST:PORT ...]\n"
	    "  -l [HOST:]PORT  listen here (default 127.0.0.1:" DEFAULT_LISTEN
	    "; a bare PORT means 127.0.0.1)\n"
	    "  -b HOST:PORT    a backend; repeat for more (up to %d), used in "
	    "turn\n"
	    "  -r SECONDS      retry a down backend after this long (default "
	    "%d)\n"
	    "  -h              show this help\n", MAX_BACKENDS, DEFAULT_COOLDOWN);
}

/*
 * Split "host:port", "[v6addr]:port" or (when a host is optional) "port".
 * Returns 0, or -1 with a reason in *why.
 */
static int
parse_hostport(const char *s, int host_optional, struct hostport *hp,
    const char **why)
{
	const char *colon, *port;
	size_t hlen;
	char *end;
	long n;

	if (s[0] == '[') {			/* [::1]:8080 */
		const char *close = strchr(s, ']');
		if (close == NULL || close[1] != ':') {
			*why = "want [IPV6]:PORT";
			return -1;
		}
		hlen = (size_t)(close - s - 1);
		s++;
		port = close + 2;
	} else if ((colon = strrchr(s, ':')) != NULL) {
		if (strchr(s, ':') != colon) {
			*why = "an IPv6 address needs brackets: [::1]:PORT";
			return -1;
		}
		hlen = (size_t)(colon - s);
		port = colon + 1;
	} else if (host_optional) {		/* bare port */
		port = s;
		s = "127.0.0.1";
		hlen = strlen(s);
	} else {
		*why = "want HOST:PORT";
		return -1;
	}
	if (hlen == 0 || hlen >= sizeof(hp->host)) {
		*why = "missing or too long host";
		return -1;
	}
	errno = 0;
	n = strtol(port, &end, 10);
	if (port[0] < '0' || port[0] > '9' || *end != '\0' || errno != 0 ||
	    n < 1 || n > 65535) {
		*why = "port must be a number from 1 to 65535";
		return -1;
	}
	memcpy(hp->host, s, hlen);
	hp->host[hlen] = '\0';
	snprintf(hp->port, sizeof(hp->port), "%ld", n);
	return 0;
}

/* Print "host:port", bracketing an IPv6 address, for messages. */
static const char *
hostport_str(const struct hostport *hp)
{
	static char buf[sizeof(hp->host) + sizeof(hp->port) + 3];

	if (strchr(hp->host, ':') != NULL)
		snprintf(buf, sizeof(buf), "[%s]:%s", hp->host, hp->port);
	else
		snprintf(buf, sizeof(buf), "%s:%s", hp->host, hp->port);
	return buf;
}

/*
 * write() may write less than asked (a "partial write") and may be
 * interrupted by a signal before writing anything (EINTR). Loop until
 * everything is out or a real error happens.
 */
static int
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* read() that retries when a signal interrupts it. */
static ssize_t
read_some(int fd, char *p, size_t n)
{
	ssize_t r;

	do
		r = read(fd, p, n);
	while (r < 0 && errno == EINTR);
	return r;
}

/*
 * Send a short error response. The client may still be sending (say, a
 * header too large for us), and closing a socket that has unread input
 * makes the kernel send a reset, which can destroy our answer before the
 * client reads it. So: answer, shut our side, read and drop what is left
 * for up to a second, then close. This is a "lingering close".
 */
static void
send_error(int fd, int status, const char *reason, const char *extra,
    const char *detail)
{
	char msg[512], buf[4096];
	struct timeval tv = { 1, 0 };
	int len, total = 0;

	len = snprintf(msg, sizeof(msg),
	    "HTTP/1.1 %d %s\r\n"
	    "Content-Type: text/plain\r\n"
	    "Content-Length: %zu\r\n"
	    "Connection: close\r\n"
	    "%s"
	    "\r\n"
	    "%d %s: %s\n",
	    status, reason, strlen(reason) + strlen(detail) + 7,
	    extra, status, reason, detail);
	if (len < 0 || (size_t)len >= sizeof(msg))
		return;
	if (write_all(fd, msg, (size_t)len) < 0)
		return;
	shutdown(fd, SHUT_WR);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (total < 1 << 20) {
		ssize_t r = read_some(fd, buf, sizeof(buf));
		if (r <= 0)
			break;
		total += (int)r;
	}
}

/* Where does the head end? Returns the length including "\r\n\r\n", or 0. */
static size_t
head_end(const char *buf, size_t n)
{
	size_t i;

	for (i = 3; i < n; i++)
		if (buf[i] == '\n' && buf[i - 1] == '\r' &&
		    buf[i - 2] == '\n' && buf[i - 3] == '\r')
			return i + 1;
	return 0;
}

/* RFC 9110 "tchar": the characters allowed in a method or header name. */
static int
is_tchar(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z') || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c));
}

/* Parse "METHOD SP TARGET SP HTTP/1.x" ending at eol. 0 or -1. */
static int
parse_request_line(const char *p, const char *eol, struct request *req)
{
	const char *sp1, *sp2;
	size_t mlen;

	for (sp1 = p; sp1 < eol && is_tchar((unsigned char)*sp1); sp1++)
		;
	mlen = (size_t)(sp1 - p);
	if (mlen == 0 || mlen >= sizeof(req->method) || sp1 == eol ||
	    *sp1 != ' ')
		return -1;
	for (sp2 = sp1 + 1; sp2 < eol && (unsigned char)*sp2 > ' ' &&
	    *sp2 != 0x7f; sp2++)
		;
	if (sp2 == sp1 + 1 || sp2 == eol || *sp2 != ' ')
		return -1;
	if (eol - (sp2 + 1) != 8 || strncmp(sp2 + 1, "HTTP/1.", 7) != 0 ||
	    (sp2[8] != '0' && sp2[8] != '1'))
		return -1;
	memcpy(req->method, p, mlen);
	req->method[mlen] = '\0';
	return 0;
}

/*
 * Parse a Content-Length value: digits only. A second Content-Length
 * with a different value is an attack ("request smuggling"), not a typo.
 */
static int
parse_content_length(const char *v, const char *end, long long *out)
{
	long long n = 0;

	if (v == end)
		return -1;
	for (; v < end; v++) {
		if (*v < '0' || *v > '9' || n > (LLONG_MAX - 9) / 10)
			return -1;
		n = n * 10 + (*v - '0');
	}
	if (*out >= 0 && *out != n)
		return -1;
	*out = n;
	return 0;
}

/*
 * Check a complete request head (buf[0..len) ends with "\r\n\r\n").
 * Returns 0, or the HTTP status to answer with: 400 for a malformed
 * head, 501 for a transfer coding lesson 1 does not speak.
 */
static int
parse_request(const char *buf, size_t len, struct request *req)
{
	const char *p = buf, *end = buf + len - 2, *eol, *colon, *v, *ve;

	req->head_len = len;
	req->content_length = -1;
	eol = strstr(p, "\r\n");
	if (parse_request_line(p, eol, req) < 0)
		return 400;
	for (p = eol + 2; p < end; p = eol + 2) {
		eol = strstr(p, "\r\n");
		if (*p == ' ' || *p == '\t')	/* obsolete line folding */
			return 400;
		for (colon = p; colon < eol && is_tchar((unsigned char)*colon);
		    colon++)
			;
		if (colon == p || colon == eol || *colon != ':')
			return 400;	/* also "Name :" with a space */
		for (v = colon + 1; v < eol && (*v == ' ' || *v == '\t'); v++)
			;
		for (ve = eol; ve > v && (ve[-1] == ' ' || ve[-1] == '\t'); ve--)
			;
		if (colon - p == 14 && strncasecmp(p, "Content-Length", 14) == 0) {
			if (parse_content_length(v, ve, &req->content_length) < 0)
				return 400;
		} else if (colon - p == 17 &&
		    strncasecmp(p, "Transfer-Encoding", 17) == 0)
			return 501;
	}
	return 0;
}

/* Is this header line one that must not be passed on to the backend? */
static int
is_connection_header(const char *line)
{
	static const char *const names[] = {
		"Connection:", "Keep-Alive:", "Proxy-Connection:", NULL
	};
	int i;

	for (i = 0; names[i] != NULL; i++)
		if (strncasecmp(line, names[i], strlen(names[i])) == 0)
			return 1;
	return 0;
}

/*
 * Write the request head for the backend into out: the same request line
 * and headers, minus the client's own connection headers, plus
 * "Connection: close" so the backend closes when it has answered. That
 * close is how we know the response is complete.
 */
static size_t
rewrite_head(const char *buf, size_t head_len, char *out)
{
	const char *p = buf, *end = buf + head_len - 2, *eol;
	size_t n = 0;

	for (; p < end; p = eol + 2) {
		eol = strstr(p, "\r\n");
		if (p == buf || !is_connection_header(p)) {
			memcpy(out + n, p, (size_t)(eol + 2 - p));
			n += (size_t)(eol + 2 - p);
		}
	}
	memcpy(out + n, "Connection: close\r\n\r\n", 21);
	return n + 21;
}

/*
 * Connect to the backend. getaddrinfo may return several addresses
 * ("localhost" is often ::1 and 127.0.0.1): try each in order.
 * Returns a connected socket, or -1 with errno from the last attempt.
 */
static int
connect_backend(const struct hostport *be)
{
	struct addrinfo hints, *res, *ai;
	int fd = -1, err, saved = ECONNREFUSED;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((err = getaddrinfo(be->host, be->port, &hints, &res)) != 0) {
		errno = EHOSTUNREACH;
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
		if (fd < 0) {
			saved = errno;
			continue;
		}
		while ((err = connect(fd, ai->ai_addr, ai->ai_addrlen)) < 0 &&
		    errno == EINTR)
			;
		if (err == 0)
			break;
		saved = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	errno = saved;
	return fd;
}

/* Seconds on a clock that never jumps (unlike the time of day). */
static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Round robin: starting where the last search stopped, the first backend
 * that is up, or down but past its cool-down. Returns its index, or -1.
 * The list never changes size, so the index is always valid; compare the
 * Flask balancer, which removed servers from the list it indexed.
 */
static int
pick_backend(double now)
{
	int i, b;

	for (i = 0; i < nbackends; i++) {
		b = (next_backend + i) % nbackends;
		if (backends[b].up || backends[b].retry_at <= now) {
			next_backend = (b + 1) % nbackends;
			return b;
		}
	}
	return -1;
}

/* A connect failed: down (again) until the cool-down has passed. */
static void
mark_down(struct backend *be, double now, int err)
{
	snprintf(be->why, sizeof(be->why), "connect: %s", strerror(err));
	if (be->up) {
		fprintf(stderr, "lb: %s DOWN: %s\n", hostport_str(&be->addr),
		    be->why);
		be->up = 0;
		be->down_since = now;
	}
	be->retry_at = now + cooldown;
}

/* A connect worked: if the backend was down, it is back. */
static void
mark_up(struct backend *be, double now)
{
	if (be->up)
		return;
	fprintf(stderr, "lb: %s UP after %.1f s down\n",
	    hostport_str(&be->addr), now - be->down_since);
	be->up = 1;
}

/* Whole seconds until the first down backend may be tried, at least 1. */
static int
retry_after(double now)
{
	double soonest = now + cooldown;
	int i, secs;

	for (i = 0; i < nbackends; i++)
		if (!backends[i].up && backends[i].retry_at < soonest)
			soonest = backends[i].retry_at;
	secs = (int)(soonest - now + 0.999);
	return secs < 1 ? 1 : secs;
}

/*
 * Connect to the next backend in turn. When a connect fails, mark that
 * backend down and try the next: nothing has been sent yet, so this is
 * safe for any request. Each backend gets one try per request (with -r 0
 * a failed one would be due again at once). Returns a socket, or -1.
 */
static int
connect_next(void)
{
	double now = now_s();
	int b, fd, tries;

	for (tries = 0; tries < nbackends &&
	    (b = pick_backend(now)) >= 0; tries++) {
		if ((fd = connect_backend(&backends[b].addr)) >= 0) {
			mark_up(&backends[b], now);
			return fd;
		}
		mark_down(&backends[b], now, errno);
	}
	return -1;
}

/*
 * Copy the rest of the request body (Content-Length minus what arrived
 * with the head) from the client to the backend. Returns 0 when all is
 * sent, -1 when the client gave up, 1 when the backend stopped reading.
 */
static int
forward_body(int cfd, int bfd, long long left, char *buf)
{
	while (left > 0) {
		size_t want = left < IO_BUF ? (size_t)left : IO_BUF;
		ssize_t r = read_some(cfd, buf, want);
		if (r <= 0)
			return -1;	/* client gave up mid-body */
		if (write_all(bfd, buf, (size_t)r) < 0)
			return 1;
		left -= r;
	}
	return 0;
}

/*
 * Copy the backend's answer to the client until the backend closes.
 * Returns the bytes relayed, or -1 if the backend sent nothing at all.
 */
static long long
relay_response(int bfd, int cfd, char *buf)
{
	long long total = 0;
	ssize_t r;

	while ((r = read_some(bfd, buf, IO_BUF)) > 0) {
		if (write_all(cfd, buf, (size_t)r) < 0)
			break;		/* the client went away */
		total += r;
	}
	return total > 0 ? total : -1;
}

/*
 * HTTP lines end in CRLF. A NUL byte, or a lone LF (what "nc" sends unless
 * given -C), would confuse the string functions below: refuse them early
 * rather than wait for a "\r\n\r\n" that will never come. A lone CR is
 * worse: a backend that takes it for a line end would see a header that
 * we did not ("X: a\rContent-Length: 5"). RFC 9112 says reject it.
 */
static int
bad_bytes(const char *buf, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (buf[i] == '\0' || (buf[i] == '\n' && (i == 0 ||
		    buf[i - 1] != '\r')) || (buf[i] == '\r' && i + 1 < n &&
		    buf[i + 1] != '\n'))
			return 1;
	return 0;
}

/* Read the request head into buf. Returns its length, 0 on EOF, or -status. */
static long
read_head(int cfd, char *buf, size_t *have)
{
	size_t end;

	*have = 0;
	for (;;) {
		ssize_t r = read_some(cfd, buf + *have, HEAD_MAX - *have);
		if (r <= 0)
			return 0;	/* closed (or failed) before a full head */
		*have += (size_t)r;
		buf[*have] = '\0';
		end = head_end(buf, *have);
		if (bad_bytes(buf, end > 0 ? end : *have))
			return -400;	/* (body bytes may be anything) */
		if (end > 0)
			return (long)end;
		if (*have == HEAD_MAX)
			return -431;
	}
}

/* Serve one client from its first byte to our answer's last. */
static void
handle_client(int cfd)
{
	static char head[HEAD_MAX + 1], out[HEAD_MAX + 32], buf[IO_BUF];
	struct request req;
	size_t have, extra, n;
	long len;
	int bfd, status;

	len = read_head(cfd, head, &have);
	if (len == 0)
		return;
	if (len == -431) {
		send_error(cfd, 431, "Request Header Fields Too Large", "",
		    "the request head is over 16 KiB");
		return;
	}
	if (len < 0 || (status = parse_request(head, (size_t)len, &req)) == 400) {
		send_error(cfd, 400, "Bad Request", "", "malformed request head");
		return;
	}
	if (status == 501) {
		send_error(cfd, 501, "Not Implemented", "",
		    "lesson 2 reads only Content-Length bodies");
		return;
	}
	if ((bfd = connect_next()) < 0) {
		char extra[64];
		snprintf(extra, sizeof(extra), "Retry-After: %d\r\n",
		    retry_after(now_s()));
		send_error(cfd, 503, "Service Unavailable", extra,
		    "no backend is up");
		return;
	}
	/* Body bytes that arrived with the head go first. */
	extra = have - req.head_len;
	if (req.content_length < 0)
		extra = 0;
	else if ((long long)extra > req.content_length)
		extra = (size_t)req.content_length;	/* ignore what follows */
	/*
	 * A backend may answer before it has read the whole request (a 413
	 * for a body too large, say) and close: our next write then fails.
	 * That is no reason to lose its answer, so a failed write to the
	 * backend falls through to the relay. Only a client that vanished
	 * mid-body leaves nobody to answer.
	 */
	n = rewrite_head(head, req.head_len, out);
	if (write_all(bfd, out, n) == 0 &&
	    write_all(bfd, head + req.head_len, extra) == 0 &&
	    req.content_length > (long long)extra &&
	    forward_body(cfd, bfd, req.content_length - (long long)extra,
	    buf) < 0) {
		close(bfd);
		return;
	}
	if (relay_response(bfd, cfd, buf) < 0)
		send_error(cfd, 502, "Bad Gateway", "",
		    "the backend closed without answering");
	close(bfd);
}

/* Open the listening socket: the first address that binds wins. */
static int
listen_on(const struct hostport *hp)
{
	struct addrinfo hints, *res, *ai;
	int fd = -1, one = 1, err, saved = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	if ((err = getaddrinfo(hp->host, hp->port, &hints, &res)) != 0) {
		fprintf(stderr, "lb: cannot listen on %s: %s\n",
		    hostport_str(hp), gai_strerror(err));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if ((fd = socket(ai->ai_family, ai->ai_socktype,
		    ai->ai_protocol)) < 0) {
			saved = errno;
			continue;
		}
		/* Let a restarted lb bind at once, despite old TIME_WAITs. */
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, 128) == 0)
			break;
		saved = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		fprintf(stderr, "lb: cannot listen on %s: %s\n",
		    hostport_str(hp), strerror(saved));
	return fd;
}

/*
 * SIGINT or SIGTERM. main() holds these signals while it serves a client,
 * so this runs only between clients: nothing is half done, and we can
 * leave at once. close() and _exit() are among the few calls that are
 * safe inside a signal handler (exit() and printf() are not).
 */
static void
on_stop(int sig)
{
	(void)sig;
	close(listen_fd);
	_exit(0);
}

/*
 * A peer that closes while we write would kill us with SIGPIPE: ignore
 * it, and get EPIPE from write() instead.
 */
static void
setup_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = on_stop;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/* Read the command line into lis and backends[]. Exits 2 on bad input. */
static void
parse_args(int argc, char **argv, struct hostport *lis)
{
	const char *why;
	char *end;
	long n;
	int c;

	parse_hostport(DEFAULT_LISTEN, 1, lis, &why);
	/* The leading ':' makes getopt quiet: we say what is wrong. */
	while ((c = getopt(argc, argv, ":hl:b:r:")) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			exit(0);
		case 'l':
			if (parse_hostport(optarg, 1, lis, &why) < 0) {
				fprintf(stderr, "lb: bad -l '%s': %s\n", optarg, why);
				goto bad;
			}
			break;
		case 'b':
			if (nbackends == MAX_BACKENDS) {
				fprintf(stderr, "lb: too many -b: at most %d\n",
				    MAX_BACKENDS);
				goto bad;
			}
			if (parse_hostport(optarg, 0, &backends[nbackends].addr,
			    &why) < 0) {
				fprintf(stderr, "lb: bad -b '%s': %s\n", optarg, why);
				goto bad;
			}
			backends[nbackends++].up = 1;	/* until shown otherwise */
			break;
		case 'r':
			errno = 0;
			n = strtol(optarg, &end, 10);
			if (optarg[0] < '0' || optarg[0] > '9' || *end != '\0' ||
			    errno != 0 || n > 3600) {
				fprintf(stderr, "lb: bad -r '%s': want seconds "
				    "from 0 to 3600\n", optarg);
				goto bad;
			}
			cooldown = (int)n;
			break;
		case ':':
			fprintf(stderr, "lb: option -%c needs a value\n", optopt);
			goto bad;
		default:
			fprintf(stderr, "lb: unknown option '-%c'\n", optopt);
			goto bad;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "lb: unexpected argument '%s'\n", argv[optind]);
		goto bad;
	}
	if (nbackends == 0) {
		fprintf(stderr, "lb: missing -b HOST:PORT (the backend)\n");
		goto bad;
	}
	return;
bad:
	usage(stderr);
	exit(2);
}

int
main(int argc, char **argv)
{
	struct hostport lis;
	sigset_t stop;
	int lfd, i;

	parse_args(argc, argv, &lis);
	setup_signals();
	if ((lfd = listen_fd = listen_on(&lis)) < 0)
		return 1;
	fprintf(stderr, "lb: listening on %s", hostport_str(&lis));
	fprintf(stderr, ", balancing over");
	for (i = 0; i < nbackends; i++)
		fprintf(stderr, " %s", hostport_str(&backends[i].addr));
	fprintf(stderr, "\n");
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	for (;;) {
		int cfd = accept(lfd, NULL, NULL);
		if (cfd < 0) {
			if (errno == EMFILE || errno == ENFILE) {
				/* Out of descriptors: wait, don't spin. */
				struct timespec ts = { 0, 100000000 };
				nanosleep(&ts, NULL);
			} else if (errno != EINTR && errno != ECONNABORTED)
				perror("lb: accept");
			continue;
		}
		/*
		 * Hold SIGINT and SIGTERM while serving: one that arrives now
		 * waits, and is delivered when we unblock, between clients.
		 */
		sigprocmask(SIG_BLOCK, &stop, NULL);
		handle_client(cfd);
		close(cfd);
		sigprocmask(SIG_UNBLOCK, &stop, NULL);
	}
}
