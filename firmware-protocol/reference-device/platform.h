/*
 * The platform interface of the reference device: everything the portable device logic (device.c, link.c)
 * needs from the board. Three groups, one file each in this POSIX port:
 *
 *   time     plat_time_posix.c   monotonic milliseconds and randomness;
 *   network  plat_net_posix.c    non-blocking TCP and UDP sockets with readiness flags (BSD sockets + poll);
 *   host     plat_link_posix.c   the byte stream to the host: a serial line (a pty here) or a TCP listener
 *                                for the TCP-shim framing.
 *
 * main_posix.c is the process around them (arguments, signals, the poll() loop). Porting to lwIP or a vendor
 * stack means writing these files again; see README.md for the contract of every function.
 *
 * All calls are non-blocking. Results are protocol status codes (OFFLOAD_STATUS_*, so network errors map
 * straight onto what the protocol reports) or the PLAT_* codes below.
 */
#ifndef REFDEV_PLATFORM_H
#define REFDEV_PLATFORM_H

#include <stddef.h>
#include <stdint.h>

#include "offload_codec.h"

/* Results besides OFFLOAD_STATUS_* (which are >= 0). */
#define PLAT_AGAIN (-1) /* nothing now: try again after the next readiness report */
#define PLAT_EOF (-2)   /* the peer closed its side (TCP FIN) */

/* ---- Time -------------------------------------------------------------------------------------------------- */

/* Milliseconds from an arbitrary origin, monotonic, wrapping at 2^32 (compare with (int32_t)(a - b)). */
uint32_t plat_now_ms(void);
/* 32 random bits for link nonces and the power-on boot epoch (need not be cryptographic). */
uint32_t plat_random32(void);

/* ---- Network ----------------------------------------------------------------------------------------------- */

/* A network socket handle; PLAT_NO_SOCK = none. */
typedef int plat_sock_t;
#define PLAT_NO_SOCK (-1)

/* Readiness / interest bits. */
#define PLAT_IO_READ 1u  /* readable: data, a FIN, an error, or (listener) a connection to accept */
#define PLAT_IO_WRITE 2u /* writable, or a connect attempt finished (either way) */

/* type: OFFLOAD_SOCKET_TYPE_STREAM / _DGRAM; family: 4 or 6. Returns OK or a status (E_NO_SLOT when the stack
 * has no socket left, EAFNOSUPPORT). */
int plat_net_open(uint8_t type, uint8_t family, plat_sock_t *out);
/* Binds to addr (family matches the socket; all-zero address = any; port 0 = ephemeral). EADDRINUSE,
 * EADDRNOTAVAIL, EACCES. */
int plat_net_bind(plat_sock_t s, const offload_addr_t *addr);
/* Starts listening (binding to an ephemeral port on "any" first if unbound). EADDRINUSE. */
int plat_net_listen(plat_sock_t s, unsigned backlog);
/* The local / remote endpoint (family 0 if not known). */
void plat_net_local(plat_sock_t s, offload_addr_t *out);
void plat_net_remote(plat_sock_t s, offload_addr_t *out);
/* Starts a connection (stream) or sets the default peer (datagram). OK = started (stream: completion is
 * reported by plat_net_connect_result once PLAT_IO_WRITE is ready); or an immediate error status
 * (ECONNREFUSED, ENETUNREACH, EHOSTUNREACH, EADDRNOTAVAIL, ...). */
int plat_net_connect(plat_sock_t s, const offload_addr_t *addr);
/* For a stream connect in progress: PLAT_AGAIN while pending, OK when connected, else the error status
 * (ECONNREFUSED, ETIMEDOUT, ENETUNREACH, EHOSTUNREACH). */
int plat_net_connect_result(plat_sock_t s);
/* Takes one pending connection from a listener: OK with *out and its remote endpoint, PLAT_AGAIN, or a status. */
int plat_net_accept(plat_sock_t s, plat_sock_t *out, offload_addr_t *remote);
/* Stream send: OK with *sent > 0 bytes taken, PLAT_AGAIN, or a status (ECONNRESET, EPIPE). */
int plat_net_send(plat_sock_t s, const uint8_t *p, size_t n, size_t *sent);
/* Stream receive: OK with *got > 0, PLAT_AGAIN, PLAT_EOF, or a status (ECONNRESET, ETIMEDOUT). */
int plat_net_recv(plat_sock_t s, uint8_t *p, size_t cap, size_t *got);
/* One datagram to addr (NULL: the connected peer): OK, PLAT_AGAIN, or a status (EMSGSIZE, EACCES, ENETUNREACH,
 * EHOSTUNREACH, ECONNREFUSED from an earlier ICMP error, ...). */
int plat_net_sendto(plat_sock_t s, const offload_addr_t *addr, const uint8_t *p, size_t n);
/* One datagram: OK with *got (the whole datagram's length; if it exceeds cap only cap bytes were stored) and
 * its source, PLAT_AGAIN, or a status (an ICMP error reported on the socket). */
int plat_net_recvfrom(plat_sock_t s, uint8_t *p, size_t cap, size_t *got, offload_addr_t *from);
/* Half-close the sending direction (FIN after what the stack holds). */
void plat_net_shutdown_write(plat_sock_t s);
/* Release the socket. abort = 1: reset a connection (RST) instead of closing it gracefully. */
void plat_net_close(plat_sock_t s, int abort);
/* Options (OFFLOAD_OPT_*; KEEPALIVE value in ms, 0 = off; LINGER is handled by the device, not passed on). */
int plat_net_setopt(plat_sock_t s, uint16_t option, uint32_t value);
/* What the device wants to hear about next (PLAT_IO_* bits; 0 = nothing). */
void plat_net_interest(plat_sock_t s, unsigned bits);
/* Readiness seen by the last wait (PLAT_IO_* bits). Only a hint: operations still return PLAT_AGAIN. */
unsigned plat_net_ready(plat_sock_t s);

/* ---- Host link --------------------------------------------------------------------------------------------- */

#define PLAT_LINK_SERIAL 1 /* COBS frames delimited by 00 (PROTOCOL.md §2) */
#define PLAT_LINK_TCP 2    /* u32-length records (§3) */

/* Which framing the host stream uses. */
int plat_link_framing(void);
/* Identifies the current host stream: changes whenever a new one begins (a TCP connection accepted, a serial
 * line reopened); 0 while there is none. The link layer drops partial frames and unsent bytes when it changes. */
uint32_t plat_link_session(void);
/* Reads up to cap bytes: returns how many (0 = nothing now). */
size_t plat_link_read(uint8_t *p, size_t cap);
/* Writes up to n bytes without blocking: returns how many the stream took (0 when full or no host). */
size_t plat_link_write(const uint8_t *p, size_t n);
/* Drops the current host stream (TCP shim: an impossible record length, §3). */
void plat_link_drop(void);

#endif
