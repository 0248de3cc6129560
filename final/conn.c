/*
 * conn.c - one client connection, from accept() to close(), serving one
 * request after another (keep-alive, pipelining), each balanced on its
 * own.
 *
 *   C_IDLE ─byte─> C_HEAD ─head─> C_CONNECT ─> C_PROXY ─done─> C_IDLE ...
 *      │              │   └─ pooled connection ──┘  │ └─101─> C_TUNNEL
 *      │ idle: close  │ bad, slow: our own answer   │ the backend failed
 *      ▼              ▼                             ▼ before a byte went out
 *   C_CLOSED <── C_LINGER <── C_ANSWER (4xx/5xx)  retry, or 502 / 504
 *
 * (C_TUNNEL ends in C_CLOSED: see "tunnels" below.)
 *
 * Inside C_PROXY each direction has a state of its own:
 *
 *   request   RQ_BODY ──> RQ_IN ──> RQ_SENT        (RQ_STOPPED: the
 *             client still  all in   all written    backend would take
 *             sending       lb       to the backend no more)
 *   response  RS_HEAD ──> RS_BODY ──> RS_DONE
 *             (1xx pass)  framing     ended: the rest goes out, then
 *                         says        the next request (or RS_CUT: the
 *                         where it    backend stopped early; the rest
 *                         ends        goes out, then close)
 *
 * Four buffers per client: in (from the client), up (to the backend),
 * bin (from the backend), out (to the client). Bodies stream through
 * them in pieces and are never held whole; http_body_scan() says where
 * each body ends. A full buffer stops the read that fills it: that is
 * lesson 3's backpressure, here in both directions.
 *
 * Two rules keep every byte where it belongs. The end of a stream (a
 * FIN) is handled only after every byte that came before it: a close
 * that arrives while the tail of a body is still in bin ends the
 * response once that tail is out, not before. And a backend connection
 * goes back to the pool only when both messages are complete on it.
 */
#include <sys/types.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "conn.h"
#include "health.h"
#include "http.h"
#include "log.h"
#include "loop.h"
#include "pool.h"

#define LINGER_S	2	/* reading after our answer, at most */
#define REPLAY_MAX	4096	/* a request sent whole, kept in a copy this big */
/*
 * Reads of one side in one pass, at most, while both sides keep up:
 * 16 x 18 KB, about 300 KB. Each saves a select() (the kernel is asked
 * for nothing it has not just said), and the bound keeps one big
 * transfer from holding the loop: at a few GB/s it moves its share in
 * a tenth of a millisecond, then every other connection has its turn.
 */
#define PASS_READS	16

enum cstate {
	C_IDLE,		/* between requests: no byte of the next one yet */
	C_HEAD,		/* part of a request head is in; its deadline runs */
	C_CONNECT,	/* a non-blocking connect to a backend is under way */
	C_PROXY,	/* the exchange: see enum rqstate and enum rsstate */
	C_TUNNEL,	/* after a 101: bytes both ways, no HTTP (see tunnel()) */
	C_ANSWER,	/* sending our own answer, then we close */
	C_LINGER,	/* our last byte is out: reading what still comes */
	C_CLOSED	/* closed; freed by conn_reap() after this pass */
};

enum rqstate {
	RQ_BODY,	/* body bytes are still to come from the client */
	RQ_IN,		/* the whole request is in lb; not all written yet */
	RQ_SENT,	/* the whole request was written to the backend */
	RQ_STOPPED	/* the backend stopped taking it: never reuse */
};

/* How the backend's end of the stream came, if it came. */
enum { B_OPEN, B_FIN, B_RESET };

enum rsstate {
	RS_HEAD,	/* waiting for the final response head */
	RS_BODY,	/* passing the body on, as far as its framing says */
	RS_DONE,	/* it ended: what is left in out goes, then next */
	RS_CUT,		/* the backend stopped mid-body: out goes, then close */
	RS_TUNNEL	/* a 101 went into out: the connection is a tunnel now */
};

struct client {
	int	fd;
	enum cstate state;
	char	peer[64];
	struct timer timer;	/* the one deadline of the current state */
	struct client *next;	/* all clients */
	int	nreq;		/* requests started on this connection */
	int	client_eof;	/* the client sent all it will send */
	int	client_more;	/* its last read filled in: likely more */
	struct buf *in, *up, *bin, *out;	/* lent while bytes are in them */

	/* The request in flight; method[0] == '\0': none, or logged. */
	char	method[24];
	char	target[256];	/* for the log, cut if long */
	int	version;	/* 10 or 11 */
	int	keep;		/* keep the client connection afterwards */
	int	head_req;	/* HEAD: the response has no body */
	int	idempotent;
	int	upgrade;	/* it asks to switch protocols (WebSocket...) */
	struct http_body req_body;
	enum rqstate rq;
	int	kept;		/* up (or replay) still holds the whole request */
	char	*replay;	/* sent, and may be sent again: a copy */
	size_t	replay_len;
	double	t0;
	double	tb;		/* work began on the backend that answers */
	double	backend_ms;	/* from tb to its final head; -1: none yet */
	char	cause;		/* who ended it early (see log_request), or 0 */

	/* The backend. */
	struct backend *be;
	struct bconn *bc;	/* once connected (or taken from the pool) */
	int	bfd;		/* -1, connecting, or bc->fd */
	int	backend_eof;	/* B_FIN, B_RESET: bin may still hold the rest */
	int	backend_more;	/* its last read filled bin: likely more */
	const struct addrinfo *ai;	/* C_CONNECT: the address tried */
	int	tries;		/* backends tried for this request */
	int	retries;	/* for the log */
	int	reused;		/* bc came from the pool */

	/* The response. */
	enum rsstate rs;
	int	backend_keep;	/* the backend keeps its connection */
	int	status;
	struct http_body resp_body;
	long long sent;		/* bytes for the client: 1xx, head, body */

	/* C_TUNNEL: which way the end of the stream has been passed on. */
	int	up_shut;	/* the backend got our FIN: the client's is in */
	int	down_shut;	/* the client got our FIN: the backend's is in */
};

static struct client *clients;
static int nclients;
static int ntunnels;			/* open now */
static unsigned long long tunnels_total;
static int draining;
static struct listener listener = LISTENER_INIT;
static int fd_cap = 1024;		/* see count_descriptors() */

static void update(struct client *c);
static void choose_backend(struct client *c);
static void parse_request(struct client *c);
static void client_gone(struct client *c, ssize_t r);
static void start_tunnel(struct client *c);
static void log_request(struct client *c, int status);

/*
 * c's request is for be now (NULL: none). pool.c forgets a backend a
 * reload removed only once no client points at it: this keeps count.
 */
static void
use_backend(struct client *c, struct backend *be)
{
	if (c->be != NULL)
		c->be->users--;
	if (be != NULL)
		be->users++;
	c->be = be;
}

/* ---- closing ---- */

static void
close_backend(struct client *c, int reusable)
{
	if (c->bc != NULL) {
		c->bc->be->bytes += (unsigned long long)c->sent;
		bconn_give_back(c->bc, reusable);	/* closes it if not */
	} else if (c->bfd >= 0) {
		loop_unwatch(c->bfd);
		close(c->bfd);
	}
	c->bc = NULL;
	c->bfd = -1;
}

