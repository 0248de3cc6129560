/*
 * log.h - the access log (one line per request on stdout, written once
 * a loop pass) and the event log (state changes and errors on stderr,
 * written at once). Neither ever blocks: see log.c.
 */
#ifndef LOG_H
#define LOG_H

struct access {
	const char *client;	/* peer address */
	const char *method;
	const char *target;
	const char *backend;	/* "-" when none answered */
	int	status;
	long long bytes;	/* sent to the client */
	double	ms;		/* the whole request, first byte to last */
	double	backend_ms;	/* choosing the backend to its head; < 0: none */
	char	end[2];		/* how it ended: "--", or who and when */
	int	reused;		/* on a pooled backend connection */
	int	retries;	/* backends tried before the one that answered */
	double	queued_ms;	/* waited for a backend slot (maxconn); < 0: no */
};

void	log_init(void);
void	log_access(const struct access *a);
void	log_event(const char *fmt, ...);
/* -v: "WHO FROM -> TO: why" (why may be ""), a machine that moved. */
void	log_move(const char *who, const char *from, const char *to,
	    const char *why);
void	log_flush(void);	/* once a loop pass */
void	log_close(void);	/* at exit */
void	log_worker(int n);
/* Lines dropped since start (their reader stalled), added to *access, *events. */
void	log_dropped(unsigned long long *access, unsigned long long *events);

#endif
