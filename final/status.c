/*
 * status.c - the status listener (-a): a small read-only HTTP server in
 * the same loop as everything else. One request per connection:
 *
 *   /, /status      HTML if the client accepts text/html (a browser),
 *                   else plain text (curl)
 *   /status.html  /status.txt  /status.json  one format each
 *   /metrics        Prometheus text exposition format
 *
 * Only GET and HEAD; anything else is 405, an unknown path 404.
 *
 * It must stay reachable when something is wrong, which is when people
 * look at it: its clients get short deadlines of their own (not the
 * proxy's), and when all its slots are taken, a newcomer takes the slot
 * of the oldest client that has not finished asking.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config.h"
#include "http.h"
#include "loop.h"
#include "report.h"
#include "status.h"

#define STATUS_CLIENTS	16	/* at once */
#define STATUS_HEAD_MAX	4096
#define STATUS_WAIT_MS	2000	/* to ask, to take a response, to go */

enum sstate {
	S_READ,		/* waiting for the request head */
	S_WRITE,	/* the response is going out */
	S_LINGER	/* sent and shut: reading until the client closes */
};

struct sclient {
	int	fd;
	enum sstate state;
	struct timer timer;
	struct sclient *next;
	size_t	got;
	char	in[STATUS_HEAD_MAX];
	struct sbuf out;
	size_t	off;		/* out.p[0..off) is sent */
};

static struct listener listener = LISTENER_INIT;
static struct sclient *sclients;
static int nsclients;
static double started;

static void
sclient_close(struct sclient *s)
{
	struct sclient **p;

	for (p = &sclients; *p != NULL; p = &(*p)->next)
		if (*p == s) {
			*p = s->next;
			break;
		}
	loop_unwatch(s->fd);
	timer_disarm(&s->timer);
	close(s->fd);
	sbuf_free(&s->out);
	free(s);
	nsclients--;
}

static void on_sclient(void *arg, int fd, int events);

/* Does the Accept header ask for HTML (a browser)? */
static int
wants_html(const struct http_msg *m)
{
	const struct http_header *h = http_find(m, "Accept");
	size_t i;

	if (h == NULL)
		return 0;
	for (i = 0; i + 9 <= h->value_len; i++)
		if (strncasecmp(h->value + i, "text/html", 9) == 0)
			return 1;
	return 0;
}

/* The format a path asks for, or -1 if there is no such page. */
static int
route(const struct http_msg *m)
{
	static const struct {
		const char *path;
		int	format;
	} pages[] = {
		{ "/status.txt", REPORT_TEXT }, { "/status.html", REPORT_HTML },
		{ "/status.json", REPORT_JSON }, { "/metrics", REPORT_METRICS },
	};
	size_t i, n = m->target_len;
	const char *q = memchr(m->target, '?', n);

	if (q != NULL)
		n = (size_t)(q - m->target);
	if ((n == 1 && m->target[0] == '/') ||
	    (n == 7 && memcmp(m->target, "/status", 7) == 0))
		return wants_html(m) ? REPORT_HTML : REPORT_TEXT;
	for (i = 0; i < sizeof(pages) / sizeof(pages[0]); i++)
		if (strlen(pages[i].path) == n &&
		    memcmp(m->target, pages[i].path, n) == 0)
			return pages[i].format;
	return -1;
}

/* Head and body into s->out; then send it. HEAD gets the head alone. */
static void
respond(struct sclient *s, const char *status, const char *type,
    const char *extra, struct sbuf *body, int head_only)
{
	sbuf_printf(&s->out, "HTTP/1.1 %s\r\nContent-Type: %s\r\n"
	    "Content-Length: %zu\r\nCache-Control: no-store\r\n%s"
	    "Connection: close\r\n\r\n", status, type, body->len, extra);
	if (!head_only && body->len > 0)
		sbuf_printf(&s->out, "%.*s", (int)body->len, body->p);
	sbuf_free(body);
	if (s->out.oom) {
		sclient_close(s);
		return;
	}
	s->state = S_WRITE;
	loop_watch(s->fd, EV_WRITE, on_sclient, s);
	timer_arm_ms(&s->timer, STATUS_WAIT_MS);
}

