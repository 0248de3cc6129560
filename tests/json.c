/*
 * json.c - just enough JSON for the tests: check that a document is
 * valid JSON (RFC 8259) and read one value out of it by a path.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

static const char *value(const char *p);

static const char *
ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

static const char *
string(const char *p)
{
	if (*p++ != '"')
		return NULL;
	while (*p != '"') {
		if ((unsigned char)*p < 0x20)
			return NULL;	/* also the end of the text */
		if (*p == '\\') {
			p++;
			if (*p == 'u') {
				int i;
				for (i = 1; i <= 4; i++)
					if (strchr("0123456789abcdefABCDEF",
					    p[i]) == NULL || p[i] == '\0')
						return NULL;
				p += 4;
			} else if (*p == '\0' || strchr("\"\\/bfnrt", *p) == NULL)
				return NULL;
		}
		p++;
	}
	return p + 1;
}

static const char *
number(const char *p)
{
	const char *start = p;

	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		while (*p >= '0' && *p <= '9')
			p++;
	else
		return NULL;
	if (*p == '.') {
		if (*++p < '0' || *p > '9')
			return NULL;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p == 'e' || *p == 'E') {
		if (*++p == '+' || *p == '-')
			p++;
		if (*p < '0' || *p > '9')
			return NULL;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	return p > start ? p : NULL;
}

/* An object or array: open ... close, members separated by commas. */
static const char *
container(const char *p, char close)
{
	p = ws(p + 1);
	if (*p == close)
		return p + 1;
	for (;;) {
		if (close == '}') {
			if ((p = string(ws(p))) == NULL || *(p = ws(p)) != ':')
				return NULL;
			p++;
		}
		if ((p = value(p)) == NULL)
			return NULL;
		p = ws(p);
		if (*p == close)
			return p + 1;
		if (*p++ != ',')
			return NULL;
	}
}

/* The end of the value that starts at p (after white space), or NULL. */
static const char *
value(const char *p)
{
	p = ws(p);
	switch (*p) {
	case '{':
		return container(p, '}');
	case '[':
		return container(p, ']');
	case '"':
		return string(p);
	case 't':
		return strncmp(p, "true", 4) == 0 ? p + 4 : NULL;
	case 'f':
		return strncmp(p, "false", 5) == 0 ? p + 5 : NULL;
	case 'n':
		return strncmp(p, "null", 4) == 0 ? p + 4 : NULL;
	default:
		return number(p);
	}
}

int
json_valid(const char *doc)
{
	const char *end = value(doc);

	return end != NULL && *ws(end) == '\0';
}

/* Inside the object or array at p, the member named (or numbered) key. */
static const char *
member(const char *p, const char *key, size_t klen)
{
	int index = atoi(key), i = 0;
	char close = *p == '{' ? '}' : ']';

	p = ws(p + 1);
	while (*p != close && *p != '\0') {
		if (close == '}') {
			const char *k = p + 1, *e = string(p);
			int hit = e != NULL && (size_t)(e - k - 1) == klen &&
			    strncmp(k, key, klen) == 0;
			p = ws(ws(e) + 1);	/* past the colon */
			if (hit)
				return p;
		} else if (i++ == index) {
			return p;
		}
		p = ws(value(p));
		if (*p == ',')
			p = ws(p + 1);
	}
	return NULL;
}

/*
 * The value at path ("backends.1.name": members and array indexes, by
 * dots) as text: a string without its quotes (escapes left as they
 * are), anything else as written. 0, or -1 if there is no such value.
 */
int
json_get(const char *doc, const char *path, char *out, size_t n)
{
	const char *p = ws(doc), *end;
	size_t klen;

	if (!json_valid(doc))
		return -1;
	while (*path != '\0') {
		klen = strcspn(path, ".");
		if ((*p != '{' && *p != '[') ||
		    (p = member(p, path, klen)) == NULL)
			return -1;
		path += klen + (path[klen] == '.');
	}
	end = value(p);
	if (*p == '"')
		snprintf(out, n, "%.*s", (int)(end - p - 2), p + 1);
	else
		snprintf(out, n, "%.*s", (int)(end - p), p);
	return 0;
}
