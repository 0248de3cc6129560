/*
 * buf.h - the buffers bytes wait in on their way through lb, lent on
 * demand from a list of spares and given back as soon as they are
 * empty: an idle connection holds none (as HAProxy's buffer pools do).
 */
#ifndef BUF_H
#define BUF_H

#include <sys/types.h>
#include <stddef.h>

#include "config.h"

#define BUF_SIZE	(HEAD_MAX + 2048)	/* a head, rewritten, fits */

/* Bytes on their way: data[off..len) are still to be used. */
struct buf {
	size_t	off, len;
	struct buf *next;	/* on the list of spares */
	char	data[BUF_SIZE];
};

struct buf *buf_get(struct buf **b);	/* *b, or a spare lent to it */
void	buf_put(struct buf **b);	/* back to the spares, *b = NULL */
void	buf_put_empty(struct buf **b);	/* the same, if nothing is left */
size_t	buf_used(const struct buf *b);	/* NULL: 0 */
size_t	buf_room(struct buf *b);	/* NULL: BUF_SIZE, once lent */
ssize_t	buf_read(int fd, struct buf **b);
ssize_t	buf_write(int fd, struct buf *b);
int	buf_would_block(void);
void	buf_free_spares(void);
void	buf_counts(int *lent, int *spare);	/* for the status page */

#endif
