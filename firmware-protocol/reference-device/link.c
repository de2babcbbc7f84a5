/*
 * Link layer of the reference device: PROTOCOL.md §2 (serial framing), §3 (TCP-shim records) and §4 (SYNC,
 * ARQ, heartbeat, liveness), channel 0. See link.h for the queueing model.
 */
#include "link.h"

#include <string.h>

#include "platform.h"

/* Room kept in the output buffer for control frames (ACK, NAK, HEARTBEAT, SYNC, SYNC_ACK) when messages fill it. */
#define CONTROL_RESERVE 128u

#define DUE(now, t) ((int32_t)((uint32_t)(now) - (uint32_t)(t)) >= 0)

static int16_t seq_diff(uint16_t a, uint16_t b) { return (int16_t)(uint16_t)(a - b); }

/* ---- Output ----------------------------------------------------------------------------------------------- */

static size_t wire_size(const link_t *l, size_t payload_len) {
  size_t frame = OFFLOAD_FRAME_SIZE(payload_len);
  if (l->framing == PLAT_LINK_TCP) return OFFLOAD_TCP_LENGTH_PREFIX_SIZE + frame;
  return OFFLOAD_COBS_MAX_ENCODED(frame) + 1u;
}

static size_t tx_free(link_t *l) {
  if (l->tstart > 0 && l->tstart + l->tlen + wire_size(l, REFDEV_MAX_PAYLOAD) + CONTROL_RESERVE > sizeof l->tbuf) {
    memmove(l->tbuf, l->tbuf + l->tstart, l->tlen);
    l->tstart = 0;
  }
  return sizeof l->tbuf - l->tstart - l->tlen;
}

void link_flush(link_t *l) {
  while (l->tlen > 0) {
    size_t n = plat_link_write(l->tbuf + l->tstart, l->tlen);
    if (n == 0) break;
    l->tstart += n;
    l->tlen -= n;
  }
  if (l->tlen == 0) l->tstart = 0;
}

/* Encodes one frame into the output buffer; 0 if it does not fit (nothing written). */
static int put_frame(link_t *l, uint8_t type, uint16_t seq, const uint8_t *payload, size_t len, size_t reserve) {
  offload_frame_t f;
  size_t free_bytes = tx_free(l), n = 0;
  uint8_t *out = l->tbuf + l->tstart + l->tlen;
  int err;
  if (free_bytes < wire_size(l, len) + reserve) return 0;
  memset(&f, 0, sizeof f);
  f.type = type;
  f.channel = OFFLOAD_CHANNEL_DEFAULT;
  f.seq = l->arq && type == OFFLOAD_FRAME_TYPE_MSG ? seq : 0;
  f.ack = l->arq && type != OFFLOAD_FRAME_TYPE_SYNC && type != OFFLOAD_FRAME_TYPE_SYNC_ACK ? l->rcv_acked : 0;
  f.length = (uint16_t)len;
  f.payload = payload;
  if (l->framing == PLAT_LINK_TCP)
    err = offload_tcp_encode(&f, out, free_bytes, &n);
  else
    err = offload_wire_encode(&f, out, free_bytes, &n);
  if (err != OFFLOAD_OK) return 0;
  l->tlen += n;
  l->last_tx = l->now;
  l->stats.frames_tx++;
  if (f.ack == l->rcv_acked && type != OFFLOAD_FRAME_TYPE_SYNC && type != OFFLOAD_FRAME_TYPE_SYNC_ACK) {
    l->ack_sent = f.ack;
    l->ack_timer = 0;
  }
  return 1;
}

static void send_control(link_t *l, uint8_t type, const uint8_t *payload, size_t len) {
  if (l->session == 0) return; /* no host stream: nobody to tell */
  if (!put_frame(l, type, 0, payload, len, 0)) l->stats.dropped_ctl++;
}

static void send_sync(link_t *l) {
  uint8_t p[OFFLOAD_SYNC_SIZE];
  offload_put_u32(p + OFFLOAD_SYNC_NONCE_OFF, l->nonce);
  p[OFFLOAD_SYNC_WINDOW_OFF] = l->own_window;
  p[OFFLOAD_SYNC_ARQ_OFF] = l->own_arq;
  offload_put_u16(p + OFFLOAD_SYNC_MAX_PAYLOAD_OFF, l->own_max);
  send_control(l, OFFLOAD_FRAME_TYPE_SYNC, p, sizeof p);
  l->stats.syncs_tx++;
}

