/*
 * Platform: the network, POSIX (BSD sockets, non-blocking, readiness from the poll() loop in main_posix.c).
 * Errors of the stack are mapped onto protocol status codes here, so the device reports them unchanged.
 */
#define _GNU_SOURCE /* accept4, SOCK_NONBLOCK, SOCK_CLOEXEC, TCP_KEEPIDLE (Linux; BSDs have them too) */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "plat_posix.h"
#include "platform.h"

#define ST(name) ((int)OFFLOAD_STATUS_##name)

/* Interest and readiness per descriptor. */
#define MAX_FDS 4096
static uint8_t interest[MAX_FDS];
static uint8_t ready[MAX_FDS];
static uint8_t is_stream[MAX_FDS];
static int loopback_only;
static int stack_buffer = 32768;

void posix_net_stack_buffers(int bytes) { stack_buffer = bytes; }

void posix_net_loopback_only(int on) { loopback_only = on; }

/* --loopback-only: destinations off this host are unreachable (for tests that fuzz CONNECT / SENDTO). */
static int off_host(const offload_addr_t *a) {
  static const uint8_t v6_loop[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  if (!loopback_only || a == NULL) return 0;
  if (a->family == OFFLOAD_ADDR_FAMILY_IPV4) return a->address[0] != 127;
  return memcmp(a->address, v6_loop, 16) != 0;
}

static int map_errno(int e) {
  switch (e) {
  case EAGAIN:
#if EWOULDBLOCK != EAGAIN
  case EWOULDBLOCK:
#endif
  case EINPROGRESS:
  case EINTR:
    return PLAT_AGAIN;
  case ECONNREFUSED: return ST(ECONNREFUSED);
  case ECONNRESET:
  case EPIPE:
  case ECONNABORTED:
    return ST(ECONNRESET);
  case ETIMEDOUT: return ST(ETIMEDOUT);
  case EADDRINUSE: return ST(EADDRINUSE);
  case EADDRNOTAVAIL: return ST(EADDRNOTAVAIL);
  case ENETUNREACH:
  case ENETDOWN:
    return ST(ENETUNREACH);
  case EHOSTUNREACH:
  case EHOSTDOWN:
    return ST(EHOSTUNREACH);
  case EACCES:
  case EPERM:
    return ST(EACCES);
  case EMSGSIZE: return ST(EMSGSIZE);
  case EAFNOSUPPORT: return ST(EAFNOSUPPORT);
  case EISCONN: return ST(EISCONN);
  case EALREADY: return ST(EALREADY);
  case ENOTCONN: return ST(ENOTCONN);
  case EMFILE:
  case ENFILE:
  case ENOBUFS:
  case ENOMEM:
    return ST(E_NO_SLOT);
  default: return ST(E_INVALID);
  }
}

static socklen_t to_sockaddr(const offload_addr_t *a, struct sockaddr_storage *ss) {
  memset(ss, 0, sizeof *ss);
  if (a->family == OFFLOAD_ADDR_FAMILY_IPV6) {
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(a->port);
    memcpy(&s6->sin6_addr, a->address, 16);
    return sizeof *s6;
  } else {
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    s4->sin_family = AF_INET;
    s4->sin_port = htons(a->port);
    memcpy(&s4->sin_addr, a->address, 4);
    return sizeof *s4;
  }
}

static void from_sockaddr(const struct sockaddr_storage *ss, offload_addr_t *a) {
  memset(a, 0, sizeof *a);
  if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
    a->family = OFFLOAD_ADDR_FAMILY_IPV6;
    a->port = ntohs(s6->sin6_port);
    memcpy(a->address, &s6->sin6_addr, 16);
  } else if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
    a->family = OFFLOAD_ADDR_FAMILY_IPV4;
    a->port = ntohs(s4->sin_port);
    memcpy(a->address, &s4->sin_addr, 4);
  }
}

static void track(int fd, int stream) {
  interest[fd] = 0;
  ready[fd] = 0;
  is_stream[fd] = (uint8_t)stream;
}

int plat_net_open(uint8_t type, uint8_t family, plat_sock_t *out) {
  int stream = type == OFFLOAD_SOCKET_TYPE_STREAM;
  int fd = socket(family == 6 ? AF_INET6 : AF_INET, (stream ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC,
                  0);
  int one = 1;
  if (fd < 0) return map_errno(errno);
  if (fd >= MAX_FDS) {
    close(fd);
    return ST(E_NO_SLOT);
  }
  if (family == 6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one); /* family 6 means IPv6 only */
  if (stream && stack_buffer > 0) {
    /* Keep the stack's own TCP buffers small, as on a board: backpressure then shows in the device's queues
     * (a peer that stops reading fills the send queue; a host that grants no credit closes the TCP window). */
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &stack_buffer, sizeof stack_buffer);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &stack_buffer, sizeof stack_buffer);
  }
  track(fd, stream);
  *out = fd;
  return ST(OK);
}

