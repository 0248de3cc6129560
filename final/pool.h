/*
 * pool.h - TEMPORARY: what pool.c held is now four modules, and conn.c
 * and main.c include this until they include what they use: conn.c
 * backend.h, balance.h and bconn.h; main.c backend.h and roster.h.
 */
#ifndef POOL_H
#define POOL_H

#include "backend.h"
#include "balance.h"
#include "bconn.h"
#include "roster.h"

#endif