/* The request is over (answered, or never to be): let go of its copies. */
static void
forget_request(struct client *c)
{
	buf_put(&c->up);
	free(c->replay);
	c->replay = NULL;
}

static void
close_client(struct client *c)
{
	if (c->state == C_CLOSED)
		return;
	if (c->state == C_TUNNEL)
		ntunnels--;
	close_backend(c, 0);
	use_backend(c, NULL);
	forget_request(c);
	buf_put(&c->in);
	buf_put(&c->bin);
	buf_put(&c->out);
	timer_disarm(&c->timer);
	loop_unwatch(c->fd);
	close(c->fd);
	c->state = C_CLOSED;
	nclients--;
}

/*
 * Make close(fd) send a reset (RST), not a FIN. 0, or -1 and an event
 * line saying what the peer will see instead: a FIN, the ordinary end.
 */
static int
set_reset_on_close(int fd, const char *who)
{
	struct linger lg;

	lg.l_onoff = 1;		/* by name: POSIX does not fix their order */
	lg.l_linger = 0;
	if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) == 0)
		return 0;
	log_event("cannot reset the connection to %s (SO_LINGER: %s): it "
	    "ends with a FIN, as if all had been sent", who, strerror(errno));
	return -1;
}

/*
 * Close with a reset (RST), not a FIN: the way to tell a client that
 * what it got is not the whole response when nothing in the response
 * itself can say so (a close-delimited body, cut). Should the reset be
 * refused (it never is, on a TCP socket), the close is still a close:
 * the event log says which client may have taken a cut body for whole.
 */
static void
abort_client(struct client *c)
{
	set_reset_on_close(c->fd, c->peer);
	close_client(c);
}

/*
 * A broken invariant is a bug in lb, never a peer's doing. In the
 * sanitizer and fuzzing builds (-DLB_ABORT_ON_BUG) it aborts, so that
 * the test that found it stops right there. In production it costs one
 * client, not all of them: the event log says where and what ("internal
 * error at conn.c:LINE", which every suite also fails on), the client
 * gets a reset (whatever it got cannot be trusted to be whole), and the
 * loop goes on. Its callers return at once: c is closed.
 */
#define HOLDS(c, cond)	((cond) || bug((c), #cond, __LINE__))

static int
bug(struct client *c, const char *what, int line)
{
	log_event("internal error at conn.c:%d: %s does not hold; client %s "
	    "reset", line, what, c->peer);
#ifdef LB_ABORT_ON_BUG
	abort();
#endif
	c->cause = 'I';
	log_request(c, c->status > 0 ? c->status : 500);
	abort_client(c);
	return 0;
}

/*
 * How a request ended, for the log, in two letters (after HAProxy's
 * termination state): "--" when it went as it should; else who ended
 * it (c->cause) and at what stage:
 *   who:  C the client left, S the backend failed, P lb refused the
 *         request, R lb ran out of memory or sockets, c the client was
 *         too slow, s the backend was, t a tunnel sat silent, K the
 *         drain deadline cut it, I lb found a bug in itself (bug())
 *   when: R the request, C connecting, H waiting for the response head,
 *         D passing the response body, T a tunnel
 */
static char
stage(const struct client *c)
{
	switch (c->state) {
	case C_IDLE:
	case C_HEAD:	/* S here: no backend to be had for a whole request */
		return c->cause == 'S' ? 'C' : 'R';
	case C_CONNECT:
		return 'C';
	case C_TUNNEL:
		return 'T';
	default:
		if (c->rs != RS_HEAD)
			return 'D';
		return c->rq == RQ_BODY ? 'R' : 'H';	/* still arriving? */
	}
}

/* The request's access-log line, once: method[0] is cleared after. */
static void
log_request(struct client *c, int status)
{
	struct access a;

	if (c->method[0] == '\0')
		return;
	a.client = c->peer;
	a.method = c->method;
	a.target = c->target;
	a.backend = c->be != NULL ? c->be->addr.str : "-";
	a.status = status;
	a.bytes = c->sent;
	a.ms = (loop_now() - c->t0) * 1000;
	a.backend_ms = c->backend_ms;
	a.end[0] = c->cause != 0 ? c->cause : '-';
	a.end[1] = c->cause != 0 ? stage(c) : '-';
	a.reused = c->reused;
	a.retries = c->retries;
	log_access(&a);
	c->method[0] = '\0';
}

/*
 * Our own answer: a short text body and Connection: close. It may follow
 * a 1xx already on its way; but once a final head went out there is
 * nothing honest to add: just close.
 */
static void
answer(struct client *c, int status, const char *reason, const char *extra,
    const char *detail)
{
	size_t room;
	int n;

	if (c->state == C_CLOSED)
		return;		/* a bug closed it on the way here (bug()) */
	if (c->cause == 0)	/* who made us answer, unless a caller said */
		c->cause = status == 408 ? 'c' : status == 504 ? 's' :
		    status == 502 || status == 503 ? 'S' : 'P';
	close_backend(c, 0);
	if (c->rs != RS_HEAD) {
		log_request(c, c->status);
		abort_client(c);	/* a reset: not a clean end */
		return;
	}
	if (buf_get(&c->out) == NULL) {
		log_request(c, status);
		close_client(c);	/* no memory for it */
		return;
	}
	room = buf_room(c->out);
	/* The answer to HEAD says how long the body would be, and sends none. */
	n = snprintf(c->out->data + c->out->len, room, "HTTP/1.1 %d %s\r\n"
	    "Content-Type: text/plain\r\nContent-Length: %zu\r\n"
	    "Connection: close\r\n%s\r\n%d %s: %s\n", status, reason,
	    strlen(reason) + strlen(detail) + 7, extra, status, reason, detail);
	if (c->head_req && n > 0 && (size_t)n < room)
		n = (int)(strstr(c->out->data + c->out->len, "\r\n\r\n") + 4 -
		    (c->out->data + c->out->len));
	if (n < 0 || (size_t)n >= room) {
		log_request(c, status);
		close_client(c);	/* behind a 1xx too large to add to */
		return;
	}
	c->out->len += (size_t)n;
	c->sent += n;
	log_request(c, status);
	c->state = C_ANSWER;
	timer_arm(&c->timer, loop_now() + LINGER_S);
	update(c);
}

/* lb itself ran out of something: 503, and the log says it was lb. */
static void
answer_short_of(struct client *c, const char *what)
{
	char detail[64];

	snprintf(detail, sizeof(detail), "the balancer is out of %s", what);
	c->cause = 'R';
	answer(c, 503, "Service Unavailable", "", detail);
}

