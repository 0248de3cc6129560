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
Suite	*http_unit_suite(void);		/* final/http.c, alone */

/* Defined by each lesson's unit_lessonN.c: its suites, NULL-terminated. */
extern Suite *(*const lesson_suites[])(void);

#endif
