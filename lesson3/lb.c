/*
 * lesson3/lb.c - lesson 2's balancer behind one select() loop.
 *
 *            +---------------- one process, one thread ----------------+
 *   clients  |  select() waits for any socket that is ready, then each |
 *   ======>  |  connection takes one step: read a bit, connect, write  |  backends
 *            |  a bit. Nobody waits for anybody.                       |
 *            +---------------------------------------------------------+
 *
 * Round robin, failover, 503 with Retry-After and cool-down recovery are
 * lesson 2's, unchanged. What changes is how we wait: every socket is
 * non-blocking, each client has a struct conn that remembers where it is
 * (its state), and a single select() call tells us which sockets can make
 * progress. An idle client no longer stops anyone.
 *
 * Build: cc -std=c99 -D_POSIX_C_SOURCE=200809L -o lb lb.c
 * Usage: lb -l [HOST:]PORT -b HOST:PORT [-b HOST:PORT ...] [-r SECONDS]
 */
#include <sys/types.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <netdb.h>

#include <errno.h>
#include <fcntl.h>
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
#define BUF_SIZE	(HEAD_MAX + 64)	/* each direction, per connection */
#define MAX_CONNS	FD_SETSIZE	/* more could not be select()ed anyway */

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
	struct addrinfo *addrs;	/* resolved once, at start-up */
	int	up;		/* 1 until a connect fails */
	double	down_since;	/* down: when it went down */
	double	retry_at;	/* down: when it may be tried again */
	char	why[160];	/* down: the reason, for the log */
};

static struct backend backends[MAX_BACKENDS];
static int nbackends;
static int next_backend;	/* where the next round-robin search starts */
static int cooldown = DEFAULT_COOLDOWN;

/* Where a client connection is in its life. */
enum state {
	S_READ_HEAD,	/* reading the request head from the client */
	S_CONNECT,	/* a non-blocking connect to a backend is under way */
	S_RELAY,	/* request to the backend, its response to the client */
	S_ANSWER,	/* sending our own answer (an error) to the client */
	S_DRAIN,	/* answer sent: reading what the client still sends */
	S_DONE		/* finished: freed after this pass of the loop */
};

/* Bytes on their way from one socket to another: data[off..len) is left. */
struct buf {
	char	data[BUF_SIZE];
	size_t	off, len;
};

/* One client, and the backend connection made for it. */
struct conn {
	enum state state;
	int	cfd;		/* the client's socket */
	int	bfd;		/* the backend's socket, or -1 */
	int	backend;	/* index into backends[], or -1 */
	struct addrinfo *ai;	/* S_CONNECT: the address being tried */
	int	err;		/* the last connect error, for the log */
	int	tries;		/* backends tried for this request */
	char	head[HEAD_MAX + 1];
	size_t	have;		/* bytes in head[] */
	struct request req;
	long long body_left;	/* request body still to read from the client */
	int	client_eof;	/* the client has stopped sending */
	int	backend_eof;	/* the backend has finished its response */
	long long relayed;	/* response bytes from the backend */
	struct buf up;		/* client -> backend */
	struct buf down;	/* backend -> client */
};

static struct conn *conns[MAX_CONNS];
static int nconns;		/* conns[0..nconns) may be in use */

/* The signal handler writes a byte here; select() sees it. */
static int sig_pipe[2] = { -1, -1 };

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
 * Queue our own answer (an error) for the client. S_ANSWER writes it as
 * the socket accepts it; then S_DRAIN reads what the client still sends
 * until it closes, so that closing never throws our answer away (closing
 * a socket with unread input makes the kernel send a reset).
 */