static void send_sync_ack(link_t *l) {
  uint8_t p[OFFLOAD_SYNC_ACK_SIZE];
  offload_put_u32(p + OFFLOAD_SYNC_ACK_NONCE_OFF, l->nonce);
  offload_put_u32(p + OFFLOAD_SYNC_ACK_PEER_NONCE_OFF, l->peer_nonce);
  p[OFFLOAD_SYNC_ACK_WINDOW_OFF] = l->win;
  p[OFFLOAD_SYNC_ACK_ARQ_OFF] = l->arq;
  offload_put_u16(p + OFFLOAD_SYNC_ACK_MAX_PAYLOAD_OFF, l->max_payload);
  send_control(l, OFFLOAD_FRAME_TYPE_SYNC_ACK, p, sizeof p);
}

/* §4.3 tail probe: armed whenever the retransmission timer starts; doubles after each probe while below the RTO. */
static void arm_probe(link_t *l, uint32_t pto) {
  l->pto = pto;
  l->probe_on = pto < l->rto;
  l->probe_due = l->now + pto;
}

/* (Re)starts the retransmission timer, and the tail probe with it. */
static void start_rto(link_t *l) {
  l->rto_on = 1;
  l->rto_due = l->now + l->rto;
  arm_probe(l, l->rtt_valid ? 2u * (l->srtt8 / 8u) + REFDEV_ACK_DELAY_MS : l->rto / 2u);
}

static void stop_rto(link_t *l) {
  l->rto_on = 0;
  l->probe_on = 0;
}

/* Transmits stored MSG frames from the cursor on, as far as the output buffer allows (go-back-N). */
static void transmit_pending(link_t *l) {
  while (l->snd_cursor != l->snd_next) {
    unsigned i = l->snd_cursor % REFDEV_WINDOW;
    if (!put_frame(l, OFFLOAD_FRAME_TYPE_MSG, l->snd_cursor, l->snd_store[i], l->snd_len[i], 0)) break;
    if (seq_diff(l->snd_cursor, l->snd_fresh) < 0) {
      l->snd_resent[i] = 1; /* Karn: no round-trip sample from it */
    } else {
      l->snd_time[i] = l->now;
      l->snd_resent[i] = 0;
      l->snd_fresh = (uint16_t)(l->snd_cursor + 1u);
    }
    l->snd_cursor++;
    l->stats.msgs_tx++;
    if (!l->rto_on) start_rto(l);
  }
}

/* No ack for PTO: the newest unacknowledged frame once more (a duplicate draws an ACK, a gap a NAK), not the window. */
static void send_probe(link_t *l) {
  uint16_t seq = (uint16_t)(l->snd_next - 1u);
  unsigned i = seq % REFDEV_WINDOW;
  l->probe_on = 0;
  if (l->snd_base == l->snd_next || l->snd_cursor != l->snd_next) return; /* nothing out, or going back already */
  if (!put_frame(l, OFFLOAD_FRAME_TYPE_MSG, seq, l->snd_store[i], l->snd_len[i], 0)) return;
  l->snd_resent[i] = 1; /* Karn */
  l->stats.retransmits++;
  l->stats.probes++;
  arm_probe(l, l->pto * 2u);
}

/* ---- Incarnations ----------------------------------------------------------------------------------------- */

/* §4.3: initial RTO = max(200 ms, (2 x window + 2) frame times) for the current window and maximum payload. */
static void initial_rto(link_t *l) {
  l->rto_initial = REFDEV_RTO_MIN_MS;
  if (l->baud > 0) {
    uint32_t n = OFFLOAD_FRAME_SIZE_SECURE(l->max_payload);
    uint64_t bits = (uint64_t)(n + n / 254u + 2u) * 10u * (2u * l->win + 2u);
    uint64_t ms = (bits * 1000u + l->baud - 1u) / l->baud;
    if (ms > l->rto_initial) l->rto_initial = ms > 0xFFFFFFu ? 0xFFFFFFu : (uint32_t)ms;
  }
}

