/*
 * notify.c - systemd's notify protocol, so that a unit with Type=notify
 * (final/lb.service) knows when lb serves, reloads and stops.
 *
 * The whole protocol (sd_notify(3)) is a datagram of NAME=VALUE lines
 * sent to the Unix socket whose address the service manager puts in
 * NOTIFY_SOCKET; no library is needed:
 *
 *   READY=1       lb listens (with -w N: its workers are started), so a
 *                 client that connects now is served
 *   RELOADING=1   a SIGHUP reload begins; READY=1 again when it is done
 *   STOPPING=1    a stop begins: lb finishes what is in flight
 *   STATUS=...    one line of text, which `systemctl status` shows
 *
 * Only the process systemd started may speak: it accepts messages from
 * the main PID alone (NotifyAccess=main, the default), so with -w N the
 * master speaks for lb and each worker forgets the address.
 *
 * Telling systemd is never worth a client: the socket is non-blocking,
 * and a message that cannot be sent costs one line in the event log and
 * nothing else. With NOTIFY_SOCKET unset (lb started by hand, or by any
 * other supervisor) nothing here does anything.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "log.h"
#include "notify.h"

static struct sockaddr_un to;
static socklen_t to_len;	/* 0: nobody to tell */

/*
 * NOTIFY_SOCKET is a path ("/run/systemd/notify"), or a name in the
 * abstract namespace when it starts with '@': then sun_path begins with
 * a NUL byte and the name is exactly the bytes after it, as long as
 * to_len says (no NUL at its end). Abstract names are Linux's alone;
 * elsewhere sendto() refuses one, and the event log says so.
 */
void
notify_init(void)
{
	const char *s = getenv("NOTIFY_SOCKET");
	size_t n;

	to_len = 0;
	if (s == NULL || *s == '\0')
		return;
	n = strlen(s);
	if ((s[0] != '/' && s[0] != '@') || n >= sizeof(to.sun_path)) {
		log_event("NOTIFY_SOCKET '%s' is not a socket lb can tell "
		    "(a path, or @name, shorter than %d bytes): systemd will "
		    "not hear from lb", s, (int)sizeof(to.sun_path));
		return;
	}
	memset(&to, 0, sizeof(to));
	to.sun_family = AF_UNIX;
	memcpy(to.sun_path, s, n);
	if (s[0] == '@')
		to.sun_path[0] = '\0';
	else
		n++;		/* a path: its NUL counts */
	to_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
}

void
notify_forget(void)
{
	to_len = 0;
}

/* One datagram, msg, of len bytes; a failure is one event-log line. */
static void
send_msg(const char *msg, size_t len)
{
	int fd, err = 0;

	if ((fd = socket(AF_UNIX, SOCK_DGRAM, 0)) < 0 ||
	    addr_nonblock(fd) < 0 ||
	    sendto(fd, msg, len, 0, (struct sockaddr *)&to, to_len) < 0)
		err = errno;
	if (fd >= 0)
		close(fd);
	if (err != 0)
		log_event("cannot tell systemd %.*s (NOTIFY_SOCKET=%s): %s",
		    (int)strcspn(msg, "\n"), msg, getenv("NOTIFY_SOCKET"),
		    strerror(err));
}

void
notify(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	int n;

	if (to_len == 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	send_msg(msg, (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1);
}

/*
 * RELOADING=1 carries the time it was sent on CLOCK_MONOTONIC, in
 * microseconds: systemd 253 and later match a reload to the signal that
 * asked for it by it (Type=notify-reload needs it; Type=notify ignores
 * it).
 */
void
notify_reloading(const char *status)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
		notify("RELOADING=1\nSTATUS=%s", status);
	else
		notify("RELOADING=1\nMONOTONIC_USEC=%lld\nSTATUS=%s",
		    (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000, status);
}