/* No backend could take the request: 503, and when to come back. */
static void
answer_503(struct client *c)
{
	char extra[48];

	snprintf(extra, sizeof(extra), "Retry-After: %d\r\n",
	    health_retry_after(loop_now()));
	use_backend(c, NULL);
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

/* Move request body bytes from in to up, as far as they fit. 0 or -1. */
static int
pump_body(struct client *c)
{
	while (c->rq == RQ_BODY && buf_used(c->in) > 0) {
		size_t n = buf_used(c->in), room;
		ssize_t k;

		if (!HOLDS(c, c->up != NULL))	/* lent at start_request() */
			return -1;
		room = BUF_SIZE - c->up->len;
		if (room == 0) {
			if (c->up->off == 0)
				break;		/* the backend must take some */
			/* Sent bytes go to make room: no resending now. */
			memmove(c->up->data, c->up->data + c->up->off,
			    buf_used(c->up));
			c->up->len -= c->up->off;
			c->up->off = 0;
			c->kept = 0;
			continue;
		}
		k = http_body_scan(&c->req_body, c->in->data + c->in->off,
		    n < room ? n : room);
		if (k < 0)
			return -1;
		memcpy(c->up->data + c->up->len, c->in->data + c->in->off,
		    (size_t)k);
		c->up->len += (size_t)k;
		c->in->off += (size_t)k;
		if (c->req_body.done)
			c->rq = RQ_IN;
		if (k == 0)
			break;
	}
	if (c->rq == RQ_BODY && c->req_body.done)
		c->rq = RQ_IN;		/* an empty body */
	buf_room(c->in);
	return 0;
}

/* s[0..n) as the inside of a quoted-string (RFC 9110 5.6.4), at p. */
static char *
put_quoted(char *p, const char *s, size_t n)
{
	for (; n > 0; n--, s++) {
		if (*s == '"' || *s == '\\')
			*p++ = '\\';
		*p++ = *s;
	}
	return p;
}

/*
 * The lines lb adds to a request for the backend (-P), into extra,
 * which has room for twice the head. The client's address is appended
 * after any the client sent: the last one is the only one the backend
 * can trust. X-Forwarded-Proto and -Host are set, not appended: the
 * client's own are removed (HTTP_OWN_FORWARDED), or it could claim
 * https. Returns the flags for http_rewrite_head().
 */
static unsigned
forwarded_lines(const struct client *c, const struct http_msg *m,
    char *extra)
{
	const struct http_header *h = http_find(m, "Host");
	const char *host = m->authority != NULL ? m->authority :
	    h != NULL ? h->value : NULL;
	size_t host_len = m->authority != NULL ? m->authority_len :
	    h != NULL ? h->value_len : 0;
	char *p = extra;

	switch (cfg.forwarded) {
	case FWD_X:
		p += sprintf(p, "X-Forwarded-For: %s\r\nX-Forwarded-Proto: http"
		    "\r\n", c->peer);
		if (host != NULL) {
			p += sprintf(p, "X-Forwarded-Host: ");
			memcpy(p, host, host_len);
			p += host_len;
			p += sprintf(p, "\r\n");
		}
		break;
	case FWD_RFC7239:	/* an IPv6 address goes quoted, in brackets */
		p += sprintf(p, strchr(c->peer, ':') != NULL ?
		    "Forwarded: for=\"[%s]\"" : "Forwarded: for=%s", c->peer);
		if (host != NULL) {
			p += sprintf(p, ";host=\"");
			p = put_quoted(p, host, host_len);
			*p++ = '"';
		}
		p += sprintf(p, ";proto=http\r\n");
		break;
	case FWD_NONE:
		break;
	}
	*p = '\0';
	return cfg.forwarded == FWD_X ? HTTP_OWN_FORWARDED : 0;
}

/* A whole head is in: prepare the request for a backend. */
static void
start_request(struct client *c, const struct http_msg *m)
{
	char extra[2 * HEAD_MAX + 256];
	unsigned flags;
	size_t len;
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
	/*
	 * An upgrade is passed on only for a request without a body: the
	 * new protocol's first byte is then the one after the head, in both
	 * directions, with nothing of HTTP left to frame.
	 */
	c->upgrade = http_wants_upgrade(m) && (m->framing == HTTP_BODY_NONE ||
	    (m->framing == HTTP_BODY_LENGTH && m->content_length == 0));
	flags = forwarded_lines(c, m, extra);
	len = strlen(extra);
	snprintf(extra + len, sizeof(extra) - len, "%s", c->upgrade ?
	    "Connection: upgrade\r\n" : m->version == 10 ?
	    "Connection: keep-alive\r\n" : "");
	if (buf_get(&c->up) == NULL) {
		answer_short_of(c, "memory");
		return;
	}
	n = http_rewrite_head(c->in->data + c->in->off, m, extra,
	    flags | (c->upgrade ? HTTP_KEEP_UPGRADE : 0), c->up->data, BUF_SIZE);
	if (n < 0) {
		answer_parse_error(c, 431);
		return;
	}
	c->up->off = 0;
	c->up->len = (size_t)n;
	c->kept = 1;
	c->in->off += m->head_len;
	http_body_init(&c->req_body, m);
	c->rq = RQ_BODY;
	if (pump_body(c) < 0) {
		answer(c, 400, "Bad Request", "", "malformed chunked body");
		return;
	}
	c->tries = c->retries = 0;
	c->backend_ms = -1;
	choose_backend(c);
}

/* A request we answer ourselves, unread: how the access log names it. */
static void
name_refused(struct client *c, const char *method)
{
	c->head_req = 0;	/* unread: whatever the one before was */
	snprintf(c->method, sizeof(c->method), "%s", method);
	snprintf(c->target, sizeof(c->target), "-");
	c->t0 = loop_now();
	c->backend_ms = -1;
}

/* C_IDLE, C_HEAD: is there a whole request head in `in`? */
static void
parse_request(struct client *c)
{
	struct http_msg m;
	int n;

	if (!HOLDS(c, c->state == C_IDLE || c->state == C_HEAD))
		return;
	if (buf_used(c->in) == 0) {
		if (c->client_eof)
			close_client(c);	/* it is done with us */
		else
			update(c);
		return;
	}
	n = http_parse_request(c->in->data + c->in->off, buf_used(c->in),
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
		start_request(c, &m);	/* its states arm their own deadlines */
	} else if (c->client_eof) {
		close_client(c);	/* half a head, and no more coming */
	} else {
		/*
		 * The head's deadline is set once, at its first byte (on a
		 * new connection, at accept): it bounds the whole head, not
		 * the gap between two of its lines.
		 */
		if (c->state == C_IDLE && c->nreq > 0)
			timer_arm(&c->timer, loop_now() + cfg.head_ms / 1e3);
		c->state = C_HEAD;
		update(c);
	}
}

/* ---- the backend ---- */

static void backend_failed(struct client *c, const char *why);
static void choose_backend_or(struct client *c, const char *why);

static void stash_request(struct client *c);

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
		stash_request(c);
		update(c);
	} else if ((errno == EMFILE || errno == ENFILE) && bconn_shed_idle()) {
		connect_next(c);	/* an idle connection made way */
	} else if (errno == EMFILE || errno == ENFILE) {
		answer_short_of(c, "sockets");
	} else {
		snprintf(why, sizeof(why), "connect: %s", strerror(errno));
		backend_failed(c, why);
	}
}