static void
answer(struct conn *c, int status, const char *reason, const char *extra,
    const char *detail)
{
	int len = snprintf(c->down.data, sizeof(c->down.data),
	    "HTTP/1.1 %d %s\r\n"
	    "Content-Type: text/plain\r\n"
	    "Content-Length: %zu\r\n"
	    "Connection: close\r\n"
	    "%s"
	    "\r\n"
	    "%d %s: %s\n",
	    status, reason, strlen(reason) + strlen(detail) + 7,
	    extra, status, reason, detail);

	c->down.off = 0;
	c->down.len = len < 0 || (size_t)len >= sizeof(c->down.data) ? 0 :
	    (size_t)len;
	c->state = S_ANSWER;
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
 * Resolve every backend once, at start-up: getaddrinfo() blocks, and a
 * blocked loop stops every client. (The price: a backend that changes
 * address is not followed until a restart.)
 */
static int
resolve_backends(void)
{
	struct addrinfo hints;
	int i, err;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	for (i = 0; i < nbackends; i++) {
		err = getaddrinfo(backends[i].addr.host, backends[i].addr.port,
		    &hints, &backends[i].addrs);
		if (err != 0) {
			fprintf(stderr, "lb: cannot resolve backend %s: %s\n",
			    hostport_str(&backends[i].addr), gai_strerror(err));
			return -1;
		}
	}
	return 0;
}

/* Make fd non-blocking and not inherited by programs we might run. */
static int
set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -1;
	return fcntl(fd, F_SETFD, FD_CLOEXEC);
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

static void start_connect(struct conn *, double);

/*
 * Begin a connect to the next backend in turn, or answer 503 when none is
 * eligible. Nothing has been sent yet, so moving on is safe for any request.
 */
static void
next_backend_or_503(struct conn *c, double now)
{
	char extra[64];

	/* One try per backend (with -r 0 a failed one is due again at once). */
	if (c->tries++ < nbackends && (c->backend = pick_backend(now)) >= 0) {
		c->ai = backends[c->backend].addrs;
		start_connect(c, now);
		return;
	}
	snprintf(extra, sizeof(extra), "Retry-After: %d\r\n", retry_after(now));
	answer(c, 503, "Service Unavailable", extra, "no backend is up");
}

/*
 * A non-blocking connect() returns at once, usually with EINPROGRESS; the
 * socket turns writable when the attempt is over, and SO_ERROR tells how
 * it went (see connect_done). Try this backend's addresses in order; when
 * none is left, the backend is down and the next one gets its turn.
 */
static void
start_connect(struct conn *c, double now)
{
	for (; c->ai != NULL; c->ai = c->ai->ai_next) {
		int fd = socket(c->ai->ai_family, c->ai->ai_socktype,
		    c->ai->ai_protocol);
		if (fd < 0 && errno != EMFILE && errno != ENFILE) {
			c->err = errno;	/* say, IPv6 is off: next address */
			continue;
		}
		if (fd < 0 || fd >= FD_SETSIZE || set_nonblock(fd) < 0) {
			if (fd >= 0)
				close(fd);
			answer(c, 503, "Service Unavailable", "",
			    "the balancer is out of sockets");
			return;
		}
		if (connect(fd, c->ai->ai_addr, c->ai->ai_addrlen) == 0 ||
		    errno == EINPROGRESS) {
			c->bfd = fd;
			c->state = S_CONNECT;
			return;
		}
		c->err = errno;
		close(fd);
	}
	mark_down(&backends[c->backend], now, c->err);
	next_backend_or_503(c, now);
}

/*
 * The backend socket is writable: the connect is over. On success, queue
 * the rewritten head and any body bytes that came with it.
 */
static void
connect_done(struct conn *c, double now)
{
	socklen_t len = sizeof(c->err);
	size_t extra;

	if (getsockopt(c->bfd, SOL_SOCKET, SO_ERROR, &c->err, &len) < 0)
		c->err = errno;
	if (c->err != 0) {
		close(c->bfd);
		c->bfd = -1;
		c->ai = c->ai->ai_next;
		start_connect(c, now);
		return;
	}
	mark_up(&backends[c->backend], now);
	extra = c->have - c->req.head_len;
	if (c->req.content_length < 0)
		extra = 0;
	else if ((long long)extra > c->req.content_length)
		extra = (size_t)c->req.content_length;	/* ignore what follows */
	c->up.len = rewrite_head(c->head, c->req.head_len, c->up.data);
	memcpy(c->up.data + c->up.len, c->head + c->req.head_len, extra);
	c->up.len += extra;
	c->up.off = 0;
	c->body_left = c->req.content_length > 0 ?
	    c->req.content_length - (long long)extra : 0;
	c->state = S_RELAY;
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

/* A complete head arrived: judge it, then find a backend. */
static void
head_done(struct conn *c, size_t len, double now)
{
	int status = parse_request(c->head, len, &c->req);

	if (status == 400)
		answer(c, 400, "Bad Request", "", "malformed request head");
	else if (status == 501)
		answer(c, 501, "Not Implemented", "",
		    "lesson 3 reads only Content-Length bodies");
	else
		next_backend_or_503(c, now);
}

/* S_READ_HEAD: the client's socket is readable. */
static void
read_head(struct conn *c, double now)
{
	ssize_t r = read(c->cfd, c->head + c->have, HEAD_MAX - c->have);
	size_t end;

	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;		/* not ready after all: try next time */
	if (r <= 0) {
		c->state = S_DONE;	/* gone before a whole head */
		return;
	}
	c->have += (size_t)r;
	c->head[c->have] = '\0';
	end = head_end(c->head, c->have);
	if (bad_bytes(c->head, end > 0 ? end : c->have))
		answer(c, 400, "Bad Request", "", "malformed request head");
	else if (end > 0)
		head_done(c, end, now);
	else if (c->have == HEAD_MAX)
		answer(c, 431, "Request Header Fields Too Large", "",
		    "the request head is over 16 KiB");
}

/*
 * Read into an empty buffer, at most max bytes. Returns what read() did:
 * >0 bytes, 0 end of file, -1 error; "not ready" counts as 1 byte, none
 * added (the caller only looks for 0 and -1).
 */
static ssize_t
fill(int fd, struct buf *b, size_t max)
{
	ssize_t r = read(fd, b->data, max < BUF_SIZE ? max : BUF_SIZE);

	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return 1;
	b->off = 0;
	b->len = r > 0 ? (size_t)r : 0;
	return r;
}

/*
 * Write what we can of b. A non-blocking write() takes what fits in the
 * kernel's buffer and says how much: the rest waits for the next turn.
 * Returns -1 when the peer has gone.
 */
static int
flush(int fd, struct buf *b)
{
	ssize_t w = write(fd, b->data + b->off, b->len - b->off);

	if (w < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ||
		    errno == EINTR ? 0 : -1;
	b->off += (size_t)w;
	if (b->off == b->len)
		b->off = b->len = 0;	/* empty: ready to be filled again */
	return 0;
}

/*
 * S_RELAY, one step. Each direction has one buffer, filled only when
 * empty: while the backend cannot take more, we stop reading the client,
 * and while the client is slow to read, we stop reading the backend. That
 * is backpressure, and it is why memory stays flat.
 */
static void
relay(struct conn *c, fd_set *rd, fd_set *wr)
{
	char scrap[512];

	if (FD_ISSET(c->cfd, rd)) {
		if (c->body_left > 0) {
			ssize_t r = fill(c->cfd, &c->up, (size_t)(c->body_left <
			    BUF_SIZE ? c->body_left : BUF_SIZE));
			if (r <= 0) {
				c->state = S_DONE;	/* gone mid-body */
				return;
			}
			c->body_left -= (long long)c->up.len;
		} else if (read(c->cfd, scrap, sizeof(scrap)) == 0)
			c->client_eof = 1;	/* extra bytes are dropped */
	}
	if (FD_ISSET(c->bfd, wr) && flush(c->bfd, &c->up) < 0) {
		/*
		 * The backend stopped reading: it may have answered early
		 * (413, say). Send no more, but do relay its answer.
		 */
		c->up.off = c->up.len = 0;
		c->body_left = 0;
	}
	if (FD_ISSET(c->bfd, rd)) {
		ssize_t r = fill(c->bfd, &c->down, BUF_SIZE);
		if (r <= 0)
			c->backend_eof = 1;
		else
			c->relayed += (long long)c->down.len;
	}
	if (FD_ISSET(c->cfd, wr) && flush(c->cfd, &c->down) < 0) {
		c->state = S_DONE;	/* the client went away */
		return;
	}
	if (c->backend_eof && c->down.len == 0) {
		if (c->relayed == 0)
			answer(c, 502, "Bad Gateway", "",
			    "the backend closed without answering");
		else if (c->body_left > 0) {
			shutdown(c->cfd, SHUT_WR);	/* it answered early: */
			c->state = S_DRAIN;	/* unread body, so linger */
		} else
			c->state = S_DONE;
	}
}

/* Which sockets does c wait for? Built afresh before every select(). */
static void
want(const struct conn *c, fd_set *rd, fd_set *wr, int *maxfd)
{
	int r = 0, w = 0, br = 0, bw = 0;

	switch (c->state) {
	case S_READ_HEAD:
	case S_DRAIN:
		r = 1;
		break;
	case S_CONNECT:
		bw = 1;
		break;
	case S_RELAY:
		r = (c->body_left > 0 && c->up.len == 0) ||
		    (c->body_left == 0 && !c->client_eof);
		bw = c->up.len > 0;
		br = !c->backend_eof && c->down.len == 0;
		w = c->down.len > 0;
		break;
	case S_ANSWER:
		w = 1;
		break;
	case S_DONE:
		break;
	}
	if (r)
		FD_SET(c->cfd, rd);
	if (w)
		FD_SET(c->cfd, wr);
	if (br)
		FD_SET(c->bfd, rd);
	if (bw)
		FD_SET(c->bfd, wr);
	if ((r || w) && c->cfd > *maxfd)
		*maxfd = c->cfd;
	if ((br || bw) && c->bfd > *maxfd)
		*maxfd = c->bfd;
}

/* Move c one step, given what select() said is ready. */
static void
step(struct conn *c, fd_set *rd, fd_set *wr, double now)
{
	char scrap[4096];
	ssize_t r;

	switch (c->state) {
	case S_READ_HEAD:
		if (FD_ISSET(c->cfd, rd))
			read_head(c, now);
		break;
	case S_CONNECT:
		if (FD_ISSET(c->bfd, wr))
			connect_done(c, now);
		break;
	case S_RELAY:
		relay(c, rd, wr);
		break;
	case S_ANSWER:
		if (FD_ISSET(c->cfd, wr) && flush(c->cfd, &c->down) < 0)
			c->state = S_DONE;
		else if (c->down.len == 0) {
			shutdown(c->cfd, SHUT_WR);
			c->state = S_DRAIN;
		}
		break;
	case S_DRAIN:
		if (FD_ISSET(c->cfd, rd) && (r = read(c->cfd, scrap,
		    sizeof(scrap))) <= 0 && !(r < 0 && (errno == EAGAIN ||
		    errno == EWOULDBLOCK || errno == EINTR)))
			c->state = S_DONE;
		break;
	case S_DONE:
		break;
	}
}

/*
 * Turn a client away without select(): read what it already sent (so
 * that closing does not reset the connection and destroy the answer),
 * answer, shut our side, close. A best effort: it must not block.
 */
static void
refuse(int cfd, const char *msg, size_t len)
{
	char scrap[4096];
	ssize_t r;

	set_nonblock(cfd);
	while ((r = read(cfd, scrap, sizeof(scrap))) > 0)
		;
	r = write(cfd, msg, len);
	(void)r;
	shutdown(cfd, SHUT_WR);
	close(cfd);
}

/* A new client: a struct conn in the first free slot. */
static void
add_conn(int cfd)
{
	static const char full[] = "HTTP/1.1 503 Service Unavailable\r\n"
	    "Content-Length: 0\r\nConnection: close\r\n\r\n";
	struct conn *c;
	int i;

	/*
	 * FD_SET() on a descriptor >= FD_SETSIZE writes past the end of
	 * the fd_set: memory corruption, not an error message. Refuse.
	 */
	if (cfd >= FD_SETSIZE || set_nonblock(cfd) < 0 ||
	    (c = calloc(1, sizeof(*c))) == NULL) {
		refuse(cfd, full, sizeof(full) - 1);
		return;
	}
	for (i = 0; conns[i] != NULL; i++)
		;		/* there is room: cfd < FD_SETSIZE */
	c->cfd = cfd;
	c->bfd = -1;
	c->state = S_READ_HEAD;
	conns[i] = c;
	if (i >= nconns)
		nconns = i + 1;
}

/* Free the connections that finished during this pass. */
static void
reap(void)
{
	int i;

	for (i = 0; i < nconns; i++) {
		if (conns[i] == NULL || conns[i]->state != S_DONE)
			continue;
		close(conns[i]->cfd);
		if (conns[i]->bfd >= 0)
			close(conns[i]->bfd);
		free(conns[i]);
		conns[i] = NULL;
	}
	while (nconns > 0 && conns[nconns - 1] == NULL)
		nconns--;
}

/*
 * Take every waiting client. Out of descriptors (EMFILE), the client stays
 * queued and the listening socket stays readable: select() would return
 * at once, forever, burning a CPU. So stop watching the listening socket
 * for one select(), which then has a 100 ms timeout (it may return sooner
 * when another connection is ready: a pause, not an exact one).
 */
static int
accept_clients(int lfd)
{
	int i, cfd;

	for (i = 0; i < 64; i++) {
		if ((cfd = accept(lfd, NULL, NULL)) >= 0) {
			add_conn(cfd);
			continue;
		}
		if (errno == EMFILE || errno == ENFILE)
			return 1;
		break;		/* EAGAIN: nobody else is waiting */
	}
	return 0;
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
		    listen(fd, 128) == 0 && set_nonblock(fd) == 0)
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
 * SIGINT or SIGTERM: write a byte into the pipe that select() watches.
 * write() is safe in a signal handler; a flag alone is not enough, since
 * a signal that lands just before select() would leave us asleep.
 */
static void
on_stop(int sig)
{
	int saved = errno;
	ssize_t w;

	(void)sig;
	w = write(sig_pipe[1], "x", 1);	/* full pipe: a stop is pending */
	(void)w;
	errno = saved;
}

/*
 * A peer that closes while we write would kill us with SIGPIPE: ignore
 * it, and get EPIPE from write() instead.
 */
static int
setup_signals(void)
{
	struct sigaction sa;

	if (pipe(sig_pipe) < 0 || set_nonblock(sig_pipe[0]) < 0 ||
	    set_nonblock(sig_pipe[1]) < 0)
		return -1;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = on_stop;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	return 0;
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

/* Close everything: a clean exit, with nothing left for a leak checker. */
static void
shut_down(int lfd)
{
	int i;

	for (i = 0; i < nconns; i++)
		if (conns[i] != NULL)
			conns[i]->state = S_DONE;
	reap();
	for (i = 0; i < nbackends; i++)
		freeaddrinfo(backends[i].addrs);
	close(lfd);
	close(sig_pipe[0]);
	close(sig_pipe[1]);
}

/*
 * The event loop. select() overwrites the sets it is given (on return they
 * say what is ready), so they are rebuilt from each connection's state
 * before every call. Connections finish during a pass and are freed after
 * it. One descriptor is closed mid-pass: a backend socket whose connect
 * failed (connect_done), and its replacement often gets the same number.
 * That is safe only because a socket in S_CONNECT is not looked at again
 * until the next select(): step() handles one event per connection.
 */
static void
serve(int lfd)
{
	struct timeval pause, *timeout;
	fd_set rd, wr;
	int i, maxfd, paused = 0;
	double now;

	for (;;) {
		FD_ZERO(&rd);
		FD_ZERO(&wr);
		FD_SET(sig_pipe[0], &rd);
		maxfd = sig_pipe[0];
		if (!paused) {
			FD_SET(lfd, &rd);
			maxfd = lfd > maxfd ? lfd : maxfd;
		}
		for (i = 0; i < nconns; i++)
			if (conns[i] != NULL)
				want(conns[i], &rd, &wr, &maxfd);
		pause.tv_sec = 0;
		pause.tv_usec = 100000;
		timeout = paused ? &pause : NULL;	/* NULL: no time limit */
		if (select(maxfd + 1, &rd, &wr, NULL, timeout) < 0) {
			if (errno == EINTR)
				continue;
			perror("lb: select");
			return;
		}
		if (FD_ISSET(sig_pipe[0], &rd))
			return;		/* SIGINT or SIGTERM */
		now = now_s();
		paused = FD_ISSET(lfd, &rd) && accept_clients(lfd);
		for (i = 0; i < nconns; i++)
			if (conns[i] != NULL)
				step(conns[i], &rd, &wr, now);
		reap();
	}
}

int
main(int argc, char **argv)
{
	struct hostport lis;
	int lfd, i;

	parse_args(argc, argv, &lis);
	if (resolve_backends() < 0 || setup_signals() < 0)
		return 1;
	if ((lfd = listen_on(&lis)) < 0)
		return 1;
	fprintf(stderr, "lb: listening on %s", hostport_str(&lis));
	fprintf(stderr, ", balancing over");
	for (i = 0; i < nbackends; i++)
		fprintf(stderr, " %s", hostport_str(&backends[i].addr));
	fprintf(stderr, "\n");
	serve(lfd);
	shut_down(lfd);
	return 0;
}
