/*
 * unit_conn.c - final/conn.c's rules for what should never happen, on
 * its real functions: conn.c is included whole (as the lessons' unit
 * tests include lb.c), its clients on socketpairs, its loop the real
 * one. A broken invariant costs its one client, said on stderr, and
 * every other client goes on; a reset that cannot be set is said too.
 */
#include "../final/conn.c"

#include <check.h>
#include <fcntl.h>

#include "suites.h"

/* stderr into a file of the test's, to read back what lb said. */
static FILE *
capture_stderr(void)
{
	FILE *f = tmpfile();

	ck_assert_ptr_nonnull(f);
	ck_assert_int_ge(dup2(fileno(f), 2), 0);
	return f;
}

/* What went to stderr since capture_stderr(), NUL-terminated. */
static const char *
captured(FILE *f)
{
	static char text[4096];
	size_t n;

	rewind(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	return text;
}

/* The end of a test: every client and the loop let go, stderr read. */
static void
done_with(FILE *err)
{
	conn_free_all();
	loop_free();
	fclose(err);
}

/* A client of lb's on fd, as accept() would hand it over. */
static struct client *
new_client(int fd)
{
	add_client(fd);
	ck_assert_ptr_nonnull(clients);
	ck_assert_int_eq(clients->fd, fd);
	return clients;
}

/* The other end of a socketpair: lb's end is *lb_end. */
static int
socket_peer(int *lb_end)
{
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	*lb_end = sv[0];
	return sv[1];
}

static void
setup(void)
{
	cfg.max_conns = 16;
	cfg.head_ms = cfg.idle_ms = cfg.response_ms = cfg.queue_ms = 10000;
}

/*
 * A client in a state update() must never see (body bytes in `in` that
 * nothing will move: the stall of issue 13): once, an assert() took
 * the whole process, and every client in it, down with it. Now that one
 * client is closed (a reset), the event log says where, and the other
 * client is served on.
 */
START_TEST(a_broken_invariant_costs_one_client)
{
	FILE *err = capture_stderr();
	int fa, fb, pa = socket_peer(&fa), pb = socket_peer(&fb);
	struct client *a = new_client(fa), *b = new_client(fb);
	char byte;

	ck_assert_ptr_nonnull(buf_get(&a->in));
	memcpy(a->in->data, "0123456789", 10);
	a->in->len = 10;
	a->state = C_PROXY;
	a->rq = RQ_BODY;	/* body in `in`, nothing in bout, none to come */
	update(a);
	ck_assert_int_eq(a->state, C_CLOSED);
	ck_assert_int_eq(b->state, C_IDLE);
	ck_assert_int_eq(conn_count(), 1);
	ck_assert_int_le(read(pa, &byte, 1), 0);	/* closed: EOF or reset */
	ck_assert_ptr_nonnull(strstr(captured(err), "internal error at conn.c:"));
	ck_assert_int_eq(write(pb, "GET", 3), 3);	/* b is still served */
	ck_assert_int_ge(loop_run_wait(1), 1);
	ck_assert_int_eq(b->state, C_HEAD);
	close(pa);
	close(pb);
	done_with(err);
}
END_TEST

/*
 * A cut close-delimited body is told by a reset: a FIN would say it was
 * whole. setsockopt(SO_LINGER) going unchecked meant a failure there
 * passed in silence; now it is said (here on a pipe, which is no
 * socket), and the client is closed all the same.
 */
START_TEST(a_reset_that_cannot_be_set_is_said)
{
	FILE *err = capture_stderr();
	int p[2];
	struct client *c;

	ck_assert_int_eq(pipe(p), 0);
	c = new_client(p[1]);
	close_client(c, 0, 0, RESET, "a test");
	ck_assert_int_eq(c->state, C_CLOSED);
	ck_assert_ptr_nonnull(strstr(captured(err), "cannot reset the "
	    "connection to"));
	close(p[0]);
	done_with(err);
}
END_TEST

/*
 * The arrows of a drawing of the three machines, in the order written:
 * every line of path that is only "NAME -> NAME" and words after, into
 * arrows[] as "NAME->NAME". Their number.
 */
static int
drawn_arrows(const char *path, char arrows[][40], int max)
{
	char line[512], from[16], to[16];
	FILE *f = fopen(path, "r");
	int n = 0;

	ck_assert_msg(f != NULL, "cannot open %s", path);
	while (fgets(line, sizeof(line), f) != NULL && n < max) {
		const char *p = line + strspn(line, " *");

		if (sscanf(p, "%15[A-Z] -> %15[A-Z]", from, to) == 2 &&
		    strstr(p, " -> ") != NULL && p[0] != '\0')
			snprintf(arrows[n++], 40, "%s->%s", from, to);
	}
	fclose(f);
	return n;
}

/* The tables' rows, in order: client_moves[], request_moves[], response_moves[]. */
static int
table_arrows(char arrows[][40])
{
	const struct {
		const struct move *m;
		size_t n;
		const char *const *name;
	} t[] = {
		{ client_moves, NELEM(client_moves), cstate_name },
		{ request_moves, NELEM(request_moves), rqstate_name },
		{ response_moves, NELEM(response_moves), rsstate_name }
	};
	size_t i, j;
	int n = 0;

	for (i = 0; i < NELEM(t); i++)
		for (j = 0; j < t[i].n; j++)
			snprintf(arrows[n++], 40, "%s->%s",
			    t[i].name[t[i].m[j].from], t[i].name[t[i].m[j].to]);
	return n;
}

/* A drawing says what the tables say: the same arrows, the same order. */
static void
drawing_is_the_table(const char *path)
{
	char drawn[128][40], table[128][40];
	int nd = drawn_arrows(path, drawn, 128), nt = table_arrows(table), i;

	for (i = 0; i < nd && i < nt; i++)
		ck_assert_msg(strcmp(drawn[i], table[i]) == 0, "%s: arrow %d "
		    "is %s, the table's is %s", path, i + 1, drawn[i],
		    table[i]);
	ck_assert_msg(nd == nt, "%s draws %d arrows, the tables have %d",
	    path, nd, nt);
}

/*
 * conn.c's lists of arrows, and final/README's, are the tables enter(),
 * request_to() and response_to() obey: neither can drift from the code.
 * And every state can close (close_client() assumes it).
 */
START_TEST(the_drawings_are_the_tables)
{
	int s;

	drawing_is_the_table("../final/conn.c");
	drawing_is_the_table("../final/README.md");
	for (s = C_IDLE; s < C_CLOSED; s++)
		ck_assert_msg(is_move(client_moves, NELEM(client_moves), s,
		    C_CLOSED), "%s cannot close", cstate_name[s]);
}
END_TEST

/* A move that is not in the table is a bug: the client pays, nobody else. */
START_TEST(a_move_not_in_the_table_is_refused)
{
	FILE *err = capture_stderr();
	int fa, pa = socket_peer(&fa);
	struct client *a = new_client(fa);

	ck_assert_int_eq(enter(a, C_TUNNEL, NULL), 0);
	ck_assert_int_eq(a->state, C_CLOSED);
	ck_assert_ptr_nonnull(strstr(captured(err), "internal error at conn.c:"));
	close(pa);
	done_with(err);
}
END_TEST

/* -v: each move of a machine is one line on stderr; without it, none. */
START_TEST(verbose_traces_each_move)
{
	FILE *err = capture_stderr();
	int fa, pa = socket_peer(&fa), fb, pb = socket_peer(&fb);
	struct client *a, *b;

	a = new_client(fa);		/* cfg.verbose is 0 */
	ck_assert_int_eq(write(pa, "GET", 3), 3);
	ck_assert_int_ge(loop_run_wait(1), 1);
	ck_assert_int_eq(a->state, C_HEAD);
	ck_assert_ptr_null(strstr(captured(err), "IDLE -> HEAD"));
	cfg.verbose = 1;
	b = new_client(fb);
	ck_assert_int_eq(write(pb, "GET", 3), 3);
	ck_assert_int_ge(loop_run_wait(1), 1);
	ck_assert_int_eq(b->state, C_HEAD);
	ck_assert_ptr_nonnull(strstr(captured(err), "c2 IDLE -> HEAD: 3 bytes "
	    "of a head"));
	close(pb);
	ck_assert_int_ge(loop_run_wait(1), 1);
	ck_assert_ptr_nonnull(strstr(captured(err), "c2 HEAD -> CLOSED: the "
	    "client closed mid-head"));
	cfg.verbose = 0;
	close(pa);
	done_with(err);
}
END_TEST

/*
 * The queue is first in, first out, newcomers included: while anyone
 * waits for a slot, a new request waits behind them, even when a slot
 * has just come free (run_queue() hands it to the first in line at the
 * next pass). Before, a request arriving in between took it, and waits
 * in the queue spread twice as wide as HAProxy's (final/PERFORMANCE.md).
 */
#define GET_A	"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"

START_TEST(a_newcomer_waits_behind_the_queue)
{
	FILE *err = capture_stderr();
	int fa, pa = socket_peer(&fa), fb, pb = socket_peer(&fb);
	struct client *a, *b;
	const char *why;

	ck_assert_int_eq(backend_add("127.0.0.1:9,maxconn=1", &why), 0);
	ck_assert_int_eq(backend_resolve(), 0);
	backends[0].up = 1;
	a = new_client(fa);
	ck_assert_int_eq(write(pa, GET_A, sizeof(GET_A) - 1),
	    (ssize_t)sizeof(GET_A) - 1);
	backends[0].inflight = 1;	/* another request holds the slot */
	ck_assert_int_ge(loop_run_wait(1), 1);
	ck_assert_int_eq(a->state, C_QUEUE);
	backends[0].inflight = 0;	/* it ends: the slot is a's */
	b = new_client(fb);
	ck_assert_int_eq(write(pb, GET_A, sizeof(GET_A) - 1),
	    (ssize_t)sizeof(GET_A) - 1);
	ck_assert_int_ge(loop_run_wait(1), 1);
	ck_assert_int_eq(b->state, C_QUEUE);	/* behind a, not past it */
	ck_assert_ptr_eq(queue_head, a);
	close(pa);
	close(pb);
	done_with(err);
}
END_TEST

Suite *
conn_unit_suite(void)
{
	const struct unit units[] = {
		{ a_broken_invariant_costs_one_client, 0 },
		{ a_reset_that_cannot_be_set_is_said, 0 },
		{ the_drawings_are_the_tables, 0 },
		{ a_move_not_in_the_table_is_refused, 0 },
		{ verbose_traces_each_move, 0 },
		{ a_newcomer_waits_behind_the_queue, 0 },
		{ NULL, 0 }
	};

	return unit_suite("conn-unit", units, setup, NULL);
}