static void reset_sequences(link_t *l) {
  l->snd_base = l->snd_next = l->snd_cursor = l->snd_fresh = 0;
  stop_rto(l);
  initial_rto(l);
  l->rto_base = l->rto_initial;
  l->rtt_valid = 0;
  l->rto = l->rto_initial;
  l->rcv_next = l->rcv_acked = l->ack_sent = 0;
  l->nak_sent = 0;
  l->nak_highest = 0;
  l->ack_timer = 0;
  /* Messages of the previous incarnation are not executed any more: their commands failed on the host (§4.7). */
  l->inq_head = 0;
  l->inq_count = 0;
  l->held = 0;
}

/* §4.2 step 1: a fresh nonce, not up, SYNC at once and every 250 ms until acknowledged. */
static void start_incarnation(link_t *l) {
  uint32_t n;
  do n = plat_random32();
  while (n == l->nonce || n == 0);
  l->nonce = n;
  l->up = 0;
  l->peer_known = 0;
  l->win = l->own_window;
  l->arq = l->own_arq;
  l->max_payload = l->own_max;
  reset_sequences(l);
  l->sync_repeat = 1;
  l->sync_due = l->now;
  l->last_rx = l->now;
  l->stats.incarnations++;
}

static void link_went_up(link_t *l) {
  l->up = 1;
  l->ev_reset = 1;
  l->stats.link_resets++;
}

static void link_went_down(link_t *l) {
  if (l->up) {
    l->ev_down = 1;
    l->stats.link_downs++;
  }
  start_incarnation(l);
}

void link_init(link_t *l, int framing, uint16_t max_payload, int arq, uint32_t baud, uint32_t now) {
  memset(l, 0, sizeof *l);
  l->framing = framing;
  l->now = now;
  if (max_payload > REFDEV_MAX_PAYLOAD) max_payload = REFDEV_MAX_PAYLOAD;
  if (max_payload < OFFLOAD_MIN_MAX_PAYLOAD) max_payload = OFFLOAD_MIN_MAX_PAYLOAD;
  l->own_max = max_payload;
  l->own_window = REFDEV_WINDOW;
  l->own_arq = arq ? 1 : 0;
  l->baud = baud;
  offload_deframer_init(&l->deframer, l->dbuf, sizeof l->dbuf, l->own_max);
  l->session = plat_link_session();
  start_incarnation(l);
}

static uint8_t clamp_window(unsigned w) { return (uint8_t)(w < 1u ? 1u : w > OFFLOAD_MAX_WINDOW ? OFFLOAD_MAX_WINDOW : w); }
static uint16_t clamp_payload(unsigned m) { return (uint16_t)(m < OFFLOAD_MIN_MAX_PAYLOAD ? OFFLOAD_MIN_MAX_PAYLOAD : m); }

/* §4.2 step 2. */
static void on_sync(link_t *l, const uint8_t *p) {
  uint32_t x = offload_get_u32(p + OFFLOAD_SYNC_NONCE_OFF);
  uint8_t w = clamp_window(p[OFFLOAD_SYNC_WINDOW_OFF]);
  uint8_t a = p[OFFLOAD_SYNC_ARQ_OFF] ? 1 : 0;
  uint16_t m = clamp_payload(offload_get_u16(p + OFFLOAD_SYNC_MAX_PAYLOAD_OFF));
  if (l->up && l->peer_known && x == l->peer_nonce) {
    send_sync_ack(l); /* a repeat: the peer missed our SYNC_ACK */
    return;
  }
  l->peer_nonce = x;
  l->peer_known = 1;
  l->win = w < l->own_window ? w : l->own_window;
  l->arq = (uint8_t)(a | l->own_arq);
  l->max_payload = m < l->own_max ? m : l->own_max;
  reset_sequences(l);
  send_sync_ack(l);
  link_went_up(l);
}

