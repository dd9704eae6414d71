/* What a job leaves in the pod's IPC: SysV shared memory, semaphores and message queues,
 * files in /dev/shm and POSIX queues in /dev/mqueue. Inside an IPC and mount namespace they
 * die with the sandbox; without one (restricted pods) the runner uid's are removed here, and
 * a Deployment's next container does not find them. */
#ifndef RS_IPCCLEAN_H
#define RS_IPCCLEAN_H

#include <sys/types.h>

struct ipc_cleanup {
	long long removed;
	long long left; /* still there after the removal: counted by the wipe's verification */
};

void ipc_remove_of_uid(uid_t uid, struct ipc_cleanup *out);

#endif