/* A fresh start on whatever backend connection comes next. */
static void
reset_exchange(struct client *c)
{
	if (c->up != NULL)
		c->up->off = 0;	/* from the first byte */
	c->rq = c->req_body.done ? RQ_IN : RQ_BODY;
	buf_put(&c->bin);
	c->backend_eof = B_OPEN;
	c->backend_more = 0;
	c->rs = RS_HEAD;
	c->status = 0;
}

/*
 * Write what the backend takes of up, now: not a select() pass later.
 * Waiting for "writable" first would cost a pass, and a wakeup, for a
 * socket that almost always has room.
 */
static ssize_t
send_up(struct client *c)
{
	ssize_t r;

	if (c->rq == RQ_STOPPED || buf_used(c->up) == 0)
		return 0;
	if ((r = buf_write(c->bfd, c->up)) < 0)
		c->rq = RQ_STOPPED;	/* what it says comes by reading */
	else if (r > 0)
		timer_arm(&c->timer, loop_now() + cfg.response_ms / 1e3);
	return r;
}

static void progress(struct client *c);

static int restore_request(struct client *c);

/* The exchange starts: on a pooled connection, or a fresh one. */
static void
start_exchange(struct client *c)
{
	if (restore_request(c) < 0) {	/* stashed while connecting */
		answer_short_of(c, "memory");
		return;
	}
	c->state = C_PROXY;
	timer_arm(&c->timer, loop_now() + cfg.response_ms / 1e3);
	progress(c);	/* the request goes, as much as the backend takes */
}

/*
 * Round robin to the next backend that is up, within the retry budget.
 * When there is none: 503 if nothing is up, else the answer we have
 * (why != NULL: the last backend failed us after it was reached, 502).
 *
 * Which requests ride a pooled connection, on which the backend may
 * have closed just now (the keep-alive race), is the reuse rule (as
 * HAProxy's "http-reuse safe"): one lb may send again if the race
 * takes it (idempotent, and all of it kept: see no_response()); and
 * any request that is not the first on its client connection. Lost to
 * the race, such a request ends that client connection without an
 * answer: what the client would see had the backend's own keep-alive
 * connection closed under it, and which it already knows how to handle
 * (RFC 9112 section 9.3.1). The first request of a connection could not
 * be told apart from a backend that failed it, so it never risks one.
 * An upgrade always gets a fresh connection: the tunnel it may become
 * is the connection's whole life, never to be handed to anyone else.
 */
