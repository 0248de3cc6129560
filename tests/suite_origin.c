/*
 * suite_origin.c - final/: the PROXY protocol both ways (issue 25). On a
 * -l PORT,proxy listener, a PROXY header (version 1 or 2) names the
 * client, and that name is what the logs and X-Forwarded-For say; a
 * connection without a valid one is closed, logged, and never reaches a
 * backend. A ,send-proxy or ,send-proxy-v2 backend gets one on each new
 * connection (read here by proxyproto.c's own parser, as a backend of
 * the test's), LOCAL on its health checks. And TLS in front: HAProxy
 * terminating TLS with a certificate made by openssl, passing PROXY v2
 * to lb, curl over HTTPS, the backend seeing curl's address.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <check.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../final/proxyproto.h"
#include "harness.h"
#include "suites.h"

#define GET	"GET / HTTP/1.1\r\nHost: x\r\n\r\n"

/* An IPv4 address and port, as a sockaddr_storage. */
static struct sockaddr_storage
v4(const char *ip, unsigned port)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

	memset(&ss, 0, sizeof(ss));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((unsigned short)port);
	ck_assert_int_eq(inet_pton(AF_INET, ip, &sin->sin_addr), 1);
	return ss;
}

/* A PROXY header (v1 or v2) saying ip:port is the client, then GET. */
static size_t
said_by(int version, const char *ip, unsigned port, char *out, size_t n)
{
	struct sockaddr_storage src = v4(ip, port), dst = v4("127.0.0.1", 80);
	size_t k = version == 2 ? pp_build_v2(&src, &dst, out, n) :
	    pp_build_v1(&src, &dst, out, n);

	ck_assert_uint_gt(k, 0);
	ck_assert_uint_lt(k + sizeof(GET), n);
	memcpy(out + k, GET, sizeof(GET) - 1);
	return k + sizeof(GET) - 1;
}

/*
 * Through a -l PORT,proxy listener, with a header of each version: the
 * backend's X-Forwarded-For and lb's access log name the client the
 * header names, not the connection's own address.
 */
START_TEST(a_proxy_header_names_the_client)
{
	struct h_proc *b = h_backend("b1", NULL), *lb;
	char raw[512], want[64], *log;
	struct h_conn *c;
	struct h_resp r;
	int version;

	h_listen_opts(",proxy");
	lb = h_lb(1, &b, "-i", "60000", NULL);
	for (version = 1; version <= 2; version++) {
		const char *ip = version == 1 ? "203.0.113.7" : "198.51.100.9";
		size_t n = said_by(version, ip, 4242, raw, sizeof(raw));

		c = h_connect(lb->port);
		ck_assert_int_eq(h_send(c, raw, n), 0);
		ck_assert_int_eq(h_read_response(c, &r, 0, h_scaled(3000)), 0);
		ck_assert_int_eq(r.status, 200);
		snprintf(want, sizeof(want), "header X-Forwarded-For: %s\n", ip);
		ck_assert_msg(strstr(r.body, want) != NULL, "v%d: the backend "
		    "saw\n%s", version, r.body);
		h_resp_free(&r);
		h_close(c);
	}
	log = h_stopped_log(lb);
	ck_assert_msg(strstr(log, "Z 203.0.113.7 GET / ") != NULL &&
	    strstr(log, "Z 198.51.100.9 GET / ") != NULL, "log:\n%s", log);
	free(log);
}
END_TEST

/*
 * What is not a valid PROXY header ends the connection, with a line on
 * stderr, and no byte of it, nor of what follows, reaches a backend: a
 * plain request, a v1 line with a bad address, one longer than 107
 * bytes, a v2 header that says 48 bytes follow and sends 4 (then
 * the client leaves), and half a header then the client leaves.
 */
