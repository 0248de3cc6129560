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
	cfg.head_ms = cfg.idle_ms = cfg.response_ms = 10000;
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
	a->rq = RQ_BODY;	/* body in `in`, nothing in `up`, none to come */
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
	conn_free_all();
	loop_free();
	fclose(err);
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
	abort_client(c);
	ck_assert_int_eq(c->state, C_CLOSED);
	ck_assert_ptr_nonnull(strstr(captured(err), "cannot reset the "
	    "connection to"));
	close(p[0]);
	conn_free_all();
	loop_free();
	fclose(err);
}
END_TEST

Suite *
conn_unit_suite(void)
{
	const struct unit units[] = {
		{ a_broken_invariant_costs_one_client, 0 },
		{ a_reset_that_cannot_be_set_is_said, 0 },
		{ NULL, 0 }
	};

	return unit_suite("conn-unit", units, setup, NULL);
}