/* §4.2 step 3. */
static void on_sync_ack(link_t *l, const uint8_t *p) {
  uint32_t y = offload_get_u32(p + OFFLOAD_SYNC_ACK_NONCE_OFF);
  uint32_t z = offload_get_u32(p + OFFLOAD_SYNC_ACK_PEER_NONCE_OFF);
  uint8_t w = clamp_window(p[OFFLOAD_SYNC_ACK_WINDOW_OFF]);
  uint16_t m = clamp_payload(offload_get_u16(p + OFFLOAD_SYNC_ACK_MAX_PAYLOAD_OFF));
  if (z != l->nonce) return; /* stale */
  l->sync_repeat = 0;
  if (l->up && l->peer_known && y == l->peer_nonce) return; /* crossed SYNCs, already synchronised */
  l->peer_nonce = y;
  l->peer_known = 1;
  /* Adopt the agreed values, but never beyond what we offered (a peer that agrees to more is wrong). */
  l->win = w < l->own_window ? w : l->own_window;
  l->arq = p[OFFLOAD_SYNC_ACK_ARQ_OFF] ? 1 : l->own_arq;
  l->max_payload = m < l->own_max ? m : l->own_max;
  reset_sequences(l);
  link_went_up(l);
}

/* ---- Input ------------------------------------------------------------------------------------------------ */

/* §4.3 measured RTO (RFC 6298): r is the round trip of a frame transmitted once. */
static void sample_round_trip(link_t *l, uint32_t r) {
  uint32_t cap = l->rto_initial > REFDEV_RTO_MAX_MS ? l->rto_initial : REFDEV_RTO_MAX_MS, rto;
  if (r > 0xFFFFFu) r = 0xFFFFFu; /* keeps the scaled sums far from overflow */
  if (!l->rtt_valid) {
    l->rtt_valid = 1;
    l->srtt8 = r * 8u;
    l->rttvar4 = r * 2u; /* RTTVAR = R/2 */
  } else {
    uint32_t srtt = l->srtt8 / 8u, dev = srtt > r ? srtt - r : r - srtt;
    l->rttvar4 = l->rttvar4 - l->rttvar4 / 4u + dev; /* 3/4 RTTVAR + 1/4 |SRTT - R|, times 4 */
    l->srtt8 = l->srtt8 - l->srtt8 / 8u + r;         /* 7/8 SRTT + 1/8 R, times 8 */
  }
  rto = l->srtt8 / 8u + l->rttvar4;
  if (rto < REFDEV_RTO_MIN_MS) rto = REFDEV_RTO_MIN_MS;
  l->rto_base = rto > cap ? cap : rto;
}

static void process_ack(link_t *l, uint16_t a) {
  if (seq_diff(a, l->snd_base) > 0 && seq_diff(a, l->snd_next) <= 0) {
    unsigned newest = (uint16_t)(a - 1u) % REFDEV_WINDOW;
    if (!l->snd_resent[newest] && seq_diff(a, l->snd_fresh) <= 0) sample_round_trip(l, l->now - l->snd_time[newest]);
    l->snd_base = a;
    if (seq_diff(l->snd_cursor, l->snd_base) < 0) l->snd_cursor = l->snd_base;
    l->rto = l->rto_base;
    if (l->snd_base == l->snd_next)
      stop_rto(l);
    else
      start_rto(l);
  }
}

static int inq_push(link_t *l, const uint8_t *p, size_t len) {
  unsigned i;
  if (l->inq_count >= REFDEV_WINDOW) return 0;
  i = (l->inq_head + l->inq_count) % REFDEV_WINDOW;
  if (len > 0) memcpy(l->inq[i], p, len);
  l->inq_len[i] = (uint16_t)len;
  l->inq_count++;
  l->stats.msgs_rx++;
  return 1;
}

#define HANDLED 1
#define HOLD 0

