/*
 * suites.h - the behaviour suites, written once and run against every
 * lesson that has the capability, and the list each test program runs.
 */
#ifndef SUITES_H
#define SUITES_H

#include <check.h>

/* The seconds each integration test may take before Check stops it. */
#define SUITE_TIMEOUT	30

Suite	*forward_suite(void);	/* every lesson */
Suite	*balance_suite(void);	/* from lesson 2 on */
Suite	*concurrency_suite(void);	/* from lesson 3 on */
Suite	*http11_suite(void);		/* final/ */
Suite	*health_suite(void);		/* final/: checks, status page */
Suite	*faults_suite(void);		/* final/: hostile input, faults */
Suite	*http_unit_suite(void);		/* final/http.c, alone */
Suite	*ws_unit_suite(void);		/* tests/ws.c, for the tunnel suite */
Suite	*tunnel_suite(void);		/* final/: WebSocket and Upgrade */
Suite	*ops_suite(void);		/* final/: reload, drain, workers */
Suite	*conn_unit_suite(void);		/* final/conn.c's own rules */
Suite	*deploy_suite(void);		/* final/: manual, install, systemd */
Suite	*pp_unit_suite(void);		/* final/proxyproto.c, alone */
Suite	*protect_suite(void);		/* final/: least, maxconn, slow start */
Suite	*origin_suite(void);		/* final/: PROXY protocol, TLS in front */

/*
 * A suite of unit tests (no processes: 5 s each), built by unit_suite()
 * from a list ending in { NULL, 0 }. rows: how many rows of its table a
 * loop test runs (ROWS(table)), 0 for a plain test. setup and teardown
 * run around each test, and may be NULL.
 */
struct unit {
	const TTest *test;
	int	rows;
};
#define ROWS(table)	((int)(sizeof(table) / sizeof((table)[0])))

Suite	*unit_suite(const char *name, const struct unit *units,
	    void (*setup)(void), void (*teardown)(void));

/* Defined by each lesson's unit_lessonN.c: its suites, NULL-terminated. */
extern Suite *(*const lesson_suites[])(void);

#endif
