/* The runner's sandbox made while the runner registers (ahead.h). */
#include "ahead.h"

#include "err.h"
#include "log.h"
#include "sandbox.h"

static void prepare_now(struct sandbox_ahead *a)
{
	struct rs_err err = { 0 };
	if (sbx_prepare(a->plan, &a->child, &err) < 0)
		/* Not lost: sbx_spawn makes it when the runner starts, and reports a failure. */
		log_event(LOG_DEBUG, "sandbox.not_prepared", NULL,
			  "the sandbox is made when the runner starts: %s", err.msg);
}

static void on_ready(uv_poll_t *h, int status, int events)
{
	(void)status;
	(void)events;
	struct sandbox_ahead *a = h->data;
	ahead_stop(a);
	prepare_now(a);
}

void ahead_start(struct sandbox_ahead *a, uv_loop_t *loop, const struct sbx_plan *plan)
{
	*a = (struct sandbox_ahead){ .child = SBX_CHILD_NONE, .plan = plan };
	if (!sbx_can_prepare(plan))
		return;
	int fd = sbx_plan_ready_fd(plan);
	if (fd < 0 || uv_poll_init(loop, &a->ready, fd) < 0) {
		prepare_now(a);
		return;
	}
	a->ready.data = a;
	a->waiting = true;
	uv_poll_start(&a->ready, UV_READABLE, on_ready);
}

void ahead_stop(struct sandbox_ahead *a)
{
	if (!a->waiting)
		return;
	a->waiting = false;
	uv_close((uv_handle_t *)&a->ready, NULL);
}

struct sbx_child *ahead_child(struct sandbox_ahead *a)
{
	return a->child.prepared ? &a->child : NULL;
}

void ahead_abandon(struct sandbox_ahead *a)
{
	ahead_stop(a);
	if (!a->child.prepared)
		return;
	pid_t pid = a->child.pid;
	sbx_abandon(&a->child);
	log_event(LOG_INFO, "sandbox.abandoned", LOG_FIELDS(LOG_INT("pid", pid)),
		  "the sandbox made for the runner is torn down: the runner does not start");
}
