/*
 * conn.c - one client connection, from accept() to close(), serving one
 * request after another (keep-alive, pipelining), each balanced on its
 * own.
 *
 * Read it as three state machines. The connection has one (enum
 * cstate); while a request is with a backend (C_PROXY), each direction
 * has its own: the request on its way up (enum rqstate) and the
 * response on its way down (enum rsstate).
 *
 *   accept (-l PORT,proxy: first C_ORIGIN, for the PROXY header)
 *     │
 *     ▼
 *   C_IDLE <───────────── the response is out; keep-alive ──────┐
 *     │ a byte (a whole head at once: straight on, past C_HEAD) │
 *     ▼                                                         │
 *   C_HEAD ── a whole head; every backend full ──> C_QUEUE      │
 *     │ a whole head                                  │ a slot  │
 *     ▼                                               │         │
 *   C_CONNECT <───────────────────────────────────────┤         │
 *     │ connected (a pooled connection skips this)    │         │
 *     ▼                                               │         │
 *   C_PROXY <─────────────────────────────────────────┘         │
 *     │ └───────────────────────────────────────────────────────┘
 *     │ 101: the backend switched protocols
 *     ▼
 *   C_TUNNEL
 *
 *   Off this path: lb's own answer (a bad request, no backend, 502,
 *   504) goes out in C_ANSWER; after it, or after a response with
 *   Connection: close, lb reads what still comes in C_LINGER; and every
 *   state may end in C_CLOSED.
 *
 * The picture leaves arrows out (a retry goes back to C_CONNECT, or to
 * C_QUEUE). The whole machine is the list below: each line is a row of
 * client_moves[], enter() refuses a move that is not there (a bug in
 * lb: see HOLDS()), and a unit test checks that this list, final/README's
 * and the table are the same.
 *
 *   ORIGIN  -> IDLE     a PROXY header said who the client is
 *   ORIGIN  -> CLOSED   none in time, not a valid one, the client left
 *   IDLE    -> HEAD     part of a request head is in
 *   IDLE    -> QUEUE    a whole head, and every backend is at its maxconn
 *   IDLE    -> CONNECT  a whole head: a backend connection is opening
 *   IDLE    -> PROXY    a whole head: sent on a pooled connection
 *   IDLE    -> ANSWER   lb answers itself: a bad request, no backend up
 *   IDLE    -> CLOSED   the client closed or reset, went idle, or drain
 *   HEAD    -> QUEUE    the head is whole; every backend is at maxconn
 *   HEAD    -> CONNECT  the head is whole: a backend connection opens
 *   HEAD    -> PROXY    the head is whole: a pooled connection
 *   HEAD    -> ANSWER   a bad or slow head (400, 408, 431...), no backend
 *   HEAD    -> CLOSED   the client closed or reset mid-head
 *   QUEUE   -> QUEUE    a slot, but its connect failed at once; all full
 *   QUEUE   -> CONNECT  a backend slot is free: a connection opens
 *   QUEUE   -> PROXY    a backend slot is free: a pooled connection
 *   QUEUE   -> ANSWER   no slot within -t queue, or no backend up: 503
 *   QUEUE   -> CLOSED   the client left while it waited
 *   CONNECT -> QUEUE    that backend failed; the others are at maxconn
 *   CONNECT -> CONNECT  that address or backend failed: the next one
 *   CONNECT -> PROXY    connected: the request goes
 *   CONNECT -> ANSWER   no backend could be reached: 503
 *   CONNECT -> CLOSED   lb stops at its drain deadline, or a bug
 *   PROXY   -> QUEUE    no response; the other backends are at maxconn
 *   PROXY   -> CONNECT  no response: sent again on a fresh connection
 *   PROXY   -> PROXY    no response: sent again, a pooled connection
 *   PROXY   -> ANSWER   no response to pass on: 502, 504, 408, 400, 503
 *   PROXY   -> IDLE     the response is out: the next request
 *   PROXY   -> LINGER   the response is out, and the connection ends
 *   PROXY   -> TUNNEL   the backend switched protocols (101)
 *   PROXY   -> CLOSED   the client left; a body cut (reset); a race lost
 *   TUNNEL  -> CLOSED   both sides are done, silence, or a reset
 *   ANSWER  -> LINGER   our answer is out
 *   ANSWER  -> CLOSED   the client did not take our answer, or left
 *   LINGER  -> CLOSED   the client closed, or the linger is over
 *
 * The request, from its whole head on (it waits in C_QUEUE and
 * C_CONNECT as it is, and moves in C_PROXY):
 *
 *   NONE    -> BODY     a whole head: the body, if any, is to come
 *   BODY    -> IN       the whole request is in lb
 *   BODY    -> REFUSED  the backend takes no more of it
 *   BODY    -> NONE     the exchange is over before the body was in
 *   IN      -> SENT     the whole request was written to the backend
 *   IN      -> REFUSED  the backend takes no more of it
 *   IN      -> NONE     the exchange is over before it was all sent
 *   SENT    -> IN       no response: sent again, from its first byte
 *   SENT    -> NONE     the exchange is over
 *   REFUSED -> BODY     sent again, from its first byte
 *   REFUSED -> IN       sent again, from its first byte
 *   REFUSED -> NONE     the exchange is over
 *
 * and the response:
 *
 *   HEAD    -> BODY     a final head went out; its framing says the rest
 *   HEAD    -> DONE     a final head without a body went out
 *   HEAD    -> TUNNEL   a 101 went out: bytes both ways from here
 *   BODY    -> DONE     the body's end, as its framing says
 *   BODY    -> CUT      the backend stopped mid-body
 *   DONE    -> HEAD     the next request (after CUT there is none)
 *
 * Run lb with -v to watch the three machines: each move is one line on
 * stderr ("c7 HEAD -> PROXY: GET /x to 127.0.0.1:9001, reused").
 *
 * Four buffers per client: in (from the client), bout (out to the
 * backend), bin (in from the backend), out (to the client). Bodies
 * stream through them in pieces and are never held whole;
 * http_body_scan() says where each body ends. A full buffer stops the
 * read that fills it: that is lesson 3's backpressure, here in both
 * directions.
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
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "balance.h"
#include "bconn.h"
#include "buf.h"
#include "config.h"
#include "conn.h"
#include "health.h"
#include "http.h"
#include "log.h"
#include "loop.h"
#include "proxyproto.h"

#define LINGER_MS	2000	/* reading after our last byte, at most */
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
	C_ORIGIN,	/* -l PORT,proxy: the PROXY header that says who it is */
	C_IDLE,		/* between requests: no byte of the next one yet */
	C_HEAD,		/* part of a request head is in; its deadline runs */
	C_QUEUE,	/* every backend is at its maxconn: waiting for a slot */
	C_CONNECT,	/* a non-blocking connect to a backend is under way */
	C_PROXY,	/* the exchange: see enum rqstate and enum rsstate */
	C_TUNNEL,	/* after a 101: bytes both ways, no HTTP (see tunnel()) */
	C_ANSWER,	/* sending our own answer, then we close */
	C_LINGER,	/* our last byte is out: reading what still comes */
	C_CLOSED	/* closed; freed by conn_reap() after this pass */
};

enum rqstate {
	RQ_NONE,	/* no request with a backend: none yet, or it is over */
	RQ_BODY,	/* body bytes are still to come from the client */
	RQ_IN,		/* the whole request is in lb; not all written yet */
	RQ_SENT,	/* the whole request was written to the backend */
	RQ_REFUSED	/* a write failed: the backend takes no more of it */
};

enum rsstate {
	RS_HEAD,	/* waiting for the final response head */
	RS_BODY,	/* passing the body on, as far as its framing says */
	RS_DONE,	/* it ended: what is left in out goes, then next */
	RS_CUT,		/* the backend stopped mid-body: out goes, then close */
	RS_TUNNEL	/* a 101 went into out: the connection is a tunnel now */
};

/* How the backend's end of the stream came, if it came. */
enum bend { B_OPEN, B_FIN, B_RESET };