/* A whole request head came: the page it asks for, or why not. */
static void
serve_request(struct sclient *s, const struct http_msg *m)
{
	static const char *const types[] = { "text/plain; charset=utf-8",
	    "text/html; charset=utf-8", "application/json",
	    "text/plain; version=0.0.4; charset=utf-8" };
	struct sbuf body = { NULL, 0, 0, 0 };
	int head = m->method_len == 4 && memcmp(m->method, "HEAD", 4) == 0;
	int f;

	if (!head && !(m->method_len == 3 && memcmp(m->method, "GET", 3) == 0)) {
		sbuf_printf(&body, "405 Method Not Allowed: the status page is "
		    "read-only\n");
		respond(s, "405 Method Not Allowed", types[0],
		    "Allow: GET, HEAD\r\n", &body, 0);
	} else if ((f = route(m)) < 0) {
		sbuf_printf(&body, "404 Not Found: try /, /status.txt, "
		    "/status.html, /status.json or /metrics\n");
		respond(s, "404 Not Found", types[0], "", &body, head);
	} else {
		report(&body, (enum report_format)f, loop_now(), started);
		respond(s, "200 OK", types[f], "", &body, head);
	}
}

static void
on_read(struct sclient *s)
{
	struct sbuf body = { NULL, 0, 0, 0 };
	struct http_msg m;
	ssize_t r = read(s->fd, s->in + s->got, sizeof(s->in) - s->got);
	int n;

	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (r <= 0) {
		sclient_close(s);
		return;
	}
	s->got += (size_t)r;
	n = http_parse_request(s->in, s->got, sizeof(s->in), &m);
	if (n > 0) {
		serve_request(s, &m);
	} else if (n < 0 || s->got == sizeof(s->in)) {
		sbuf_printf(&body, "400 Bad Request\n");
		respond(s, "400 Bad Request", "text/plain", "", &body, 0);
	}
}

static void
on_sclient(void *arg, int fd, int events)
{
	struct sclient *s = arg;
	char scrap[512];
	ssize_t w;

	(void)events;
	switch (s->state) {
	case S_READ:
		on_read(s);
		break;
	case S_WRITE:
		w = write(fd, s->out.p + s->off, s->out.len - s->off);
		if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
		    errno != EINTR) {
			sclient_close(s);
			return;
		}
		if (w > 0 && (s->off += (size_t)w) == s->out.len) {
			shutdown(fd, SHUT_WR);
			s->state = S_LINGER;
			loop_watch(fd, EV_READ, on_sclient, s);
		}
		if (w > 0)	/* progress: the deadline moves */
			timer_arm_ms(&s->timer, STATUS_WAIT_MS);
		break;
	case S_LINGER:
		w = read(fd, scrap, sizeof(scrap));
		if (w == 0 || (w < 0 && errno != EAGAIN &&
		    errno != EWOULDBLOCK && errno != EINTR))
			sclient_close(s);
		break;
	}
}

static void
on_stimer(void *arg)
{
	sclient_close(arg);	/* too slow to ask, to read, or to go */
}

/* All slots taken: free the one of the oldest client still asking. */
static int
evict_oldest_reader(void)
{
	struct sclient *s, *oldest = NULL;

	for (s = sclients; s != NULL; s = s->next)	/* newest first */
		if (s->state == S_READ)
			oldest = s;
	if (oldest == NULL)
		return -1;
	sclient_close(oldest);
	return 0;
}

static void
add_sclient(int fd)
{
	struct sclient *s;

	if ((nsclients >= STATUS_CLIENTS && evict_oldest_reader() < 0) ||
	    addr_nonblock(fd) < 0 || (s = calloc(1, sizeof(*s))) == NULL) {
		close(fd);
		return;
	}
	if (loop_watch(fd, EV_READ, on_sclient, s) < 0) {
		close(fd);	/* the loop cannot watch it (select()) */
		free(s);
		return;
	}
	s->fd = fd;
	s->state = S_READ;
	timer_init(&s->timer, on_stimer, s);
	timer_arm_ms(&s->timer, STATUS_WAIT_MS);
	s->next = sclients;
	sclients = s;
	nsclients++;
}

int
status_listen(void)
{
	int fd;

	started = loop_now();
	if (!cfg.has_status)
		return 0;
	if ((fd = addr_listen(&cfg.status, "-a")) < 0)
		return -1;
	return loop_listen(&listener, fd, add_sclient);
}

/* Stop listening and drop every status client. */
void
status_stop(void)
{
	loop_unlisten(&listener);
	while (sclients != NULL)
		sclient_close(sclients);
}