/* One decoded frame. Returns HOLD only for a MSG frame that must wait for room (ARQ off). */
static int handle_frame(link_t *l, const offload_frame_t *f) {
  size_t need = 0;
  l->stats.frames_rx++;
  if (f->channel != OFFLOAD_CHANNEL_DEFAULT || (f->flags & OFFLOAD_FRAME_FLAG_SECURE)) {
    l->stats.ignored++; /* no CHANNELS, no SECURE (§11, §12): such frames are not for this device */
    return HANDLED;
  }
  switch (f->type) {
  case OFFLOAD_FRAME_TYPE_SYNC: need = OFFLOAD_SYNC_SIZE; break;
  case OFFLOAD_FRAME_TYPE_SYNC_ACK: need = OFFLOAD_SYNC_ACK_SIZE; break;
  case OFFLOAD_FRAME_TYPE_MSG: need = f->length; break;
  default: need = 0; break;
  }
  if (f->length != need) {
    l->stats.ignored++; /* a payload length the frame type does not allow (§2.1) */
    return HANDLED;
  }
  if (f->type == OFFLOAD_FRAME_TYPE_SYNC) {
    l->last_rx = l->now;
    on_sync(l, f->payload);
    return HANDLED;
  }
  if (f->type == OFFLOAD_FRAME_TYPE_SYNC_ACK) {
    l->last_rx = l->now;
    on_sync_ack(l, f->payload);
    return HANDLED;
  }
  if (!l->up) {
    l->stats.ignored++; /* §4.2 step 4 */
    return HANDLED;
  }
  if (f->type == OFFLOAD_FRAME_TYPE_MSG && !l->arq && l->inq_count >= REFDEV_WINDOW) return HOLD;
  l->last_rx = l->now;
  if (l->arq) process_ack(l, f->ack);
  switch (f->type) {
  case OFFLOAD_FRAME_TYPE_ACK:
    break;
  case OFFLOAD_FRAME_TYPE_NAK:
    l->stats.naks_rx++;
    if (l->arq && seq_diff(f->ack, l->snd_base) >= 0 && seq_diff(f->ack, l->snd_next) <= 0 && l->snd_base != l->snd_next) {
      l->stats.retransmits += (uint16_t)(l->snd_next - l->snd_base);
      l->snd_cursor = l->snd_base;
      start_rto(l);
      transmit_pending(l);
    }
    break;
  case OFFLOAD_FRAME_TYPE_HEARTBEAT:
    send_control(l, OFFLOAD_FRAME_TYPE_ACK, NULL, 0);
    l->stats.acks_tx++;
    break;
  case OFFLOAD_FRAME_TYPE_BYE:
    /* §4.5: the host left; down now (the channel timeout starts), as 3 s of silence would say later. */
    l->stats.byes_rx++;
    link_went_down(l);
    return HANDLED;
  case OFFLOAD_FRAME_TYPE_MSG:
    if (!l->arq) {
      inq_push(l, f->payload, f->length);
      break;
    }
    {
      int16_t d = seq_diff(f->seq, l->rcv_next);
      if (d == 0) {
        if (inq_push(l, f->payload, f->length)) {
          l->rcv_next++;
          l->nak_sent = 0;
        } else {
          l->stats.dropped_msgs++; /* beyond the window we offered: as if lost */
        }
      } else if (d < 0) {
        send_control(l, OFFLOAD_FRAME_TYPE_ACK, NULL, 0); /* duplicate */
        l->stats.acks_tx++;
      } else if (!l->nak_sent || d <= l->nak_highest) {
        /* A gap: NAK once per retransmission round (PROTOCOL.md §4.3). A frame at or below the furthest one
           seen since our NAK means the sender went back: its retransmission of rcv_next was lost again. */
        send_control(l, OFFLOAD_FRAME_TYPE_NAK, NULL, 0);
        l->nak_sent = 1;
        l->nak_highest = d;
        l->stats.naks_tx++;
      } else {
        l->nak_highest = d;
      }
    }
    break;
  default:
    break;
  }
  return HANDLED;
}

static void count_error(link_t *l, int err) {
  if (err > 0 && err <= 12) l->stats.decode_errors[err]++;
}

static void new_session(link_t *l, uint32_t s) {
  l->session = s;
  l->rstart = l->rlen = 0;
  l->tstart = l->tlen = 0;
  l->held = 0;
  offload_deframer_reset(&l->deframer);
  link_went_down(l); /* a new host stream (or none): the link restarts */
}