struct client {
	int	fd;
	unsigned long id;	/* c7 in -v's lines */
	enum cstate state;
	char	peer[64];		/* its address, or the PROXY header's */
	struct pp_info *origin;	/* the PROXY header, if one said who */
	struct timer timer;	/* the one deadline of the current state */
	struct client *next;	/* all clients */
	int	nreq;		/* requests started on this connection */
	int	client_eof;	/* the client sent all it will send */
	int	client_more;	/* its last read filled in: likely more */
	struct buf *in, *bout, *bin, *out;	/* lent while bytes are in them */

	/* The request in flight; method[0] == '\0': none, or logged. */
	char	method[24];
	char	target[256];	/* for the log, cut if long */
	int	version;	/* 10 or 11 */
	int	keep_alive;	/* the client connection stays open after it */
	int	head_req;	/* HEAD: the response has no body */
	int	idempotent;
	int	upgrade;	/* it asks to switch protocols (WebSocket...) */
	struct http_body req_body;
	enum rqstate rq;
	int	held_whole;	/* bout (or replay) holds it from its first byte */
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
	enum bend backend_end;	/* B_FIN, B_RESET: bin may still hold the rest */
	int	backend_more;	/* its last read filled bin: likely more */
	const struct addrinfo *ai;	/* C_CONNECT: the address tried */
	struct backend *slot_be;	/* it holds one of be's slots (maxconn) */
	struct client *qnext, *qprev;	/* C_QUEUE: the queue, oldest first */
	double	tq;		/* C_QUEUE: since when */
	double	queued_ms;	/* for the log: waited for a slot; -1: never */
	int	tries;		/* backends tried for this request */
	int	retries;	/* for the log */
	int	reused;		/* bc came from the pool */

	/* The response. */
	enum rsstate rs;
	int	backend_keep_alive;	/* its head says it keeps the connection */
	int	status;
	struct http_body resp_body;
	long long sent;		/* bytes for the client: 1xx, head, body */

	/* C_TUNNEL: which way the end of the stream has been passed on. */
	int	fin_to_backend;	/* the client's FIN is in: passed on */
	int	fin_to_client;	/* the backend's FIN is in: passed on */
};

static struct client *clients;
static int nclients;
static unsigned long nclients_ever;	/* for c->id */
static int ntunnels;			/* open now */
static unsigned long long tunnels_total;
static int draining;
static struct client *queue_head, *queue_tail;	/* C_QUEUE, in order */
static int queue_len, queue_peak;	/* clients in C_QUEUE: now, at most */
static double queue_longest_ms;		/* the longest wait there */
static void run_queue(void *arg);
/* A slot may be free: run_queue(), at the next pass. Never armed yet. */
static struct timer queue_timer = { 0, run_queue, NULL, -1, 0 };
static struct listener listener = LISTENER_INIT;
static int fd_cap = 1024;		/* see count_descriptors() */

static void update(struct client *c);
static void choose_backend(struct client *c);
static void parse_request(struct client *c);
static void client_gone(struct client *c, ssize_t r);
static void start_tunnel(struct client *c);
static void log_request(struct client *c, int status);
static int bug(struct client *c, const char *what, int line);

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

/* ---- the three machines, as tables ---- */

/* One arrow of a machine: from, to. The lists above say when. */
struct move {
	int	from, to;
};

static const char *const cstate_name[] = {
	"ORIGIN", "IDLE", "HEAD", "QUEUE", "CONNECT", "PROXY", "TUNNEL", "ANSWER",
	"LINGER",
	"CLOSED"
};
static const char *const rqstate_name[] = {
	"NONE", "BODY", "IN", "SENT", "REFUSED"
};
static const char *const rsstate_name[] = {
	"HEAD", "BODY", "DONE", "CUT", "TUNNEL"
};

static const struct move client_moves[] = {
	{ C_ORIGIN, C_IDLE }, { C_ORIGIN, C_CLOSED },
	{ C_IDLE, C_HEAD }, { C_IDLE, C_QUEUE }, { C_IDLE, C_CONNECT },
	{ C_IDLE, C_PROXY }, { C_IDLE, C_ANSWER }, { C_IDLE, C_CLOSED },
	{ C_HEAD, C_QUEUE }, { C_HEAD, C_CONNECT }, { C_HEAD, C_PROXY },
	{ C_HEAD, C_ANSWER }, { C_HEAD, C_CLOSED },
	{ C_QUEUE, C_QUEUE }, { C_QUEUE, C_CONNECT }, { C_QUEUE, C_PROXY },
	{ C_QUEUE, C_ANSWER }, { C_QUEUE, C_CLOSED },
	{ C_CONNECT, C_QUEUE }, { C_CONNECT, C_CONNECT },
	{ C_CONNECT, C_PROXY }, { C_CONNECT, C_ANSWER },
	{ C_CONNECT, C_CLOSED },
	{ C_PROXY, C_QUEUE }, { C_PROXY, C_CONNECT }, { C_PROXY, C_PROXY },
	{ C_PROXY, C_ANSWER },
	{ C_PROXY, C_IDLE }, { C_PROXY, C_LINGER }, { C_PROXY, C_TUNNEL },
	{ C_PROXY, C_CLOSED },
	{ C_TUNNEL, C_CLOSED },
	{ C_ANSWER, C_LINGER }, { C_ANSWER, C_CLOSED },
	{ C_LINGER, C_CLOSED }
};

static const struct move request_moves[] = {
	{ RQ_NONE, RQ_BODY },
	{ RQ_BODY, RQ_IN }, { RQ_BODY, RQ_REFUSED }, { RQ_BODY, RQ_NONE },
	{ RQ_IN, RQ_SENT }, { RQ_IN, RQ_REFUSED }, { RQ_IN, RQ_NONE },
	{ RQ_SENT, RQ_IN }, { RQ_SENT, RQ_NONE },
	{ RQ_REFUSED, RQ_BODY }, { RQ_REFUSED, RQ_IN }, { RQ_REFUSED, RQ_NONE }
};

static const struct move response_moves[] = {
	{ RS_HEAD, RS_BODY }, { RS_HEAD, RS_DONE }, { RS_HEAD, RS_TUNNEL },
	{ RS_BODY, RS_DONE }, { RS_BODY, RS_CUT },
	{ RS_DONE, RS_HEAD }
};

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

static int
is_move(const struct move *m, size_t n, int from, int to)
{
	for (; n > 0; n--, m++)
		if (m->from == from && m->to == to)
			return 1;
	return 0;
}

/* -v: one line for a move of one of c's machines, and why. */
static void
trace(const struct client *c, const char *machine,
    const char *const *name, int from, int to, const char *why)
{
	char who[48];

	snprintf(who, sizeof(who), "c%lu %s", c->id, machine);
	log_move(who, name[from], name[to], why);
}

/*
 * What must hold on entering each state: what its handlers (below)
 * take for granted. Entering C_CLOSED needs nothing: any state may end.
 */
static int
entry_holds(const struct client *c, enum cstate to)
{
	switch (to) {
	case C_IDLE:
		return c->bfd < 0 && c->bc == NULL && c->method[0] == '\0';
	case C_HEAD:
	case C_LINGER:
		return c->bfd < 0;
	case C_QUEUE:
		return c->bfd < 0 && c->be == NULL && c->slot_be == NULL;
	case C_CONNECT:
		return c->bfd >= 0 && c->bc == NULL && c->be != NULL;
	case C_PROXY:
		return c->bfd >= 0 && c->be != NULL && c->bout != NULL;
	case C_TUNNEL:
		return c->bfd >= 0 && c->rs == RS_TUNNEL;
	case C_ANSWER:
		return c->bfd < 0 && buf_used(c->out) > 0;
	default:
		return 1;
	}
}

/*
 * The connection moves to state `to`: only along a row of
 * client_moves[], and only if what `to` takes for granted holds. fmt
 * (printf, or NULL) says why, for -v. 1, or 0: a bug, and c is closed.
 */
