#ifndef RS_VERSION_H
#define RS_VERSION_H

#include <stdio.h>

/* --version: ours, and the versions of the libraries we run with. */
void version_print(FILE *out);

#endif