static void read_input(link_t *l) {
  size_t n;
  /* A held frame first (it still points into our buffers). */
  if (l->held && l->framing == PLAT_LINK_SERIAL) {
    if (handle_frame(l, &l->held_frame) == HOLD) return;
    l->held = 0;
  }
  for (int rounds = 0; rounds < 64; rounds++) {
    if (l->rstart > 0 && l->rlen == 0) l->rstart = 0;
    if (l->rstart > 0 && l->rstart + l->rlen > sizeof l->rbuf / 2) {
      memmove(l->rbuf, l->rbuf + l->rstart, l->rlen);
      l->rstart = 0;
    }
    n = 0;
    if (l->rstart + l->rlen < sizeof l->rbuf)
      n = plat_link_read(l->rbuf + l->rstart + l->rlen, sizeof l->rbuf - l->rstart - l->rlen);
    l->rlen += n;
    if (l->framing == PLAT_LINK_TCP) {
      for (;;) {
        offload_frame_t f;
        size_t consumed = 0;
        /* CHOICE: the fatal record bound stays our own offer (what the buffer holds); a frame larger than the
         * agreed maximum but within the offer is discarded as FRAME_OVERSIZE without dropping the stream. */
        int err = offload_tcp_decode(l->rbuf + l->rstart, l->rlen, l->own_max, &f, &consumed);
        if (err == OFFLOAD_OK && l->up && f.length > l->max_payload) err = OFFLOAD_ERR_FRAME_OVERSIZE;
        if (err == OFFLOAD_ERR_NEED_MORE) break;
        if (err != OFFLOAD_OK && consumed == 0) {
          /* §3: an impossible record length is unrecoverable: close the connection. */
          count_error(l, err);
          l->stats.fatal_records++;
          link_flush(l); /* what we already answered (SYNC_ACK, ACKs) still goes out first */
          plat_link_drop();
          l->rstart = l->rlen = 0;
          return;
        }
        if (err == OFFLOAD_OK && handle_frame(l, &f) == HOLD) {
          l->held = 1;
          return;
        }
        if (err != OFFLOAD_OK) count_error(l, err);
        l->held = 0;
        l->rstart += consumed;
        l->rlen -= consumed;
      }
    } else {
      while (l->rlen > 0) {
        offload_deframe_result_t r;
        size_t used = offload_deframer_feed(&l->deframer, l->rbuf + l->rstart, l->rlen, &r);
        l->rstart += used;
        l->rlen -= used;
        if (r.kind == OFFLOAD_DEFRAME_ERROR) count_error(l, r.error);
        if (r.kind == OFFLOAD_DEFRAME_FRAME) {
          if (l->up && r.frame.length > l->max_payload) {
            count_error(l, OFFLOAD_ERR_FRAME_OVERSIZE);
            continue;
          }
          if (handle_frame(l, &r.frame) == HOLD) {
            l->held = 1;
            l->held_frame = r.frame;
            return;
          }
        }
      }
    }
    if (n == 0) break;
  }
}

/* ---- Poll, timers ----------------------------------------------------------------------------------------- */

void link_poll(link_t *l, uint32_t now) {
  uint32_t s = plat_link_session();
  l->now = now;
  if (s != l->session) new_session(l, s);
  if (s != 0) {
    read_input(l);
    if (plat_link_session() != l->session) new_session(l, plat_link_session()); /* the stream ended just now */
  }
  if (l->sync_repeat && DUE(now, l->sync_due)) {
    send_sync(l);
    l->sync_due = now + REFDEV_SYNC_REPEAT_MS;
  }
  if (l->held) l->last_rx = now; /* we stopped reading ourselves (queue full): the host is not silent */
  if (l->up) {
    if (DUE(now, l->last_rx + REFDEV_LINK_DEAD_MS)) {
      link_went_down(l); /* §4.5: nothing valid for 3 s */
      send_sync(l);
      l->sync_due = now + REFDEV_SYNC_REPEAT_MS;
    } else {
      if (l->arq && l->rto_on && DUE(now, l->rto_due)) {
        uint32_t cap = l->rto_initial > REFDEV_RTO_MAX_MS ? l->rto_initial : REFDEV_RTO_MAX_MS;
        l->stats.retransmits += (uint16_t)(l->snd_next - l->snd_base);
        l->snd_cursor = l->snd_base;
        l->rto = l->rto * 2u > cap ? cap : l->rto * 2u;
        start_rto(l);
      }
      if (l->arq) transmit_pending(l);
      if (l->arq && l->probe_on && DUE(now, l->probe_due)) send_probe(l);
      if (l->arq && l->ack_timer && DUE(now, l->ack_due)) {
        send_control(l, OFFLOAD_FRAME_TYPE_ACK, NULL, 0);
        l->stats.acks_tx++;
      }
      if (DUE(now, l->last_tx + REFDEV_HEARTBEAT_MS)) {
        send_control(l, OFFLOAD_FRAME_TYPE_HEARTBEAT, NULL, 0);
        l->stats.heartbeats_tx++;
      }
    }
  }
  link_flush(l);
}

