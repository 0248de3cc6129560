/*
 * notify.h - systemd's notify protocol (Type=notify), spoken by lb
 * itself when NOTIFY_SOCKET is set, and not at all when it is not.
 */
#ifndef NOTIFY_H
#define NOTIFY_H

void	notify_init(void);	/* read NOTIFY_SOCKET, once, at start */
void	notify_forget(void);	/* a worker: only the master may speak */
/* "READY=1\nSTATUS=...": lines of NAME=VALUE, sent as one datagram. */
void	notify(const char *fmt, ...);
void	notify_reloading(const char *status);	/* RELOADING=1, timed */

#endif
