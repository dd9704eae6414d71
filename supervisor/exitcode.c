#include "exitcode.h"

#include "err.h"

const char *dereg_outcome_name(enum dereg_outcome d)
{
	switch (d) {
	case DEREG_CONFIRMED:
		return "confirmed";
	case DEREG_LEFT_TO_ARC:
		return "left to ARC";
	case DEREG_UNCONFIRMED:
		return "unconfirmed";
	case DEREG_NONE:
		break;
	}
	return "none";
}

/* The Listener said it is outdated, and did not just exit with the code: 3/4 after its
 * update line (SelfUpdaterV2.cs), 7 after "An error occurred" (Program.cs, an AccessDenied
 * with error code 1 and ACTIONS_RUNNER_RETURN_VERSION_DEPRECATED_EXIT_CODE=1). */
static bool runner_outdated(const struct run_outcome *o)
{
	int l = o->listener;
	return ((l == 3 || l == 4) && o->update_line) || (l == 7 && o->fatal_line);
}

/* The runner's own account, in this order. A job that ran decides first: nothing a job can
 * do may turn its pod into a fleet-stopping code. */
static int runner_code(const struct run_outcome *o, const char **reason)
{
	int l = o->listener;
	if (o->job_seen || (l >= 100 && l <= 105))
		return *reason = o->job_stopped ? "job ran; stopped by the supervisor (GitHub "
						  "shows it Failed)"
						: "job ran",
		       EX_RS_OK;
	if (o->stop_requested)
		return *reason = "stopped by signal before a job", EX_RS_OK;
	if (o->idle_timeout)
		return *reason = "idle timeout", EX_RS_OK;
	if (runner_outdated(o))
		return *reason = "runner outdated: rebuild the image with a current runner",
		       EX_RS_OUTDATED;
	if (o->ghost)
		return *reason = "ghost runner: GitHub no longer knows it", EX_RS_TEMPFAIL;
	if (l == 5 || (o->start_timeout && o->session_conflicts))
		return *reason = "session conflict: another runner holds this registration",
		       EX_RS_TEMPFAIL;
	if (o->start_timeout)
		return *reason = "the runner did not start listening in time", EX_RS_TEMPFAIL;
	return *reason = "runner exited before a job", EX_RS_TEMPFAIL;
}

int exit_code_for(const struct run_outcome *o, const char **reason)
{
	if (!o->wiped)
		return *reason = "wipe incomplete or installation changed: do not reuse this pod",
		       EX_RS_IOERR;
	int code = runner_code(o, reason);
	/* A registration that may remain is the failure it is, whatever came before: a pod
	 * replaces this one, and the fleet's sweep (or GitHub, after a day) removes it. */
	if (o->deregistered == DEREG_UNCONFIRMED && code != EX_RS_OUTDATED)
		return *reason = "the runner's deregistration is unconfirmed: it may remain listed "
				 "at GitHub",
		       EX_RS_TEMPFAIL;
	return o->arc ? arc_exit_code(code, o->ghost) : code;
}

int arc_exit_code(int code, bool ghost)
{
	switch (code) {
	case EX_RS_OK:
		return EX_RS_OK;
	case EX_RS_OUTDATED:
	/* What only a new spec fixes: an image, the pod's settings, a node without the
	 * sandbox that strict asks for. Outdated stops the scale set until the spec changes;
	 * any other code would have ARC re-create pods that fail the same way, forever. */
	case EX_RS_USAGE:
	case EX_RS_SANDBOX:
	case EX_RS_NOPERM:
	case EX_RS_CONFIG:
		return EX_RS_RUNNER_OUTDATED;
	case EX_RS_TEMPFAIL:
		/* A registration GitHub no longer knows is dead: 0 has ARC delete the
		 * EphemeralRunner and make a new one, where 75 would re-create pods with the
		 * same dead JIT configuration five times. */
		return ghost ? EX_RS_OK : EX_RS_TEMPFAIL;
	default:
		/* 69, 70, 74, 75: ARC re-creates the pod with the same JIT configuration, which
		 * the supervisor left registered for it. */
		return code;
	}
}
