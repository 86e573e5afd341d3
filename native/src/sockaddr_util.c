#include "sockaddr_util.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "error.h"

static const uint8_t v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

int sockaddr_parse(const char *text, uint16_t port, int family, struct sockaddr_storage *out, socklen_t *out_len,
                   char *err) {
  // getaddrinfo with AI_NUMERICHOST never touches DNS, and unlike inet_pton it understands "fe80::1%eth0".
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_flags = AI_NUMERICHOST;
  hints.ai_socktype = SOCK_DGRAM;
  int rc = getaddrinfo(text, NULL, &hints, &res);
  if (rc != 0 || res == NULL) {
    snprintf(err, ERRBUF_LEN, "invalid IP address \"%s\"", text);
    if (res) freeaddrinfo(res);
    return -1;
  }
  memset(out, 0, sizeof *out);
  int parsed = res->ai_family;
  if (parsed == AF_INET) {
    struct sockaddr_in sin;
    memcpy(&sin, res->ai_addr, sizeof sin);
    if (family == AF_INET6) {
      struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)out;
      s6->sin6_family = AF_INET6;
      memcpy(s6->sin6_addr.s6_addr, v4_mapped_prefix, 12);
      memcpy(s6->sin6_addr.s6_addr + 12, &sin.sin_addr, 4);
      s6->sin6_port = htons(port);
      *out_len = sizeof *s6;
    } else {
      struct sockaddr_in *s4 = (struct sockaddr_in *)out;
      s4->sin_family = AF_INET;
      s4->sin_addr = sin.sin_addr;
      s4->sin_port = htons(port);
      *out_len = sizeof *s4;
    }
  } else if (parsed == AF_INET6) {
    struct sockaddr_in6 sin6;
    memcpy(&sin6, res->ai_addr, sizeof sin6);
    bool mapped = memcmp(sin6.sin6_addr.s6_addr, v4_mapped_prefix, 12) == 0;
    if (family == AF_INET && !mapped) {
      snprintf(err, ERRBUF_LEN, "address \"%s\" is IPv6 but the socket is IPv4", text);
      freeaddrinfo(res);
      return -1;
    }
    if (family == AF_INET) {
      struct sockaddr_in *s4 = (struct sockaddr_in *)out;
      s4->sin_family = AF_INET;
      memcpy(&s4->sin_addr, sin6.sin6_addr.s6_addr + 12, 4);
      s4->sin_port = htons(port);
      *out_len = sizeof *s4;
    } else {
      struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)out;
      s6->sin6_family = AF_INET6;
      s6->sin6_addr = sin6.sin6_addr;
      s6->sin6_scope_id = sin6.sin6_scope_id;
      s6->sin6_port = htons(port);
      *out_len = sizeof *s6;
    }
  } else {
    snprintf(err, ERRBUF_LEN, "invalid IP address \"%s\"", text);
    freeaddrinfo(res);
    return -1;
  }
  freeaddrinfo(res);
  return 0;
}

void sockaddr_format(const struct sockaddr *sa, char text[SOCKADDR_TEXT_MAX], uint16_t *port) {
  text[0] = '\0';
  *port = 0;
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
    inet_ntop(AF_INET, &s4->sin_addr, text, SOCKADDR_TEXT_MAX);
    *port = ntohs(s4->sin_port);
  } else if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
    *port = ntohs(s6->sin6_port);
    if (memcmp(s6->sin6_addr.s6_addr, v4_mapped_prefix, 12) == 0) {
      inet_ntop(AF_INET, s6->sin6_addr.s6_addr + 12, text, SOCKADDR_TEXT_MAX);
      return;
    }
    inet_ntop(AF_INET6, &s6->sin6_addr, text, SOCKADDR_TEXT_MAX);
    if (s6->sin6_scope_id != 0) {
      size_t used = strlen(text);
      char ifname[IF_NAMESIZE];
      if (if_indextoname(s6->sin6_scope_id, ifname))
        snprintf(text + used, SOCKADDR_TEXT_MAX - used, "%%%s", ifname);
      else
        snprintf(text + used, SOCKADDR_TEXT_MAX - used, "%%%u", (unsigned)s6->sin6_scope_id);
    }
  }
}

bool sockaddr_equal(const struct sockaddr *a, const struct sockaddr *b) {
  if (a->sa_family != b->sa_family) return false;
  if (a->sa_family == AF_INET) {
    const struct sockaddr_in *x = (const struct sockaddr_in *)a, *y = (const struct sockaddr_in *)b;
    return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
  }
  if (a->sa_family == AF_INET6) {
    const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)a, *y = (const struct sockaddr_in6 *)b;
    if (x->sin6_port != y->sin6_port) return false;
    if (memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) != 0) return false;
    return x->sin6_scope_id == 0 || y->sin6_scope_id == 0 || x->sin6_scope_id == y->sin6_scope_id;
  }
  return false;
}

bool sockaddr_is_any(const struct sockaddr *sa) {
  if (sa->sa_family == AF_INET) return ((const struct sockaddr_in *)sa)->sin_addr.s_addr == htonl(INADDR_ANY);
  if (sa->sa_family == AF_INET6) {
    static const uint8_t zero[16];
    return memcmp(((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr, zero, sizeof zero) == 0;
  }
  return false;
}

uint16_t sockaddr_port(const struct sockaddr *sa) {
  return ntohs(sa->sa_family == AF_INET6 ? ((const struct sockaddr_in6 *)sa)->sin6_port
                                         : ((const struct sockaddr_in *)sa)->sin_port);
}

void sockaddr_set_port(struct sockaddr *sa, uint16_t port) {
  if (sa->sa_family == AF_INET6)
    ((struct sockaddr_in6 *)sa)->sin6_port = htons(port);
  else
    ((struct sockaddr_in *)sa)->sin_port = htons(port);
}