static int
enter(struct client *c, enum cstate to, const char *fmt, ...)
{
	char why[512];
	va_list ap;

	if (!HOLDS(c, is_move(client_moves, NELEM(client_moves), c->state,
	    to)) || !HOLDS(c, entry_holds(c, to)))
		return 0;
	if (cfg.verbose) {
		why[0] = '\0';
		if (fmt != NULL) {
			va_start(ap, fmt);
			vsnprintf(why, sizeof(why), fmt, ap);
			va_end(ap);
		}
		trace(c, "", cstate_name, (int)c->state, (int)to, why);
	}
	c->state = to;
	return 1;
}

/* The request's machine moves (to the state it is in: nothing). 1, or 0. */
static int
request_to(struct client *c, enum rqstate to)
{
	if (c->rq == to)
		return 1;
	if (!HOLDS(c, is_move(request_moves, NELEM(request_moves), c->rq, to)))
		return 0;
	if (cfg.verbose)
		trace(c, "request ", rqstate_name, (int)c->rq, (int)to, "");
	c->rq = to;
	return 1;
}

/* The response's machine moves (to the state it is in: nothing). 1, or 0. */
static int
response_to(struct client *c, enum rsstate to)
{
	if (c->rs == to)
		return 1;
	if (!HOLDS(c, is_move(response_moves, NELEM(response_moves), c->rs,
	    to)))
		return 0;
	if (cfg.verbose)
		trace(c, "response ", rsstate_name, (int)c->rs, (int)to, "");
	c->rs = to;
	return 1;
}

/* The current state's one deadline, ms from now. */
static void
deadline(struct client *c, int ms)
{
	timer_arm_ms(&c->timer, ms);
}

/*
 * c's request is for be now (NULL: none). roster.c forgets a backend a
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

/* ---- backend slots (,maxconn=N) ---- */

/* c's request takes one of c->be's slots (balance_pick() saw it free). */
static void
take_slot(struct client *c)
{
	if (!HOLDS(c, c->slot_be == NULL && c->be != NULL))
		return;
	c->slot_be = c->be;
	c->be->inflight++;
}

/*
 * c's request is done with its backend (answered, failed, or on its way
 * to another): the slot goes back, and a client waiting in the queue may
 * take it, at the start of the next pass (run_queue(), from a timer: not
 * here, deep inside another client's handling).
 */
static void
give_slot(struct client *c)
{
	if (c->slot_be == NULL)
		return;
	c->slot_be->inflight--;
	c->slot_be = NULL;
	if (queue_head != NULL)
		timer_arm(&queue_timer, loop_now());
}

/* c leaves the queue, if it is in it (for a slot, an answer, or gone). */
static void
unqueue(struct client *c)
{
	double waited = (loop_now() - c->tq) * 1000;

	if (c->qprev == NULL && queue_head != c)
		return;		/* not in it */
	*(c->qprev != NULL ? &c->qprev->qnext : &queue_head) = c->qnext;
	*(c->qnext != NULL ? &c->qnext->qprev : &queue_tail) = c->qprev;
	c->qnext = c->qprev = NULL;
	queue_len--;
	c->queued_ms = (c->queued_ms > 0 ? c->queued_ms : 0) + waited;
	if (waited > queue_longest_ms)
		queue_longest_ms = waited;
}

/* ---- closing ---- */

