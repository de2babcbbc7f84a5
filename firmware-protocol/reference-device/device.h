/*
 * The device logic of the reference device: the socket table (PROTOCOL.md §6, FIG 48), commands (§5.8),
 * credits (§7), events with per-channel sequence numbers and the boot epoch (§8), registers and the socket-table
 * window (§9). Portable C11 over platform.h; one instance (channel 0).
 *
 * Use: dev_init() once, then loop { wait for readiness or dev_next_timeout(); dev_run(); }.
 */
#ifndef REFDEV_DEVICE_H
#define REFDEV_DEVICE_H

#include <stddef.h>
#include <stdint.h>

#include "link.h"
#include "platform.h"

typedef struct dev_config {
  uint16_t slots;          /* socket slots, 1..REFDEV_MAX_SLOTS */
  uint32_t send_queue;     /* bytes per socket send queue (HELLO sendQueueSize) */
  uint32_t recv_queue;     /* bytes per socket receive queue (HELLO recvQueueSize) */
  uint8_t *pool;           /* slots * (send_queue + recv_queue) bytes, owned by the caller */
  size_t pool_size;
  int framing;             /* PLAT_LINK_SERIAL / PLAT_LINK_TCP */
  uint16_t max_payload;    /* SYNC offer; 0 = default for the framing */
  uint32_t baud;           /* serial line rate for the retransmission timer (0 = unknown) */
  uint32_t caps;           /* capabilities offered; 0 = everything this device implements */
  uint32_t channel_timeout_ms; /* link down this long: the channel's sockets are aborted (§11); 0 = 10 s */
} dev_config_t;

/* Bytes of queue memory dev_init needs for a configuration. */
size_t dev_pool_size(uint16_t slots, uint32_t send_queue, uint32_t recv_queue);
/* Power-on: epoch from plat_random32(), empty table, BOOT (POWER_ON) pending, link starting. 0 = OK. */
int dev_init(const dev_config_t *cfg, uint32_t now);
/* One pass: host input, network I/O, events, commands, output. */
void dev_run(uint32_t now);
/* Milliseconds until dev_run is needed again without new readiness (0 = now), at most max. */
uint32_t dev_next_timeout(uint32_t now, uint32_t max);
/* Closes every network socket (process exit). */
void dev_shutdown(void);
/* The link, for readiness (link_tx_pending) and statistics. */
const link_t *dev_link(void);

#endif