START_TEST(a_connection_without_a_valid_header_is_closed)
{
	static const char *const bad[] = {
		GET,
		"PROXY TCP4 203.0.113.300 127.0.0.1 1 80\r\n" GET,
		"PROXY UNKNOWN xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n"
		    GET,
		"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x30\x7f\x00\x00\x01",
		"PROXY TCP4 203.0.1",
	};
	static const size_t len[] = { 0, 0, 0, 20, 0 };
	struct h_proc *b = h_backend("b1", "-q", NULL), *lb;
	struct h_conn *c;
	size_t i, n;

	h_listen_opts(",proxy");
	lb = h_lb(1, &b, "-i", "60000", NULL);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		n = len[i] > 0 ? len[i] : strlen(bad[i]);
		c = h_connect(lb->port);
		ck_assert_int_eq(h_send(c, bad[i], n), 0);
		if (i >= 3)
			shutdown(c->fd, SHUT_WR);	/* and no more comes */
		ck_assert_msg(h_peer_closed(c, h_scaled(2000)), "case %zu: "
		    "still open", i);
		h_close(c);
	}
	ck_assert(h_wait_for_text(lb->err, "no PROXY header", h_scaled(2000)));
	ck_assert_int_eq(h_backend_stat(b->port, "requests "), 0);
	h_listen_opts(",proxy");
	lb = h_lb(1, &b, "-i", "60000", "-t", "head=300", NULL);
	c = h_connect(lb->port);	/* and one that says nothing at all */
	ck_assert_msg(h_peer_closed(c, h_scaled(2000)), "silent: still open");
	h_close(c);
	ck_assert(h_wait_for_text(lb->err, "no PROXY header within 300 ms",
	    h_scaled(2000)));
}
END_TEST

/* Does buf[from..to) hold the blank line that ends a head? */
static int
head_ends(const char *buf, size_t from, size_t to)
{
	for (; from + 4 <= to; from++)
		if (memcmp(buf + from, "\r\n\r\n", 4) == 0)
			return 1;
	return 0;
}

/*
 * The next connection lb makes to lfd, its PROXY header read into *pp.
 * A health check (LOCAL, or v1 UNKNOWN) is answered 200 and counted in
 * *probes, and the next is waited for; a client's request is answered
 * 200 too, and its header returned.
 */
static void
next_relayed(int lfd, struct pp_info *pp, int *probes)
{
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
	    "Connection: close\r\n\r\nok";
	struct pollfd pfd;
	char buf[PP_MAX + 512];
	size_t got = 0;
	ssize_t r;
	int fd, n = 0;

	for (;;) {
		pfd.fd = lfd;
		pfd.events = POLLIN;
		ck_assert_msg(poll(&pfd, 1, h_scaled(3000)) == 1, "lb never "
		    "connected");
		ck_assert_int_ge(fd = accept(lfd, NULL, NULL), 0);
		for (got = 0, n = 0; n == 0 && (r = read(fd, buf + got,
		    sizeof(buf) - got)) > 0; )
			n = pp_parse(buf, got += (size_t)r, pp);
		ck_assert_msg(n > 0, "lb's header: %d (%s)", n, pp_strerror(n));
		while (!head_ends(buf, (size_t)n, got) &&
		    (r = read(fd, buf + got, sizeof(buf) - got)) > 0)
			got += (size_t)r;
		ck_assert_int_eq(write(fd, ok, sizeof(ok) - 1),
		    (ssize_t)sizeof(ok) - 1);
		close(fd);
		if (!pp->local)
			return;
		ck_assert_msg(memcmp(buf + n, "GET /health ", 12) == 0,
		    "a LOCAL header, then not a health check");
		(*probes)++;
	}
}

/*
 * ,send-proxy and ,send-proxy-v2: each connection lb makes for a client
 * starts with a header naming that client (its address and port, here
 * on loopback), and each health check with a LOCAL one (UNKNOWN in v1).
 */
START_TEST(a_send_proxy_backend_is_told_who_the_client_is)
{
	static const char *const opt[] = { "send-proxy", "send-proxy-v2" };
	struct sockaddr_in me;
	socklen_t sl = sizeof(me);
	struct pp_info pp;
	struct h_proc *lb;
	struct h_conn *c;
	struct h_resp r;
	char arg[64];
	int port, lfd = h_loopback_socket(0, 0, &me), probes = 0;

	ck_assert_int_ge(lfd, 0);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&me, sizeof(me)), 0);
	ck_assert_int_eq(listen(lfd, 16), 0);
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&me, &sl), 0);
	port = ntohs(me.sin_port);
	snprintf(arg, sizeof(arg), "127.0.0.1:%d,%s", port, opt[_i]);
	lb = h_lb_args((char *[]){ "-b", arg, "-i", "100", NULL });
	h_pause_ms(300);	/* a probe waits in the backlog by then */
	c = h_connect(lb->port);
	sl = sizeof(me);
	ck_assert_int_eq(getsockname(c->fd, (struct sockaddr *)&me, &sl), 0);
	ck_assert_int_eq(h_sends(c, GET), 0);
	next_relayed(lfd, &pp, &probes);	/* the probes first, then c's */
	ck_assert_int_ge(probes, 1);
	ck_assert_int_eq(pp.version, _i + 1);
	ck_assert_str_eq(pp.src_text, "127.0.0.1");
	ck_assert_uint_eq(pp.src_port, ntohs(me.sin_port));
	ck_assert_uint_eq(pp.dst_port, (unsigned)lb->port);
	ck_assert_int_eq(h_read_response(c, &r, 0, h_scaled(3000)), 0);
	ck_assert_int_eq(r.status, 200);
	h_resp_free(&r);
	h_close(c);
	close(lfd);
}
END_TEST

