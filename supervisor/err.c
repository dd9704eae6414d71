#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int rs_fail(struct rs_err *err, int exit_code, int sys_errno, const char *fmt, ...)
{
	if (!err)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		err->msg[0] = '\0';
	size_t len = strnlen(err->msg, sizeof(err->msg));
	if (sys_errno && len < sizeof(err->msg) - 1)
		snprintf(err->msg + len, sizeof(err->msg) - len, ": %s", strerror(sys_errno));
	err->exit_code = exit_code;
	err->sys_errno = sys_errno;
	return -1;
}
