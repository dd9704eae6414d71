/* The runner's stdout and stderr, line by line, into the supervisor's log. */
#ifndef RS_RELAY_H
#define RS_RELAY_H

#include <stdbool.h>
#include <uv.h>

/* continued: the line is the rest of a longer one that was passed on in pieces; what it says
 * is not a line of its own. */
typedef void (*relay_line_cb)(const char *line, const char *stream, bool continued, void *ud);

struct relay;

/* Reads fd (the read end of a pipe, owned by the relay from now on) on loop and calls cb
 * for each line, without its newline. A line longer than 64 KiB is passed on in pieces. */
struct relay *relay_start(uv_loop_t *loop, int fd, const char *stream, relay_line_cb cb, void *ud);

/* Reads what is left without blocking, passes on a last unterminated line, and frees. */
void relay_close(struct relay *r);

#endif