/*
 * The next connection lb makes to lfd that is not a health check, with
 * its head read: its descriptor, and in *named whether it began with a
 * PROXY header. Health checks are answered and closed on the way.
 */
static int
next_request(int lfd, int *named)
{
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
	    "Connection: close\r\n\r\nok";
	struct pollfd pfd;
	struct pp_info pp;
	char buf[PP_MAX + 512];
	size_t got;
	ssize_t r;
	int fd, n;

	for (;;) {
		pfd.fd = lfd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, h_scaled(2000)) != 1)
			return -1;
		ck_assert_int_ge(fd = accept(lfd, NULL, NULL), 0);
		for (got = 0; !head_ends(buf, 0, got) && (r = read(fd, buf +
		    got, sizeof(buf) - got)) > 0; )
			got += (size_t)r;
		n = pp_parse(buf, got, &pp);
		*named = n > 0 && !pp.local;
		if (strstr(buf + (n > 0 ? n : 0), "GET /health ") != buf +
		    (n > 0 ? n : 0))
			return fd;
		ck_assert_int_eq(write(fd, ok, sizeof(ok) - 1),
		    (ssize_t)sizeof(ok) - 1);
		close(fd);
	}
}

/*
 * A backend connection that began with one client's PROXY header serves
 * no other client, even after a reload takes ,send-proxy away while it
 * is lent: were it pooled, the backend would take the next client's
 * requests for the first one's. The next request gets a connection of
 * its own, without a header now.
 */
START_TEST(a_connection_that_named_a_client_serves_no_other)
{
	static const char keep[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
	    "\r\nok";
	char list[] = "/tmp/lb-origin-XXXXXX";
	struct sockaddr_in me;
	struct h_proc *lb;
	struct h_conn *a, *b;
	struct h_resp r;
	int lfd = h_loopback_socket(0, 0, &me), fd, fa, named, port;
	socklen_t sl = sizeof(me);
	FILE *f;

	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&me, sizeof(me)), 0);
	ck_assert_int_eq(listen(lfd, 16), 0);
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&me, &sl), 0);
	port = ntohs(me.sin_port);
	ck_assert_int_ge(fd = mkstemp(list), 0);
	ck_assert_ptr_nonnull(f = fdopen(fd, "w"));
	fprintf(f, "127.0.0.1:%d,send-proxy-v2\n", port);
	fclose(f);
	lb = h_lb_args((char *[]){ "-f", list, "-i", "60000", NULL });
	a = h_connect(lb->port);
	ck_assert_int_eq(h_sends(a, GET), 0);
	ck_assert_int_ge(fa = next_request(lfd, &named), 0);
	ck_assert_int_eq(named, 1);
	ck_assert_ptr_nonnull(f = fopen(list, "w"));
	fprintf(f, "127.0.0.1:%d\n", port);
	fclose(f);
	ck_assert_int_eq(kill(lb->pid, SIGHUP), 0);
	ck_assert(h_wait_for_text(lb->err, "changed", h_scaled(3000)));
	ck_assert_int_eq(write(fa, keep, sizeof(keep) - 1),
	    (ssize_t)sizeof(keep) - 1);	/* a's answer, kept alive */
	ck_assert_int_eq(h_read_response(a, &r, 0, h_scaled(3000)), 0);
	h_resp_free(&r);
	b = h_connect(lb->port);
	ck_assert_int_eq(h_sends(b, GET), 0);
	ck_assert_msg((fd = next_request(lfd, &named)) >= 0, "b's request "
	    "came on a's connection, which named a");
	ck_assert_int_eq(named, 0);
	ck_assert_int_eq(write(fd, keep, sizeof(keep) - 1),
	    (ssize_t)sizeof(keep) - 1);
	ck_assert_int_eq(h_read_response(b, &r, 0, h_scaled(3000)), 0);
	h_resp_free(&r);
	h_close(a);
	h_close(b);
	close(fd);
	close(fa);
	close(lfd);
	unlink(list);
}
END_TEST

