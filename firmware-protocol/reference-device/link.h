/*
 * The link layer of the reference device (PROTOCOL.md §2–§4): frames from the host stream (serial COBS or
 * TCP-shim records) through the C reference codec, SYNC / SYNC_ACK incarnations, go-back-N ARQ with ACK/NAK and
 * a retransmission timer, HEARTBEAT and liveness. Channel 0 only (the device does not offer CHANNELS, so frames
 * on other channels are ignored, §11). Portable: it uses only platform.h and the codec.
 *
 * Inbound messages wait in a queue of REFDEV_WINDOW entries until the device has executed them. With ARQ on,
 * the acknowledgement the link advertises is the next message the device has not executed yet, so the host's
 * window (at most REFDEV_WINDOW unacknowledged frames) bounds the queue and nothing is dropped; with ARQ off the
 * link stops reading the stream while the queue is full (TCP backpressure).
 */
#ifndef REFDEV_LINK_H
#define REFDEV_LINK_H

#include <stddef.h>
#include <stdint.h>

#include "offload_codec.h"
#include "refdev_config.h"

typedef struct link_stats {
  uint32_t frames_rx, frames_tx, msgs_rx, msgs_tx;
  uint32_t retransmits, naks_rx, naks_tx, acks_tx, heartbeats_tx, syncs_tx;
  uint32_t probes; /* tail probes: the newest unacknowledged frame sent again (§4.3) */
  uint32_t byes_rx; /* BYE frames: the host left the link (§4.5) */
  uint32_t ignored;       /* frames on other channels, before the link is up, SECURE frames, bad type lengths */
  uint32_t dropped_ctl;   /* control frames not sent for lack of room */
  uint32_t dropped_msgs;  /* MSG frames beyond the window */
  uint32_t fatal_records; /* TCP streams dropped for an impossible record length */
  uint32_t incarnations, link_resets, link_downs;
  uint32_t decode_errors[13]; /* by OFFLOAD_ERR_* (1..12) */
} link_stats_t;

typedef struct link {
  int framing; /* PLAT_LINK_SERIAL / PLAT_LINK_TCP */
  uint32_t now;
  /* our offer */
  uint8_t own_window, own_arq;
  uint16_t own_max;
  uint32_t baud; /* line rate for the initial RTO; 0: unknown */
  uint32_t rto_initial, rto_base;
  /* incarnation (§4.2) */
  uint8_t up, peer_known, sync_repeat;
  uint32_t nonce, peer_nonce, sync_due;
  uint8_t win, arq;
  uint16_t max_payload;
  uint32_t last_rx, last_tx;
  uint32_t session;
  /* reported to the device, cleared by it */
  uint8_t ev_reset, ev_down;
  /* sender (§4.3) */
  uint16_t snd_base, snd_next, snd_cursor;
  uint8_t rto_on, probe_on;
  uint32_t rto, rto_due;
  uint32_t pto, probe_due; /* tail probe (§4.3) */
  /* round-trip measurement (§4.3, RFC 6298 in ms, SRTT x8 and RTTVAR x4) */
  uint16_t snd_fresh; /* first seq never transmitted: frames before it that are sent again are retransmissions */
  uint8_t rtt_valid;
  uint32_t srtt8, rttvar4;
  uint32_t snd_time[REFDEV_WINDOW]; /* when first transmitted */
  uint8_t snd_resent[REFDEV_WINDOW];
  uint16_t snd_len[REFDEV_WINDOW];
  uint8_t snd_store[REFDEV_WINDOW][REFDEV_MAX_PAYLOAD];
  /* receiver */
  uint16_t rcv_next;  /* next seq accepted into the queue */
  uint16_t rcv_acked; /* next seq not yet executed: the ack we advertise */
  uint16_t ack_sent;  /* ack carried by the last frame we sent */
  uint8_t nak_sent, ack_timer;
  int16_t nak_highest; /* furthest distance beyond rcv_next seen since our NAK (a lower one: new round) */
  uint32_t ack_due;
  /* inbound messages */
  uint8_t inq_head, inq_count;
  uint16_t inq_len[REFDEV_WINDOW];
  uint8_t inq[REFDEV_WINDOW][REFDEV_MAX_PAYLOAD];
  /* received bytes */
  uint8_t held; /* a MSG frame waits for room in the queue (ARQ off) */
  offload_frame_t held_frame;
  offload_deframer_t deframer;
  uint8_t dbuf[OFFLOAD_DEFRAMER_BUFFER_SIZE(REFDEV_MAX_PAYLOAD)];
  uint8_t rbuf[REFDEV_RX_BUFFER];
  size_t rstart, rlen;
  /* bytes for the host */
  uint8_t tbuf[REFDEV_TX_BUFFER];
  size_t tstart, tlen;
  uint8_t scratch[REFDEV_MAX_PAYLOAD];
  link_stats_t stats;
} link_t;

/* framing: PLAT_LINK_*; max_payload: our SYNC offer (<= REFDEV_MAX_PAYLOAD); arq: our offer; baud: line rate
 * for the initial retransmission timeout (0 = unknown: 200 ms). Starts the first incarnation. */
void link_init(link_t *l, int framing, uint16_t max_payload, int arq, uint32_t baud, uint32_t now);
/* Reads and handles what the host sent, runs the timers, writes what is pending. */
void link_poll(link_t *l, uint32_t now);
/* Writes pending bytes to the host stream. */
void link_flush(link_t *l);
/* Milliseconds until the link needs link_poll again (capped by max). */
uint32_t link_next_timeout(const link_t *l, uint32_t now, uint32_t max);

/* The oldest inbound message not yet executed: 1 and *p, *len (valid until link_msg_done), or 0. */
int link_msg_peek(link_t *l, uint8_t **p, size_t *len);
/* The device executed that message (its response, if any, has been committed). */
void link_msg_done(link_t *l);

/* Largest message either side accepts (the agreed maximum payload). */
uint16_t link_max_message(const link_t *l);
/* True if a message of len bytes can be sent now (link up, window open, room in the output buffer). */
int link_can_send(link_t *l, size_t len);
/* Buffer of link_max_message() bytes to build the next message in (call link_can_send first). */
uint8_t *link_msg_buffer(link_t *l);
/* Sends the len bytes built in link_msg_buffer() as one MSG frame. */
void link_msg_commit(link_t *l, size_t len);
/* True when nothing is waiting to be written or acknowledged (used before exit). */
int link_idle(const link_t *l);
/* True while encoded bytes wait for the host stream to take them (wait for it to become writable). */
int link_tx_pending(const link_t *l);
/* True when input already read from the stream waits for the queue and the queue has room again. */
int link_input_ready(const link_t *l);

#endif