static void
close_backend(struct client *c, int reusable)
{
	give_slot(c);
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
	buf_put(&c->bout);
	free(c->replay);
	c->replay = NULL;
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

enum how { FIN, RESET };

/*
 * The one way a client connection ends; why says why, for -v. A request
 * still unlogged gets its access-log line now, with status, as ended by
 * cause (0: it went as it should; see stage()).
 *
 * RESET closes with a reset (RST), not a FIN: the way to tell a client
 * that what it got is not the whole response when nothing in the
 * response itself can say so (a close-delimited body, cut). Should the
 * reset be refused (it never is, on a TCP socket), the close is still a
 * close: the event log says which client may have taken a cut body for
 * whole.
 */
static void
close_client(struct client *c, char cause, int status, enum how how,
    const char *why)
{
	if (c->state == C_CLOSED)
		return;
	unqueue(c);		/* first: the log says how long it waited */
	if (cause != 0)
		c->cause = cause;
	log_request(c, status);
	if (how == RESET)
		set_reset_on_close(c->fd, c->peer);
	if (cfg.verbose)
		trace(c, "", cstate_name, (int)c->state, C_CLOSED, why);
	if (c->state == C_TUNNEL)
		ntunnels--;
	close_backend(c, 0);
	use_backend(c, NULL);
	forget_request(c);
	buf_put(&c->in);
	buf_put(&c->bin);
	buf_put(&c->out);
	free(c->origin);
	c->origin = NULL;
	timer_disarm(&c->timer);
	loop_unwatch(c->fd);
	close(c->fd);
	c->state = C_CLOSED;
	nclients--;
}

/* A broken invariant (see HOLDS()): c pays for it, with a reset. */
static int
bug(struct client *c, const char *what, int line)
{
	log_event("internal error at conn.c:%d: %s does not hold; client %s "
	    "reset", line, what, c->peer);
#ifdef LB_ABORT_ON_BUG
	abort();
#endif
	close_client(c, 'I', c->status > 0 ? c->status : 500, RESET,
	    "a bug in lb");
	return 0;
}

/*
 * Our last byte is out, and we will send no more: a FIN, then read
 * what still comes for a while (closing with unread bytes would send
 * a reset, which can destroy our answer before the client reads it).
 */
static void
start_linger(struct client *c, const char *why)
{
	shutdown(c->fd, SHUT_WR);
	if (!enter(c, C_LINGER, "%s", why))
		return;
	deadline(c, LINGER_MS);
	update(c);
}

/*
 * How a request ended, for the log, in two letters (after HAProxy's
 * termination state): "--" when it went as it should; else who ended
 * it (c->cause) and at what stage:
 *   who:  C the client left, S the backend failed, P lb refused the
 *         request, R lb ran out of memory or sockets, c the client was
 *         too slow, s the backend was, t a tunnel sat silent, K the
 *         drain deadline cut it, I lb found a bug in itself (bug())
 *   when: R the request, Q waiting for a backend slot (maxconn), C
 *         connecting, H waiting for the response head, D passing the
 *         response body, T a tunnel
 */
static char
stage(const struct client *c)
{
	switch (c->state) {
	case C_IDLE:
	case C_HEAD:	/* S here: no backend to be had for a whole request */
		return c->cause == 'S' ? 'C' : 'R';
	case C_QUEUE:
		return 'Q';
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
	a.queued_ms = c->queued_ms;
	log_access(&a);
	c->method[0] = '\0';
}

/*
 * Our own answer: a short text body and Connection: close. It may follow
 * a 1xx already on its way; but once a final head went out there is
 * nothing honest to add: just close.
 */
static void
answer_error(struct client *c, int status, const char *reason,
    const char *extra, const char *detail)
{
	size_t room;
	int n;

	if (c->state == C_CLOSED)
		return;		/* a bug closed it on the way here (bug()) */
	if (c->cause == 0)	/* who made us answer, unless a caller said */
		c->cause = status == 408 ? 'c' : status == 504 ? 's' :
		    status == 502 || status == 503 ? 'S' : 'P';
	close_backend(c, 0);
	if (c->rs != RS_HEAD) {		/* a reset: not a clean end */
		close_client(c, 0, c->status, RESET, "an error after the "
		    "response head went out: the response is cut");
		return;
	}
	if (buf_get(&c->out) == NULL) {
		close_client(c, 0, status, FIN, "no memory for lb's answer");
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
	if (n < 0 || (size_t)n >= room) {	/* behind a 1xx too large */
		close_client(c, 0, status, FIN, "no room for lb's answer");
		return;
	}
	c->out->len += (size_t)n;
	c->sent += n;
	log_request(c, status);
	if (!enter(c, C_ANSWER, "%d %s", status, reason))
		return;
	deadline(c, LINGER_MS);
	update(c);
}

/* lb itself ran out of something: 503, and the log says it was lb. */
static void
answer_short_of(struct client *c, const char *what)
{
	char detail[64];

	snprintf(detail, sizeof(detail), "the balancer is out of %s", what);
	c->cause = 'R';
	answer_error(c, 503, "Service Unavailable", "", detail);
}

/* No backend could take the request: 503, and when to come back. */
static void
answer_503(struct client *c)
{
	char extra[48];

	snprintf(extra, sizeof(extra), "Retry-After: %d\r\n",
	    health_retry_after(loop_now()));
	use_backend(c, NULL);
	answer_error(c, 503, "Service Unavailable", extra, c->tries > 0 ?
	    "no backend could be reached" : "no backend is up");
}

static void
answer_parse_error(struct client *c, int status)
{
	switch (status) {
	case 414:
		answer_error(c, 414, "URI Too Long", "",
		    "the request target is too long");
		break;
	case 431:
		answer_error(c, 431, "Request Header Fields Too Large", "",
		    "the request head is too large");
		break;
	case 501:
		answer_error(c, 501, "Not Implemented", "",
		    "unsupported transfer coding");
		break;
	case 505:
		answer_error(c, 505, "HTTP Version Not Supported", "",
		    "only HTTP/1.0 and HTTP/1.1");
		break;
	default:
		answer_error(c, 400, "Bad Request", "", "malformed request");
	}
}

/* ---- the request ---- */

/* Move request body bytes from in to bout, as far as they fit. 0 or -1. */
static int
pump_body(struct client *c)
{
	while (c->rq == RQ_BODY && buf_used(c->in) > 0) {
		size_t n = buf_used(c->in), room;
		ssize_t k;

		if (!HOLDS(c, c->bout != NULL))	/* lent at start_request() */
			return -1;
		room = BUF_SIZE - c->bout->len;
		if (room == 0) {
			if (c->bout->off == 0)
				break;		/* the backend must take some */
			/* Sent bytes go to make room: no resending now. */
			memmove(c->bout->data, c->bout->data + c->bout->off,
			    buf_used(c->bout));
			c->bout->len -= c->bout->off;
			c->bout->off = 0;
			c->held_whole = 0;
			continue;
		}
		k = http_body_scan(&c->req_body, c->in->data + c->in->off,
		    n < room ? n : room);
		if (k < 0)
			return -1;
		memcpy(c->bout->data + c->bout->len, c->in->data + c->in->off,
		    (size_t)k);
		c->bout->len += (size_t)k;
		c->in->off += (size_t)k;
		if (c->req_body.done && !request_to(c, RQ_IN))
			return -1;
		if (k == 0)
			break;
	}
	if (c->rq == RQ_BODY && c->req_body.done && !request_to(c, RQ_IN))
		return -1;		/* an empty body: that was all */
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
	c->keep_alive = m->keep_alive && !draining;
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
	if (buf_get(&c->bout) == NULL) {
		answer_short_of(c, "memory");
		return;
	}
	n = http_rewrite_head(c->in->data + c->in->off, m, extra,
	    flags | (c->upgrade ? HTTP_KEEP_UPGRADE : 0), c->bout->data, BUF_SIZE);
	if (n < 0) {
		answer_parse_error(c, 431);
		return;
	}
	c->bout->off = 0;
	c->bout->len = (size_t)n;
	c->held_whole = 1;
	c->in->off += m->head_len;
	http_body_init(&c->req_body, m);
	if (!request_to(c, RQ_BODY))
		return;
	if (pump_body(c) < 0) {
		answer_error(c, 400, "Bad Request", "", "malformed chunked body");
		return;
	}
	c->tries = c->retries = 0;
	c->backend_ms = c->queued_ms = -1;
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
	c->backend_ms = c->queued_ms = -1;
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
			close_client(c, 0, 0, FIN, "the client is done");
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
		answer_error(c, 501, "Not Implemented", "",
		    "CONNECT tunnels are not supported");
	} else if (n > 0) {
		start_request(c, &m);	/* its states arm their own deadlines */
	} else if (c->client_eof) {
		close_client(c, 0, 0, FIN, "the client closed mid-head");
	} else if (c->state == C_HEAD) {
		update(c);		/* more of the head to come */
	} else {
		/*
		 * The head's deadline is set once, at its first byte (on a
		 * new connection, at accept): it bounds the whole head, not
		 * the gap between two of its lines.
		 */
		if (c->nreq > 0)
			deadline(c, cfg.head_ms);
		if (enter(c, C_HEAD, "%zu bytes of a head", buf_used(c->in)))
			update(c);
	}
}

/* ---- the backend ---- */

static void backend_failed(struct client *c, const char *why);
static void choose_backend_or(struct client *c, const char *why);
static int pick_for(const struct client *c);
static int spent(const struct client *c);
static void go_to(struct client *c, int b, const char *why);
static void wait_for_slot(struct client *c);

static void stash_request(struct client *c);

/* Connect to c->ai or the next address of the backend that works. */
static void
connect_next(struct client *c, int failed)
{
	char why[128];

	if (addr_connect_next(&c->ai, &c->bfd, failed) == 0) {
		if (!enter(c, C_CONNECT, "%s %s to %s", c->method, c->target,
		    c->be->addr.str))
			return;
		deadline(c, cfg.connect_ms);
		stash_request(c);
		update(c);
	} else if ((errno == EMFILE || errno == ENFILE) && bconn_shed_idle()) {
		connect_next(c, 0);	/* an idle connection made way */
	} else if (errno == EMFILE || errno == ENFILE) {
		answer_short_of(c, "sockets");
	} else {
		snprintf(why, sizeof(why), "connect: %s", strerror(errno));
		backend_failed(c, why);
	}
}

/*
 * May lb send the request again, should the backend fail it? Only if
 * sending it twice does no harm (idempotent: RFC 9110 9.2.2) and all of
 * it is still held, from its first byte.
 */
static int
resendable(const struct client *c)
{
	return c->idempotent && c->held_whole;
}

/* A fresh start on whatever backend connection comes next. 1, or 0. */
static int
reset_exchange(struct client *c)
{
	if (c->bout != NULL)
		c->bout->off = 0;	/* from the first byte */
	buf_put(&c->bin);
	c->backend_end = B_OPEN;
	c->backend_more = 0;
	c->status = 0;
	return HOLDS(c, c->rs == RS_HEAD) &&
	    request_to(c, c->req_body.done ? RQ_IN : RQ_BODY);
}

/*
 * Write what the backend takes of bout, now: not a select() pass later.
 * Waiting for "writable" first would cost a pass, and a wakeup, for a
 * socket that almost always has room.
 */
static ssize_t
send_up(struct client *c)
{
	ssize_t r;

	if (c->rq == RQ_REFUSED || buf_used(c->bout) == 0)
		return 0;
	if ((r = buf_write(c->bfd, c->bout)) < 0)
		request_to(c, RQ_REFUSED);	/* what it says comes by reading */
	else if (r > 0)
		deadline(c, cfg.response_ms);
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
	if (!enter(c, C_PROXY, "%s %s to %s%s", c->method, c->target,
	    c->be->addr.str, c->reused ? ", reused" : ""))
		return;
	deadline(c, cfg.response_ms);
	progress(c);	/* the request goes, as much as the backend takes */
}

/*
 * Round robin (or least requests) to a backend, within the retry
 * budget. While anyone waits for a slot, c waits behind them, even if
 * a slot has just come free: it is the first in line's (run_queue(), at
 * the next pass), and a request that arrived in between would take it.
 */
static void
choose_backend_or(struct client *c, const char *why)
{
	if (queue_head != NULL && !spent(c))
		wait_for_slot(c);
	else
		go_to(c, pick_for(c), why);
}

/* c has tried every backend it may (-x, and how many are usable). */
static int
spent(const struct client *c)
{
	return c->tries > cfg.retries || c->tries >= backend_count(1);
}

/*
 * The backend for c's request: an index into backends[]; -1 when there
 * is none (none is up, or the retry budget is spent); or BALANCE_FULL
 * when every backend that could take it is at its maxconn.
 */
static int
pick_for(const struct client *c)
{
	return spent(c) ? -1 : balance_pick();
}

/*
 * c's request goes to backend b (see pick_for()), or waits in the queue
 * (C_QUEUE), or is answered: 503 if nothing is up, else the answer we
 * have (why != NULL: the last backend failed us after it was reached,
 * 502).
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
go_to(struct client *c, int b, const char *why)
{
	if (b == BALANCE_FULL) {
		wait_for_slot(c);
		return;
	}
	if (b < 0) {
		balance_failed(NULL);	/* no retry follows: no one sits out */
		if (why != NULL)
			answer_error(c, 502, "Bad Gateway", "", why);
		else
			answer_503(c);
		return;
	}
	if (c->tries++ > 0)
		c->retries++;
	use_backend(c, &backends[b]);
	take_slot(c);
	c->tb = loop_now();
	if (!reset_exchange(c))
		return;
	if ((c->idempotent || c->nreq > 1) && !c->upgrade &&
	    (c->bc = bconn_take(c->be)) != NULL) {
		c->reused = 1;
		c->bfd = c->bc->fd;
		start_exchange(c);
		return;
	}
	c->reused = 0;
	c->ai = c->be->addrs;
	connect_next(c, 0);
}