int plat_net_bind(plat_sock_t s, const offload_addr_t *addr) {
  struct sockaddr_storage ss;
  socklen_t n = to_sockaddr(addr, &ss);
  if (bind(s, (struct sockaddr *)&ss, n) != 0) return errno == EINVAL ? ST(E_BAD_STATE) : map_errno(errno);
  return ST(OK);
}

int plat_net_listen(plat_sock_t s, unsigned backlog) {
  if (listen(s, (int)backlog) != 0) return map_errno(errno);
  return ST(OK);
}

void plat_net_local(plat_sock_t s, offload_addr_t *out) {
  struct sockaddr_storage ss;
  socklen_t n = sizeof ss;
  memset(&ss, 0, sizeof ss);
  if (getsockname(s, (struct sockaddr *)&ss, &n) != 0) ss.ss_family = AF_UNSPEC;
  from_sockaddr(&ss, out);
}

void plat_net_remote(plat_sock_t s, offload_addr_t *out) {
  struct sockaddr_storage ss;
  socklen_t n = sizeof ss;
  memset(&ss, 0, sizeof ss);
  if (getpeername(s, (struct sockaddr *)&ss, &n) != 0) ss.ss_family = AF_UNSPEC;
  from_sockaddr(&ss, out);
}

int plat_net_connect(plat_sock_t s, const offload_addr_t *addr) {
  struct sockaddr_storage ss;
  socklen_t n = to_sockaddr(addr, &ss);
  if (off_host(addr)) return ST(ENETUNREACH);
  if (connect(s, (struct sockaddr *)&ss, n) != 0) {
    int r = map_errno(errno);
    return r == PLAT_AGAIN ? ST(OK) : r;
  }
  return ST(OK);
}

int plat_net_connect_result(plat_sock_t s) {
  int err = 0;
  socklen_t n = sizeof err;
  struct sockaddr_storage ss;
  socklen_t sn = sizeof ss;
  if (getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &n) != 0) err = errno;
  if (err != 0) {
    int r = map_errno(err);
    return r == ST(ECONNRESET) ? ST(ECONNREFUSED) : r;
  }
  if (getpeername(s, (struct sockaddr *)&ss, &sn) != 0) return errno == ENOTCONN ? PLAT_AGAIN : map_errno(errno);
  return ST(OK);
}

int plat_net_accept(plat_sock_t s, plat_sock_t *out, offload_addr_t *remote) {
  struct sockaddr_storage ss;
  socklen_t n = sizeof ss;
  int fd = accept4(s, (struct sockaddr *)&ss, &n, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) return PLAT_AGAIN; /* nothing, or a connection that vanished before we took it */
  if (fd >= MAX_FDS) {
    close(fd);
    return PLAT_AGAIN;
  }
  track(fd, 1);
  from_sockaddr(&ss, remote);
  *out = fd;
  return ST(OK);
}

int plat_net_send(plat_sock_t s, const uint8_t *p, size_t n, size_t *sent) {
  ssize_t r = send(s, p, n, MSG_NOSIGNAL);
  if (r < 0) {
    int m = map_errno(errno);
    return m == PLAT_AGAIN || m == ST(ETIMEDOUT) ? m : ST(ECONNRESET);
  }
  *sent = (size_t)r;
  return r == 0 ? PLAT_AGAIN : ST(OK);
}

int plat_net_recv(plat_sock_t s, uint8_t *p, size_t cap, size_t *got) {
  ssize_t r = recv(s, p, cap, 0);
  if (r < 0) {
    int m = map_errno(errno);
    if (m == PLAT_AGAIN) ready[s] &= (uint8_t)~PLAT_IO_READ;
    return m == PLAT_AGAIN || m == ST(ETIMEDOUT) ? m : ST(ECONNRESET);
  }
  if (r == 0) return PLAT_EOF;
  *got = (size_t)r;
  return ST(OK);
}

int plat_net_sendto(plat_sock_t s, const offload_addr_t *addr, const uint8_t *p, size_t n) {
  struct sockaddr_storage ss;
  ssize_t r;
  if (off_host(addr)) return ST(ENETUNREACH);
  if (addr != NULL) {
    socklen_t sl = to_sockaddr(addr, &ss);
    r = sendto(s, p, n, MSG_NOSIGNAL, (struct sockaddr *)&ss, sl);
  } else {
    r = send(s, p, n, MSG_NOSIGNAL);
  }
  if (r < 0) {
    int m = errno == ENOBUFS ? PLAT_AGAIN : map_errno(errno);
    return m;
  }
  return ST(OK);
}

