// Notice of changes to the firewall ruleset of the calling thread's network namespace: nf_tables, which
// iptables-nft, nft, firewalld and Docker's nftables backend all write. The VM agent checks its rules when told
// (js_ruleset_watch.c) instead of waking on a timer to look. One file per platform: ruleset_watch_linux.c,
// ruleset_watch_darwin.c (nothing to watch there: the agent runs in the Linux VM).
#ifndef GANGWAY_RULESET_WATCH_H
#define GANGWAY_RULESET_WATCH_H

#include <stdbool.h>

#include "error.h"

// Opens a non-blocking socket subscribed to the ruleset's change notifications. Returns the fd, or -1 with
// errbuf set (as "<call>: <reason>").
int ruleset_watch_open(char errbuf[ERRBUF_LEN]);

// Reads the notifications queued, in at most `max_reads` calls (the caller is called again while more wait).
// Returns how many were read, 0 when none was; sets *overflowed when the kernel had to drop some (its buffer
// was full: changes happened that no datagram describes). -1 with errbuf on any other error.
int ruleset_watch_drain(int fd, int max_reads, bool *overflowed, char errbuf[ERRBUF_LEN]);

#endif
