#include "relay.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LINE_MAX_BYTES 65536

struct relay {
	uv_pipe_t pipe;
	int fd;
	const char *stream;
	relay_line_cb cb;
	void *ud;
	size_t len;
	bool continued; /* the next piece passed on continues a cut line */
	char buf[LINE_MAX_BYTES + 1];
	char chunk[16384];
};

/* cut: the line goes on after this piece. */
static void emit(struct relay *r, bool cut)
{
	r->buf[r->len] = '\0';
	if (!cut && r->len > 0 && r->buf[r->len - 1] == '\r')
		r->buf[r->len - 1] = '\0';
	r->cb(r->buf, r->stream, r->continued, r->ud);
	r->continued = cut;
	r->len = 0;
}

static void feed(struct relay *r, const char *data, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (data[i] == '\n') {
			emit(r, false);
			continue;
		}
		if (r->len == LINE_MAX_BYTES)
			emit(r, true);
		r->buf[r->len++] = data[i];
	}
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct relay *r = h->data;
	*buf = uv_buf_init(r->chunk, sizeof(r->chunk));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct relay *r = s->data;
	if (n > 0)
		feed(r, buf->base, (size_t)n);
	else if (n < 0)
		uv_read_stop(s); /* EOF or error: what is left is flushed by relay_close */
}

struct relay *relay_start(uv_loop_t *loop, int fd, const char *stream, relay_line_cb cb, void *ud)
{
	struct relay *r = calloc(1, sizeof(*r));
	if (!r) {
		close(fd);
		return NULL;
	}
	r->fd = fd;
	r->stream = stream;
	r->cb = cb;
	r->ud = ud;
	uv_pipe_init(loop, &r->pipe, 0);
	r->pipe.data = r;
	if (uv_pipe_open(&r->pipe, fd) < 0 ||
	    uv_read_start((uv_stream_t *)&r->pipe, on_alloc, on_read) < 0) {
		uv_close((uv_handle_t *)&r->pipe, NULL);
		uv_run(loop, UV_RUN_NOWAIT);
		free(r);
		return NULL;
	}
	return r;
}

static void on_closed(uv_handle_t *h)
{
	free(h->data);
}

void relay_close(struct relay *r)
{
	if (!r)
		return;
	/* uv_pipe_open made the fd non-blocking: drain what the writers left, then stop. */
	for (;;) {
		ssize_t n = read(r->fd, r->chunk, sizeof(r->chunk));
		if (n > 0) {
			feed(r, r->chunk, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		break;
	}
	if (r->len > 0)
		emit(r, false);
	uv_close((uv_handle_t *)&r->pipe, on_closed);
}
