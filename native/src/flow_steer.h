// Which socket of a SO_REUSEPORT group receives a tunnel datagram: a classic BPF program hashes the inner
// packet's flow (addresses and the first four bytes after the IP header, the ports for TCP and UDP), so all
// packets of one flow reach one pump queue while several flows spread over the queues, although they all
// arrive from the one pinned peer (whose 4-tuple the kernel's own reuseport hash would send to one socket).
// A UDP GSO send carries one TUN read, so one flow in offload mode; a buffer coalesced from several flows
// (plain-mode runs, or GRO on the receiving device) goes where its first packet's flow goes.
#ifndef GANGWAY_FLOW_STEER_H
#define GANGWAY_FLOW_STEER_H

// Attaches the program to the group of the bound socket fd; n sockets will be in it. Control datagrams (first
// nibble neither 4 nor 6) and packets too short to hash go to the first socket. -1 with a message in err.
int flow_steer_attach(int fd, unsigned n, char *err);

#endif
