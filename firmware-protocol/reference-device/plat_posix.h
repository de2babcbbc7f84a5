/*
 * Glue between the POSIX platform files and main_posix.c (not part of the portable interface): the poll()
 * loop collects the descriptors the network and host-link files want to hear about and hands readiness back.
 */
#ifndef REFDEV_PLAT_POSIX_H
#define REFDEV_PLAT_POSIX_H

#include <poll.h>
#include <stdint.h>

/* Network: descriptors with interest; readiness from poll(). */
int posix_net_pollfds(struct pollfd *fds, int max);
void posix_net_clear_ready(void);
void posix_net_set_ready(const struct pollfd *fds, int n);
/* Refuse destinations off this host (ENETUNREACH), for fuzz tests. */
void posix_net_loopback_only(int on);
/* SO_SNDBUF / SO_RCVBUF of TCP sockets (0 = the OS default, with autotuning). */
void posix_net_stack_buffers(int bytes);

/* Host link. url receives "tcp://HOST:PORT" / "serial://PATH" for the ready line. 0 = OK. */
int posix_link_open_tcp(const char *host, uint16_t port, char *url, size_t url_size);
int posix_link_open_serial(const char *path, uint32_t baud, char *url, size_t url_size);
/* Descriptors to poll (want_write: the device has bytes waiting for the host). */
int posix_link_pollfds(struct pollfd *fds, int max, int want_write);
/* Accepts new host connections / reopens a vanished serial line; call after poll(). */
void posix_link_service(const struct pollfd *fds, int n, uint32_t now);
/* Milliseconds until posix_link_service needs to run without readiness (serial reopen attempts). */
uint32_t posix_link_timeout(uint32_t now, uint32_t max);
void posix_link_close(void);

#endif
