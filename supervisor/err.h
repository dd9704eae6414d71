/* Errors travel up as values; only main() turns one into an exit status. */
#ifndef RS_ERR_H
#define RS_ERR_H

/* The stable exit codes (sysexits), see DESIGN.md "Exit codes". */
enum rs_exit {
	EX_RS_OK = 0,
	EX_RS_RUNNER_OUTDATED = 7, /* ARC mode only: the runner's own code, for ARC's Outdated */
	EX_RS_USAGE = 64,
	EX_RS_DATAERR = 65, /* report: the input holds no summary */
	EX_RS_NOINPUT = 66, /* report: the input cannot be read */
	EX_RS_UNAVAILABLE = 69,
	EX_RS_SOFTWARE = 70,
	EX_RS_SANDBOX = 71,
	EX_RS_IOERR = 74,
	EX_RS_TEMPFAIL = 75,
	EX_RS_OUTDATED = 76,
	EX_RS_NOPERM = 77,
	EX_RS_CONFIG = 78,
};

struct rs_err {
	int exit_code; /* one of enum rs_exit */
	int sys_errno; /* 0 when not a system error */
	char msg[512]; /* what failed, naming the setting/file/endpoint */
};

/* Fills err (when not NULL) and returns -1, so that callers can `return rs_fail(...)`.
 * When sys_errno is not 0, ": strerror(sys_errno)" is appended to the message. */
int rs_fail(struct rs_err *err, int exit_code, int sys_errno, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