static uint32_t until(uint32_t now, uint32_t t) {
  int32_t d = (int32_t)(t - now);
  return d <= 0 ? 0u : (uint32_t)d;
}

uint32_t link_next_timeout(const link_t *l, uint32_t now, uint32_t max) {
  uint32_t t = max, d;
  if (l->sync_repeat && (d = until(now, l->sync_due)) < t) t = d;
  if (l->up) {
    if ((d = until(now, l->last_rx + REFDEV_LINK_DEAD_MS)) < t) t = d;
    if ((d = until(now, l->last_tx + REFDEV_HEARTBEAT_MS)) < t) t = d;
    if (l->arq && l->rto_on && (d = until(now, l->rto_due)) < t) t = d;
    if (l->arq && l->probe_on && (d = until(now, l->probe_due)) < t) t = d;
    if (l->arq && l->ack_timer && (d = until(now, l->ack_due)) < t) t = d;
    if (l->arq && l->snd_cursor != l->snd_next) t = 0;
  }
  return t;
}

/* ---- Messages for the device ------------------------------------------------------------------------------ */

int link_msg_peek(link_t *l, uint8_t **p, size_t *len) {
  if (l->inq_count == 0) return 0;
  *p = l->inq[l->inq_head];
  *len = l->inq_len[l->inq_head];
  return 1;
}

void link_msg_done(link_t *l) {
  if (l->inq_count == 0) return;
  l->inq_head = (uint8_t)((l->inq_head + 1u) % REFDEV_WINDOW);
  l->inq_count--;
  if (!l->arq) return;
  l->rcv_acked++;
  /* §4.3 standalone ACK: after floor(window/2) deliveries not yet acknowledged at once, else within 10 ms. */
  {
    unsigned pending = (uint16_t)(l->rcv_acked - l->ack_sent);
    unsigned half = l->win / 2u ? l->win / 2u : 1u;
    if (pending >= half) {
      send_control(l, OFFLOAD_FRAME_TYPE_ACK, NULL, 0);
      l->stats.acks_tx++;
    } else if (!l->ack_timer) {
      l->ack_timer = 1;
      l->ack_due = l->now + REFDEV_ACK_DELAY_MS;
    }
  }
}

uint16_t link_max_message(const link_t *l) { return l->max_payload; }

int link_can_send(link_t *l, size_t len) {
  if (!l->up || plat_link_session() == 0 || len > l->max_payload) return 0;
  if (l->arq) {
    if ((uint16_t)(l->snd_next - l->snd_base) >= l->win) return 0;
    /* Frames wait in the store; the output buffer only needs room once the cursor reaches them. */
    if (l->snd_cursor != l->snd_next) return 0;
  }
  return tx_free(l) >= wire_size(l, len) + CONTROL_RESERVE;
}

uint8_t *link_msg_buffer(link_t *l) { return l->arq ? l->snd_store[l->snd_next % REFDEV_WINDOW] : l->scratch; }

void link_msg_commit(link_t *l, size_t len) {
  if (l->arq) {
    l->snd_len[l->snd_next % REFDEV_WINDOW] = (uint16_t)len;
    l->snd_next++;
    transmit_pending(l);
  } else if (put_frame(l, OFFLOAD_FRAME_TYPE_MSG, 0, l->scratch, len, 0)) {
    l->stats.msgs_tx++;
  }
}

int link_idle(const link_t *l) { return l->tlen == 0 && l->snd_base == l->snd_next; }

int link_tx_pending(const link_t *l) { return l->tlen > 0; }

int link_input_ready(const link_t *l) { return l->held && l->inq_count < REFDEV_WINDOW; }
