/*
 * conn.c - one client connection, from accept() to close(), serving one
 * request after another (keep-alive, pipelining), each balanced on its
 * own.
 *
 *   C_HEAD ──> C_CONNECT ──> C_PROXY ──> (response sent) ──> C_HEAD ...
 *     │  \          │  ▲  refused or       │  reused connection closed
 *     │   \ pooled  │  │  timed out: next  │  before a byte: fresh one;
 *     │    \────────┼──┼──────────────────>│  idempotent, kept: next
 *     │             └──┘  backend          │  backend
 *     ▼                                    ▼
 *   C_ANSWER (our own 4xx/5xx) ──> C_LINGER ──> C_CLOSED
 *
 * Four buffers per client: in (from the client), up (to the backend),
 * bin (from the backend), out (to the client). Bodies stream through
 * them in pieces and are never held whole; http_body_scan() says where
 * each body ends. A full buffer stops the read that fills it: that is
 * lesson 3's backpressure, here in both directions.
 */
#include <sys/types.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "conn.h"
#include "health.h"
#include "http.h"
#include "log.h"
#include "loop.h"
#include "pool.h"

#define BUF_SIZE	(HEAD_MAX + 2048)	/* a head, rewritten, fits */
#define LINGER_S	2	/* reading after our answer, at most */

/* Bytes on their way: data[off..len) are still to be used. */
struct buf {
	size_t	off, len;
	char	data[BUF_SIZE];
};

enum cstate {
	C_HEAD,		/* waiting for a request head (or the first byte) */
	C_CONNECT,	/* a non-blocking connect to a backend is under way */
	C_PROXY,	/* request to the backend, response to the client */
	C_ANSWER,	/* sending our own answer, then we close */
	C_LINGER,	/* answer sent: reading what the client still sends */
	C_CLOSED	/* closed; freed by conn_reap() after this pass */
};

struct client {
	int	fd;
	enum cstate state;
	char	peer[64];
	struct timer timer;	/* the one deadline of the current state */
	struct client *next;	/* all clients */
	int	nreq;		/* requests started on this connection */
	struct buf in, up, bin, out;

	/* The request in flight. */
	char	method[24];
	char	target[256];	/* for the log, cut if long */
	int	version;	/* 10 or 11 */
	int	keep;		/* keep the client connection afterwards */
	int	head_req;	/* HEAD: the response has no body */
	int	idempotent;
	struct http_body req_body;
	int	kept;		/* up still holds the whole request */
	int	req_sent;	/* the whole request reached the backend */
	double	t0;

	/* The backend. */
	struct backend *be;
	struct bconn *bc;	/* once connected (or taken from the pool) */
	int	bfd;		/* -1, connecting, or bc->fd */
	const struct addrinfo *ai;	/* C_CONNECT: the address tried */
	int	tries;		/* backends tried for this request */
	int	retries;	/* for the log */
	int	reused;		/* bc came from the pool */

	/* The response. */
	int	resp_started;	/* a byte came from the backend */
	int	head_done;	/* the final head went into out */
	int	backend_keep;	/* the backend keeps its connection */
	int	resp_done;
	int	status;
	struct http_body resp_body;
	long long sent;		/* response bytes for the client */
};

static struct client *clients;
static int nclients;
static int draining;
static struct listener listener = LISTENER_INIT;

static void update(struct client *c);
static void choose_backend(struct client *c);
static void parse_request(struct client *c);

/* ---- buffers ---- */

/* Read into the free end of b: >0 bytes, 0 end of file, -1 error, -2 wait. */
static ssize_t
buf_read(int fd, struct buf *b)
{
	ssize_t r;

	if (b->off > 0 && b->len == BUF_SIZE) {
		memmove(b->data, b->data + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
	}
	r = read(fd, b->data + b->len, BUF_SIZE - b->len);
	if (r > 0)
		b->len += (size_t)r;
	else if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR))
		return -2;
	return r;
}