int plat_net_recvfrom(plat_sock_t s, uint8_t *p, size_t cap, size_t *got, offload_addr_t *from) {
  struct sockaddr_storage ss;
  socklen_t n = sizeof ss;
  ssize_t r;
  memset(&ss, 0, sizeof ss);
  r = recvfrom(s, p, cap, MSG_TRUNC, (struct sockaddr *)&ss, &n);
  if (r < 0) {
    int m = map_errno(errno);
    if (m == PLAT_AGAIN) ready[s] &= (uint8_t)~PLAT_IO_READ;
    return m;
  }
  *got = (size_t)r;
  from_sockaddr(&ss, from);
  return ST(OK);
}

void plat_net_shutdown_write(plat_sock_t s) { shutdown(s, SHUT_WR); }

void plat_net_close(plat_sock_t s, int abort) {
  if (s < 0) return;
  if (is_stream[s]) {
    if (abort) {
      struct linger lg;
      lg.l_onoff = 1;
      lg.l_linger = 0; /* RST */
      setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    } else {
      /* FIN after what the stack holds. Unread input would turn close() into a RST, so read it away first. */
      uint8_t sink[4096];
      shutdown(s, SHUT_WR);
      for (int i = 0; i < 64 && recv(s, sink, sizeof sink, 0) > 0; i++) {
      }
    }
  }
  track(s, 0);
  close(s);
}

int plat_net_setopt(plat_sock_t s, uint16_t option, uint32_t value) {
  int v = value ? 1 : 0, r = 0;
  int domain = AF_INET;
  struct sockaddr_storage ss;
  socklen_t sn = sizeof ss;
  if (getsockname(s, (struct sockaddr *)&ss, &sn) == 0) domain = ss.ss_family;
  switch (option) {
  case OFFLOAD_OPT_REUSEADDR: r = setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &v, sizeof v); break;
  case OFFLOAD_OPT_NODELAY: r = setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &v, sizeof v); break;
  case OFFLOAD_OPT_BROADCAST: r = setsockopt(s, SOL_SOCKET, SO_BROADCAST, &v, sizeof v); break;
  case OFFLOAD_OPT_KEEPALIVE:
    r = setsockopt(s, SOL_SOCKET, SO_KEEPALIVE, &v, sizeof v);
#ifdef TCP_KEEPIDLE
    if (r == 0 && value) {
      int idle = (int)((value + 999u) / 1000u), intvl = 1, cnt = 3;
      if (idle < 1) idle = 1;
      setsockopt(s, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
      setsockopt(s, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
      setsockopt(s, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
    }
#endif
    break;
  case OFFLOAD_OPT_TTL: {
    int ttl = (int)value;
    if (domain == AF_INET6)
      r = setsockopt(s, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &ttl, sizeof ttl);
    else
      r = setsockopt(s, IPPROTO_IP, IP_TTL, &ttl, sizeof ttl);
    break;
  }
  default: break;
  }
  return r == 0 ? ST(OK) : ST(E_INVALID);
}

void plat_net_interest(plat_sock_t s, unsigned bits) {
  if (s >= 0 && s < MAX_FDS) interest[s] = (uint8_t)bits;
}

unsigned plat_net_ready(plat_sock_t s) { return s >= 0 && s < MAX_FDS ? ready[s] : 0u; }

/* ---- for main_posix.c ---- */

int posix_net_pollfds(struct pollfd *fds, int max) {
  int n = 0;
  for (int fd = 0; fd < MAX_FDS && n < max; fd++) {
    if (!interest[fd]) continue;
    fds[n].fd = fd;
    fds[n].events = (short)((interest[fd] & PLAT_IO_READ ? POLLIN : 0) | (interest[fd] & PLAT_IO_WRITE ? POLLOUT : 0));
    fds[n].revents = 0;
    n++;
  }
  return n;
}

void posix_net_clear_ready(void) { memset(ready, 0, sizeof ready); }

void posix_net_set_ready(const struct pollfd *fds, int n) {
  for (int i = 0; i < n; i++) {
    unsigned b = 0;
    if (fds[i].fd < 0 || fds[i].fd >= MAX_FDS) continue;
    if (fds[i].revents & POLLIN) b |= PLAT_IO_READ;
    if (fds[i].revents & POLLOUT) b |= PLAT_IO_WRITE;
    if (fds[i].revents & (POLLERR | POLLHUP)) b |= PLAT_IO_READ | PLAT_IO_WRITE;
    ready[fds[i].fd] = (uint8_t)b;
  }
}
