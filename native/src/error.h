// Error text for the JS side: "<call>: <strerror(errno)>", e.g. "ioctl(TUNSETIFF): Operation not permitted".
#ifndef GANGWAY_ERROR_H
#define GANGWAY_ERROR_H

#include <errno.h>
#include <stdio.h>
#include <string.h>

// Every fallible native entry point takes a caller-owned buffer of this size.
#define ERRBUF_LEN 256

// Formats "<what>: <strerror(err)>" into buf. Takes errno as a value so a cleanup close() in between cannot
// clobber it.
static inline void set_errno_error(char *buf, const char *what, int err) {
  snprintf(buf, ERRBUF_LEN, "%s: %s", what, strerror(err));
}

#endif