static void
choose_backend_or(struct client *c, const char *why)
{
	int b;

	if (c->tries > cfg.retries || c->tries >= backend_count(1) ||
	    (b = balance_pick()) < 0) {
		balance_failed(NULL);	/* no retry follows: no one sits out */
		if (why != NULL)
			answer(c, 502, "Bad Gateway", "", why);
		else
			answer_503(c);
		return;
	}
	if (c->tries++ > 0)
		c->retries++;
	use_backend(c, &backends[b]);
	c->tb = loop_now();
	reset_exchange(c);
	if ((c->idempotent || c->nreq > 1) && !c->upgrade &&
	    (c->bc = bconn_take(c->be)) != NULL) {
		c->reused = 1;
		c->bfd = c->bc->fd;
		start_exchange(c);
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

	if (!HOLDS(c, c->state == C_CONNECT))
		return;
	if (err != 0) {
		loop_unwatch(c->bfd);
		close(c->bfd);
		c->bfd = -1;
		c->ai = c->ai->ai_next;
		errno = err;
		connect_next(c);
		return;
	}
	if ((c->bc = bconn_new(c->be, c->bfd)) == NULL) {
		answer_short_of(c, "memory");
		return;
	}
	start_exchange(c);
}

/*
 * The whole request, from up into a copy of its own size (once), and
 * up's 18 KB buffer back; one larger than REPLAY_MAX (or no memory for
 * the copy) stays in up.
 */
static void
copy_request(struct client *c)
{
	if (c->replay == NULL && c->up->len <= REPLAY_MAX &&
	    (c->replay = malloc(c->up->len)) != NULL) {
		memcpy(c->replay, c->up->data, c->up->len);
		c->replay_len = c->up->len;
	}
	if (c->replay != NULL)
		buf_put(&c->up);
}

/*
 * C_CONNECT: a whole request small enough waits for the connect in a
 * copy of its own size, not in an 18 KB buffer: when thousands of
 * clients arrive at once, most of them wait here (10,000 at once took
 * 46 MB before, most of it buffers holding a 100-byte GET). The copy is
 * the one a request that may be sent again keeps anyway (request_sent());
 * start_exchange() puts it back in up.
 */
static void
stash_request(struct client *c)
{
	if (c->up != NULL && c->rq == RQ_IN && c->kept && c->up->off == 0)
		copy_request(c);
}

/* The request again in up, from the copy kept for that. 0 or -1. */
static int
restore_request(struct client *c)
{
	if (c->up != NULL)
		return 0;
	if (c->replay == NULL || buf_get(&c->up) == NULL)
		return -1;
	memcpy(c->up->data, c->replay, c->replay_len);
	c->up->len = c->replay_len;
	return 0;
}

/*
 * The whole request reached the backend. Its buffer goes back while the
 * response comes (an 18 KB buffer for a 200-byte GET, times every client
 * waiting, would be most of lb's memory); a request that may be sent
 * again keeps a copy of its own size instead.
 */
static void
request_sent(struct client *c)
{
	c->rq = RQ_SENT;
	if (!c->idempotent || !c->kept) {
		c->kept = 0;
		buf_put(&c->up);
		free(c->replay);	/* stash_request()'s: never to be used */
		c->replay = NULL;
		return;
	}
	copy_request(c);
}

/*
 * RS_HEAD, and there will be no response: the backend closed or reset
 * (retry: 1), or sent a head lb will not pass on (retry: 0). A request
 * that may be sent twice, of which nothing reached the client and all
 * is still in up, goes again: on a fresh connection to the same backend
 * if this one came from the pool (the keep-alive race: the backend is
 * fine), else to the next backend. One that may not, lost to that race
 * on a pooled connection, ends its client connection as the race would
 * have (see choose_backend_or()). Anything else gets a 502.
 */
static void
no_response(struct client *c, const char *why, int retry)
{
	int again = retry && c->sent == 0;

	if (!HOLDS(c, c->rs == RS_HEAD))
		return;
	if (again && c->reused && c->nreq > 1 && (!c->idempotent ||
	    !c->kept)) {
		c->cause = 'S';
		log_request(c, 0);	/* no answer: none could be honest */
		close_client(c);
		return;
	}
	if (!again || !c->idempotent || !c->kept || restore_request(c) < 0) {
		answer(c, 502, "Bad Gateway", "", why);
		return;
	}
	close_backend(c, 0);
	if (c->reused) {
		c->reused = 0;
		c->retries++;
		c->tb = loop_now();
		reset_exchange(c);
		c->ai = c->be->addrs;
		connect_next(c);
		return;
	}
	balance_failed(c->be);	/* the next pick is another, if one is up */
	choose_backend_or(c, why);
}

/* The response ended (RS_DONE) or was cut (RS_CUT): let go of the backend. */
static void
release_backend(struct client *c)
{
	int reusable = c->rs == RS_DONE && c->rq == RQ_SENT &&
	    c->backend_keep && !c->backend_eof && buf_used(c->bin) == 0;

	if (c->rs == RS_DONE)
		c->be->requests++;
	close_backend(c, reusable);
	forget_request(c);	/* what was not sent, never will be */
	c->rq = RQ_STOPPED;
}

/* What moving bytes from bin to out did. */
enum { MOVED = 1, NEED_BYTES = 0, NEED_ROOM = 2, BAD = -1, UNASKED = -2 };

/* The response head, rewritten for the client, goes into out. */
static int
take_response_head(struct client *c)
{
	struct http_msg m;
	const char *conn;
	size_t room;
	int n;

	if (buf_used(c->bin) == 0)
		return NEED_BYTES;
	n = http_parse_response(c->bin->data + c->bin->off, buf_used(c->bin),
	    HEAD_MAX, c->head_req, &m);
	if (n == 0)
		return NEED_BYTES;
	if (n < 0)
		return BAD;
	if (m.status == 101 && !c->upgrade)
		return UNASKED;	/* a tunnel nobody asked for */
	/*
	 * Room first: buf_room() may move out's bytes, and so the place to
	 * write to (the order a call's arguments are worked out in is the
	 * compiler's choice: the fuzzer found this with clang, not gcc).
	 */
	if (buf_get(&c->out) == NULL)
		return BAD;		/* no memory: as if it were garbage */
	room = buf_room(c->out);
	if (m.status == 101) {
		n = http_rewrite_head(c->bin->data + c->bin->off, &m,
		    "Connection: upgrade\r\n", HTTP_KEEP_UPGRADE,
		    c->out->data + c->out->len, room);
		if (n < 0)
			return buf_used(c->out) > 0 ? NEED_ROOM : BAD;
		c->bin->off += m.head_len;
		c->out->len += (size_t)n;
		c->sent += n;
		c->status = 101;
		c->backend_ms = (loop_now() - c->tb) * 1000;
		c->rs = RS_TUNNEL;	/* what follows in bin is the tunnel's */
		return MOVED;
	}
	if (m.status < 200) {		/* 1xx: pass on to 1.1 clients */
		if (c->version == 11) {
			n = http_rewrite_head(c->bin->data + c->bin->off, &m, "",
			    0, c->out->data + c->out->len, room);
			if (n < 0)
				return buf_used(c->out) > 0 ? NEED_ROOM : BAD;
			c->out->len += (size_t)n;
			c->sent += n;
		}
		c->bin->off += m.head_len;
		return MOVED;
	}
	/*
	 * A body the client has not finished sending ends this connection;
	 * so does an upgrade refused: the client may already be sending in
	 * the protocol it asked for, bytes that are no request.
	 */
	if (m.framing == HTTP_BODY_CLOSE || !c->req_body.done || draining ||
	    c->upgrade)
		c->keep = 0;
	conn = !c->keep ? "Connection: close\r\n" : c->version == 10 ?
	    "Connection: keep-alive\r\n" : "";
	n = http_rewrite_head(c->bin->data + c->bin->off, &m, conn, 0,
	    c->out->data + c->out->len, room);
	if (n < 0)	/* no room yet: an empty out has room (BUF_SIZE) */
		return buf_used(c->out) > 0 ? NEED_ROOM : BAD;
	c->bin->off += m.head_len;
	c->out->len += (size_t)n;
	c->sent += n;
	c->status = m.status;
	c->backend_ms = (loop_now() - c->tb) * 1000;
	c->backend_keep = m.keep_alive && !c->upgrade;	/* it heard "upgrade" */
	if (c->bc != NULL)	/* how long the backend keeps it idle */
		c->bc->keep_s = http_keep_alive_timeout(&m);
	http_body_init(&c->resp_body, &m);
	c->rs = c->resp_body.done ? RS_DONE : RS_BODY;
	return MOVED;
}

/*
 * Body bytes from bin to out, as many as its framing and out allow.
 * When out is empty and all of bin is body, bin simply becomes out: the
 * bytes are not copied at all.
 */
static int
take_body(struct client *c)
{
	size_t n = buf_used(c->bin), room = buf_room(c->out);
	ssize_t k;

	if (n == 0)
		return NEED_BYTES;
	if (room == 0)
		return NEED_ROOM;
	k = http_body_scan(&c->resp_body, c->bin->data + c->bin->off,
	    n < room ? n : room);
	if (k < 0)
		return BAD;
	c->sent += k;
	if (c->resp_body.done)
		c->rs = RS_DONE;
	if (c->out == NULL && (size_t)k == n) {
		c->out = c->bin;	/* the whole buffer changes hands */
		c->bin = NULL;
		return k > 0 ? MOVED : NEED_BYTES;
	}
	if (buf_get(&c->out) == NULL)
		return BAD;
	memcpy(c->out->data + c->out->len, c->bin->data + c->bin->off, (size_t)k);
	c->out->len += (size_t)k;
	c->bin->off += (size_t)k;
	return k > 0 ? MOVED : NEED_BYTES;
}

/*
 * Move what the backend sent into out, then see whether the response
 * has ended. The backend's end of the stream counts only once bin is
 * empty: a FIN ends a close-delimited body and cuts any other; a reset
 * cuts any body, and lb resets the client in turn (RS_CUT).
 */
static void
pump_response(struct client *c)
{
	int r = MOVED;

	while (r == MOVED && (c->rs == RS_HEAD || c->rs == RS_BODY))
		r = c->rs == RS_HEAD ? take_response_head(c) : take_body(c);
	if (r == BAD && c->rs == RS_HEAD) {
		no_response(c, "the backend sent a malformed response", 0);
		return;
	}
	if (r == UNASKED) {
		no_response(c, "the backend switched protocols (101) unasked", 0);
		return;
	}
	if (r == BAD) {			/* a malformed chunked body */
		c->cause = 'S';
		log_request(c, c->status);
		abort_client(c);
		return;
	}
	if (c->backend_eof && r == NEED_BYTES && c->rs == RS_HEAD) {
		no_response(c, buf_used(c->bin) > 0 || c->sent > 0 ?
		    "the backend closed mid-response" :
		    "the backend closed without answering", 1);
		return;
	}
	if (c->backend_eof && r == NEED_BYTES && c->rs == RS_BODY) {
		if (c->resp_body.framing == HTTP_BODY_CLOSE &&
		    c->backend_eof == B_FIN)
			c->rs = RS_DONE;	/* the close was the end */
		else {
			c->rs = RS_CUT;		/* never fake an end */
			c->keep = 0;
		}
	}
	if ((c->rs == RS_DONE || c->rs == RS_CUT) && c->bfd >= 0)
		release_backend(c);
}

/* ---- finishing a request ---- */

static void
reset_request(struct client *c)
{
	c->method[0] = c->target[0] = '\0';
	c->cause = 0;
	c->backend_ms = -1;
	use_backend(c, NULL);
	c->rs = RS_HEAD;
	c->status = 0;
	c->sent = 0;
	c->reused = c->retries = c->tries = 0;
	c->backend_eof = B_OPEN;
	forget_request(c);
	buf_put(&c->bin);
}

/* The response is out. Next request on this connection, or close. */
static void
finish_request(struct client *c)
{
	if (!HOLDS(c, c->rs == RS_DONE || c->rs == RS_CUT))
		return;
	if (c->rs == RS_CUT)
		c->cause = 'S';		/* the backend stopped mid-body */
	log_request(c, c->status);
	if (c->rs == RS_CUT && c->backend_eof == B_RESET) {
		abort_client(c);	/* tell the client the same way */
		return;
	}
	if (!c->keep || draining || c->rs == RS_CUT || !c->req_body.done) {
		shutdown(c->fd, SHUT_WR);
		c->state = C_LINGER;
		timer_arm(&c->timer, loop_now() + LINGER_S);
		update(c);
		return;
	}
	reset_request(c);
	c->state = C_IDLE;
	timer_arm(&c->timer, loop_now() + cfg.idle_ms / 1e3);
	parse_request(c);	/* a pipelined request may be waiting */
}

/*
 * The backend's bytes into bin. A read that filled bin says the kernel
 * likely holds more: backend_more, and move_response() reads again in
 * the same pass rather than wait a select() for what it already knows.
 */
static void
read_backend(struct client *c)
{
	ssize_t r = buf_read(c->bfd, &c->bin);

	c->backend_more = r > 0 && buf_room(c->bin) == 0;
	if (r == 0 || r == -1)
		c->backend_eof = r == 0 ? B_FIN : B_RESET;
	else if (r > 0)
		timer_arm(&c->timer, loop_now() + cfg.response_ms / 1e3);
}

/*
 * Body bytes from in to up, and up to the backend, for as long as the
 * backend takes all of up. A write that empties up must go round again
 * while in holds body bytes: else the pass ends with bytes in in,
 * nothing in up to watch the backend for, and a client that has sent
 * everything will bring no event (as in tunnel()). With in empty, a
 * client whose last read filled in is read again, PASS_READS times in
 * a pass at most. 0, or -1: c is done with.
 */
static int
move_request(struct client *c)
{
	int reads = 0;
	ssize_t r;

	for (;;) {
		if (pump_body(c) < 0) {
			answer(c, 400, "Bad Request", "",
			    "malformed chunked body");
			return -1;
		}
		if (send_up(c) <= 0 || buf_used(c->up) > 0 || c->rq != RQ_BODY)
			break;
		if (buf_used(c->in) > 0)
			continue;
		if (!c->client_more || c->client_eof || reads++ == PASS_READS)
			break;
		r = buf_read(c->fd, &c->in);
		c->client_more = r > 0 && buf_room(c->in) == 0;
		if (r == -1) {
			client_gone(c, -1);
			return -1;
		}
		c->client_eof = r == 0;
		if (r <= 0)
			break;
	}
	if (c->client_eof && c->rq == RQ_BODY && buf_used(c->in) == 0) {
		c->cause = 'C';
		log_request(c, 499);	/* it left mid-body: nothing to finish */
		close_client(c);
		return -1;
	}
	if (c->rq == RQ_IN && buf_used(c->up) == 0 && c->bfd >= 0)
		request_sent(c);
	return 0;
}

/*
 * Response bytes go to the client as soon as they are out's, and more
 * follow for as long as the client takes all of out: what is in bin,
 * then, while the backend's last read filled bin, another read of it,
 * PASS_READS times in a pass at most. 0, or -1: c is done with.
 */
static int
move_response(struct client *c)
{
	int reads = 0;
	ssize_t w;

	for (;;) {
		pump_response(c);
		if (c->state != C_PROXY)
			return -1;
		if ((w = buf_write(c->fd, c->out)) < 0) {
			client_gone(c, -1);
			return -1;
		}
		if (w > 0)	/* a slow reader that still reads */
			timer_arm(&c->timer, loop_now() +
			    cfg.response_ms / 1e3);
		if (w == 0 || buf_used(c->out) > 0 ||
		    (c->rs != RS_HEAD && c->rs != RS_BODY))
			break;
		if (buf_used(c->bin) > 0)
			continue;
		if (!c->backend_more || c->backend_eof || c->bfd < 0 ||
		    reads++ == PASS_READS)
			break;
		read_backend(c);
		if (buf_used(c->bin) == 0 && !c->backend_eof)
			break;		/* nothing more after all */
	}
	return 0;
}

/*
 * C_PROXY: after anything happened, move what can move and see whether
 * the request is over. Every event of the exchange ends here, so no
 * ending can be missed because no event came after it.
 */
static void
progress(struct client *c)
{
	if (!HOLDS(c, c->state == C_PROXY))
		return;
	if (move_request(c) < 0 || move_response(c) < 0)
		return;
	if (c->rs == RS_TUNNEL) {
		start_tunnel(c);
		return;
	}
	if ((c->rs == RS_DONE || c->rs == RS_CUT) && buf_used(c->out) == 0)
		finish_request(c);
	else
		update(c);
}

/* ---- tunnels ----
 *
 * After a 101 (Switching Protocols) the two connections carry another
 * protocol (WebSocket, most often) that lb does not speak: every byte
 * from one side goes to the other, as it comes, until both sides have
 * said they are done.
 *
 *   client ──in──────> backend      a FIN from the client, once in is
 *   client <──out<─bin── backend    empty, becomes our FIN to the
 *                                   backend (up_shut); the backend's,
 *                                   once bin and out are, the client's
 *                                   (down_shut). Both: the tunnel ends.
 *
 * The same buffers, the same backpressure: a full buffer stops the read
 * that fills it. A reset from either side resets the other; a tunnel
 * silent in both directions for -t tunnel ms is closed. Its backend
 * connection never goes back to the pool: after a 101 it is no longer
 * an HTTP connection at all.
 */

/* The tunnel is over: one log line (101, its bytes, its whole life). */
static void
end_tunnel(struct client *c, char cause, int reset_client, int reset_backend)
{
	if (!HOLDS(c, c->state == C_TUNNEL))
		return;
	c->cause = cause;
	c->sent -= (long long)buf_used(c->out);	/* never reached the client */
	log_request(c, 101);
	if (reset_backend && c->bfd >= 0)
		set_reset_on_close(c->bfd, c->be->addr.str);
	close_backend(c, 0);
	if (reset_client)
		abort_client(c);
	else
		close_client(c);
}

/* Write from b to fd what fd takes: >= 0, or -1 when fd's peer is gone. */
static ssize_t
tunnel_write(int fd, struct buf *b)
{
	return buf_used(b) > 0 ? buf_write(fd, b) : 0;
}

/*
 * C_TUNNEL: read one side, the backend's (into bin) or the client's
 * (into in). 1: bytes came; 0: none, or the end of its stream; -1: the
 * client failed, and the tunnel is over.
 */
static int
tunnel_read(struct client *c, int backend)
{
	ssize_t r = buf_read(backend ? c->bfd : c->fd, backend ? &c->bin :
	    &c->in);

	if (backend) {
		c->backend_more = r > 0 && buf_room(c->bin) == 0;
		if (r == 0 || r == -1)
			c->backend_eof = r == 0 ? B_FIN : B_RESET;
		return r > 0;
	}
	c->client_more = r > 0 && buf_room(c->in) == 0;
	if (r == 0)
		c->client_eof = 1;
	if (r == -1) {
		end_tunnel(c, 'C', 0, 1);	/* reset, or no memory */
		return -1;
	}
	return r > 0;
}

/*
 * Upstream: what is left of the request (rare), then the client's
 * bytes; while the backend takes them all and the client's last read
 * filled in, the client is read again (PASS_READS a pass, at most).
 * Its FIN, once in is empty, becomes ours to the backend. -1: it ended.
 */
static int
tunnel_up(struct client *c, int *moved)
{
	int reads = 0, r;
	ssize_t w;

	if (c->up_shut)
		return 0;
	for (;;) {
		if ((w = tunnel_write(c->bfd, c->up)) > 0)
			*moved = 1;
		if (w >= 0 && buf_used(c->up) == 0 &&
		    (w = tunnel_write(c->bfd, c->in)) > 0)
			*moved = 1;
		if (w < 0) {
			end_tunnel(c, 'S', 1, 0);	/* the backend is gone */
			return -1;
		}
		if (w == 0 || buf_used(c->up) > 0 || buf_used(c->in) > 0 ||
		    !c->client_more || c->client_eof || reads++ == PASS_READS)
			break;
		if ((r = tunnel_read(c, 0)) <= 0) {
			if (r < 0)
				return -1;
			break;
		}
	}
	if (c->client_eof && buf_used(c->up) == 0 && buf_used(c->in) == 0) {
		shutdown(c->bfd, SHUT_WR);
		c->up_shut = 1;
	}
	return 0;
}

/*
 * Downstream: bin to out (the body of a response that never ends), for
 * as long as the client takes all of out, reading the backend again
 * while its last read filled bin (PASS_READS a pass, at most). Whatever
 * take_body() said, a write that empties out must go round again while
 * bin holds bytes: with out full it took nothing (NEED_ROOM), and if we
 * stopped there, bin's bytes would wait for an event that may never
 * come (nothing in out to watch the client for; the backend read only
 * while bin has room, and only if it says more). -1: it ended.
 */
static int
tunnel_down(struct client *c, int *moved)
{
	int reads = 0;
	ssize_t w;

	for (;;) {
		take_body(c);	/* BAD can't be: out is bin, or already lent */
		if ((w = tunnel_write(c->fd, c->out)) < 0) {
			end_tunnel(c, 'C', 0, 1);	/* the client is gone */
			return -1;
		}
		if (w > 0)
			*moved = 1;
		if (w == 0 || buf_used(c->out) > 0)
			break;
		if (buf_used(c->bin) > 0)
			continue;
		if (!c->backend_more || c->backend_eof ||
		    reads++ == PASS_READS || tunnel_read(c, 1) <= 0)
			break;
	}
	return 0;
}

/* C_TUNNEL: move what can move, pass on ends of stream, see if it is over. */
static void
tunnel(struct client *c)
{
	int moved = 0;

	if (!HOLDS(c, c->state == C_TUNNEL))
		return;
	if (tunnel_up(c, &moved) < 0 || tunnel_down(c, &moved) < 0)
		return;
	if (c->backend_eof == B_RESET) {
		end_tunnel(c, 'S', 1, 0);
		return;
	}
	if (c->backend_eof == B_FIN && !c->down_shut &&
	    buf_used(c->bin) == 0 && buf_used(c->out) == 0) {
		shutdown(c->fd, SHUT_WR);
		c->down_shut = 1;
	}
	if (c->up_shut && c->down_shut) {
		end_tunnel(c, 0, 0, 0);		/* as it should */
		return;
	}
	if (moved)
		timer_arm(&c->timer, loop_now() + cfg.tunnel_ms / 1e3);
	update(c);
}

/* RS_TUNNEL: the 101 is in out; from here on, bytes are only bytes. */
static void
start_tunnel(struct client *c)
{
	free(c->replay);	/* never to be sent again */
	c->replay = NULL;
	c->resp_body.framing = HTTP_BODY_CLOSE;	/* take_body takes it all */
	c->resp_body.done = 0;
	c->state = C_TUNNEL;
	c->be->requests++;	/* a response relayed: the 101 */
	ntunnels++;
	tunnels_total++;
	timer_arm(&c->timer, loop_now() + cfg.tunnel_ms / 1e3);
	tunnel(c);
}

/* C_TUNNEL: an event on the backend's side (backend) or the client's. */
static void
on_tunnel(struct client *c, int backend, int events)
{
	if ((events & EV_READ) && tunnel_read(c, backend) < 0)
		return;
	tunnel(c);
}

/* ---- events ---- */

static void
on_backend(void *arg, int fd, int events)
{
	struct client *c = arg;

	(void)fd;
	if (c->state == C_CONNECT) {
		connect_done(c);
		return;
	}
	if (c->state == C_TUNNEL) {
		on_tunnel(c, 1, events);
		return;
	}
	if (!HOLDS(c, c->state == C_PROXY))
		return;
	if (events & EV_WRITE)
		send_up(c);
	if (events & EV_READ)
		read_backend(c);
	progress(c);
}

/* The client closed (r == 0) or failed (r == -1): what that means now. */
static void
client_gone(struct client *c, ssize_t r)
{
	if (r == 0 && (c->state == C_IDLE || c->state == C_HEAD)) {
		c->client_eof = 1;	/* requests already in still count */
		parse_request(c);
		return;
	}
	if (r == 0 && c->state == C_PROXY) {
		c->client_eof = 1;	/* the rest of its body may be in `in` */
		progress(c);
		return;
	}
	/* Mid-request, or a reset: it can't be finished. */
	c->cause = 'C';
	log_request(c, c->status ? c->status : 499);
	close_client(c);
}

/* C_LINGER: what still comes is read and dropped; its end closes. */
static void
linger_read(struct client *c)
{
	char scrap[4096];
	ssize_t r = read(c->fd, scrap, sizeof(scrap));

	if (r == 0 || (r < 0 && !buf_would_block()))
		close_client(c);
}

static void
on_client(void *arg, int fd, int events)
{
	struct client *c = arg;
	ssize_t r;

	(void)fd;
	if (c->state == C_TUNNEL) {
		on_tunnel(c, 0, events);
		return;
	}
	if ((events & EV_WRITE) && c->state == C_PROXY) {
		progress(c);	/* it writes out, then moves what follows */
		return;
	}
	if (events & EV_WRITE) {
		if (buf_write(c->fd, c->out) < 0) {
			client_gone(c, -1);
			return;
		}
		if (c->state == C_ANSWER && buf_used(c->out) == 0) {
			shutdown(c->fd, SHUT_WR);
			c->state = C_LINGER;
		}
	}
	if (events & EV_READ) {
		if (c->state == C_LINGER) {
			linger_read(c);
			return;
		}
		r = buf_read(c->fd, &c->in);
		c->client_more = r > 0 && buf_room(c->in) == 0;
		if (r == 0 || r == -1) {
			client_gone(c, r);
			return;
		}
		if (c->state == C_IDLE || c->state == C_HEAD) {
			/*
			 * A head is judged line by line: without a new line
			 * end there is nothing new to judge. (Parsing again
			 * on every byte would let a slow sender make us do
			 * quadratic work.)
			 */
			if (r > 0 && c->state == C_HEAD &&
			    memchr(c->in->data + c->in->len - r, '\n',
			    (size_t)r) == NULL && buf_room(c->in) > 0) {
				update(c);
				return;
			}
			parse_request(c);
			return;
		}
		if (c->state == C_PROXY) {
			progress(c);
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
	case C_IDLE:
		close_client(c);	/* idle keep-alive: silently */
		break;
	case C_HEAD:
		name_refused(c, "-");
		answer(c, 408, "Request Timeout", "",
		    "the request head took too long");
		break;
	case C_CONNECT:
		snprintf(why, sizeof(why), "connect: timed out after %d ms",
		    cfg.connect_ms);
		backend_failed(c, why);
		break;
	case C_TUNNEL:
		end_tunnel(c, 't', 0, 0);	/* silent both ways too long */
		break;
	case C_PROXY:
		if (c->rs == RS_HEAD && c->rq == RQ_BODY &&
		    buf_used(c->up) == 0)	/* waiting on the client */
			answer(c, 408, "Request Timeout", "",
			    "the request body took too long");
		else if (c->rs == RS_HEAD)
			answer(c, 504, "Gateway Timeout", "",
			    "the backend did not answer in time");
		else {
			/* Stalled mid-response: a client not reading, or a
			 * backend not sending? out says which. */
			c->cause = buf_used(c->out) > 0 ? 'c' : 's';
			log_request(c, c->status);
			abort_client(c);
		}
		break;
	default:
		close_client(c);
	}
}

/*
 * What each socket waits for, from the state. Every event ends here, so
 * here is where empty buffers go back: an idle client holds none.
 */
static void
update(struct client *c)
{
	int cev = 0, bev = 0;

	buf_put_empty(&c->in);
	buf_put_empty(&c->bin);
	buf_put_empty(&c->out);
	if (c->state == C_TUNNEL)
		buf_put_empty(&c->up);	/* no replay ever: once out, it goes */

	switch (c->state) {
	case C_IDLE:
	case C_HEAD:
		cev = c->client_eof || buf_room(c->in) == 0 ? 0 : EV_READ;
		break;
	case C_CONNECT:
		bev = EV_WRITE;
		break;
	case C_PROXY:
		/* Body bytes in in wait only for up to drain, which is watched. */
		if (!HOLDS(c, c->rq != RQ_BODY || buf_used(c->in) == 0 ||
		    buf_used(c->up) > 0))
			return;
		if (c->rq == RQ_BODY && c->bfd >= 0 && !c->client_eof &&
		    buf_room(c->in) > 0)
			cev |= EV_READ;
		if (buf_used(c->out) > 0)
			cev |= EV_WRITE;
		if (buf_used(c->up) > 0 && c->rq != RQ_STOPPED)
			bev |= EV_WRITE;
		if (!c->backend_eof && (c->rs == RS_HEAD || c->rs == RS_BODY) &&
		    buf_room(c->bin) > 0)
			bev |= EV_READ;
		break;
	case C_TUNNEL:
		/* Bytes in bin wait only for out to drain, and out is watched. */
		if (!HOLDS(c, buf_used(c->bin) == 0 || buf_used(c->out) > 0))
			return;
		if (!c->client_eof && buf_room(c->in) > 0)
			cev |= EV_READ;
		if (buf_used(c->out) > 0)
			cev |= EV_WRITE;
		if (!c->up_shut && (buf_used(c->up) > 0 || buf_used(c->in) > 0))
			bev |= EV_WRITE;
		if (!c->backend_eof && buf_room(c->bin) > 0)
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
	if (loop_watch(c->fd, cev, on_client, c) < 0 || (c->bfd >= 0 &&
	    loop_watch(c->bfd, bev, on_backend, c) < 0)) {
		/* select() could never watch it: never leave a client waiting. */
		c->cause = 'R';
		log_request(c, 503);
		close_client(c);
	}
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

	if (nclients >= cfg.max_conns || fd >= fd_cap ||
	    addr_nonblock(fd) < 0 || (c = calloc(1, sizeof(*c))) == NULL) {
		refuse(fd);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->fd = fd;
	c->bfd = -1;
	c->backend_ms = -1;
	c->state = C_IDLE;
	addr_peer(fd, c->peer, sizeof(c->peer));
	timer_init(&c->timer, on_timer, c);
	/* Slowloris: the first head must come within head_ms of accept. */
	timer_arm(&c->timer, loop_now() + cfg.head_ms / 1e3);
	c->next = clients;
	clients = c;
	nclients++;
	update(c);
}

/*
 * A -w worker is full at its -m clients, or when one more client could
 * take its descriptors past fd_cap: a client and its backend take two
 * (idle pooled ones make way: bconn_shed_idle()), and FD_MARGIN are for
 * the rest (stdio, the signal pipe and socketpair, the listener).
 */
#define FD_MARGIN	16

static int
worker_full(void)
{
	return nclients >= cfg.max_conns ||
	    2 * (nclients + 1) + FD_MARGIN > fd_cap;
}

/*
 * The descriptors a client may have: below what the loop can watch
 * (select(): FD_SETSIZE) and what this process may open.
 */
static void
count_descriptors(void)
{
	struct rlimit rl;

	fd_cap = loop_limit();
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < (rlim_t)fd_cap)
		fd_cap = (int)rl.rlim_cur;
}

/*
 * Accept clients on lfd. shared: other processes (-w workers) accept on
 * it too, so when this one is full it takes none, and they do. Alone,
 * a client over the limit is taken and answered 503 (refuse()), since
 * nobody else would ever answer it.
 */
int
conn_listen(int lfd, int shared)
{
	count_descriptors();
	if (loop_listen(&listener, lfd, add_client) < 0)
		return -1;
	if (shared)
		listener.full = worker_full;
	return 0;
}

/* SIGTERM: stop accepting; idle clients go now, busy ones when done. */
void
conn_drain(void)
{
	struct client *c;

	draining = 1;
	loop_unlisten(&listener);
	for (c = clients; c != NULL; c = c->next)
		if (c->state == C_IDLE && buf_used(c->in) == 0)
			close_client(c);
}

int
conn_count(void)
{
	return nclients;
}

void
conn_tunnels(int *open, unsigned long long *total)
{
	*open = ntunnels;
	*total = tunnels_total;
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

	for (c = clients; c != NULL; c = c->next) {
		c->cause = 'K';		/* the drain deadline: in flight still */
		log_request(c, c->state == C_TUNNEL ? 101 : c->status);
		if (c->state == C_PROXY && c->rs != RS_HEAD)
			abort_client(c);	/* a cut body: never a clean end */
		else
			close_client(c);
	}
	conn_reap();
	loop_unlisten(&listener);
}