/*
 * Every backend that could take c's request has maxconn requests in
 * flight: c waits at the end of the queue, with no backend (its head,
 * and what of its body has come, wait in lb; a retry waits with the
 * copy it will send again). A slot that frees (give_slot()) goes to
 * the queue's first; after -t queue ms of waiting, a 503.
 */
static void
wait_for_slot(struct client *c)
{
	use_backend(c, NULL);
	if (!enter(c, C_QUEUE, "%s %s: every backend is at its maxconn, %d "
	    "waiting", c->method, c->target, queue_len))
		return;		/* (QUEUE -> QUEUE: run_queue() unqueued it) */
	c->tq = loop_now();
	c->qnext = NULL;
	c->qprev = queue_tail;
	*(queue_tail != NULL ? &queue_tail->qnext : &queue_head) = c;
	queue_tail = c;
	if (++queue_len > queue_peak)
		queue_peak = queue_len;
	if (queue_timer.slot < 0)	/* run_queue() looks again in 100 ms */
		timer_arm_ms(&queue_timer, 100);
	deadline(c, cfg.queue_ms);
	update(c);
}

/*
 * The queue's turn (queue_timer): while the first in line has a backend
 * to go to, it goes. It also looks every 100 ms while anyone waits
 * (from the first one's arrival): a backend that comes up, or a reload
 * that raises a maxconn, frees no slot but makes room all the same.
 */
static void
run_queue(void *arg)
{
	struct client *c;
	int b;

	(void)arg;
	while ((c = queue_head) != NULL && (b = pick_for(c)) != BALANCE_FULL) {
		unqueue(c);
		go_to(c, b, NULL);
	}
	if (queue_head != NULL)
		timer_arm_ms(&queue_timer, 100);
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
	balance_failed(c->be);	/* the next pick is another, if one is up */
	health_result(c->be, 0, 1, why);
	choose_backend(c);
}

/*
 * ,send-proxy (version 1) or ,send-proxy-v2: a new backend connection
 * starts with a PROXY header saying who the client is: what its own
 * PROXY header said (C_ORIGIN), else its socket's two ends. It goes at
 * once, not through bout: a connection just made has room in its send
 * buffer for 108 bytes. 0, or -1 and errno.
 */
static int
send_origin(struct client *c)
{
	struct sockaddr_storage src, dst;
	socklen_t sl = sizeof(src), dl = sizeof(dst);
	char hdr[PP_BUILD_MAX];
	size_t n;

	if (c->origin != NULL) {
		src = c->origin->src;
		dst = c->origin->dst;
	} else if (getpeername(c->fd, (struct sockaddr *)&src, &sl) < 0 ||
	    getsockname(c->fd, (struct sockaddr *)&dst, &dl) < 0)
		return -1;
	n = c->be->send_proxy == 2 ? pp_build_v2(&src, &dst, hdr, sizeof(hdr)) :
	    pp_build_v1(&src, &dst, hdr, sizeof(hdr));
	if (n > 0 && write(c->bfd, hdr, n) == (ssize_t)n)
		return 0;
	if (n == 0)
		errno = EINVAL;		/* never: PP_BUILD_MAX is room enough */
	else if (errno == 0 || errno == EAGAIN)
		errno = EAGAIN;		/* a part only: never on a new socket */
	return -1;
}

/* C_CONNECT, writable: the connect is over. Did it work? */
static void
connect_done(struct client *c)
{
	int err = addr_connect_error(c->bfd);
	char why[96];

	if (!HOLDS(c, c->state == C_CONNECT))
		return;
	if (err != 0) {
		connect_next(c, err);	/* that address failed: the next */
		return;
	}
	if (c->be->send_proxy && send_origin(c) < 0) {
		snprintf(why, sizeof(why), "send-proxy: %s", strerror(errno));
		backend_failed(c, why);
		return;
	}
	if ((c->bc = bconn_new(c->be, c->bfd)) == NULL) {
		answer_short_of(c, "memory");
		return;
	}
	c->bc->named = c->be->send_proxy != 0;	/* send_origin() said who */
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
	if (c->replay == NULL && c->bout->len <= REPLAY_MAX &&
	    (c->replay = malloc(c->bout->len)) != NULL) {
		memcpy(c->replay, c->bout->data, c->bout->len);
		c->replay_len = c->bout->len;
	}
	if (c->replay != NULL)
		buf_put(&c->bout);
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
	if (c->bout != NULL && c->rq == RQ_IN && c->held_whole && c->bout->off == 0)
		copy_request(c);
}

/* The request again in up, from the copy kept for that. 0 or -1. */
static int
restore_request(struct client *c)
{
	if (c->bout != NULL)
		return 0;
	if (c->replay == NULL || buf_get(&c->bout) == NULL)
		return -1;
	memcpy(c->bout->data, c->replay, c->replay_len);
	c->bout->len = c->replay_len;
	return 0;
}

/*
 * The whole request reached the backend. Its buffer goes back while the
 * response comes (an 18 KB buffer for a 200-byte GET, times every client
 * waiting, would be most of lb's memory); a request that may be sent
 * again keeps a copy of its own size instead.
 */
static int
request_sent(struct client *c)
{
	if (!request_to(c, RQ_SENT))
		return 0;
	if (!resendable(c)) {
		c->held_whole = 0;
		buf_put(&c->bout);
		free(c->replay);	/* stash_request()'s: never to be used */
		c->replay = NULL;
		return 1;
	}
	copy_request(c);
	return 1;
}

/*
 * RS_HEAD, and there will be no response: the backend closed or reset
 * (retry: 1), or sent a head lb will not pass on (retry: 0). A request
 * that may be sent again (resendable()), of which nothing reached the
 * client, goes again: on a fresh connection to the same backend
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
	if (again && c->reused && c->nreq > 1 && !resendable(c)) {
		/* No answer: none could be honest. */
		close_client(c, 'S', 0, FIN, "lost to the keep-alive race");
		return;
	}
	if (!again || !resendable(c) || restore_request(c) < 0) {
		answer_error(c, 502, "Bad Gateway", "", why);
		return;
	}
	close_backend(c, 0);
	if (c->reused) {		/* the same backend, the same slot */
		take_slot(c);
		c->reused = 0;
		c->retries++;
		c->tb = loop_now();
		if (!reset_exchange(c))
			return;
		c->ai = c->be->addrs;
		connect_next(c, 0);
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
	    c->backend_keep_alive && !c->backend_end && buf_used(c->bin) == 0 &&
	    c->bc != NULL && !c->bc->named;	/* a PROXY header named a client */

	if (c->rs == RS_DONE)
		c->be->requests++;
	close_backend(c, reusable);
	forget_request(c);	/* what was not sent, never will be */
	request_to(c, RQ_NONE);
}

