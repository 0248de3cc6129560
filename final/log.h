/*
 * log.h - the access log (one line per request on stdout, buffered) and
 * the event log (state changes and errors on stderr, unbuffered).
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
};

void	log_init(void);
void	log_access(const struct access *a);
void	log_event(const char *fmt, ...);
void	log_flush(void);
void	log_worker(int n);

#endif
