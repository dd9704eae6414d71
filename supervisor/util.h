/* Small helpers shared by every file: cleanup attributes and array sizes. */
#ifndef RS_UTIL_H
#define RS_UTIL_H

#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f)  __attribute__((cleanup(f)))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static inline void closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

static inline void freep(void *p)
{
	free(*(void **)p);
}

#endif