/* What moving bytes from bin to out did. GONE: c was closed (a bug). */
enum { MOVED = 1, NEED_BYTES = 0, NEED_ROOM = 2, BAD = -1, UNASKED = -2,
	GONE = -3 };

/* m's head, rewritten with extra, from bin into out (room bytes free). */
static int
pass_head(struct client *c, const struct http_msg *m, const char *extra,
    unsigned flags, size_t room)
{
	int n = http_rewrite_head(c->bin->data + c->bin->off, m, extra, flags,
	    c->out->data + c->out->len, room);

	if (n < 0)	/* no room yet: an empty out has room (BUF_SIZE) */
		return buf_used(c->out) > 0 ? NEED_ROOM : BAD;
	c->bin->off += m->head_len;
	c->out->len += (size_t)n;
	c->sent += n;
	return MOVED;
}

/* The final head (a status of 200 or more) into out. */
static int
take_final_head(struct client *c, const struct http_msg *m, size_t room)
{
	const char *conn;
	int r;

	/*
	 * A body the client has not finished sending ends this connection;
	 * so does an upgrade refused: the client may already be sending in
	 * the protocol it asked for, bytes that are no request.
	 */
	if (m->framing == HTTP_BODY_CLOSE || !c->req_body.done || draining ||
	    c->upgrade)
		c->keep_alive = 0;
	conn = !c->keep_alive ? "Connection: close\r\n" : c->version == 10 ?
	    "Connection: keep-alive\r\n" : "";
	if ((r = pass_head(c, m, conn, 0, room)) != MOVED)
		return r;
	c->status = m->status;
	c->backend_ms = (loop_now() - c->tb) * 1000;
	/* An upgrade refused: the backend heard "upgrade", and may go on. */
	c->backend_keep_alive = m->keep_alive && !c->upgrade;
	if (c->bc != NULL)	/* how long the backend keeps it idle */
		c->bc->keep_s = http_keep_alive_timeout(m);
	http_body_init(&c->resp_body, m);
	return response_to(c, c->resp_body.done ? RS_DONE : RS_BODY) ? MOVED :
	    GONE;
}

/* The response head, rewritten for the client, goes into out. */
static int
take_response_head(struct client *c)
{
	struct http_msg m;
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
	if (m.status >= 200)
		return take_final_head(c, &m, room);
	if (m.status == 101) {
		if ((n = pass_head(c, &m, "Connection: upgrade\r\n",
		    HTTP_KEEP_UPGRADE, room)) != MOVED)
			return n;
		c->status = 101;
		c->backend_ms = (loop_now() - c->tb) * 1000;
		/* What follows in bin is the tunnel's. */
		return response_to(c, RS_TUNNEL) ? MOVED : GONE;
	}
	if (c->version == 11)		/* 1xx: passed on to 1.1 clients */
		return pass_head(c, &m, "", 0, room);
	c->bin->off += m.head_len;
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
	if (c->resp_body.done && !response_to(c, RS_DONE))
		return GONE;
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
	if (r == GONE)
		return;
	if (r == BAD && c->rs == RS_HEAD) {
		no_response(c, "the backend sent a malformed response", 0);
		return;
	}
	if (r == UNASKED) {
		no_response(c, "the backend switched protocols (101) unasked", 0);
		return;
	}
	if (r == BAD) {
		close_client(c, 'S', c->status, RESET,
		    "the backend sent a malformed chunked body");
		return;
	}
	if (c->backend_end && r == NEED_BYTES && c->rs == RS_HEAD) {
		no_response(c, buf_used(c->bin) > 0 || c->sent > 0 ?
		    "the backend closed mid-response" :
		    "the backend closed without answering", 1);
		return;
	}
	if (c->backend_end && r == NEED_BYTES && c->rs == RS_BODY) {
		if (c->resp_body.framing == HTTP_BODY_CLOSE &&
		    c->backend_end == B_FIN) {
			if (!response_to(c, RS_DONE))	/* the close was the end */
				return;
		} else {
			if (!response_to(c, RS_CUT))	/* never fake an end */
				return;
			c->keep_alive = 0;
		}
	}
	if ((c->rs == RS_DONE || c->rs == RS_CUT) && c->bfd >= 0)
		release_backend(c);
}

/* ---- finishing a request ---- */

static int
reset_request(struct client *c)
{
	c->method[0] = c->target[0] = '\0';
	c->cause = 0;
	c->backend_ms = c->queued_ms = -1;
	use_backend(c, NULL);
	c->status = 0;
	c->sent = 0;
	c->reused = c->retries = c->tries = 0;
	c->backend_end = B_OPEN;
	forget_request(c);
	buf_put(&c->bin);
	return response_to(c, RS_HEAD);
}

/* The response is out. Next request on this connection, or close. */
static void
finish_request(struct client *c)
{
	int status = c->status;

	if (!HOLDS(c, c->rs == RS_DONE || c->rs == RS_CUT))
		return;
	if (c->rs == RS_CUT && c->backend_end == B_RESET) {
		close_client(c, 'S', status, RESET, "the backend reset "
		    "mid-body: so does lb, to the client");
		return;
	}
	if (c->rs == RS_CUT)
		c->cause = 'S';		/* the backend stopped mid-body */
	log_request(c, status);
	if (!c->keep_alive || draining || c->rs == RS_CUT ||
	    !c->req_body.done) {
		start_linger(c, c->rs == RS_CUT ? "the backend stopped "
		    "mid-body" : "the response is out; no keep-alive");
		return;
	}
	if (!reset_request(c) || !enter(c, C_IDLE, "%d, the response is out",
	    status))
		return;
	deadline(c, cfg.idle_ms);
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
		c->backend_end = r == 0 ? B_FIN : B_RESET;
	else if (r > 0)
		deadline(c, cfg.response_ms);
}

/*
 * Body bytes from in to bout, and bout to the backend, for as long as
 * the backend takes all of bout. A write that empties bout must go round
 * again while in holds body bytes: else the pass ends with bytes in in,
 * nothing in bout to watch the backend for, and a client that has sent
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
			answer_error(c, 400, "Bad Request", "",
			    "malformed chunked body");
			return -1;
		}
		if (send_up(c) <= 0 || buf_used(c->bout) > 0 || c->rq != RQ_BODY)
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
	if (c->state != C_PROXY)
		return -1;		/* a bug closed it (send_up()) */
	if (c->client_eof && c->rq == RQ_BODY && buf_used(c->in) == 0) {
		close_client(c, 'C', 499, FIN, "the client left mid-body");
		return -1;
	}
	if (c->rq == RQ_IN && buf_used(c->bout) == 0 && c->bfd >= 0 &&
	    !request_sent(c))
		return -1;
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
			deadline(c, cfg.response_ms);
		if (w == 0 || buf_used(c->out) > 0 ||
		    (c->rs != RS_HEAD && c->rs != RS_BODY))
			break;
		if (buf_used(c->bin) > 0)
			continue;
		if (!c->backend_more || c->backend_end || c->bfd < 0 ||
		    reads++ == PASS_READS)
			break;
		read_backend(c);
		if (buf_used(c->bin) == 0 && !c->backend_end)
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
 *                                   backend (fin_to_backend); the backend's,
 *                                   once bin and out are, the client's
 *                                   (fin_to_client). Both: the tunnel ends.
 *
 * The same buffers, the same backpressure: a full buffer stops the read
 * that fills it. A reset from either side resets the other; a tunnel
 * silent in both directions for -t tunnel ms is closed. Its backend
 * connection never goes back to the pool: after a 101 it is no longer
 * an HTTP connection at all.
 */

