/*
 * unit_lesson3.c - lesson 3's connection state machine, one transition at
 * a time, on socketpairs instead of the network; and the suites lesson 3
 * runs.
 */
#define main lesson3_main
#include "../lesson3/lb.c"
#undef main

#include <check.h>

#include "suites.h"

static struct conn *c;
static int peer;		/* the "client" end of the socketpair */

static void
setup(void)
{
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	set_nonblock(sv[0]);
	c = calloc(1, sizeof(*c));
	ck_assert_ptr_nonnull(c);
	c->cfd = sv[0];
	c->bfd = -1;
	c->state = S_READ_HEAD;
	peer = sv[1];
	nbackends = 0;
}

static void
teardown(void)
{
	close(c->cfd);
	close(peer);
	free(c);
}

/* Feed bytes from the client and let the connection take one step. */
static void
client_says(const char *s)
{
	fd_set rd, wr;

	if (*s != '\0')
		ck_assert_int_eq(write(peer, s, strlen(s)), (ssize_t)strlen(s));
	FD_ZERO(&rd);
	FD_ZERO(&wr);
	FD_SET(c->cfd, &rd);
	step(c, &rd, &wr, 100);
}

START_TEST(a_partial_head_keeps_reading)
{
	client_says("GET / HTTP/1.1\r\nHo");
	ck_assert_int_eq(c->state, S_READ_HEAD);
	ck_assert_uint_eq(c->have, 18);
}
END_TEST

START_TEST(a_bad_head_is_answered_400)
{
	client_says("GARBAGE\r\n\r\n");
	ck_assert_int_eq(c->state, S_ANSWER);
	ck_assert_ptr_nonnull(strstr(c->down.data, "HTTP/1.1 400 Bad Request"));
}
END_TEST

START_TEST(no_backend_up_is_answered_503)
{
	nbackends = 1;
	backends[0].up = 0;
	backends[0].retry_at = 103.2;	/* now is 100 */
	client_says("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
	ck_assert_int_eq(c->state, S_ANSWER);
	ck_assert_ptr_nonnull(strstr(c->down.data, "HTTP/1.1 503 "));
	ck_assert_ptr_nonnull(strstr(c->down.data, "Retry-After: 4\r\n"));
}
END_TEST

START_TEST(a_client_gone_before_its_head_is_done)
{
	shutdown(peer, SHUT_WR);
	client_says("");
	ck_assert_int_eq(c->state, S_DONE);
}
END_TEST

START_TEST(an_answer_is_written_then_drained)
{
	fd_set rd, wr;
	char buf[512];
	ssize_t n;

	answer(c, 502, "Bad Gateway", "", "test");
	FD_ZERO(&rd);
	FD_ZERO(&wr);
	FD_SET(c->cfd, &wr);
	step(c, &rd, &wr, 100);
	ck_assert_int_eq(c->state, S_DRAIN);
	n = read(peer, buf, sizeof(buf) - 1);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	ck_assert_ptr_nonnull(strstr(buf, "Content-Length: 22\r\n"));
	ck_assert_ptr_nonnull(strstr(buf, "\r\n\r\n502 Bad Gateway: test\n"));
	ck_assert_int_eq(read(peer, buf, sizeof(buf)), 0);	/* shut down */
	close(peer);
	peer = -1;
	FD_ZERO(&wr);
	FD_SET(c->cfd, &rd);
	step(c, &rd, &wr, 100);
	ck_assert_int_eq(c->state, S_DONE);	/* the client closed */
}
END_TEST

/* Which sockets each state waits for: r/w on the client, R/W backend. */
static const struct {
	enum state state;
	long long body_left;
	size_t up_len, down_len;
	int backend_eof, client_eof;
	const char *want;
} waits[] = {
	{ S_READ_HEAD, 0, 0, 0, 0, 0, "r" },
	{ S_CONNECT, 0, 0, 0, 0, 0, "W" },
	{ S_RELAY, 10, 0, 0, 0, 0, "rR" },	/* body to read, all empty */
	{ S_RELAY, 10, 5, 0, 0, 0, "WR" },	/* up full: client waits */
	{ S_RELAY, 0, 0, 5, 0, 0, "rw" },	/* down full: backend waits */
	{ S_RELAY, 0, 0, 0, 0, 1, "R" },	/* client said all it will */
	{ S_RELAY, 0, 0, 5, 1, 1, "w" },
	{ S_ANSWER, 0, 0, 5, 0, 0, "w" },
	{ S_DRAIN, 0, 0, 0, 0, 0, "r" },
	{ S_DONE, 0, 0, 0, 0, 0, "" },
};

START_TEST(each_state_waits_for_the_right_sockets)
{
	struct conn k;
	fd_set rd, wr;
	char got[8];
	int maxfd = -1, n = 0;

	memset(&k, 0, sizeof(k));
	k.cfd = 5;
	k.bfd = 6;
	k.state = waits[_i].state;
	k.body_left = waits[_i].body_left;
	k.up.len = waits[_i].up_len;
	k.down.len = waits[_i].down_len;
	k.backend_eof = waits[_i].backend_eof;
	k.client_eof = waits[_i].client_eof;
	FD_ZERO(&rd);
	FD_ZERO(&wr);
	want(&k, &rd, &wr, &maxfd);
	if (FD_ISSET(5, &rd))
		got[n++] = 'r';
	if (FD_ISSET(5, &wr))
		got[n++] = 'w';
	if (FD_ISSET(6, &wr))
		got[n++] = 'W';
	if (FD_ISSET(6, &rd))
		got[n++] = 'R';
	got[n] = '\0';
	ck_assert_str_eq(got, waits[_i].want);
}
END_TEST

static Suite *
lesson3_unit_suite(void)
{
	const struct unit units[] = {
		{ a_partial_head_keeps_reading, 0 },
		{ a_bad_head_is_answered_400, 0 },
		{ no_backend_up_is_answered_503, 0 },
		{ a_client_gone_before_its_head_is_done, 0 },
		{ an_answer_is_written_then_drained, 0 },
		{ each_state_waits_for_the_right_sockets, ROWS(waits) },
		{ NULL, 0 }
	};

	return unit_suite("lesson3-unit", units, setup, teardown);
}

Suite *(*const lesson_suites[])(void) = {
	lesson3_unit_suite, forward_suite, balance_suite, concurrency_suite,
	NULL
};
