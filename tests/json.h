/*
 * json.h - just enough JSON for the tests: is a document valid, and what
 * is the value at a path such as "backends.1.state".
 */
#ifndef JSON_H
#define JSON_H

#include <stddef.h>

int	json_valid(const char *doc);
int	json_get(const char *doc, const char *path, char *out, size_t n);

#endif