/* The tunnel is over: one log line (101, its bytes, its whole life). */
static void
end_tunnel(struct client *c, char cause, enum how client, enum how backend,
    const char *why)
{
	if (!HOLDS(c, c->state == C_TUNNEL))
		return;
	c->sent -= (long long)buf_used(c->out);	/* never reached the client */
	if (backend == RESET && c->bfd >= 0)
		set_reset_on_close(c->bfd, c->be->addr.str);
	close_backend(c, 0);
	close_client(c, cause, 101, client, why);
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
			c->backend_end = r == 0 ? B_FIN : B_RESET;
		return r > 0;
	}
	c->client_more = r > 0 && buf_room(c->in) == 0;
	if (r == 0)
		c->client_eof = 1;
	if (r == -1) {
		end_tunnel(c, 'C', FIN, RESET, "the client reset, or no "
		    "memory");
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

	if (c->fin_to_backend)
		return 0;
	for (;;) {
		if ((w = tunnel_write(c->bfd, c->bout)) > 0)
			*moved = 1;
		if (w >= 0 && buf_used(c->bout) == 0 &&
		    (w = tunnel_write(c->bfd, c->in)) > 0)
			*moved = 1;
		if (w < 0) {
			end_tunnel(c, 'S', RESET, FIN, "the backend is gone");
			return -1;
		}
		if (w == 0 || buf_used(c->bout) > 0 || buf_used(c->in) > 0 ||
		    !c->client_more || c->client_eof || reads++ == PASS_READS)
			break;
		if ((r = tunnel_read(c, 0)) <= 0) {
			if (r < 0)
				return -1;
			break;
		}
	}
	if (c->client_eof && buf_used(c->bout) == 0 && buf_used(c->in) == 0) {
		shutdown(c->bfd, SHUT_WR);
		c->fin_to_backend = 1;
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
			end_tunnel(c, 'C', FIN, RESET, "the client is gone");
			return -1;
		}
		if (w > 0)
			*moved = 1;
		if (w == 0 || buf_used(c->out) > 0)
			break;
		if (buf_used(c->bin) > 0)
			continue;
		if (!c->backend_more || c->backend_end ||
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
	if (c->backend_end == B_RESET) {
		end_tunnel(c, 'S', RESET, FIN, "the backend reset");
		return;
	}
	if (c->backend_end == B_FIN && !c->fin_to_client &&
	    buf_used(c->bin) == 0 && buf_used(c->out) == 0) {
		shutdown(c->fd, SHUT_WR);
		c->fin_to_client = 1;
	}
	if (c->fin_to_backend && c->fin_to_client) {
		end_tunnel(c, 0, FIN, FIN, "both sides are done");
		return;
	}
	if (moved)
		deadline(c, cfg.tunnel_ms);
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
	if (!enter(c, C_TUNNEL, "101 from %s", c->be->addr.str))
		return;
	c->be->requests++;	/* a response relayed: the 101 */
	ntunnels++;
	tunnels_total++;
	deadline(c, cfg.tunnel_ms);
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

/* ---- the states, one handler each ----
 *
 * A state's row in states[] (at the end of this part) says what an
 * event on the client's socket does in it, what one on the backend's
 * does, what its deadline does, and what it waits for. on_client(),
 * on_backend() and on_timer() only look the row up: to read what a
 * state does, read its row.
 */

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
	close_client(c, 'C', c->status ? c->status : 499, FIN, r == 0 ?
	    "the client left" : "the client reset, or no memory");
}

/* Read the client into in: the bytes read, or -1: c is done with. */
static ssize_t
read_client(struct client *c)
{
	ssize_t r = buf_read(c->fd, &c->in);

	c->client_more = r > 0 && buf_room(c->in) == 0;
	if (r == 0 || r == -1) {
		client_gone(c, r);
		return -1;
	}
	return r > 0 ? r : 0;
}

/*
 * C_ORIGIN (-l PORT,proxy): the PROXY protocol header (HAProxy's
 * doc/proxy-protocol.txt, versions 1 and 2), sent by whatever is in
 * front of lb (a TLS terminator, an L4 balancer), says who the client
 * really is. Its address becomes c->peer: the logs, X-Forwarded-For and
 * Forwarded name it. Its bytes never reach a backend. A connection that
 * does not start with a valid one is closed, and the event log says why.
 */
static void
origin_client(struct client *c, int events)
{
	struct pp_info pp;
	int n;

	if (!(events & EV_READ) || read_client(c) < 0)
		return;
	n = pp_parse(c->in->data + c->in->off, buf_used(c->in), &pp);
	if (n == 0 && buf_used(c->in) < PP_MAX) {
		update(c);	/* more of it to come */
		return;
	}
	if (n <= 0) {
		log_event("client %s: no PROXY header: %s", c->peer,
		    n < 0 ? pp_strerror(n) : "too long");
		close_client(c, 0, 0, FIN, "no valid PROXY header");
		return;
	}
	c->in->off += (size_t)n;
	if (!pp.local) {
		snprintf(c->peer, sizeof(c->peer), "%s", pp.src_text);
		if ((c->origin = malloc(sizeof(pp))) != NULL)
			*c->origin = pp;
	}
	if (enter(c, C_IDLE, "PROXY v%d: %s, %s", pp.version, pp.kind,
	    c->peer))
		parse_request(c);	/* the request may be in already */
}

static void
origin_deadline(struct client *c)
{
	log_event("client %s: no PROXY header within %d ms", c->peer,
	    cfg.head_ms);
	close_client(c, 0, 0, FIN, "no PROXY header in time");
}

/* C_IDLE, C_HEAD: bytes of a request head. */
static void
head_client(struct client *c, int events)
{
	ssize_t r;

	if (!(events & EV_READ) || (r = read_client(c)) < 0)
		return;
	/*
	 * A head is judged line by line: without a new line end there is
	 * nothing new to judge. (Parsing again on every byte would let a
	 * slow sender make us do quadratic work.)
	 */
	if (r > 0 && c->state == C_HEAD && memchr(c->in->data + c->in->len - r,
	    '\n', (size_t)r) == NULL && buf_room(c->in) > 0) {
		update(c);
		return;
	}
	parse_request(c);
}

static int
head_watch(struct client *c, int *cev, int *bev)
{
	(void)bev;
	*cev = c->client_eof || buf_room(c->in) == 0 ? 0 : EV_READ;
	return 1;
}

static void
idle_deadline(struct client *c)
{
	close_client(c, 0, 0, FIN, "idle too long");
}

static void
head_deadline(struct client *c)
{
	name_refused(c, "-");
	answer_error(c, 408, "Request Timeout", "",
	    "the request head took too long");
}

/*
 * C_QUEUE: the client is watched for reading to see it leave. A reset
 * ends it: nothing was sent anywhere yet, so nothing is lost. A FIN
 * only says it will send no more (an HTTP/1.0 client may half-close
 * after its request, as in C_PROXY): it keeps its place, as HAProxy
 * without abortonclose. Bytes it pipelines wait in in.
 */
static void
queue_client(struct client *c, int events)
{
	ssize_t r;

	if (!(events & EV_READ))
		return;
	r = buf_read(c->fd, &c->in);
	if (r == -1)
		close_client(c, 'C', 499, FIN, "the client left while queued");
	else {
		c->client_eof |= r == 0;
		update(c);
	}
}

static void
queue_deadline(struct client *c)
{
	char detail[96];

	unqueue(c);
	c->cause = 's';		/* the backends were too busy, too long */
	snprintf(detail, sizeof(detail), "every backend was at its limit "
	    "for %d ms", cfg.queue_ms);
	answer_error(c, 503, "Service Unavailable", "Retry-After: 1\r\n",
	    detail);
}

/* C_CONNECT: the backend's socket is writable: the connect is over. */
static void
connect_backend(struct client *c, int events)
{
	(void)events;
	connect_done(c);
}

static void
connect_deadline(struct client *c)
{
	char why[64];

	snprintf(why, sizeof(why), "connect: timed out after %d ms",
	    cfg.connect_ms);
	backend_failed(c, why);
}

/* C_PROXY: the client can take more of out, or sent more of the body. */
static void
proxy_client(struct client *c, int events)
{
	if (!(events & EV_WRITE) && read_client(c) < 0)
		return;
	progress(c);	/* it writes out, then moves what follows */
}

static void
proxy_backend(struct client *c, int events)
{
	if (events & EV_WRITE)
		send_up(c);
	if (events & EV_READ)
		read_backend(c);
	if (c->state == C_PROXY)	/* else a bug closed it */
		progress(c);
}

static int
proxy_watch(struct client *c, int *cev, int *bev)
{
	/* Body bytes in in wait only for bout to drain, which is watched. */
	if (!HOLDS(c, c->rq != RQ_BODY || buf_used(c->in) == 0 ||
	    buf_used(c->bout) > 0))
		return 0;
	if (c->rq == RQ_BODY && c->bfd >= 0 && !c->client_eof &&
	    buf_room(c->in) > 0)
		*cev |= EV_READ;
	if (buf_used(c->out) > 0)
		*cev |= EV_WRITE;
	if (buf_used(c->bout) > 0 && c->rq != RQ_REFUSED)
		*bev |= EV_WRITE;
	if (!c->backend_end && (c->rs == RS_HEAD || c->rs == RS_BODY) &&
	    buf_room(c->bin) > 0)
		*bev |= EV_READ;
	return 1;
}

/* C_PROXY's deadline: who was it waiting on? */
static void
proxy_deadline(struct client *c)
{
	if (c->rs == RS_HEAD && c->rq == RQ_BODY && buf_used(c->bout) == 0)
		answer_error(c, 408, "Request Timeout", "",
		    "the request body took too long");
	else if (c->rs == RS_HEAD)
		answer_error(c, 504, "Gateway Timeout", "",
		    "the backend did not answer in time");
	else if (buf_used(c->out) > 0)	/* stalled mid-response */
		close_client(c, 'c', c->status, RESET,
		    "the client stopped reading mid-response");
	else
		close_client(c, 's', c->status, RESET,
		    "the backend stopped sending mid-response");
}

/* C_TUNNEL: an event on either side. */
static void
tunnel_client(struct client *c, int events)
{
	on_tunnel(c, 0, events);
}

static void
tunnel_backend(struct client *c, int events)
{
	on_tunnel(c, 1, events);
}

static int
tunnel_watch(struct client *c, int *cev, int *bev)
{
	buf_put_empty(&c->bout);	/* no replay ever: once out, it goes */
	/* Bytes in bin wait only for out to drain, and out is watched. */
	if (!HOLDS(c, buf_used(c->bin) == 0 || buf_used(c->out) > 0))
		return 0;
	if (!c->client_eof && buf_room(c->in) > 0)
		*cev |= EV_READ;
	if (buf_used(c->out) > 0)
		*cev |= EV_WRITE;
	if (!c->fin_to_backend && (buf_used(c->bout) > 0 ||
	    buf_used(c->in) > 0))
		*bev |= EV_WRITE;
	if (!c->backend_end && buf_room(c->bin) > 0)
		*bev |= EV_READ;
	return 1;
}

static void
tunnel_deadline(struct client *c)
{
	end_tunnel(c, 't', FIN, FIN, "silent both ways too long");
}

/* C_ANSWER: our answer goes out; then we linger. */
static void
answer_client(struct client *c, int events)
{
	(void)events;
	if (buf_write(c->fd, c->out) < 0)
		client_gone(c, -1);
	else if (buf_used(c->out) == 0)
		start_linger(c, "our answer is out");
	else
		update(c);
}

static void
answer_deadline(struct client *c)
{
	close_client(c, 0, 0, FIN, "the client did not take our answer");
}

/* C_LINGER: what still comes is read and dropped; its end closes. */
static void
linger_client(struct client *c, int events)
{
	char scrap[4096];
	ssize_t r;

	(void)events;
	r = read(c->fd, scrap, sizeof(scrap));
	if (r == 0 || (r < 0 && !buf_would_block()))
		close_client(c, 0, 0, FIN, "the client closed");
}

static void
linger_deadline(struct client *c)
{
	close_client(c, 0, 0, FIN, "the linger is over");
}

/*
 * What each state does: see the top of this part. What it waits for is
 * a watch function where that depends on the buffers, else a fixed
 * pair of events: on the client's socket, on the backend's.
 */
static const struct state {
	void	(*client)(struct client *c, int events);
	void	(*backend)(struct client *c, int events);
	void	(*deadline)(struct client *c);
	int	(*watch)(struct client *c, int *cev, int *bev);
	int	cev, bev;	/* without a watch function */
} states[] = {
	[C_ORIGIN] = { origin_client, NULL, origin_deadline, head_watch, 0, 0 },
	[C_IDLE] = { head_client, NULL, idle_deadline, head_watch, 0, 0 },
	[C_HEAD] = { head_client, NULL, head_deadline, head_watch, 0, 0 },
	[C_QUEUE] = { queue_client, NULL, queue_deadline, head_watch, 0, 0 },
	[C_CONNECT] = { NULL, connect_backend, connect_deadline, NULL,
	    0, EV_WRITE },
	[C_PROXY] = { proxy_client, proxy_backend, proxy_deadline,
	    proxy_watch, 0, 0 },
	[C_TUNNEL] = { tunnel_client, tunnel_backend, tunnel_deadline,
	    tunnel_watch, 0, 0 },
	[C_ANSWER] = { answer_client, NULL, answer_deadline, NULL,
	    EV_WRITE, 0 },
	[C_LINGER] = { linger_client, NULL, linger_deadline, NULL,
	    EV_READ, 0 },
	[C_CLOSED] = { NULL, NULL, NULL, NULL, 0, 0 }
};

static void
on_client(void *arg, int fd, int events)
{
	struct client *c = arg;

	(void)fd;
	if (HOLDS(c, states[c->state].client != NULL))
		states[c->state].client(c, events);
}

static void
on_backend(void *arg, int fd, int events)
{
	struct client *c = arg;

	(void)fd;
	if (HOLDS(c, states[c->state].backend != NULL))
		states[c->state].backend(c, events);
}

/* The deadline of the current state has passed. */
static void
on_timer(void *arg)
{
	struct client *c = arg;

	if (HOLDS(c, states[c->state].deadline != NULL))
		states[c->state].deadline(c);
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
	if (c->state == C_CLOSED)
		return;
	if (states[c->state].watch == NULL) {
		cev = states[c->state].cev;
		bev = states[c->state].bev;
	} else if (!states[c->state].watch(c, &cev, &bev))
		return;
	if (loop_watch(c->fd, cev, on_client, c) < 0 || (c->bfd >= 0 &&
	    loop_watch(c->bfd, bev, on_backend, c) < 0))
		/* select() could never watch it: never leave a client waiting. */
		close_client(c, 'R', 503, FIN, "the loop cannot watch it");
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
	c->backend_ms = c->queued_ms = -1;
	c->state = cfg.accept_proxy ? C_ORIGIN : C_IDLE;
	c->id = ++nclients_ever;
	addr_peer(fd, c->peer, sizeof(c->peer));
	if (cfg.verbose)
		log_event("c%lu accepted from %s", c->id, c->peer);
	timer_init(&c->timer, on_timer, c);
	/*
	 * Slowloris: the first head (and the PROXY header before it, if one
	 * is due) must come within head_ms of accept.
	 */
	deadline(c, cfg.head_ms);
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
		if ((c->state == C_IDLE || c->state == C_ORIGIN) &&
		    buf_used(c->in) == 0)
			close_client(c, 0, 0, FIN, "drain: idle clients go");
}

void
conn_queue(int *waiting, int *peak, double *longest_ms)
{
	*waiting = queue_len;
	*peak = queue_peak;
	*longest_ms = queue_longest_ms;
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

	/* The drain deadline, with these still in flight. */
	for (c = clients; c != NULL; c = c->next)	/* a cut body: a reset */
		close_client(c, 'K', c->state == C_TUNNEL ? 101 : c->status,
		    c->state == C_PROXY && c->rs != RS_HEAD ? RESET : FIN,
		    "the drain deadline");
	conn_reap();
	timer_disarm(&queue_timer);
	loop_unlisten(&listener);
}
