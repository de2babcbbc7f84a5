/*
 * Platform: the host link, POSIX. Either a serial line (a tty or pty in raw mode: COBS framing, §2) or a TCP
 * listener that takes one host connection at a time (TCP-shim records, §3; a new connection replaces the old
 * one, as a new host on the same serial line would).
 */
#define _GNU_SOURCE /* cfmakeraw, accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "plat_posix.h"
#include "platform.h"

#define SERIAL_REOPEN_MS 500u

static int framing;
static int listen_fd = -1;
static int conn_fd = -1;   /* TCP connection or serial descriptor */
static uint32_t session;   /* current stream, 0 = none */
static uint32_t sessions;  /* streams so far */
static char serial_path[512];
static uint32_t serial_baud;
static uint32_t reopen_due;

static void close_conn(void) {
  if (conn_fd >= 0) close(conn_fd);
  conn_fd = -1;
  session = 0;
  if (framing == PLAT_LINK_SERIAL) reopen_due = plat_now_ms() + SERIAL_REOPEN_MS;
}

static void new_session(int fd) {
  conn_fd = fd;
  session = ++sessions;
  if (session == 0) session = ++sessions;
}

int plat_link_framing(void) { return framing; }
uint32_t plat_link_session(void) { return session; }

size_t plat_link_read(uint8_t *p, size_t cap) {
  ssize_t r;
  if (conn_fd < 0 || cap == 0) return 0;
  r = read(conn_fd, p, cap);
  if (r > 0) return (size_t)r;
  if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return 0;
  /* End of stream or an error: the host went away (TCP), the line vanished (serial). */
  close_conn();
  return 0;
}

size_t plat_link_write(const uint8_t *p, size_t n) {
  ssize_t r;
  if (conn_fd < 0) return 0;
  if (framing == PLAT_LINK_TCP)
    r = send(conn_fd, p, n, MSG_NOSIGNAL);
  else
    r = write(conn_fd, p, n);
  if (r >= 0) return (size_t)r;
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return 0;
  close_conn();
  return 0;
}

void plat_link_drop(void) { close_conn(); }

/* ---- for main_posix.c ---- */

int posix_link_open_tcp(const char *host, uint16_t port, char *url, size_t url_size) {
  struct addrinfo hints, *res = NULL, *ai;
  char portstr[8];
  int one = 1;
  framing = PLAT_LINK_TCP;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  snprintf(portstr, sizeof portstr, "%u", (unsigned)port);
  if (getaddrinfo(host, portstr, &hints, &res) != 0) return -1;
  for (ai = res; ai != NULL; ai = ai->ai_next) {
    listen_fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (listen_fd < 0) continue;
    setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(listen_fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(listen_fd, 4) == 0) break;
    close(listen_fd);
    listen_fd = -1;
  }
  freeaddrinfo(res);
  if (listen_fd < 0) return -1;
  {
    struct sockaddr_storage ss;
    socklen_t n = sizeof ss;
    char addr[INET6_ADDRSTRLEN] = "?";
    unsigned p = 0;
    getsockname(listen_fd, (struct sockaddr *)&ss, &n);
    if (ss.ss_family == AF_INET6) {
      inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, addr, sizeof addr);
      p = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
      snprintf(url, url_size, "tcp://[%s]:%u", addr, p);
    } else {
      inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, addr, sizeof addr);
      p = ntohs(((struct sockaddr_in *)&ss)->sin_port);
      snprintf(url, url_size, "tcp://%s:%u", addr, p);
    }
  }
  return 0;
}

static speed_t baud_constant(uint32_t baud) {
  switch (baud) {
  case 9600: return B9600;
  case 19200: return B19200;
  case 38400: return B38400;
  case 57600: return B57600;
  case 115200: return B115200;
  case 230400: return B230400;
#ifdef B460800
  case 460800: return B460800;
#endif
#ifdef B921600
  case 921600: return B921600;
#endif
#ifdef B1000000
  case 1000000: return B1000000;
#endif
#ifdef B2000000
  case 2000000: return B2000000;
#endif
#ifdef B4000000
  case 4000000: return B4000000;
#endif
  default: return B115200;
  }
}

static int serial_open(void) {
  struct termios t;
  int fd = open(serial_path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return -1;
  if (tcgetattr(fd, &t) == 0) {
    cfmakeraw(&t);
    t.c_cflag |= CLOCAL | CREAD;
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    cfsetispeed(&t, baud_constant(serial_baud));
    cfsetospeed(&t, baud_constant(serial_baud));
    tcsetattr(fd, TCSANOW, &t);
  }
  new_session(fd);
  return 0;
}

int posix_link_open_serial(const char *path, uint32_t baud, char *url, size_t url_size) {
  framing = PLAT_LINK_SERIAL;
  if (strlen(path) >= sizeof serial_path) return -1;
  strcpy(serial_path, path);
  serial_baud = baud;
  if (serial_open() != 0) return -1;
  snprintf(url, url_size, "serial://%s", path);
  return 0;
}

int posix_link_pollfds(struct pollfd *fds, int max, int want_write) {
  int n = 0;
  if (listen_fd >= 0 && n < max) {
    fds[n].fd = listen_fd;
    fds[n].events = POLLIN;
    fds[n].revents = 0;
    n++;
  }
  if (conn_fd >= 0 && n < max) {
    fds[n].fd = conn_fd;
    fds[n].events = (short)(POLLIN | (want_write ? POLLOUT : 0));
    fds[n].revents = 0;
    n++;
  }
  return n;
}

void posix_link_service(const struct pollfd *fds, int n, uint32_t now) {
  for (int i = 0; i < n; i++) {
    if (fds[i].fd == listen_fd && listen_fd >= 0 && (fds[i].revents & POLLIN)) {
      int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd >= 0) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        close_conn(); /* one host at a time: the newcomer takes the link over */
        new_session(fd);
      }
    }
    if (fds[i].fd == conn_fd && conn_fd >= 0 && framing == PLAT_LINK_SERIAL && (fds[i].revents & (POLLHUP | POLLERR)) &&
        !(fds[i].revents & POLLIN)) {
      close_conn(); /* the line vanished (the pty's other side closed) */
    }
  }
  if (framing == PLAT_LINK_SERIAL && conn_fd < 0 && (int32_t)(now - reopen_due) >= 0) {
    if (serial_open() != 0) reopen_due = now + SERIAL_REOPEN_MS;
  }
}

uint32_t posix_link_timeout(uint32_t now, uint32_t max) {
  if (framing == PLAT_LINK_SERIAL && conn_fd < 0) {
    int32_t d = (int32_t)(reopen_due - now);
    if (d <= 0) return 0;
    return (uint32_t)d < max ? (uint32_t)d : max;
  }
  return max;
}

void posix_link_close(void) {
  close_conn();
  if (listen_fd >= 0) close(listen_fd);
  listen_fd = -1;
}