/* openssl makes a certificate for 127.0.0.1, key and all, into pem. */
static void
make_certificate(const char *dir, char *pem, size_t n, char *crt, size_t m)
{
	char cmd[1024];

	snprintf(crt, m, "%s/cert.pem", dir);
	snprintf(pem, n, "%s/both.pem", dir);
	snprintf(cmd, sizeof(cmd), "openssl req -x509 -newkey rsa:2048 -nodes "
	    "-keyout %s/key.pem -out %s -days 1 -subj /CN=127.0.0.1 "
	    "-addext subjectAltName=IP:127.0.0.1 2>/dev/null && cat %s "
	    "%s/key.pem > %s", dir, crt, crt, dir, pem);
	ck_assert_msg(system(cmd) == 0, "openssl could not make a certificate");
}

/* HAProxy terminating TLS on front, to lb at back with PROXY v2. */
static struct h_proc *
tls_in_front(const char *dir, const char *pem, int front, int back)
{
	char cfg[256], *argv[] = { "haproxy", "-db", "-f", cfg, NULL };
	struct h_proc *p;
	FILE *f;

	snprintf(cfg, sizeof(cfg), "%s/tls.cfg", dir);
	ck_assert_ptr_nonnull(f = fopen(cfg, "w"));
	fprintf(f, "defaults\n\tmode tcp\n\ttimeout connect 5s\n"
	    "\ttimeout client 5s\n\ttimeout server 5s\n"
	    "listen tls\n\tbind 127.0.0.1:%d ssl crt %s\n"
	    "\tserver lb 127.0.0.1:%d send-proxy-v2\n", front, pem, back);
	fclose(f);
	p = h_spawn("haproxy", argv, 0);
	ck_assert_msg(h_wait_port(front, 5000) == 0, "haproxy does not listen");
	return p;
}

/*
 * The deployment final/README shows: HTTPS to HAProxy (TLS only, TCP
 * mode), PROXY v2 to lb, plain HTTP to the backend. curl, from
 * 127.0.0.2 over HTTPS with the certificate openssl just made, gets its
 * answer; the backend's X-Forwarded-For says 127.0.0.2, where HAProxy's
 * own connection to lb comes from 127.0.0.1.
 */
START_TEST(tls_in_front_passes_the_client_through)
{
	struct h_proc *b = h_backend("b1", NULL), *lb, *tls;
	char dir[] = "/tmp/lb-tls-XXXXXX", pem[128], crt[128], cmd[512];
	char *body;
	int front = h_free_port();

	if (!h_need("haproxy", "haproxy") || !h_need("openssl", "openssl") ||
	    !h_need("curl", "curl"))
		return;
	ck_assert_ptr_nonnull(mkdtemp(dir));
	make_certificate(dir, pem, sizeof(pem), crt, sizeof(crt));
	h_listen_opts(",proxy");
	lb = h_lb(1, &b, "-i", "60000", NULL);
	tls = tls_in_front(dir, pem, front, lb->port);
	snprintf(cmd, sizeof(cmd), "curl -s --max-time 5 --interface 127.0.0.2"
	    " --cacert %s https://127.0.0.1:%d/over-tls > %s/body", crt, front,
	    dir);
	ck_assert_msg(system(cmd) == 0, "curl over TLS failed: %s", cmd);
	snprintf(cmd, sizeof(cmd), "%s/body", dir);
	body = h_slurp(cmd);
	ck_assert_msg(body != NULL && strstr(body, "target /over-tls\n") !=
	    NULL && strstr(body, "header X-Forwarded-For: 127.0.0.2\n") !=
	    NULL, "the backend saw:\n%s", body != NULL ? body : "(nothing)");
	free(body);
	h_kill(tls);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

Suite *
origin_suite(void)
{
	Suite *s;
	TCase *tc;
	const TTest *const tests[] = {
		a_proxy_header_names_the_client,
		a_connection_without_a_valid_header_is_closed,
		a_connection_that_named_a_client_serves_no_other,
		tls_in_front_passes_the_client_through,
		NULL
	};

	s = h_suite("origin", tests, &tc);
	if (h_wanted(a_send_proxy_backend_is_told_who_the_client_is))
		tcase_add_loop_test(tc,
		    a_send_proxy_backend_is_told_who_the_client_is, 0, 2);
	return s;
}
