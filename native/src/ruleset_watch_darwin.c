// macOS has no nf_tables to watch: the agent that watches runs in the Linux VM, never on the Mac.
#include "ruleset_watch.h"

#include <errno.h>

int ruleset_watch_open(char errbuf[ERRBUF_LEN]) {
  set_errno_error(errbuf, "ruleset watch (Linux's nf_tables only)", ENOTSUP);
  return -1;
}

int ruleset_watch_drain(int fd, int max_reads, bool *overflowed, char errbuf[ERRBUF_LEN]) {
  (void)fd;
  (void)max_reads;
  (void)overflowed;
  set_errno_error(errbuf, "ruleset watch (Linux's nf_tables only)", ENOTSUP);
  return -1;
}
