/*
 * buf.c - buffers on demand.
 *
 * Lesson 3 gave every connection its buffers for life: simple, and 72 KB
 * for a client that may sit idle for seconds between requests. Here a
 * connection borrows a buffer when bytes arrive for it and gives it back
 * the moment it is empty. Given-back buffers wait on a list of spares,
 * so a busy balancer recycles the same few without calling malloc() for
 * each request; beyond SPARES_MAX they go back to malloc() for good.
 */
#include <sys/types.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"

#define SPARES_MAX	64

static struct buf *spares;
static int nspares, nlent;

struct buf *
buf_get(struct buf **b)
{
	if (*b != NULL)
		return *b;
	if ((*b = spares) != NULL) {
		spares = (*b)->next;
		nspares--;
	} else if ((*b = malloc(sizeof(**b))) == NULL)
		return NULL;
	(*b)->off = (*b)->len = 0;
	nlent++;
	return *b;
}

void
buf_put(struct buf **b)
{
	if (*b == NULL)
		return;
	nlent--;
	if (nspares < SPARES_MAX) {
		(*b)->next = spares;
		spares = *b;
		nspares++;
	} else
		free(*b);
	*b = NULL;
}

void
buf_put_empty(struct buf **b)
{
	if (*b != NULL && (*b)->off == (*b)->len)
		buf_put(b);
}

size_t
buf_used(const struct buf *b)
{
	return b != NULL ? b->len - b->off : 0;
}

/*
 * Room at the end of b. Used bytes are dropped, and a partial message
 * that starts past the beginning of a full buffer is moved down: else
 * a head that began late (after pipelined requests, after a 1xx) could
 * never finish arriving.
 */
size_t
buf_room(struct buf *b)
{
	if (b == NULL)
		return BUF_SIZE;
	if (b->off > 0 && b->off == b->len)
		b->off = b->len = 0;
	else if (b->off > 0 && b->len == BUF_SIZE) {
		memmove(b->data, b->data + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
	}
	return BUF_SIZE - b->len;
}

int
buf_would_block(void)
{
	return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
}

/*
 * Read into the free end of *b (lent one first): >0 bytes, 0 end of
 * file, -1 error (ENOMEM: no buffer to lend), -2 wait.
 * A read that brought nothing gives the buffer back.
 */
ssize_t
buf_read(int fd, struct buf **bp)
{
	struct buf *b = buf_get(bp);
	ssize_t r;

	if (b == NULL) {
		errno = ENOMEM;
		return -1;	/* the connection ends, as on an error */
	}
	if (buf_room(b) == 0)
		return -2;
	r = read(fd, b->data + b->len, BUF_SIZE - b->len);
	if (r > 0)
		b->len += (size_t)r;
	else {
		buf_put_empty(bp);
		if (r < 0 && buf_would_block())
			return -2;
	}
	return r;
}

/*
 * Write what the socket takes of b: >= 0 bytes, or -1 when the peer is
 * gone. The bytes stay in b (off moves past them): up keeps the whole
 * request so that it can be sent again.
 */
ssize_t
buf_write(int fd, struct buf *b)
{
	ssize_t w;

	if (buf_used(b) == 0)
		return 0;
	if ((w = write(fd, b->data + b->off, buf_used(b))) < 0)
		return buf_would_block() ? 0 : -1;
	b->off += (size_t)w;
	return w;
}

void
buf_free_spares(void)
{
	struct buf *b;

	while ((b = spares) != NULL) {
		spares = b->next;
		free(b);
	}
	nspares = 0;
}

void
buf_counts(int *lent, int *spare)
{
	*lent = nlent;
	*spare = nspares;
}
