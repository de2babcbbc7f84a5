/*
 * Compile-time limits of the reference device. Every buffer of the device is sized from these at build time
 * (static storage) or carved once at start-up from one pool (socket queues, sized by the run-time
 * configuration); nothing is allocated afterwards. Shrink them for a microcontroller.
 */
#ifndef REFDEV_CONFIG_H
#define REFDEV_CONFIG_H

#include "offload_protocol.h"

/* Socket slots the table can hold (the protocol maximum is 255). The run-time --slots may be smaller. */
#ifndef REFDEV_MAX_SLOTS
#define REFDEV_MAX_SLOTS 255u
#endif

/* Largest frame payload this build can receive and send (the SYNC offer is at most this). */
#ifndef REFDEV_MAX_PAYLOAD
#define REFDEV_MAX_PAYLOAD OFFLOAD_DEFAULT_MAX_PAYLOAD_TCP
#endif

/* Default SYNC offers per transport (clamped to REFDEV_MAX_PAYLOAD). */
#define REFDEV_SERIAL_MAX_PAYLOAD OFFLOAD_DEFAULT_MAX_PAYLOAD_SERIAL
#define REFDEV_TCP_MAX_PAYLOAD OFFLOAD_DEFAULT_MAX_PAYLOAD_TCP

/* Link window: the SYNC offer, the inbound message queue and the ARQ retransmission store all hold this many
 * messages (the agreed window is the minimum of both offers, so it never exceeds this). */
#ifndef REFDEV_WINDOW
#define REFDEV_WINDOW OFFLOAD_DEFAULT_WINDOW
#endif

/* Outgoing bytes waiting for the host link (encoded frames). Must hold a few maximum frames. */
#define REFDEV_TX_BUFFER (4u * (OFFLOAD_WIRE_MAX_ENCODED(REFDEV_MAX_PAYLOAD) + 1u + OFFLOAD_TCP_LENGTH_PREFIX_SIZE))

/* Incoming link bytes (TCP-shim records are parsed in place; serial bytes go through the deframer). */
#define REFDEV_RX_BUFFER (2u * (OFFLOAD_FRAME_SIZE_SECURE(REFDEV_MAX_PAYLOAD) + OFFLOAD_TCP_LENGTH_PREFIX_SIZE))

/* Connections accepted from the network stack and waiting for ACCEPT, shared by every listener. */
#ifndef REFDEV_CONN_POOL
#define REFDEV_CONN_POOL 128u
#endif

/* Largest listen backlog; larger requests are clamped (the entry's backlog shows the value used). */
#ifndef REFDEV_BACKLOG_MAX
#define REFDEV_BACKLOG_MAX 64u
#endif

/* Largest UDP datagram the device handles (receive scratch buffer; larger SEND/SENDTO get EMSGSIZE). */
#ifndef REFDEV_MAX_DATAGRAM
#define REFDEV_MAX_DATAGRAM 65507u
#endif

/* Default per-socket queues (HELLO sendQueueSize / recvQueueSize); --send-queue / --recv-queue change them. */
#ifndef REFDEV_DEFAULT_SEND_QUEUE
#define REFDEV_DEFAULT_SEND_QUEUE 65536u
#endif
#ifndef REFDEV_DEFAULT_RECV_QUEUE
#define REFDEV_DEFAULT_RECV_QUEUE 65536u
#endif

/* Timers of the protocol (PROTOCOL.md §4, §5.8.2, §11), in milliseconds. */
#define REFDEV_SYNC_REPEAT_MS 250u
#define REFDEV_HEARTBEAT_MS 1000u
#define REFDEV_LINK_DEAD_MS 3000u
#define REFDEV_CHANNEL_TIMEOUT_MS 10000u
#define REFDEV_ACK_DELAY_MS 10u
#define REFDEV_RTO_MIN_MS 200u
#define REFDEV_RTO_MAX_MS 2000u
#define REFDEV_CONNECT_TIMEOUT_MS 30000u

#define REFDEV_FIRMWARE "refdev-c 1.0"
#define REFDEV_FIRMWARE_BUILD 1u

#endif
