// Socket addresses as JS sees them ("10.0.0.1", "::1", "fe80::1%eth0") and as the pump compares them.
#ifndef GANGWAY_SOCKADDR_UTIL_H
#define GANGWAY_SOCKADDR_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

// INET6_ADDRSTRLEN + "%" + an interface name.
#define SOCKADDR_TEXT_MAX 64

// Parses a numeric address. `family` is the socket's family: for AF_INET6 an IPv4 address becomes
// v4-mapped (a dual-stack socket sees IPv4 peers that way), for AF_INET a v4-mapped IPv6 address is
// unmapped, and AF_UNSPEC keeps whatever was parsed. Returns -1 with a message in err (ERRBUF_LEN bytes).
int sockaddr_parse(const char *text, uint16_t port, int family, struct sockaddr_storage *out, socklen_t *out_len,
                   char *err);

// Formats an address for JS; a v4-mapped IPv6 address is reported as plain IPv4.
void sockaddr_format(const struct sockaddr *sa, char text[SOCKADDR_TEXT_MAX], uint16_t *port);

// Same family, address and port (and IPv6 scope when both have one).
bool sockaddr_equal(const struct sockaddr *a, const struct sockaddr *b);

// An AF_INET or AF_INET6 address's port, in host order; and setting it.
uint16_t sockaddr_port(const struct sockaddr *sa);
void sockaddr_set_port(struct sockaddr *sa, uint16_t port);

// The wildcard address, 0.0.0.0 or :: (a socket bound to it receives on every local address).
bool sockaddr_is_any(const struct sockaddr *sa);

#endif