/* Write what the socket takes of b: 0, or -1 when the peer is gone. */
static int
buf_write(int fd, struct buf *b)
{
	ssize_t w = write(fd, b->data + b->off, b->len - b->off);

	if (w < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ||
		    errno == EINTR ? 0 : -1;
	b->off += (size_t)w;
	return 0;
}

/* All used: start again at the beginning. */
static void
buf_settle(struct buf *b)
{
	if (b->off == b->len)
		b->off = b->len = 0;
}

static size_t
buf_room(struct buf *b)
{
	if (b->off > 0 && b->off == b->len)
		b->off = b->len = 0;
	return BUF_SIZE - b->len;
}

/* ---- closing ---- */

static void
close_backend(struct client *c, int reusable)
{
	if (c->bc != NULL) {
		c->be->bytes += (unsigned long long)c->sent;
		pool_give_back(c->bc, reusable);	/* closes it if not */
	} else if (c->bfd >= 0) {
		loop_unwatch(c->bfd);
		close(c->bfd);
	}
	c->bc = NULL;
	c->bfd = -1;
}

static void
close_client(struct client *c)
{
	if (c->state == C_CLOSED)
		return;
	close_backend(c, 0);
	timer_disarm(&c->timer);
	loop_unwatch(c->fd);
	close(c->fd);
	c->state = C_CLOSED;
	nclients--;
}

static void
log_request(struct client *c, int status)
{
	struct access a;

	a.client = c->peer;
	a.method = c->method;
	a.target = c->target;
	a.backend = c->be != NULL ? c->be->addr.str : "-";
	a.status = status;
	a.bytes = c->sent;
	a.ms = (loop_now() - c->t0) * 1000;
	a.reused = c->reused;
	a.retries = c->retries;
	log_access(&a);
}

/*
 * Our own answer: a short text body and Connection: close. If part of a
 * response already went out, there is nothing honest to add: just close.
 */
static void
answer(struct client *c, int status, const char *reason, const char *extra,
    const char *detail)
{
	int n;

	close_backend(c, 0);
	if (c->head_done) {
		log_request(c, c->status);
		close_client(c);
		return;
	}
	c->out.off = 0;
	n = snprintf(c->out.data, BUF_SIZE, "HTTP/1.1 %d %s\r\n"
	    "Content-Type: text/plain\r\nContent-Length: %zu\r\n"
	    "Connection: close\r\n%s\r\n%d %s: %s\n", status, reason,
	    strlen(reason) + strlen(detail) + 7, extra, status, reason, detail);
	c->out.len = n > 0 && n < BUF_SIZE ? (size_t)n : 0;
	c->sent = (long long)c->out.len;
	if (c->method[0] != '\0')
		log_request(c, status);
	c->state = C_ANSWER;
	timer_arm(&c->timer, loop_now() + LINGER_S);
	update(c);
}

/* No backend could take the request: 503, and when to come back. */
static void
answer_503(struct client *c)
{
	char extra[48];

	snprintf(extra, sizeof(extra), "Retry-After: %d\r\n",
	    health_retry_after(loop_now()));
	c->be = NULL;
	answer(c, 503, "Service Unavailable", extra, c->tries > 0 ?
	    "no backend could be reached" : "no backend is up");
}

static void
answer_parse_error(struct client *c, int status)
{
	switch (status) {
	case 414:
		answer(c, 414, "URI Too Long", "", "the request target is too long");
		break;
	case 431:
		answer(c, 431, "Request Header Fields Too Large", "",
		    "the request head is too large");
		break;
	case 501:
		answer(c, 501, "Not Implemented", "",
		    "unsupported transfer coding");
		break;
	case 505:
		answer(c, 505, "HTTP Version Not Supported", "",
		    "only HTTP/1.0 and HTTP/1.1");
		break;
	default:
		answer(c, 400, "Bad Request", "", "malformed request");
	}
}

/* ---- the request ---- */

/* Move request body bytes from in to up, as far as they fit. */
static int
pump_body(struct client *c)
{
	while (!c->req_body.done && c->in.len > c->in.off) {
		size_t n = c->in.len - c->in.off, room = BUF_SIZE - c->up.len;
		ssize_t k;

		if (room == 0) {
			if (c->up.off == 0)
				break;		/* the backend must take some */
			/* Sent bytes go to make room: no resending now. */
			memmove(c->up.data, c->up.data + c->up.off,
			    c->up.len - c->up.off);
			c->up.len -= c->up.off;
			c->up.off = 0;
			c->kept = 0;
			continue;
		}
		k = http_body_scan(&c->req_body, c->in.data + c->in.off,
		    n < room ? n : room);
		if (k < 0)
			return -1;
		memcpy(c->up.data + c->up.len, c->in.data + c->in.off,
		    (size_t)k);
		c->up.len += (size_t)k;
		c->in.off += (size_t)k;
		if (k == 0)
			break;
	}
	buf_settle(&c->in);
	return 0;
}

/* A whole head is in: prepare the request for a backend. */
static void
start_request(struct client *c, const struct http_msg *m)
{
	char extra[160];
	int n;

	c->nreq++;
	c->t0 = loop_now();
	snprintf(c->method, sizeof(c->method), "%.*s", (int)m->method_len,
	    m->method);
	snprintf(c->target, sizeof(c->target), "%.*s", (int)m->target_len,
	    m->target);
	c->version = m->version;
	c->keep = m->keep_alive && !draining;
	c->head_req = m->method_len == 4 && memcmp(m->method, "HEAD", 4) == 0;
	c->idempotent = http_idempotent(m->method, m->method_len);
	/* Our address for the client, after any it sent: the last is ours. */
	n = snprintf(extra, sizeof(extra), "X-Forwarded-For: %s\r\n%s",
	    c->peer, m->version == 10 ? "Connection: keep-alive\r\n" : "");
	n = http_rewrite_head(c->in.data + c->in.off, m, extra, c->up.data,
	    BUF_SIZE);
	if (n < 0) {
		answer_parse_error(c, 431);
		return;
	}
	c->up.off = 0;
	c->up.len = (size_t)n;
	c->kept = 1;
	c->in.off += m->head_len;
	http_body_init(&c->req_body, m);
	if (pump_body(c) < 0) {
		answer(c, 400, "Bad Request", "", "malformed chunked body");
		return;
	}
	c->tries = c->retries = 0;
	choose_backend(c);
}

/* A request we answer ourselves, unread: how the access log names it. */
static void
name_refused(struct client *c, const char *method)
{
	snprintf(c->method, sizeof(c->method), "%s", method);
	snprintf(c->target, sizeof(c->target), "-");
	c->t0 = loop_now();
}

/* C_HEAD: is there a whole request head in `in`? */
static void
parse_request(struct client *c)
{
	struct http_msg m;
	int n;

	if (c->in.len == c->in.off) {
		update(c);
		return;
	}
	n = http_parse_request(c->in.data + c->in.off, c->in.len - c->in.off,
	    HEAD_MAX, &m);
	if (n < 0) {
		name_refused(c, "-");
		answer_parse_error(c, -n);
	} else if (n > 0 && m.method_len == 7 &&
	    memcmp(m.method, "CONNECT", 7) == 0) {
		name_refused(c, "CONNECT");
		answer(c, 501, "Not Implemented", "", "CONNECT tunnels are not "
		    "supported");
	} else if (n > 0) {
		timer_disarm(&c->timer);
		start_request(c, &m);
	} else {
		if (c->timer.slot < 0 || c->nreq > 0)	/* first byte came */
			timer_arm(&c->timer, loop_now() + cfg.head_ms / 1e3);
		update(c);
	}
}

/* ---- the backend ---- */

static void backend_failed(struct client *c, const char *why);
static void choose_backend_or(struct client *c, const char *why);

/* Connect to c->ai or the next address of the backend that works. */
static void
connect_next(struct client *c)
{
	char why[128];
	int fd;

	if (addr_connect_from(&c->ai, &fd) == 0) {
		c->bfd = fd;
		c->state = C_CONNECT;
		timer_arm(&c->timer, loop_now() + cfg.connect_ms / 1e3);
		update(c);
	} else if (errno == EMFILE || errno == ENFILE) {
		answer(c, 503, "Service Unavailable", "",
		    "the balancer is out of sockets");
	} else {
		snprintf(why, sizeof(why), "connect: %s", strerror(errno));
		backend_failed(c, why);
	}
}

/*
 * Round robin to the next backend that is up, within the retry budget.
 * When there is none: 503 if nothing is up, else the answer we have
 * (why != NULL: the last backend failed us after it was reached, 502).
 */
static void
choose_backend_or(struct client *c, const char *why)
{
	int b;

	if (c->tries > cfg.retries || c->tries >= nbackends ||
	    (b = pool_pick()) < 0) {
		if (why != NULL)
			answer(c, 502, "Bad Gateway", "", why);
		else
			answer_503(c);
		return;
	}
	if (c->tries++ > 0)
		c->retries++;
	c->be = &backends[b];
	c->up.off = 0;		/* from the first byte, on whatever we get */
	c->resp_started = c->head_done = c->resp_done = 0;
	c->sent = 0;
	if ((c->bc = pool_take(c->be)) != NULL) {
		c->reused = 1;
		c->bfd = c->bc->fd;
		c->state = C_PROXY;
		timer_arm(&c->timer, loop_now() + cfg.response_ms / 1e3);
		update(c);
		return;
	}
	c->reused = 0;
	c->ai = c->be->addrs;
	connect_next(c);
}

static void
choose_backend(struct client *c)
{
	choose_backend_or(c, NULL);
}

/* The backend could not be reached: one failure toward FALL; next one. */
static void
backend_failed(struct client *c, const char *why)
{
	close_backend(c, 0);
	health_note(c->be, 0, 1, why);
	choose_backend(c);
}

/* C_CONNECT, writable: the connect is over. Did it work? */
static void
connect_done(struct client *c)
{
	int err = addr_connect_error(c->bfd);

	if (err != 0) {
		loop_unwatch(c->bfd);
		close(c->bfd);
		c->bfd = -1;
		c->ai = c->ai->ai_next;
		errno = err;
		connect_next(c);
		return;
	}
	if ((c->bc = pool_new(c->be, c->bfd)) == NULL) {
		answer(c, 503, "Service Unavailable", "", "out of memory");
		return;
	}
	c->state = C_PROXY;
	timer_arm(&c->timer, loop_now() + cfg.response_ms / 1e3);
	update(c);
}

/*
 * The backend closed (or failed) before its response was complete.
 * Before any response byte, a retry may be safe: on a reused connection
 * the backend most likely closed it while idle and never saw our
 * request; on a fresh one, only if the request is idempotent. Either
 * way only if we still hold the whole request (kept).
 */
static void
backend_closed(struct client *c)
{
	if (c->head_done && c->resp_body.framing == HTTP_BODY_CLOSE) {
		c->resp_done = 1;	/* the close was the end of the body */
		close_backend(c, 0);
		return;
	}
	if (c->head_done) {		/* cut short: never fake an end */
		c->keep = 0;
		c->resp_done = 1;
		close_backend(c, 0);
		c->status = c->status ? c->status : 502;
		return;
	}
	if (!c->resp_started && c->kept && c->reused) {
		close_backend(c, 0);
		c->reused = 0;
		c->retries++;
		c->up.off = 0;
		c->ai = c->be->addrs;
		connect_next(c);
		return;
	}
	if (!c->resp_started && c->kept && c->idempotent) {
		/* It was reached, so it is not down: just try another. */
		close_backend(c, 0);
		choose_backend_or(c, "the backend closed without answering");
		return;
	}
	answer(c, 502, "Bad Gateway", "", c->resp_started ?
	    "the backend sent a malformed response" :
	    "the backend closed without answering");
}

/* The response head, rewritten for the client, goes into out. */
static int
take_response_head(struct client *c)
{
	struct http_msg m;
	const char *conn;
	int n;

	n = http_parse_response(c->bin.data + c->bin.off,
	    c->bin.len - c->bin.off, HEAD_MAX, c->head_req, &m);
	if (n == 0 && c->bin.len - c->bin.off < HEAD_MAX)
		return 0;
	if (n <= 0 || m.status == 101) {
		answer(c, 502, "Bad Gateway", "",
		    "the backend sent a malformed response");
		return -1;
	}
	c->bin.off += (size_t)n;
	if (m.status < 200) {		/* 1xx: pass on to 1.1 clients */
		if (c->version == 11)
			n = http_rewrite_head(c->bin.data + c->bin.off - n, &m,
			    "", c->out.data + c->out.len, buf_room(&c->out));
		if (c->version == 11 && n > 0)
			c->out.len += (size_t)n;
		return 1;
	}
	if (m.framing == HTTP_BODY_CLOSE || !c->req_body.done || draining)
		c->keep = 0;
	conn = !c->keep ? "Connection: close\r\n" : c->version == 10 ?
	    "Connection: keep-alive\r\n" : "";
	n = http_rewrite_head(c->bin.data + c->bin.off - n, &m, conn,
	    c->out.data + c->out.len, buf_room(&c->out));
	if (n < 0) {
		answer(c, 502, "Bad Gateway", "", "response head too large");
		return -1;
	}
	c->out.len += (size_t)n;
	c->sent += n;
	c->status = m.status;
	c->backend_keep = m.keep_alive;
	c->head_done = 1;
	http_body_init(&c->resp_body, &m);
	return 1;
}

/* Move what the backend sent into out: a head, then body bytes. */
static void
pump_response(struct client *c)
{
	while (!c->resp_done) {
		size_t n = c->bin.len - c->bin.off, room;
		ssize_t k;

		if (!c->head_done) {
			if (c->out.len != c->out.off)
				break;	/* a 1xx is still going out */
			if (take_response_head(c) <= 0)
				return;
		} else if (c->resp_body.done) {
			c->resp_done = 1;
		} else {
			room = buf_room(&c->out);
			if (n == 0 || room == 0)
				break;
			k = http_body_scan(&c->resp_body, c->bin.data +
			    c->bin.off, n < room ? n : room);
			if (k < 0) {
				backend_closed(c);	/* bad chunked body */
				return;
			}
			memcpy(c->out.data + c->out.len, c->bin.data +
			    c->bin.off, (size_t)k);
			c->out.len += (size_t)k;
			c->bin.off += (size_t)k;
			c->sent += k;
		}
	}
	if (c->resp_done && c->bc != NULL) {
		/* Anything more from the backend now is garbage: don't reuse. */
		c->be->requests++;
		close_backend(c, c->backend_keep && c->req_sent &&
		    c->bin.off == c->bin.len);
	}
	buf_settle(&c->bin);
}

/* ---- finishing a request ---- */

static void
reset_request(struct client *c)
{
	c->method[0] = c->target[0] = '\0';
	c->be = NULL;
	c->resp_started = c->head_done = c->resp_done = 0;
	c->status = 0;
	c->sent = 0;
	c->reused = c->retries = c->tries = 0;
	c->up.off = c->up.len = 0;
	c->bin.off = c->bin.len = 0;
}

/* The response is out. Next request on this connection, or close. */
static void
finish_request(struct client *c)
{
	log_request(c, c->status);
	if (!c->keep || draining) {
		shutdown(c->fd, SHUT_WR);
		c->state = C_LINGER;
		timer_arm(&c->timer, loop_now() + LINGER_S);
		update(c);
		return;
	}
	reset_request(c);
	c->state = C_HEAD;
	/* Idle until a byte comes; then the head has head_ms to arrive. */
	timer_arm(&c->timer, loop_now() + (c->in.len > c->in.off ?
	    cfg.head_ms : cfg.idle_ms) / 1e3);
	parse_request(c);	/* a pipelined request may be waiting */
}

/* ---- events ---- */

static void
on_backend(void *arg, int fd, int events)
{
	struct client *c = arg;
	ssize_t r;

	(void)fd;
	if (c->state == C_CONNECT) {
		connect_done(c);
		return;
	}
	if (events & EV_WRITE) {
		if (buf_write(c->bfd, &c->up) < 0) {
			/* It stopped reading: maybe it answered early. */
			c->up.off = c->up.len;
			c->keep = 0;
		}
		if (pump_body(c) < 0) {
			answer(c, 400, "Bad Request", "", "malformed chunked body");
			return;
		}
		if (c->req_body.done && c->up.off == c->up.len)
			c->req_sent = 1;
		timer_arm(&c->timer, loop_now() + cfg.response_ms / 1e3);
	}
	if (events & EV_READ) {
		r = buf_read(c->bfd, &c->bin);
		if (r == 0 || r == -1) {
			backend_closed(c);
			if (c->state != C_PROXY)
				return;
		} else if (r > 0) {
			c->resp_started = 1;
			timer_arm(&c->timer, loop_now() + cfg.response_ms / 1e3);
		}
		pump_response(c);
		if (c->state != C_PROXY)
			return;
	}
	update(c);
}

static void
on_client(void *arg, int fd, int events)
{
	struct client *c = arg;
	char scrap[4096];
	size_t before, off;
	ssize_t r;

	(void)fd;
	if (events & EV_WRITE) {
		if (buf_write(c->fd, &c->out) < 0) {
			if (c->method[0] != '\0' && c->state == C_PROXY)
				log_request(c, c->status);
			close_client(c);	/* the client went away */
			return;
		}
		buf_settle(&c->out);
		if (c->state == C_ANSWER && c->out.len == 0) {
			shutdown(c->fd, SHUT_WR);
			c->state = C_LINGER;
		} else if (c->state == C_PROXY) {
			pump_response(c);
			if (c->state != C_PROXY)
				return;
			if (c->resp_done && c->out.len == 0) {
				finish_request(c);
				return;
			}
		}
	}
	if (events & EV_READ) {
		if (c->state == C_LINGER) {
			r = read(c->fd, scrap, sizeof(scrap));
			if (r == 0 || (r < 0 && errno != EAGAIN &&
			    errno != EWOULDBLOCK && errno != EINTR))
				close_client(c);
			return;
		}
		before = c->in.len;
		off = c->in.off;
		r = buf_read(c->fd, &c->in);
		if (r == 0 || r == -1) {
			/* Gone. A request mid-body can't be finished. */
			if (c->state == C_PROXY && c->method[0] != '\0')
				log_request(c, c->status ? c->status : 499);
			close_client(c);
			return;
		}
		if (c->state == C_HEAD) {
			/*
			 * A head is judged line by line: without a new line
			 * end there is nothing new to judge. (Parsing again
			 * on every byte would let a slow sender make us do
			 * quadratic work.)
			 */
			if (r > 0 && c->in.off == off &&
			    memchr(c->in.data + before, '\n', c->in.len -
			    before) == NULL && c->in.len < BUF_SIZE) {
				update(c);
				return;
			}
			parse_request(c);
			return;
		}
		if (c->state == C_PROXY && pump_body(c) < 0) {
			answer(c, 400, "Bad Request", "", "malformed chunked body");
			return;
		}
	}
	update(c);
}

/* The deadline of the current state has passed. */
static void
on_timer(void *arg)
{
	struct client *c = arg;
	char why[64];

	switch (c->state) {
	case C_HEAD:
		if (c->in.len == c->in.off)
			close_client(c);	/* idle keep-alive: silently */
		else
			answer(c, 408, "Request Timeout", "",
			    "the request head took too long");
		break;
	case C_CONNECT:
		snprintf(why, sizeof(why), "connect: timed out after %d ms",
		    cfg.connect_ms);
		backend_failed(c, why);
		break;
	case C_PROXY:
		if (!c->head_done)
			answer(c, 504, "Gateway Timeout", "",
			    "the backend did not answer in time");
		else {
			log_request(c, c->status);
			close_client(c);	/* stalled mid-response */
		}
		break;
	default:
		close_client(c);
	}
}

/* What each socket waits for, from the state. */
static void
update(struct client *c)
{
	int cev = 0, bev = 0;

	switch (c->state) {
	case C_HEAD:
		cev = buf_room(&c->in) > 0 ? EV_READ : 0;
		break;
	case C_CONNECT:
		bev = EV_WRITE;
		break;
	case C_PROXY:
		if (!c->req_body.done && buf_room(&c->in) > 0)
			cev |= EV_READ;
		if (c->out.len > c->out.off)
			cev |= EV_WRITE;
		if (c->up.len > c->up.off)
			bev |= EV_WRITE;
		if (!c->resp_done && buf_room(&c->bin) > 0)
			bev |= EV_READ;
		break;
	case C_ANSWER:
		cev = EV_WRITE;
		break;
	case C_LINGER:
		cev = EV_READ;
		break;
	case C_CLOSED:
		return;
	}
	loop_watch(c->fd, cev, on_client, c);
	if (c->bfd >= 0)
		loop_watch(c->bfd, bev, on_backend, c);
}

/* ---- accepting ---- */

/* Turn a client away without select(): a best effort that never blocks. */
static void
refuse(int fd)
{
	static const char msg[] = "HTTP/1.1 503 Service Unavailable\r\n"
	    "Content-Length: 0\r\nConnection: close\r\n\r\n";
	char scrap[4096];
	ssize_t r;

	addr_nonblock(fd);
	while (read(fd, scrap, sizeof(scrap)) > 0)
		;	/* read what it sent: closing then sends no reset */
	r = write(fd, msg, sizeof(msg) - 1);
	(void)r;
	shutdown(fd, SHUT_WR);
	close(fd);
}

static void
add_client(int fd)
{
	struct client *c;
	int one = 1;

	if (nclients >= cfg.max_conns || fd >= FD_SETSIZE ||
	    addr_nonblock(fd) < 0 || (c = calloc(1, sizeof(*c))) == NULL) {
		refuse(fd);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->fd = fd;
	c->bfd = -1;
	c->state = C_HEAD;
	addr_peer(fd, c->peer, sizeof(c->peer));
	timer_init(&c->timer, on_timer, c);
	/* Slowloris: the first head must come within head_ms of accept. */
	timer_arm(&c->timer, loop_now() + cfg.head_ms / 1e3);
	c->next = clients;
	clients = c;
	nclients++;
	update(c);
}

int
conn_listen(int lfd)
{
	return loop_listen(&listener, lfd, add_client);
}

/* SIGTERM: stop accepting; idle clients go now, busy ones when done. */
void
conn_drain(void)
{
	struct client *c;

	draining = 1;
	loop_unlisten(&listener);
	for (c = clients; c != NULL; c = c->next)
		if (c->state == C_HEAD && c->in.len == c->in.off)
			close_client(c);
}

int
conn_count(void)
{
	return nclients;
}

void
conn_reap(void)
{
	struct client **p = &clients, *c;

	while ((c = *p) != NULL) {
		if (c->state == C_CLOSED) {
			*p = c->next;
			free(c);
		} else
			p = &c->next;
	}
}

void
conn_free_all(void)
{
	struct client *c;

	for (c = clients; c != NULL; c = c->next)
		close_client(c);
	conn_reap();
	loop_unlisten(&listener);
}
