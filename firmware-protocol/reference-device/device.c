/*
 * Reference device logic (see device.h). Written from PROTOCOL.md and the generated header; section numbers
 * in comments refer to PROTOCOL.md. Choices where the specification leaves room are marked "CHOICE" and listed
 * in README.md.
 */
#include "device.h"

#include <string.h>

#include "refdev_config.h"

#define DUE(now, t) ((int32_t)((uint32_t)(now) - (uint32_t)(t)) >= 0)

/* Capabilities this device implements (§14). No PCIE_RINGS, CHANNELS, SECURE, EGRESS_POLICY. */
#define DEVICE_CAPS                                                                                                \
  (OFFLOAD_CAP_TCP | OFFLOAD_CAP_UDP | OFFLOAD_CAP_IPV6 | OFFLOAD_CAP_ARQ | OFFLOAD_CAP_SNAPSHOT |                  \
   OFFLOAD_CAP_REG_WINDOW | OFFLOAD_CAP_KEEPALIVE)

/* A datagram record in a DGRAM queue: u16 length, the peer address (wire form), the data. */
#define DGRAM_HDR (2u + OFFLOAD_ADDR_SIZE)

#define LINGER_OFF 0xFFFFFFFFu

/* ---- Byte rings (socket queues) --------------------------------------------------------------------------- */

typedef struct ring {
  uint8_t *buf;
  uint32_t cap, head, len;
} ring_t;

static uint32_t ring_free(const ring_t *r) { return r->cap - r->len; }

static void ring_put(ring_t *r, const uint8_t *p, uint32_t n) {
  uint32_t tail = (r->head + r->len) % r->cap;
  uint32_t first = r->cap - tail < n ? r->cap - tail : n;
  memcpy(r->buf + tail, p, first);
  if (n > first) memcpy(r->buf, p + first, n - first);
  r->len += n;
}

static void ring_get(const ring_t *r, uint32_t off, uint8_t *p, uint32_t n) {
  uint32_t start = (r->head + off) % r->cap;
  uint32_t first = r->cap - start < n ? r->cap - start : n;
  memcpy(p, r->buf + start, first);
  if (n > first) memcpy(p + first, r->buf, n - first);
}

static void ring_drop(ring_t *r, uint32_t n) {
  r->head = (r->head + n) % r->cap;
  r->len -= n;
  if (r->len == 0) r->head = 0;
}

/* Contiguous free space after the tail (for reading from the network in place). */
static uint32_t ring_tail_space(const ring_t *r, uint8_t **p) {
  uint32_t tail;
  if (r->len == r->cap) return 0;
  tail = (r->head + r->len) % r->cap;
  *p = r->buf + tail;
  return tail >= r->head ? r->cap - tail : r->head - tail;
}

/* Contiguous readable bytes at the head. */
static uint32_t ring_head_data(const ring_t *r, uint8_t **p) {
  uint32_t n = r->cap - r->head < r->len ? r->cap - r->head : r->len;
  *p = r->buf + r->head;
  return n;
}

/* ---- The socket table (§6) -------------------------------------------------------------------------------- */

typedef struct sock {
  uint8_t used;       /* the slot holds a socket: live, or terminated with its final STATUS not sent yet */
  uint8_t gen;        /* generation of the slot's current (or last) socket, 1..255 */
  uint8_t terminated; /* TERMINATED: the id no longer exists; only the final STATUS is left to send */
  uint8_t closing;    /* graceful CLOSE: the send queue drains, then FIN, then TERMINATED */
  uint8_t connecting; /* stream connect in progress */
  uint8_t peer_eof;   /* FIN received: nothing more to read */
  uint8_t fin_sent;   /* our FIN handed to the stack */
  uint8_t linger_on;
  uint8_t type, family, protocol, status, blocking;
  uint16_t flags, last_error, options, backlog, conn_queued;
  uint16_t final_error;
  uint16_t error_event; /* ERROR event to send (0 = none) */
  uint16_t connect_error;
  offload_addr_t local, remote;
  uint32_t recv_credit;
  uint32_t host_credit; /* send credit the host holds: initial + SEND_CREDIT - accepted (§7) */
  uint32_t sndbuf, rcvbuf;
  uint32_t sq_data, rq_data; /* data bytes queued (DGRAM: without record headers) */
  ring_t sq, rq;
  uint32_t keepalive_ms, linger_s, ttl;
  uint32_t connect_due, linger_due;
  plat_sock_t h;
  /* what the host was last told (STATUS) */
  uint8_t ann_status;
  uint16_t ann_flags, ann_error;
  offload_addr_t ann_local, ann_remote;
} sock_t;

typedef struct conn {
  uint8_t used, slot, gen;
  uint32_t order;
  plat_sock_t h;
  offload_addr_t remote;
} conn_t;

static struct device {
  dev_config_t cfg;
  uint32_t caps;
  uint32_t now;
  link_t link;
  sock_t s[REFDEV_MAX_SLOTS];
  conn_t conns[REFDEV_CONN_POOL];
  uint32_t conn_order;
  /* §8 */
  uint32_t epoch, event_seq;
  uint8_t boot_pending, boot_reason;
  uint8_t hello_done;
  /* §9 */
  uint32_t irq_status, irq_mask, scratch, boot_time;
  /* §11 channel timeout */
  uint8_t down_timing, timed_out;
  uint32_t down_since;
  uint8_t work_left;
  offload_msg_t req, rsp;
  offload_entry_t entries[REFDEV_MAX_SLOTS];
  uint8_t dgram[REFDEV_MAX_DATAGRAM + 1];
} D;

static link_t *const L = &D.link;

static uint16_t sock_id(const sock_t *s) { return (uint16_t)((unsigned)s->gen << 8 | (unsigned)(s - D.s)); }

/* §6.2: in the table = slot in use, generation matches, not TERMINATED (channel 0 owns everything). */
static sock_t *sock_by_id(uint16_t id) {
  unsigned slot = id & 0xFFu, gen = id >> 8;
  sock_t *s;
  if (slot >= D.cfg.slots || gen == 0) return NULL;
  s = &D.s[slot];
  if (!s->used || s->terminated || s->gen != gen) return NULL;
  return s;
}

static int is_established(uint8_t st) {
  return st == OFFLOAD_SOCKET_STATUS_CONNECTED || st == OFFLOAD_SOCKET_STATUS_SENDING ||
         st == OFFLOAD_SOCKET_STATUS_RECEIVING;
}

static uint32_t send_space(const sock_t *s) { return s->sndbuf > s->sq_data ? s->sndbuf - s->sq_data : 0; }

static uint16_t dgram_head_len(const sock_t *s) {
  uint8_t h[2];
  if (s->rq.len < DGRAM_HDR) return 0;
  ring_get(&s->rq, 0, h, 2);
  return offload_get_u16(h);
}

/* Device-maintained flags and the established statuses follow the queues (§6.3, §6.4). */
static void refresh(sock_t *s) {
  uint16_t f = s->flags & (uint16_t) ~(OFFLOAD_COND_READABLE | OFFLOAD_COND_WRITABLE | OFFLOAD_COND_SEND_BLOCKED |
                                       OFFLOAD_COND_RECV_BLOCKED | OFFLOAD_COND_ACCEPT_PENDING);
  if (s->terminated) return;
  if (s->type == OFFLOAD_SOCKET_TYPE_STREAM && is_established(s->status))
    s->status = s->sq_data > 0   ? OFFLOAD_SOCKET_STATUS_SENDING
                : s->rq_data > 0 ? OFFLOAD_SOCKET_STATUS_RECEIVING
                                 : OFFLOAD_SOCKET_STATUS_CONNECTED;
  if (s->rq_data > 0) {
    f |= OFFLOAD_COND_READABLE;
    if (s->type == OFFLOAD_SOCKET_TYPE_STREAM ? s->recv_credit == 0 : s->recv_credit < dgram_head_len(s))
      f |= OFFLOAD_COND_RECV_BLOCKED;
  }
  if (send_space(s) > 0)
    f |= OFFLOAD_COND_WRITABLE;
  else
    f |= OFFLOAD_COND_SEND_BLOCKED;
  if (s->conn_queued > 0) f |= OFFLOAD_COND_ACCEPT_PENDING;
  s->flags = f;
}

static int addr_equal(const offload_addr_t *a, const offload_addr_t *b) {
  return a->family == b->family && a->port == b->port && memcmp(a->address, b->address, 16) == 0;
}

static int status_changed(const sock_t *s) {
  return s->terminated || s->status != s->ann_status || s->flags != s->ann_flags || s->last_error != s->ann_error ||
         !addr_equal(&s->local, &s->ann_local) || !addr_equal(&s->remote, &s->ann_remote);
}

static void mark_announced(sock_t *s) {
  s->ann_status = s->status;
  s->ann_flags = s->flags;
  s->ann_error = s->last_error;
  s->ann_local = s->local;
  s->ann_remote = s->remote;
}

static uint32_t credit_grant(const sock_t *s) {
  uint64_t used = (uint64_t)s->sq_data + s->host_credit;
  return used >= s->sndbuf ? 0u : (uint32_t)(s->sndbuf - used);
}

static int credit_due(const sock_t *s) {
  uint32_t g = credit_grant(s);
  uint32_t threshold = s->sndbuf / 4u < 4096u ? s->sndbuf / 4u : 4096u;
  if (s->terminated || s->closing || g == 0) return 0;
  return g >= threshold || s->sq_data == 0;
}

static uint16_t max_message(void) { return link_max_message(L); }

static int data_due(const sock_t *s) {
  if (!s->used || s->terminated || s->closing || s->rq_data == 0 || s->recv_credit == 0) return 0;
  if (s->type == OFFLOAD_SOCKET_TYPE_STREAM) return !(s->flags & OFFLOAD_COND_READ_SHUT);
  return s->recv_credit >= dgram_head_len(s);
}

static uint32_t pending_events(const sock_t *s) {
  uint32_t p = 0;
  if (status_changed(s)) p |= 1u << (OFFLOAD_OP_STATUS - OFFLOAD_OP_EVENT_BASE);
  if (data_due(s))
    p |= 1u << ((s->type == OFFLOAD_SOCKET_TYPE_STREAM ? OFFLOAD_OP_DATA : OFFLOAD_OP_DATAGRAM) - OFFLOAD_OP_EVENT_BASE);
  if (credit_grant(s) > 0 && !s->closing) p |= 1u << (OFFLOAD_OP_SEND_CREDIT - OFFLOAD_OP_EVENT_BASE);
  if (s->error_event) p |= 1u << (OFFLOAD_OP_ERROR - OFFLOAD_OP_EVENT_BASE);
  return p;
}

static void fill_entry(const sock_t *s, offload_entry_t *e) {
  memset(e, 0, sizeof *e);
  e->id = sock_id(s);
  e->type = s->type;
  e->family = s->family;
  e->protocol = s->protocol;
  e->status = s->status;
  e->flags = s->flags;
  e->lastError = s->last_error;
  e->options = s->options;
  e->blocking = s->blocking;
  e->channel = OFFLOAD_CHANNEL_DEFAULT;
  e->backlog = s->status == OFFLOAD_SOCKET_STATUS_LISTENING ? s->backlog : 0;
  e->connQueued = s->conn_queued;
  e->sendQueued = s->sq_data;
  e->recvQueued = s->rq_data;
  e->sendSpace = send_space(s);
  e->recvCredit = s->recv_credit;
  e->local = s->local;
  e->remote = s->remote;
  e->pendingEvents = pending_events(s);
}

static unsigned slots_in_use(void) {
  unsigned n = 0;
  for (unsigned i = 0; i < D.cfg.slots; i++) n += D.s[i].used && !D.s[i].terminated;
  return n;
}

/* ---- Connection pool (accepted by the stack, waiting for ACCEPT) ----------------------------------------- */

static unsigned conns_free(void) {
  unsigned n = 0;
  for (unsigned i = 0; i < REFDEV_CONN_POOL; i++) n += !D.conns[i].used;
  return n;
}

static conn_t *conn_oldest(const sock_t *listener) {
  conn_t *best = NULL;
  for (unsigned i = 0; i < REFDEV_CONN_POOL; i++) {
    conn_t *c = &D.conns[i];
    if (c->used && c->slot == (uint8_t)(listener - D.s) && c->gen == listener->gen &&
        (best == NULL || (int32_t)(c->order - best->order) < 0))
      best = c;
  }
  return best;
}

static void conns_drop(sock_t *listener) {
  for (unsigned i = 0; i < REFDEV_CONN_POOL; i++) {
    conn_t *c = &D.conns[i];
    if (c->used && c->slot == (uint8_t)(listener - D.s) && c->gen == listener->gen) {
      plat_net_close(c->h, 1);
      c->used = 0;
    }
  }
  listener->conn_queued = 0;
}

/* ---- Socket life cycle ------------------------------------------------------------------------------------ */

static sock_t *sock_alloc(void) {
  for (unsigned i = 0; i < D.cfg.slots; i++) {
    sock_t *s = &D.s[i];
    if (!s->used) {
      uint8_t gen = (uint8_t)(s->gen == 255u ? 1u : s->gen + 1u);
      ring_t sq = s->sq, rq = s->rq;
      memset(s, 0, sizeof *s);
      s->gen = gen;
      s->used = 1;
      s->sq = sq;
      s->rq = rq;
      s->sq.head = s->sq.len = 0;
      s->rq.head = s->rq.len = 0;
      s->h = PLAT_NO_SOCK;
      s->sndbuf = s->sq.cap;
      s->rcvbuf = s->rq.cap;
      s->host_credit = s->sndbuf;
      s->linger_s = LINGER_OFF;
      s->ttl = 64;
      return s;
    }
  }
  return NULL;
}

static void drop_send_queue(sock_t *s) {
  s->sq.head = s->sq.len = 0;
  s->sq_data = 0;
}

static void drop_recv_queue(sock_t *s) {
  s->rq.head = s->rq.len = 0;
  s->rq_data = 0;
}

/* Close completed (§6.6): the slot stays until the final STATUS TERMINATED has been sent. */
static void terminate(sock_t *s, uint16_t error, int abort) {
  if (s->h != PLAT_NO_SOCK) {
    plat_net_interest(s->h, 0);
    plat_net_close(s->h, abort);
    s->h = PLAT_NO_SOCK;
  }
  if (s->status == OFFLOAD_SOCKET_STATUS_LISTENING) conns_drop(s);
  drop_send_queue(s);
  drop_recv_queue(s);
  s->terminated = 1;
  s->closing = 0;
  s->status = OFFLOAD_SOCKET_STATUS_TERMINATED;
  s->final_error = error;
}

static void free_slot(sock_t *s) {
  uint8_t gen = s->gen;
  ring_t sq = s->sq, rq = s->rq;
  memset(s, 0, sizeof *s);
  s->gen = gen;
  s->sq = sq;
  s->rq = rq;
  s->h = PLAT_NO_SOCK;
}

/* The connection failed or was reset (§6.6): DISCONNECTED, lastError, ERROR_PENDING, send queue dropped. */
static void connection_lost(sock_t *s, uint16_t error) {
  if (s->closing) {
    terminate(s, error, 1); /* CHOICE: a graceful close whose connection fails ends with that error */
    return;
  }
  if (s->h != PLAT_NO_SOCK) {
    plat_net_interest(s->h, 0);
    plat_net_close(s->h, 1);
    s->h = PLAT_NO_SOCK;
  }
  s->connecting = 0;
  s->status = OFFLOAD_SOCKET_STATUS_DISCONNECTED;
  s->last_error = error;
  s->flags |= OFFLOAD_COND_ERROR_PENDING;
  drop_send_queue(s);
}

/* ---- Output helpers --------------------------------------------------------------------------------------- */

static int send_rsp(void) {
  size_t n = 0;
  uint8_t *b = link_msg_buffer(L);
  if (offload_msg_encode(&D.rsp, b, max_message(), &n) != OFFLOAD_OK) {
    /* Cannot happen for the responses built here; answer E_INTERNAL rather than nothing. */
    offload_msg_init(&D.rsp, D.rsp.opcode, D.rsp.tag, OFFLOAD_STATUS_E_INTERNAL);
    if (offload_msg_encode(&D.rsp, b, max_message(), &n) != OFFLOAD_OK) return 0;
  }
  link_msg_commit(L, n);
  return 1;
}

static void rsp_status(uint8_t opcode, uint16_t tag, uint16_t status) {
  offload_msg_init(&D.rsp, OFFLOAD_OP_RESPONSE(opcode), tag, status);
  send_rsp();
}

static uint8_t *evt_begin(uint8_t opcode) {
  uint8_t *b = link_msg_buffer(L);
  b[OFFLOAD_MSG_OPCODE_OFF] = opcode;
  b[1] = 0;
  offload_put_u16(b + OFFLOAD_MSG_TAG_OFF, 0);
  offload_put_u32(b + OFFLOAD_EVT_EPOCH_OFF, D.epoch);
  offload_put_u32(b + OFFLOAD_EVT_SEQ_OFF, D.event_seq + 1u);
  return b;
}

static void evt_commit(size_t len) {
  D.event_seq++;
  link_msg_commit(L, len);
}

static int emit_boot(void) {
  uint8_t *b;
  if (!link_can_send(L, OFFLOAD_BOOT_EVT_SIZE)) return 0;
  b = evt_begin(OFFLOAD_OP_BOOT);
  b[OFFLOAD_BOOT_EVT_REASON_OFF] = D.boot_reason;
  offload_put_u16(b + OFFLOAD_BOOT_EVT_SLOTS_OFF, D.cfg.slots);
  evt_commit(OFFLOAD_BOOT_EVT_SIZE);
  D.boot_pending = 0;
  return 1;
}

static int emit_status(sock_t *s) {
  uint8_t *b;
  if (!link_can_send(L, OFFLOAD_STATUS_EVT_SIZE)) return 0;
  b = evt_begin(OFFLOAD_OP_STATUS);
  offload_put_u16(b + OFFLOAD_STATUS_EVT_ID_OFF, sock_id(s));
  b[OFFLOAD_STATUS_EVT_STATUS_OFF] = s->status;
  offload_put_u16(b + OFFLOAD_STATUS_EVT_FLAGS_OFF, s->terminated ? 0 : s->flags);
  offload_put_u16(b + OFFLOAD_STATUS_EVT_ERROR_OFF, s->terminated ? s->final_error : s->last_error);
  offload_addr_encode(&s->local, b + OFFLOAD_STATUS_EVT_LOCAL_OFF);
  offload_addr_encode(&s->remote, b + OFFLOAD_STATUS_EVT_REMOTE_OFF);
  evt_commit(OFFLOAD_STATUS_EVT_SIZE);
  if (s->terminated)
    free_slot(s);
  else
    mark_announced(s);
  return 1;
}

static int emit_credit(sock_t *s) {
  uint8_t *b;
  uint32_t g = credit_grant(s);
  if (!link_can_send(L, OFFLOAD_SEND_CREDIT_EVT_SIZE)) return 0;
  b = evt_begin(OFFLOAD_OP_SEND_CREDIT);
  offload_put_u16(b + OFFLOAD_SEND_CREDIT_EVT_ID_OFF, sock_id(s));
  offload_put_u32(b + OFFLOAD_SEND_CREDIT_EVT_BYTES_OFF, g);
  evt_commit(OFFLOAD_SEND_CREDIT_EVT_SIZE);
  s->host_credit += g;
  return 1;
}

static int emit_error(sock_t *s) {
  uint8_t *b;
  if (!link_can_send(L, OFFLOAD_ERROR_EVT_SIZE)) return 0;
  b = evt_begin(OFFLOAD_OP_ERROR);
  offload_put_u16(b + OFFLOAD_ERROR_EVT_ID_OFF, sock_id(s));
  offload_put_u16(b + OFFLOAD_ERROR_EVT_CODE_OFF, s->error_event);
  evt_commit(OFFLOAD_ERROR_EVT_SIZE);
  s->error_event = 0;
  return 1;
}

/* DATA / DATAGRAM within the receive credit (§5.9, §7). Returns 1 if one was sent. */
static int emit_data(sock_t *s) {
  uint8_t *b;
  if (s->type == OFFLOAD_SOCKET_TYPE_STREAM) {
    uint32_t room = max_message() - OFFLOAD_DATA_EVT_MIN_SIZE;
    uint32_t n = s->rq_data < s->recv_credit ? s->rq_data : s->recv_credit;
    if (n > room) n = room;
    if (n == 0 || !link_can_send(L, OFFLOAD_DATA_EVT_MIN_SIZE + n)) return 0;
    b = evt_begin(OFFLOAD_OP_DATA);
    offload_put_u16(b + OFFLOAD_DATA_EVT_ID_OFF, sock_id(s));
    ring_get(&s->rq, 0, b + OFFLOAD_DATA_EVT_DATA_OFF, n);
    ring_drop(&s->rq, n);
    s->rq_data -= n;
    s->recv_credit -= n;
    evt_commit(OFFLOAD_DATA_EVT_MIN_SIZE + n);
    return 1;
  } else {
    uint8_t hdr[DGRAM_HDR];
    uint16_t n;
    ring_get(&s->rq, 0, hdr, DGRAM_HDR);
    n = offload_get_u16(hdr);
    if (n > max_message() - OFFLOAD_DATAGRAM_EVT_MIN_SIZE) {
      /* The agreed maximum shrank after the datagram was queued: it cannot be delivered (§5.9). */
      ring_drop(&s->rq, DGRAM_HDR + n);
      s->rq_data -= n;
      s->error_event = OFFLOAD_STATUS_EMSGSIZE;
      return 1;
    }
    if (!link_can_send(L, OFFLOAD_DATAGRAM_EVT_MIN_SIZE + n)) return 0;
    b = evt_begin(OFFLOAD_OP_DATAGRAM);
    offload_put_u16(b + OFFLOAD_DATAGRAM_EVT_ID_OFF, sock_id(s));
    memcpy(b + OFFLOAD_DATAGRAM_EVT_FROM_OFF, hdr + 2, OFFLOAD_ADDR_SIZE);
    ring_get(&s->rq, DGRAM_HDR, b + OFFLOAD_DATAGRAM_EVT_DATA_OFF, n);
    ring_drop(&s->rq, DGRAM_HDR + n);
    s->rq_data -= n;
    s->recv_credit -= n;
    evt_commit(OFFLOAD_DATAGRAM_EVT_MIN_SIZE + n);
    return 1;
  }
}

/* ---- Network service -------------------------------------------------------------------------------------- */

static void net_stream_write(sock_t *s) {
  while (s->sq_data > 0 && s->h != PLAT_NO_SOCK) {
    uint8_t *p;
    size_t sent = 0;
    uint32_t n = ring_head_data(&s->sq, &p);
    int r = plat_net_send(s->h, p, n, &sent);
    if (r == PLAT_AGAIN) return;
    if (r != OFFLOAD_STATUS_OK) {
      connection_lost(s, (uint16_t)r);
      return;
    }
    ring_drop(&s->sq, (uint32_t)sent);
    s->sq_data -= (uint32_t)sent;
  }
}

static void net_dgram_write(sock_t *s) {
  while (s->sq.len >= DGRAM_HDR && s->h != PLAT_NO_SOCK) {
    uint8_t hdr[DGRAM_HDR];
    offload_addr_t to;
    uint16_t n;
    int r;
    ring_get(&s->sq, 0, hdr, DGRAM_HDR);
    n = offload_get_u16(hdr);
    if (offload_addr_decode(hdr + 2, &to) != OFFLOAD_OK) to.family = 0;
    ring_get(&s->sq, DGRAM_HDR, D.dgram, n);
    r = plat_net_sendto(s->h, to.family ? &to : NULL, D.dgram, n);
    if (r == PLAT_AGAIN) return;
    /* Sent, or lost in the network (an ICMP error, an unreachable peer): UDP gives no delivery guarantee. */
    ring_drop(&s->sq, DGRAM_HDR + n);
    s->sq_data -= n;
  }
}

static void net_stream_read(sock_t *s) {
  for (int rounds = 0; rounds < 8 && !s->peer_eof && s->h != PLAT_NO_SOCK; rounds++) {
    uint8_t *p;
    size_t got = 0;
    int discard = s->closing || (s->flags & OFFLOAD_COND_READ_SHUT);
    uint32_t room;
    int r;
    if (discard) {
      p = D.dgram;
      room = sizeof D.dgram;
    } else {
      uint32_t limit = s->rcvbuf > s->rq_data ? s->rcvbuf - s->rq_data : 0;
      room = ring_tail_space(&s->rq, &p);
      if (room > limit) room = limit;
      if (room == 0) return;
    }
    r = plat_net_recv(s->h, p, room, &got);
    if (r == PLAT_AGAIN) return;
    if (r == PLAT_EOF) {
      /* §6.6 peer closed (FIN): PEER_CLOSED; established -> DISCONNECTED with lastError 0, SHUTDOWN stays. */
      s->peer_eof = 1;
      s->flags |= OFFLOAD_COND_PEER_CLOSED;
      if (is_established(s->status)) s->status = OFFLOAD_SOCKET_STATUS_DISCONNECTED;
      return;
    }
    if (r != OFFLOAD_STATUS_OK) {
      connection_lost(s, r == OFFLOAD_STATUS_ETIMEDOUT ? OFFLOAD_STATUS_ETIMEDOUT : OFFLOAD_STATUS_ECONNRESET);
      return;
    }
    if (!discard) {
      s->rq.len += (uint32_t)got;
      s->rq_data += (uint32_t)got;
    }
  }
}

static void net_dgram_read(sock_t *s) {
  uint32_t deliverable = (uint32_t)(max_message() - OFFLOAD_DATAGRAM_EVT_MIN_SIZE);
  for (int rounds = 0; rounds < 16 && s->h != PLAT_NO_SOCK; rounds++) {
    offload_addr_t from;
    size_t got = 0;
    uint8_t hdr[DGRAM_HDR];
    int r;
    /* Read only when any deliverable datagram fits; otherwise it waits in the stack (§7: nothing is dropped
     * by the device for lack of room). */
    if (s->rq.len > 0 && (ring_free(&s->rq) < DGRAM_HDR + deliverable || s->rq_data >= s->rcvbuf)) return;
    r = plat_net_recvfrom(s->h, D.dgram, sizeof D.dgram, &got, &from);
    if (r == PLAT_AGAIN) return;
    if (r != OFFLOAD_STATUS_OK) continue; /* an ICMP error reported on the socket: nothing to deliver */
    if (got > deliverable || DGRAM_HDR + got > ring_free(&s->rq)) {
      s->error_event = OFFLOAD_STATUS_EMSGSIZE; /* §5.9: cannot be delivered */
      continue;
    }
    offload_put_u16(hdr, (uint16_t)got);
    offload_addr_encode(&from, hdr + 2);
    ring_put(&s->rq, hdr, DGRAM_HDR);
    ring_put(&s->rq, D.dgram, (uint32_t)got);
    s->rq_data += (uint32_t)got;
  }
}

static void net_listener(sock_t *s) {
  while (s->conn_queued < s->backlog && s->h != PLAT_NO_SOCK) {
    conn_t *c = NULL;
    plat_sock_t nh;
    offload_addr_t remote;
    int r;
    for (unsigned i = 0; i < REFDEV_CONN_POOL; i++)
      if (!D.conns[i].used) {
        c = &D.conns[i];
        break;
      }
    if (c == NULL) return; /* the pool is full: connections wait in the stack's backlog */
    r = plat_net_accept(s->h, &nh, &remote);
    if (r != OFFLOAD_STATUS_OK) return;
    c->used = 1;
    c->slot = (uint8_t)(s - D.s);
    c->gen = s->gen;
    c->order = D.conn_order++;
    c->h = nh;
    c->remote = remote;
    s->conn_queued++;
  }
}

static void service_socket(sock_t *s) {
  unsigned ready;
  if (!s->used || s->terminated) return;
  if (s->h == PLAT_NO_SOCK) return;
  ready = plat_net_ready(s->h);
  if (s->connecting) {
    int r;
    if (s->connect_error) {
      r = s->connect_error;
      s->connect_error = 0;
    } else if (DUE(D.now, s->connect_due)) {
      r = OFFLOAD_STATUS_ETIMEDOUT;
    } else if (ready) {
      r = plat_net_connect_result(s->h);
    } else {
      return;
    }
    if (r == PLAT_AGAIN) return;
    s->connecting = 0;
    if (r == OFFLOAD_STATUS_OK) {
      s->status = OFFLOAD_SOCKET_STATUS_CONNECTED;
      plat_net_local(s->h, &s->local);
      plat_net_remote(s->h, &s->remote);
    } else {
      connection_lost(s, (uint16_t)r); /* CONNECTING -> DISCONNECTED, lastError, ERROR_PENDING */
    }
    return;
  }
  if (s->type == OFFLOAD_SOCKET_TYPE_STREAM) {
    if (s->status == OFFLOAD_SOCKET_STATUS_LISTENING) {
      if (ready & PLAT_IO_READ) net_listener(s);
      return;
    }
    if (s->status == OFFLOAD_SOCKET_STATUS_UNCONNECTED || s->status == OFFLOAD_SOCKET_STATUS_BOUND) return;
    if (s->sq_data > 0) net_stream_write(s);
    if (s->h != PLAT_NO_SOCK && s->sq_data == 0 && (s->flags & OFFLOAD_COND_WRITE_SHUT) && !s->fin_sent) {
      plat_net_shutdown_write(s->h); /* §5.8.2 SHUTDOWN: FIN once the send queue has drained */
      s->fin_sent = 1;
    }
    if (s->h != PLAT_NO_SOCK && (ready & PLAT_IO_READ)) net_stream_read(s);
    if (s->closing && s->sq_data == 0 && !s->terminated) terminate(s, 0, 0); /* drained: FIN, TERMINATED */
  } else {
    if (s->sq_data > 0 || s->sq.len > 0) net_dgram_write(s);
    if (ready & PLAT_IO_READ) net_dgram_read(s);
  }
}

static void service_timers(sock_t *s) {
  if (!s->used || s->terminated) return;
  if (s->closing && s->linger_on && DUE(D.now, s->linger_due))
    terminate(s, OFFLOAD_STATUS_ECONNABORTED, 1); /* §6.9 LINGER: the close becomes an abort */
}

static void set_interest(sock_t *s) {
  unsigned want = 0;
  if (!s->used || s->terminated || s->h == PLAT_NO_SOCK) return;
  if (s->connecting)
    want = PLAT_IO_WRITE;
  else if (s->type == OFFLOAD_SOCKET_TYPE_STREAM) {
    if (s->status == OFFLOAD_SOCKET_STATUS_LISTENING) {
      if (s->conn_queued < s->backlog && conns_free() > 0) want = PLAT_IO_READ;
    } else if (s->status != OFFLOAD_SOCKET_STATUS_UNCONNECTED && s->status != OFFLOAD_SOCKET_STATUS_BOUND) {
      if (!s->peer_eof &&
          (s->closing || (s->flags & OFFLOAD_COND_READ_SHUT) || (s->rcvbuf > s->rq_data && ring_free(&s->rq) > 0)))
        want |= PLAT_IO_READ;
      if (s->sq_data > 0) want |= PLAT_IO_WRITE;
    }
  } else {
    uint32_t deliverable = (uint32_t)(max_message() - OFFLOAD_DATAGRAM_EVT_MIN_SIZE);
    if (s->rq.len == 0 || (ring_free(&s->rq) >= DGRAM_HDR + deliverable && s->rq_data < s->rcvbuf)) want = PLAT_IO_READ;
    if (s->sq.len > 0) want |= PLAT_IO_WRITE;
  }
  plat_net_interest(s->h, want);
}

/* ---- Device reset (§5.8.1 RESET, §8.3) -------------------------------------------------------------------- */

static void device_reset(uint8_t reason) {
  for (unsigned i = 0; i < D.cfg.slots; i++) {
    sock_t *s = &D.s[i];
    if (s->h != PLAT_NO_SOCK) {
      plat_net_interest(s->h, 0);
      plat_net_close(s->h, 1);
    }
    free_slot(s); /* no STATUS events: the BOOT event says the table is empty */
  }
  for (unsigned i = 0; i < REFDEV_CONN_POOL; i++)
    if (D.conns[i].used) {
      plat_net_close(D.conns[i].h, 1);
      D.conns[i].used = 0;
    }
  D.epoch = D.epoch + 1u == 0 ? 1u : D.epoch + 1u;
  D.event_seq = 0;
  D.boot_pending = 1;
  D.boot_reason = reason;
  D.irq_status |= OFFLOAD_IRQ_RESET;
  D.irq_mask = 0;
  D.scratch = 0;
  D.boot_time = D.now;
  D.timed_out = 0;
  D.hello_done = 0; /* CHOICE: a reset is a reboot: HELLO is required again (§5.4 step 4) */
}

/* ---- Registers (§9) --------------------------------------------------------------------------------------- */

static uint32_t reg_read(uint32_t off) {
  if (off >= OFFLOAD_SOCKET_WINDOW_OFFSET &&
      off < OFFLOAD_SOCKET_WINDOW_OFFSET + OFFLOAD_MAX_SLOTS * OFFLOAD_SOCKET_WINDOW_STRIDE) {
    uint32_t rel = off - OFFLOAD_SOCKET_WINDOW_OFFSET;
    unsigned slot = rel / OFFLOAD_SOCKET_WINDOW_STRIDE, byte = rel % OFFLOAD_SOCKET_WINDOW_STRIDE;
    uint8_t raw[OFFLOAD_ENTRY_SIZE];
    offload_entry_t e;
    if (!(D.caps & OFFLOAD_CAP_REG_WINDOW) || slot >= D.cfg.slots || byte >= OFFLOAD_ENTRY_SIZE) return 0;
    if (!D.s[slot].used || D.s[slot].terminated) return 0; /* a free slot reads all zeros */
    refresh(&D.s[slot]);
    fill_entry(&D.s[slot], &e);
    offload_entry_encode(&e, raw);
    return offload_get_u32(raw + byte);
  }
  switch (off) {
  case OFFLOAD_REG_MAGIC: return OFFLOAD_REGISTER_MAGIC;
  case OFFLOAD_REG_VERSION: return OFFLOAD_PROTOCOL_VERSION;
  case OFFLOAD_REG_CAPS: return D.caps;
  case OFFLOAD_REG_STATUS: return OFFLOAD_DEV_STATUS_READY | (L->up ? OFFLOAD_DEV_STATUS_LINK_UP : 0u);
  case OFFLOAD_REG_BOOT_EPOCH: return D.epoch;
  case OFFLOAD_REG_SLOTS: return (uint32_t)D.cfg.slots | (uint32_t)slots_in_use() << 16;
  case OFFLOAD_REG_MAX_PAYLOAD: return L->own_max;
  case OFFLOAD_REG_FIRMWARE_BUILD: return REFDEV_FIRMWARE_BUILD;
  case OFFLOAD_REG_IRQ_STATUS: return D.irq_status;
  case OFFLOAD_REG_IRQ_MASK: return D.irq_mask;
  case OFFLOAD_REG_DOORBELL: return 0;
  case OFFLOAD_REG_EVENT_SEQ: return D.event_seq;
  case OFFLOAD_REG_SCRATCH: return D.scratch;
  case OFFLOAD_REG_UPTIME_MS: return D.now - D.boot_time;
  case OFFLOAD_REG_SOCKET_WINDOW_OFFSET: return OFFLOAD_SOCKET_WINDOW_OFFSET;
  case OFFLOAD_REG_SOCKET_WINDOW_STRIDE: return OFFLOAD_SOCKET_WINDOW_STRIDE;
  default: return 0; /* reserved, and the ring registers on a stream transport (§9.2) */
  }
}

static uint16_t reg_write(uint32_t off, uint32_t value) {
  switch (off) {
  case OFFLOAD_REG_IRQ_STATUS: D.irq_status &= ~value; return OFFLOAD_STATUS_OK; /* RW1C */
  case OFFLOAD_REG_IRQ_MASK: D.irq_mask = value; return OFFLOAD_STATUS_OK;
  case OFFLOAD_REG_DOORBELL: return OFFLOAD_STATUS_OK; /* WO; nothing to ring on a stream transport */
  case OFFLOAD_REG_SCRATCH: D.scratch = value; return OFFLOAD_STATUS_OK;
  default:
    return OFFLOAD_STATUS_E_NOT_PERMITTED; /* RO, reserved, the window, ring registers on a stream transport */
  }
}

/* ---- Commands: the transition table (§6.5) ---------------------------------------------------------------- */

enum { T_BIND, T_LISTEN, T_CONNECT, T_ACCEPT, T_SEND, T_SENDTO, T_RECV_CREDIT, T_SHUTDOWN, T_CLOSE, T_ANY, T_COUNT };

#define EQ 0x100u               /* allowed, status unchanged */
#define TO(st) (0x200u | (st))  /* allowed, new status */
#define BS OFFLOAD_STATUS_E_BAD_STATE
#define NS OFFLOAD_STATUS_E_NOT_SUPPORTED
#define NC OFFLOAD_STATUS_ENOTCONN
#define UNCONN OFFLOAD_SOCKET_STATUS_UNCONNECTED
#define BOUND OFFLOAD_SOCKET_STATUS_BOUND
#define LSTN OFFLOAD_SOCKET_STATUS_LISTENING
#define CONNG OFFLOAD_SOCKET_STATUS_CONNECTING
#define CONND OFFLOAD_SOCKET_STATUS_CONNECTED
#define SENDG OFFLOAD_SOCKET_STATUS_SENDING
#define SHUT OFFLOAD_SOCKET_STATUS_SHUTDOWN
#define TERM OFFLOAD_SOCKET_STATUS_TERMINATED

/* [command][type - 1][status 0..8]; TERMINATED never reaches the table (the id is unknown, §6.2). */
static const uint16_t transitions[T_COUNT][2][9] = {
    [T_BIND] = {{TO(BOUND), BS, BS, BS, BS, BS, BS, BS, BS}, {TO(BOUND), BS, BS, BS, BS, BS, BS, BS, BS}},
    [T_LISTEN] = {{TO(LSTN), TO(LSTN), BS, BS, BS, BS, BS, BS, BS}, {NS, NS, NS, NS, NS, NS, NS, NS, NS}},
    [T_CONNECT] = {{TO(CONNG), TO(CONNG), BS, OFFLOAD_STATUS_EALREADY, OFFLOAD_STATUS_EISCONN, OFFLOAD_STATUS_EISCONN,
                    OFFLOAD_STATUS_EISCONN, BS, BS},
                   {TO(CONND), TO(CONND), BS, BS, TO(CONND), BS, BS, BS, BS}},
    [T_ACCEPT] = {{BS, BS, EQ, BS, BS, BS, BS, BS, BS}, {NS, NS, NS, NS, NS, NS, NS, NS, NS}},
    [T_SEND] = {{NC, NC, NC, NC, TO(SENDG), TO(SENDG), TO(SENDG), EQ, OFFLOAD_STATUS_EPIPE},
                {NC, NC, NC, NC, EQ, NC, NC, NC, NC}},
    [T_SENDTO] = {{NS, NS, NS, NS, NS, NS, NS, NS, NS}, {TO(BOUND), EQ, BS, BS, EQ, BS, BS, BS, BS}},
    [T_RECV_CREDIT] = {{EQ, EQ, EQ, EQ, EQ, EQ, EQ, EQ, EQ}, {EQ, EQ, EQ, EQ, EQ, EQ, EQ, EQ, EQ}},
    [T_SHUTDOWN] = {{NC, NC, NC, NC, TO(SHUT), TO(SHUT), TO(SHUT), TO(SHUT), EQ}, {NC, NC, NC, NC, NC, NC, NC, NC, NC}},
    [T_CLOSE] = {{TO(TERM), TO(TERM), TO(TERM), TO(TERM), TO(TERM), TO(TERM), TO(TERM), TO(TERM), TO(TERM)},
                 {TO(TERM), TO(TERM), TO(TERM), TO(TERM), TO(TERM), TO(TERM), TO(TERM), TO(TERM), TO(TERM)}},
    [T_ANY] = {{EQ, EQ, EQ, EQ, EQ, EQ, EQ, EQ, EQ}, {EQ, EQ, EQ, EQ, EQ, EQ, EQ, EQ, EQ}},
};

/* 0 if the command is allowed in the socket's status, else the status code to answer (§5.4 step 8). */
static uint16_t check_transition(int cmd, const sock_t *s) {
  uint16_t t;
  if (s->type < 1 || s->type > 2 || s->status > OFFLOAD_SOCKET_STATUS_SHUTDOWN) return OFFLOAD_STATUS_E_BAD_STATE;
  t = transitions[cmd][s->type - 1][s->status];
  return t >= EQ ? 0 : t;
}

/* ---- Commands --------------------------------------------------------------------------------------------- */

#define REQ_U(idx) (D.req.v[(idx)].u)

static void cmd_hello(void) {
  static const char fw[] = REFDEV_FIRMWARE;
  if ((REQ_U(OFFLOAD_HELLO_REQ_PROTO_VERSION_IDX) >> 8) != OFFLOAD_PROTOCOL_VERSION_MAJOR) {
    rsp_status(OFFLOAD_OP_HELLO, D.req.tag, OFFLOAD_STATUS_E_BAD_VERSION);
    return;
  }
  D.hello_done = 1;
  offload_msg_init(&D.rsp, OFFLOAD_OP_HELLO_RSP, D.req.tag, OFFLOAD_STATUS_OK);
  D.rsp.v[OFFLOAD_HELLO_RSP_PROTO_VERSION_IDX].u = OFFLOAD_PROTOCOL_VERSION;
  D.rsp.v[OFFLOAD_HELLO_RSP_CAPS_IDX].u = D.caps;
  D.rsp.v[OFFLOAD_HELLO_RSP_SLOTS_IDX].u = D.cfg.slots;
  D.rsp.v[OFFLOAD_HELLO_RSP_MAX_PAYLOAD_IDX].u = max_message();
  D.rsp.v[OFFLOAD_HELLO_RSP_EPOCH_IDX].u = D.epoch;
  D.rsp.v[OFFLOAD_HELLO_RSP_EVENT_SEQ_IDX].u = D.event_seq;
  D.rsp.v[OFFLOAD_HELLO_RSP_SEND_QUEUE_SIZE_IDX].u = D.cfg.send_queue;
  D.rsp.v[OFFLOAD_HELLO_RSP_RECV_QUEUE_SIZE_IDX].u = D.cfg.recv_queue;
  D.rsp.v[OFFLOAD_HELLO_RSP_FIRMWARE_IDX].bytes.ptr = (const uint8_t *)fw;
  D.rsp.v[OFFLOAD_HELLO_RSP_FIRMWARE_IDX].bytes.len = sizeof fw - 1u;
  send_rsp();
}

static void cmd_ping(size_t req_len) {
  if (req_len + 2u > max_message()) {
    rsp_status(OFFLOAD_OP_PING, D.req.tag, OFFLOAD_STATUS_E_INVALID);
    return;
  }
  offload_msg_init(&D.rsp, OFFLOAD_OP_PING_RSP, D.req.tag, OFFLOAD_STATUS_OK);
  D.rsp.v[OFFLOAD_PING_RSP_PAYLOAD_IDX].bytes = D.req.v[OFFLOAD_PING_REQ_PAYLOAD_IDX].bytes;
  send_rsp();
}

static void cmd_reg_read(void) {
  uint32_t off = REQ_U(OFFLOAD_REG_READ_REQ_OFFSET_IDX), count = REQ_U(OFFLOAD_REG_READ_REQ_COUNT_IDX);
  uint32_t values[OFFLOAD_MAX_REGISTER_READ];
  if (off % 4u != 0 || count == 0 || count > OFFLOAD_MAX_REGISTER_READ || 6u + 4u * count > max_message()) {
    rsp_status(OFFLOAD_OP_REG_READ, D.req.tag, OFFLOAD_STATUS_E_INVALID);
    return;
  }
  for (uint32_t i = 0; i < count; i++) {
    uint64_t o = (uint64_t)off + 4u * i;
    values[i] = o > 0xFFFFFFFCu ? 0u : reg_read((uint32_t)o);
  }
  offload_msg_init(&D.rsp, OFFLOAD_OP_REG_READ_RSP, D.req.tag, OFFLOAD_STATUS_OK);
  D.rsp.v[OFFLOAD_REG_READ_RSP_VALUES_IDX].u32s.list = values;
  D.rsp.v[OFFLOAD_REG_READ_RSP_VALUES_IDX].u32s.count = count;
  send_rsp();
}

static void cmd_reg_write(void) {
  uint32_t off = REQ_U(OFFLOAD_REG_WRITE_REQ_OFFSET_IDX);
  rsp_status(OFFLOAD_OP_REG_WRITE, D.req.tag,
             off % 4u != 0 ? OFFLOAD_STATUS_E_INVALID : reg_write(off, REQ_U(OFFLOAD_REG_WRITE_REQ_VALUE_IDX)));
}

static void cmd_reset(void) {
  if (REQ_U(OFFLOAD_RESET_REQ_MAGIC_IDX) != OFFLOAD_RESET_MAGIC) {
    rsp_status(OFFLOAD_OP_RESET, D.req.tag, OFFLOAD_STATUS_E_INVALID);
    return;
  }
  rsp_status(OFFLOAD_OP_RESET, D.req.tag, OFFLOAD_STATUS_OK); /* the response first, then the reset */
  device_reset(OFFLOAD_BOOT_REASON_HOST_RESET);
}

static void cmd_snapshot(void) {
  uint32_t start = REQ_U(OFFLOAD_SNAPSHOT_REQ_START_SLOT_IDX), max = REQ_U(OFFLOAD_SNAPSHOT_REQ_MAX_ENTRIES_IDX);
  uint32_t all = REQ_U(OFFLOAD_SNAPSHOT_REQ_ALL_CHANNELS_IDX);
  uint32_t fit = (uint32_t)(max_message() - OFFLOAD_SNAPSHOT_RSP_MIN_SIZE) / OFFLOAD_ENTRY_SIZE;
  uint32_t count = 0, next = 0xFFFFu, slot;
  if (max == 0 || all > 1u) {
    rsp_status(OFFLOAD_OP_SNAPSHOT, D.req.tag, OFFLOAD_STATUS_E_INVALID);
    return;
  }
  if (all == 1u) {
    rsp_status(OFFLOAD_OP_SNAPSHOT, D.req.tag, OFFLOAD_STATUS_E_NOT_PERMITTED); /* no ADMIN role without CHANNELS */
    return;
  }
  if (max > fit) max = fit;
  for (slot = start; slot < D.cfg.slots; slot++) {
    sock_t *s = &D.s[slot];
    if (count == max) {
      next = slot;
      break;
    }
    if (!s->used || s->terminated) continue;
    refresh(s);
    fill_entry(s, &D.entries[count++]);
  }
  offload_msg_init(&D.rsp, OFFLOAD_OP_SNAPSHOT_RSP, D.req.tag, OFFLOAD_STATUS_OK);
  D.rsp.v[OFFLOAD_SNAPSHOT_RSP_EPOCH_IDX].u = D.epoch;
  D.rsp.v[OFFLOAD_SNAPSHOT_RSP_EVENT_SEQ_IDX].u = D.event_seq;
  D.rsp.v[OFFLOAD_SNAPSHOT_RSP_NEXT_SLOT_IDX].u = next;
  D.rsp.v[OFFLOAD_SNAPSHOT_RSP_COUNT_IDX].u = count;
  D.rsp.v[OFFLOAD_SNAPSHOT_RSP_ENTRIES_IDX].entries.list = D.entries;
  D.rsp.v[OFFLOAD_SNAPSHOT_RSP_ENTRIES_IDX].entries.count = count;
  send_rsp();
}

static void cmd_socket_open(void) {
  uint32_t type = REQ_U(OFFLOAD_SOCKET_OPEN_REQ_TYPE_IDX), family = REQ_U(OFFLOAD_SOCKET_OPEN_REQ_FAMILY_IDX);
  uint32_t proto = REQ_U(OFFLOAD_SOCKET_OPEN_REQ_PROTOCOL_IDX), blocking = REQ_U(OFFLOAD_SOCKET_OPEN_REQ_BLOCKING_IDX);
  uint16_t st = OFFLOAD_STATUS_OK;
  sock_t *s = NULL;
  plat_sock_t h = PLAT_NO_SOCK;
  if ((type != OFFLOAD_SOCKET_TYPE_STREAM && type != OFFLOAD_SOCKET_TYPE_DGRAM) ||
      proto != (type == OFFLOAD_SOCKET_TYPE_STREAM ? 6u : 17u) || blocking > 1u)
    st = OFFLOAD_STATUS_E_INVALID;
  else if (!(D.caps & (type == OFFLOAD_SOCKET_TYPE_STREAM ? OFFLOAD_CAP_TCP : OFFLOAD_CAP_UDP)))
    st = OFFLOAD_STATUS_E_NOT_SUPPORTED;
  else if (family != 4u && !(family == 6u && (D.caps & OFFLOAD_CAP_IPV6)))
    st = OFFLOAD_STATUS_EAFNOSUPPORT;
  else if (slots_in_use() >= D.cfg.slots || (s = sock_alloc()) == NULL)
    st = OFFLOAD_STATUS_E_NO_SLOT;
  else {
    int r = plat_net_open((uint8_t)type, (uint8_t)family, &h);
    if (r != OFFLOAD_STATUS_OK) {
      free_slot(s);
      st = (uint16_t)r;
    } else {
      s->h = h;
      s->type = (uint8_t)type;
      s->family = (uint8_t)family;
      s->protocol = (uint8_t)proto;
      s->blocking = (uint8_t)blocking;
      s->status = OFFLOAD_SOCKET_STATUS_UNCONNECTED;
      s->recv_credit = REQ_U(OFFLOAD_SOCKET_OPEN_REQ_RECV_CREDIT_IDX);
      refresh(s);
      mark_announced(s); /* no STATUS event announces the creation */
      offload_msg_init(&D.rsp, OFFLOAD_OP_SOCKET_OPEN_RSP, D.req.tag, OFFLOAD_STATUS_OK);
      D.rsp.v[OFFLOAD_SOCKET_OPEN_RSP_ID_IDX].u = sock_id(s);
      D.rsp.v[OFFLOAD_SOCKET_OPEN_RSP_SEND_CREDIT_IDX].u = s->sndbuf;
      send_rsp();
      return;
    }
  }
  rsp_status(OFFLOAD_OP_SOCKET_OPEN, D.req.tag, st);
}

/* Socket commands share the first steps: the id (§5.4 step 7), then the transition table (step 8). */
static sock_t *socket_command(int tcmd, uint16_t id_idx, uint16_t *st) {
  sock_t *s = sock_by_id((uint16_t)D.req.v[id_idx].u);
  *st = OFFLOAD_STATUS_OK;
  if (s == NULL) {
    *st = OFFLOAD_STATUS_E_UNKNOWN_SOCKET;
    return NULL;
  }
  if (s->closing && (tcmd == T_SEND || tcmd == T_SENDTO)) {
    *st = OFFLOAD_STATUS_EPIPE; /* §5.8.2 CLOSE: while closing, SEND/SENDTO get EPIPE */
    return NULL;
  }
  *st = check_transition(tcmd, s);
  return *st == OFFLOAD_STATUS_OK ? s : NULL;
}

/* Address checks shared by BIND, CONNECT, SENDTO (§5.8.2). */
static uint16_t check_addr(const sock_t *s, const offload_addr_t *a, int need_port) {
  if (a->family == 0) return OFFLOAD_STATUS_E_INVALID;
  if (need_port && a->port == 0) return OFFLOAD_STATUS_E_INVALID;
  if (a->family != s->family) return OFFLOAD_STATUS_EAFNOSUPPORT;
  return OFFLOAD_STATUS_OK;
}

static void cmd_bind(void) {
  uint16_t st;
  sock_t *s = socket_command(T_BIND, OFFLOAD_BIND_REQ_ID_IDX, &st);
  const offload_addr_t *a = &D.req.v[OFFLOAD_BIND_REQ_ADDR_IDX].addr;
  if (s != NULL) st = check_addr(s, a, 0);
  if (st == OFFLOAD_STATUS_OK) {
    int r = plat_net_bind(s->h, a);
    if (r != OFFLOAD_STATUS_OK) st = (uint16_t)r;
  }
  if (st != OFFLOAD_STATUS_OK) {
    rsp_status(OFFLOAD_OP_BIND, D.req.tag, st);
    return;
  }
  s->status = OFFLOAD_SOCKET_STATUS_BOUND;
  plat_net_local(s->h, &s->local);
  offload_msg_init(&D.rsp, OFFLOAD_OP_BIND_RSP, D.req.tag, OFFLOAD_STATUS_OK);
  D.rsp.v[OFFLOAD_BIND_RSP_LOCAL_IDX].addr = s->local;
  send_rsp();
}

static void cmd_listen(void) {
  uint16_t st;
  sock_t *s = socket_command(T_LISTEN, OFFLOAD_LISTEN_REQ_ID_IDX, &st);
  uint32_t backlog = REQ_U(OFFLOAD_LISTEN_REQ_BACKLOG_IDX);
  if (s != NULL && backlog == 0) st = OFFLOAD_STATUS_E_INVALID;
  if (backlog > REFDEV_BACKLOG_MAX) backlog = REFDEV_BACKLOG_MAX; /* clamped; the entry shows the value used */
  if (st == OFFLOAD_STATUS_OK) {
    int r = plat_net_listen(s->h, backlog);
    if (r != OFFLOAD_STATUS_OK) st = (uint16_t)r;
  }
  if (st != OFFLOAD_STATUS_OK) {
    rsp_status(OFFLOAD_OP_LISTEN, D.req.tag, st);
    return;
  }
  s->status = OFFLOAD_SOCKET_STATUS_LISTENING;
  s->backlog = (uint16_t)backlog;
  plat_net_local(s->h, &s->local);
  offload_msg_init(&D.rsp, OFFLOAD_OP_LISTEN_RSP, D.req.tag, OFFLOAD_STATUS_OK);
  D.rsp.v[OFFLOAD_LISTEN_RSP_LOCAL_IDX].addr = s->local;
  send_rsp();
}

static void cmd_connect(void) {
  uint16_t st;
  sock_t *s = socket_command(T_CONNECT, OFFLOAD_CONNECT_REQ_ID_IDX, &st);
  const offload_addr_t *a = &D.req.v[OFFLOAD_CONNECT_REQ_ADDR_IDX].addr;
  uint32_t timeout = REQ_U(OFFLOAD_CONNECT_REQ_TIMEOUT_MS_IDX);
  int r = OFFLOAD_STATUS_OK;
  if (s != NULL) st = check_addr(s, a, 1);
  if (st == OFFLOAD_STATUS_OK) {
    r = plat_net_connect(s->h, a);
    /* A stream connect refused at once is still reported the asynchronous way (STATUS DISCONNECTED); an
     * unreachable network may be answered in the response (§5.8.2 CONNECT), status unchanged. */
    if (r != OFFLOAD_STATUS_OK &&
        (s->type == OFFLOAD_SOCKET_TYPE_DGRAM || r != OFFLOAD_STATUS_ECONNREFUSED))
      st = (uint16_t)r;
  }
  if (st != OFFLOAD_STATUS_OK) {
    rsp_status(OFFLOAD_OP_CONNECT, D.req.tag, st);
    return;
  }
  s->remote = *a;
  plat_net_local(s->h, &s->local);
  if (s->type == OFFLOAD_SOCKET_TYPE_DGRAM) {
    s->status = OFFLOAD_SOCKET_STATUS_CONNECTED;
  } else {
    s->status = OFFLOAD_SOCKET_STATUS_CONNECTING;
    s->connecting = 1;
    s->connect_error = r == OFFLOAD_STATUS_OK ? 0 : (uint16_t)r;
    s->connect_due = D.now + (timeout ? timeout : REFDEV_CONNECT_TIMEOUT_MS);
  }
  rsp_status(OFFLOAD_OP_CONNECT, D.req.tag, OFFLOAD_STATUS_OK);
}

static void cmd_accept(void) {
  uint16_t st;
  sock_t *l = socket_command(T_ACCEPT, OFFLOAD_ACCEPT_REQ_ID_IDX, &st), *s = NULL;
  conn_t *c = NULL;
  if (l != NULL && (c = conn_oldest(l)) == NULL) st = OFFLOAD_STATUS_E_WOULD_BLOCK;
  if (st == OFFLOAD_STATUS_OK && (slots_in_use() >= D.cfg.slots || (s = sock_alloc()) == NULL))
    st = OFFLOAD_STATUS_E_NO_SLOT; /* the connection stays queued */
  if (st != OFFLOAD_STATUS_OK) {
    rsp_status(OFFLOAD_OP_ACCEPT, D.req.tag, st);
    return;
  }
  s->h = c->h;
  s->type = OFFLOAD_SOCKET_TYPE_STREAM;
  s->family = l->family;
  s->protocol = 6;
  s->blocking = l->blocking;
  s->options = l->options & OFFLOAD_OPT_BIT(OFFLOAD_OPT_NODELAY);
  s->status = OFFLOAD_SOCKET_STATUS_CONNECTED;
  s->recv_credit = REQ_U(OFFLOAD_ACCEPT_REQ_RECV_CREDIT_IDX);
  s->remote = c->remote;
  plat_net_local(s->h, &s->local);
  if (s->options) plat_net_setopt(s->h, OFFLOAD_OPT_NODELAY, 1);
  c->used = 0;
  l->conn_queued--;
  refresh(s);
  mark_announced(s); /* created by the response, not by a STATUS event */
  offload_msg_init(&D.rsp, OFFLOAD_OP_ACCEPT_RSP, D.req.tag, OFFLOAD_STATUS_OK);
  D.rsp.v[OFFLOAD_ACCEPT_RSP_NEW_ID_IDX].u = sock_id(s);
  D.rsp.v[OFFLOAD_ACCEPT_RSP_SEND_CREDIT_IDX].u = s->sndbuf;
  D.rsp.v[OFFLOAD_ACCEPT_RSP_LOCAL_IDX].addr = s->local;
  D.rsp.v[OFFLOAD_ACCEPT_RSP_REMOTE_IDX].addr = s->remote;
  send_rsp();
}

static void rsp_accepted(uint8_t opcode, uint16_t st, uint32_t accepted) {
  offload_msg_init(&D.rsp, OFFLOAD_OP_RESPONSE(opcode), D.req.tag, st);
  D.rsp.v[0].u = accepted; /* OFFLOAD_SEND_RSP_ACCEPTED_IDX == OFFLOAD_SEND_ERR_ACCEPTED_IDX == 0 */
  send_rsp();
}

static void host_spent(sock_t *s, uint32_t n) { s->host_credit = s->host_credit > n ? s->host_credit - n : 0; }

/* One datagram: straight to the network if nothing waits, else into the send queue (all or nothing). */
static uint16_t send_datagram(sock_t *s, const offload_addr_t *to, const uint8_t *p, size_t n) {
  uint8_t hdr[DGRAM_HDR];
  if (n > REFDEV_MAX_DATAGRAM) return OFFLOAD_STATUS_EMSGSIZE;
  if (s->sq.len == 0) {
    int r = plat_net_sendto(s->h, to, p, n);
    if (r == OFFLOAD_STATUS_OK) return OFFLOAD_STATUS_OK;
    if (r == OFFLOAD_STATUS_EMSGSIZE || r == OFFLOAD_STATUS_EACCES || r == OFFLOAD_STATUS_ENETUNREACH ||
        r == OFFLOAD_STATUS_EHOSTUNREACH || r == OFFLOAD_STATUS_EADDRNOTAVAIL || r == OFFLOAD_STATUS_EAFNOSUPPORT)
      return (uint16_t)r;
    if (r != PLAT_AGAIN) return OFFLOAD_STATUS_OK; /* lost in the network (e.g. an earlier ICMP error) */
  }
  if (n > send_space(s) || DGRAM_HDR + n > ring_free(&s->sq)) return OFFLOAD_STATUS_E_QUEUE_FULL;
  offload_put_u16(hdr, (uint16_t)n);
  if (to != NULL)
    offload_addr_encode(to, hdr + 2);
  else
    memset(hdr + 2, 0, OFFLOAD_ADDR_SIZE);
  ring_put(&s->sq, hdr, DGRAM_HDR);
  ring_put(&s->sq, p, (uint32_t)n);
  s->sq_data += (uint32_t)n;
  return OFFLOAD_STATUS_OK;
}

static void cmd_send(void) {
  uint16_t st;
  sock_t *s = socket_command(T_SEND, OFFLOAD_SEND_REQ_ID_IDX, &st);
  const uint8_t *data = D.req.v[OFFLOAD_SEND_REQ_DATA_IDX].bytes.ptr;
  size_t len = D.req.v[OFFLOAD_SEND_REQ_DATA_IDX].bytes.len;
  if (s != NULL && s->type == OFFLOAD_SOCKET_TYPE_STREAM && s->status == OFFLOAD_SOCKET_STATUS_DISCONNECTED &&
      (s->last_error != 0 || s->h == PLAT_NO_SOCK))
    st = OFFLOAD_STATUS_EPIPE; /* after a reset or a failed connect; only a clean peer close is half-open */
  if (st != OFFLOAD_STATUS_OK) {
    rsp_accepted(OFFLOAD_OP_SEND, st, 0);
    return;
  }
  if (s->type == OFFLOAD_SOCKET_TYPE_STREAM) {
    uint32_t n;
    if (len == 0) {
      rsp_accepted(OFFLOAD_OP_SEND, OFFLOAD_STATUS_E_INVALID, 0);
      return;
    }
    n = send_space(s);
    if (n > ring_free(&s->sq)) n = ring_free(&s->sq);
    if (n > len) n = (uint32_t)len;
    ring_put(&s->sq, data, n);
    s->sq_data += n;
    host_spent(s, n);
    refresh(s);
    net_stream_write(s); /* straight on towards the network */
    rsp_accepted(OFFLOAD_OP_SEND, n == len ? OFFLOAD_STATUS_OK : OFFLOAD_STATUS_E_QUEUE_FULL, n);
  } else {
    st = send_datagram(s, NULL, data, len);
    if (st == OFFLOAD_STATUS_OK) host_spent(s, (uint32_t)len);
    rsp_accepted(OFFLOAD_OP_SEND, st, st == OFFLOAD_STATUS_OK ? (uint32_t)len : 0u);
  }
}

static void cmd_sendto(void) {
  uint16_t st;
  sock_t *s = socket_command(T_SENDTO, OFFLOAD_SENDTO_REQ_ID_IDX, &st);
  const offload_addr_t *a = &D.req.v[OFFLOAD_SENDTO_REQ_ADDR_IDX].addr;
  const uint8_t *data = D.req.v[OFFLOAD_SENDTO_REQ_DATA_IDX].bytes.ptr;
  size_t len = D.req.v[OFFLOAD_SENDTO_REQ_DATA_IDX].bytes.len;
  if (s != NULL) st = check_addr(s, a, 1);
  if (st == OFFLOAD_STATUS_OK && s->status == OFFLOAD_SOCKET_STATUS_UNCONNECTED) {
    /* §6.5: SENDTO from UNCONNECTED binds to an ephemeral port on "any" first. */
    offload_addr_t any;
    int r;
    memset(&any, 0, sizeof any);
    any.family = s->family;
    r = plat_net_bind(s->h, &any);
    if (r != OFFLOAD_STATUS_OK)
      st = (uint16_t)r;
    else {
      s->status = OFFLOAD_SOCKET_STATUS_BOUND;
      plat_net_local(s->h, &s->local);
    }
  }
  if (st == OFFLOAD_STATUS_OK) st = send_datagram(s, a, data, len);
  if (st == OFFLOAD_STATUS_OK) host_spent(s, (uint32_t)len);
  rsp_accepted(OFFLOAD_OP_SENDTO, st, st == OFFLOAD_STATUS_OK ? (uint32_t)len : 0u);
}

static void cmd_recv_credit(void) {
  uint16_t st;
  sock_t *s = socket_command(T_RECV_CREDIT, OFFLOAD_RECV_CREDIT_REQ_ID_IDX, &st);
  uint32_t bytes = REQ_U(OFFLOAD_RECV_CREDIT_REQ_BYTES_IDX);
  if (s != NULL && (uint64_t)s->recv_credit + bytes > 0xFFFFFFFFu) st = OFFLOAD_STATUS_E_INVALID;
  if (st == OFFLOAD_STATUS_OK) s->recv_credit += bytes;
  rsp_status(OFFLOAD_OP_RECV_CREDIT, D.req.tag, st);
}

static void cmd_shutdown(void) {
  uint16_t st;
  sock_t *s = socket_command(T_SHUTDOWN, OFFLOAD_SHUTDOWN_REQ_ID_IDX, &st);
  uint32_t how = REQ_U(OFFLOAD_SHUTDOWN_REQ_HOW_IDX);
  if (s != NULL && (how < OFFLOAD_SHUT_READ || how > OFFLOAD_SHUT_BOTH)) st = OFFLOAD_STATUS_E_INVALID;
  if (st == OFFLOAD_STATUS_OK) {
    if (how & OFFLOAD_SHUT_READ) {
      s->flags |= OFFLOAD_COND_READ_SHUT; /* queued and later data is discarded; the window stays open */
      drop_recv_queue(s);
    }
    if (how & OFFLOAD_SHUT_WRITE) {
      s->flags |= OFFLOAD_COND_WRITE_SHUT;
      s->status = OFFLOAD_SOCKET_STATUS_SHUTDOWN; /* FIN once the send queue has drained (service_socket) */
    }
  }
  rsp_status(OFFLOAD_OP_SHUTDOWN, D.req.tag, st);
}

static void cmd_close(void) {
  uint16_t st;
  sock_t *s = socket_command(T_CLOSE, OFFLOAD_CLOSE_REQ_ID_IDX, &st);
  uint32_t abort = REQ_U(OFFLOAD_CLOSE_REQ_ABORT_IDX);
  if (s != NULL && abort > 1u) st = OFFLOAD_STATUS_E_INVALID;
  rsp_status(OFFLOAD_OP_CLOSE, D.req.tag, st); /* the response comes at once; TERMINATED follows */
  if (st != OFFLOAD_STATUS_OK) return;
  if (abort) {
    terminate(s, OFFLOAD_STATUS_ECONNABORTED, 1);
    return;
  }
  if (s->closing) return; /* CLOSE abort = 0 while closing: OK, nothing changes */
  drop_recv_queue(s);     /* graceful: the receive queue is dropped, no further DATA */
  if (s->type == OFFLOAD_SOCKET_TYPE_STREAM && s->linger_s == 0 && s->h != PLAT_NO_SOCK &&
      s->status != OFFLOAD_SOCKET_STATUS_LISTENING && s->status != OFFLOAD_SOCKET_STATUS_UNCONNECTED &&
      s->status != OFFLOAD_SOCKET_STATUS_BOUND) {
    terminate(s, OFFLOAD_STATUS_ECONNABORTED, 1); /* LINGER 0: abort at close */
    return;
  }
  if (s->type == OFFLOAD_SOCKET_TYPE_STREAM && s->sq_data > 0 && s->h != PLAT_NO_SOCK && !s->connecting) {
    s->closing = 1;
    if (s->linger_s != LINGER_OFF) {
      s->linger_on = 1;
      s->linger_due = D.now + s->linger_s * 1000u;
    }
    return;
  }
  terminate(s, 0, 0);
}

/* Option rules (§6.9): 0 = applies; else the status. */
static uint16_t option_check(const sock_t *s, uint32_t opt) {
  if (opt < OFFLOAD_OPT_REUSEADDR || opt > OFFLOAD_OPT_TTL) return OFFLOAD_STATUS_E_NOT_SUPPORTED;
  if (opt == OFFLOAD_OPT_KEEPALIVE && !(D.caps & OFFLOAD_CAP_KEEPALIVE)) return OFFLOAD_STATUS_E_NOT_SUPPORTED;
  if ((opt == OFFLOAD_OPT_NODELAY || opt == OFFLOAD_OPT_KEEPALIVE || opt == OFFLOAD_OPT_LINGER) &&
      s->type != OFFLOAD_SOCKET_TYPE_STREAM)
    return OFFLOAD_STATUS_E_INVALID;
  if (opt == OFFLOAD_OPT_BROADCAST && s->type != OFFLOAD_SOCKET_TYPE_DGRAM) return OFFLOAD_STATUS_E_INVALID;
  return OFFLOAD_STATUS_OK;
}

static void cmd_setopt(void) {
  uint16_t st;
  sock_t *s = socket_command(T_ANY, OFFLOAD_SETOPT_REQ_ID_IDX, &st);
  uint32_t opt = REQ_U(OFFLOAD_SETOPT_REQ_OPTION_IDX), v = REQ_U(OFFLOAD_SETOPT_REQ_VALUE_IDX);
  if (s != NULL) st = option_check(s, opt);
  if (st == OFFLOAD_STATUS_OK) {
    switch (opt) {
    case OFFLOAD_OPT_REUSEADDR:
    case OFFLOAD_OPT_NODELAY:
    case OFFLOAD_OPT_BROADCAST:
      if (v > 1u) st = OFFLOAD_STATUS_E_INVALID;
      break;
    case OFFLOAD_OPT_RCVBUF:
    case OFFLOAD_OPT_SNDBUF:
      if (v == 0) st = OFFLOAD_STATUS_E_INVALID;
      break;
    case OFFLOAD_OPT_TTL:
      if (v < 1u || v > 255u) st = OFFLOAD_STATUS_E_INVALID;
      break;
    default:
      break;
    }
  }
  if (st == OFFLOAD_STATUS_OK && s->h != PLAT_NO_SOCK && opt != OFFLOAD_OPT_RCVBUF && opt != OFFLOAD_OPT_SNDBUF &&
      opt != OFFLOAD_OPT_LINGER) {
    int r = plat_net_setopt(s->h, (uint16_t)opt, v);
    if (r != OFFLOAD_STATUS_OK) st = (uint16_t)r;
  }
  if (st == OFFLOAD_STATUS_OK) {
    switch (opt) {
    case OFFLOAD_OPT_RCVBUF: s->rcvbuf = v < s->rq.cap ? v : s->rq.cap; break; /* rounded to the queue memory */
    case OFFLOAD_OPT_SNDBUF: s->sndbuf = v < s->sq.cap ? v : s->sq.cap; break; /* grants / withholds credit */
    case OFFLOAD_OPT_LINGER: s->linger_s = v; break;
    case OFFLOAD_OPT_TTL: s->ttl = v; break;
    case OFFLOAD_OPT_KEEPALIVE:
      s->keepalive_ms = v;
      /* fall through */
    default:
      if (v)
        s->options |= (uint16_t)OFFLOAD_OPT_BIT(opt);
      else
        s->options &= (uint16_t) ~OFFLOAD_OPT_BIT(opt);
      break;
    }
  }
  rsp_status(OFFLOAD_OP_SETOPT, D.req.tag, st);
}

static void cmd_getopt(void) {
  uint16_t st;
  sock_t *s = socket_command(T_ANY, OFFLOAD_GETOPT_REQ_ID_IDX, &st);
  uint32_t opt = REQ_U(OFFLOAD_GETOPT_REQ_OPTION_IDX), v = 0;
  if (s != NULL) st = option_check(s, opt);
  if (st != OFFLOAD_STATUS_OK) {
    rsp_status(OFFLOAD_OP_GETOPT, D.req.tag, st);
    return;
  }
  switch (opt) {
  case OFFLOAD_OPT_KEEPALIVE: v = s->keepalive_ms; break; /* CHOICE: the idle time, as SETOPT took it */
  case OFFLOAD_OPT_RCVBUF: v = s->rcvbuf; break;
  case OFFLOAD_OPT_SNDBUF: v = s->sndbuf; break;
  case OFFLOAD_OPT_LINGER: v = s->linger_s; break;
  case OFFLOAD_OPT_TTL: v = s->ttl; break;
  default: v = (s->options & OFFLOAD_OPT_BIT(opt)) ? 1u : 0u; break;
  }
  offload_msg_init(&D.rsp, OFFLOAD_OP_GETOPT_RSP, D.req.tag, OFFLOAD_STATUS_OK);
  D.rsp.v[OFFLOAD_GETOPT_RSP_VALUE_IDX].u = v;
  send_rsp();
}

/* FIG 32 (§6.8). */
static void cmd_update(void) {
  uint16_t st;
  sock_t *s = socket_command(T_ANY, OFFLOAD_UPDATE_REQ_ID_IDX, &st);
  uint32_t status = REQ_U(OFFLOAD_UPDATE_REQ_STATUS_IDX);
  uint16_t set = (uint16_t)REQ_U(OFFLOAD_UPDATE_REQ_SET_FLAGS_IDX);
  uint16_t clr = (uint16_t)REQ_U(OFFLOAD_UPDATE_REQ_CLEAR_FLAGS_IDX);
  if (s != NULL) {
    refresh(s);
    if (status != OFFLOAD_SOCKET_STATUS_KEEP && status != s->status)
      st = OFFLOAD_STATUS_E_BAD_STATE;
    else if ((set & (uint16_t)~OFFLOAD_COND_HOST_SETTABLE) || (clr & (uint16_t)~OFFLOAD_COND_HOST_CLEARABLE) ||
             (set & clr))
      st = OFFLOAD_STATUS_E_INVALID;
  }
  if (st != OFFLOAD_STATUS_OK) {
    rsp_status(OFFLOAD_OP_UPDATE, D.req.tag, st);
    return;
  }
  s->flags = (uint16_t)((s->flags | set) & ~clr);
  offload_msg_init(&D.rsp, OFFLOAD_OP_UPDATE_RSP, D.req.tag, OFFLOAD_STATUS_OK);
  D.rsp.v[OFFLOAD_UPDATE_RSP_STATUS_IDX].u = s->status;
  D.rsp.v[OFFLOAD_UPDATE_RSP_FLAGS_IDX].u = s->flags;
  send_rsp();
}

static void cmd_query(void) {
  uint16_t st;
  sock_t *s = socket_command(T_ANY, OFFLOAD_QUERY_REQ_ID_IDX, &st);
  if (st != OFFLOAD_STATUS_OK) {
    rsp_status(OFFLOAD_OP_QUERY, D.req.tag, st);
    return;
  }
  refresh(s);
  offload_msg_init(&D.rsp, OFFLOAD_OP_QUERY_RSP, D.req.tag, OFFLOAD_STATUS_OK);
  fill_entry(s, &D.rsp.v[OFFLOAD_QUERY_RSP_ENTRY_IDX].entry);
  send_rsp();
}

/* §5.5: a message that does not decode. */
static void error_response(const uint8_t *p, size_t len, uint16_t status) {
  offload_msg_init(&D.rsp, OFFLOAD_OP_ERROR_RESPONSE, len >= OFFLOAD_MSG_HEADER_SIZE ? offload_get_u16(p + 2) : 0,
                   status);
  D.rsp.v[OFFLOAD_ERROR_RESPONSE_OFFENDING_OPCODE_IDX].u = len > 0 ? p[0] : 0;
  send_rsp();
}

/* One message from the host, processed in the order of §5.4. */
static void execute(uint8_t *p, size_t len) {
  const offload_msg_desc_t *desc;
  int err;
  uint8_t op;
  if (len < OFFLOAD_MSG_HEADER_SIZE) {
    error_response(p, len, OFFLOAD_STATUS_E_BAD_LENGTH); /* MSG_EMPTY, MSG_TOO_SHORT */
    return;
  }
  op = p[0];
  desc = offload_msg_desc_by_opcode(op);
  if (desc == NULL || desc->kind != OFFLOAD_KIND_COMMAND || op >= OFFLOAD_OP_EVENT_BASE) {
    error_response(p, len, OFFLOAD_STATUS_E_BAD_OPCODE); /* undefined, or a response/event/0x80 (wrong kind) */
    return;
  }
  /* §5.1: the flags byte is reserved and must be 0; the codec rejects anything else (MSG_BAD_FIELD → E_INVALID). */
  err = offload_msg_decode(p, len, &D.req);
  if (err != OFFLOAD_OK) {
    error_response(p, len,
                   err == OFFLOAD_ERR_MSG_BAD_FIELD        ? OFFLOAD_STATUS_E_INVALID
                   : err == OFFLOAD_ERR_MSG_UNKNOWN_OPCODE ? OFFLOAD_STATUS_E_BAD_OPCODE
                                                           : OFFLOAD_STATUS_E_BAD_LENGTH);
    return;
  }
  /* step 2 (FAULT) and step 3 (E_BUSY) never apply: commands are executed one at a time as they arrive. */
  if (!D.hello_done && op != OFFLOAD_OP_HELLO && op != OFFLOAD_OP_PING && op != OFFLOAD_OP_REG_READ) {
    rsp_status(op, D.req.tag, OFFLOAD_STATUS_E_BAD_STATE); /* step 4 */
    return;
  }
  if (desc->capability && !(D.caps & desc->capability)) {
    rsp_status(op, D.req.tag, OFFLOAD_STATUS_E_NOT_SUPPORTED); /* step 5 */
    return;
  }
  switch (op) {
  case OFFLOAD_OP_HELLO: cmd_hello(); break;
  case OFFLOAD_OP_PING: cmd_ping(len); break;
  case OFFLOAD_OP_REG_READ: cmd_reg_read(); break;
  case OFFLOAD_OP_REG_WRITE: cmd_reg_write(); break;
  case OFFLOAD_OP_RESET: cmd_reset(); break;
  case OFFLOAD_OP_SNAPSHOT: cmd_snapshot(); break;
  case OFFLOAD_OP_SOCKET_OPEN: cmd_socket_open(); break;
  case OFFLOAD_OP_BIND: cmd_bind(); break;
  case OFFLOAD_OP_LISTEN: cmd_listen(); break;
  case OFFLOAD_OP_CONNECT: cmd_connect(); break;
  case OFFLOAD_OP_ACCEPT: cmd_accept(); break;
  case OFFLOAD_OP_SEND: cmd_send(); break;
  case OFFLOAD_OP_SENDTO: cmd_sendto(); break;
  case OFFLOAD_OP_RECV_CREDIT: cmd_recv_credit(); break;
  case OFFLOAD_OP_SHUTDOWN: cmd_shutdown(); break;
  case OFFLOAD_OP_CLOSE: cmd_close(); break;
  case OFFLOAD_OP_SETOPT: cmd_setopt(); break;
  case OFFLOAD_OP_GETOPT: cmd_getopt(); break;
  case OFFLOAD_OP_UPDATE: cmd_update(); break;
  case OFFLOAD_OP_QUERY: cmd_query(); break;
  default: rsp_status(op, D.req.tag, OFFLOAD_STATUS_E_NOT_SUPPORTED); break; /* a capability we lack */
  }
}

/* ---- The pass --------------------------------------------------------------------------------------------- */

/* BOOT, STATUS, ERROR, SEND_CREDIT of every socket. 0 if it had to stop for lack of room. */
static int flush_events(void) {
  if (D.boot_pending && !emit_boot()) return 0;
  if (D.boot_pending) return 0;
  for (unsigned i = 0; i < D.cfg.slots; i++) {
    sock_t *s = &D.s[i];
    if (!s->used) continue;
    refresh(s);
    if (s->error_event && !s->terminated && !emit_error(s)) return 0;
    if (status_changed(s) && !emit_status(s)) return 0;
    if (s->used && credit_due(s) && !emit_credit(s)) return 0;
  }
  return 1;
}

static unsigned data_cursor;

/* DATA / DATAGRAM events, round-robin over the sockets, as room allows. Returns how many were sent. */
static unsigned deliver_data(void) {
  unsigned sent = 0, idle = 0;
  if (D.boot_pending) return 0;
  while (idle < D.cfg.slots) {
    sock_t *s = &D.s[data_cursor];
    if (data_due(s) && emit_data(s)) {
      sent++;
      idle = 0;
      if (sent >= 64u) break;
      continue; /* the same socket again while it has data and credit */
    }
    data_cursor = (data_cursor + 1u) % D.cfg.slots;
    idle++;
  }
  return sent;
}

static void pump(void) {
  D.work_left = 0;
  if (!L->up) return;
  for (int iter = 0; iter < 256; iter++) {
    uint8_t *p;
    size_t len;
    int progress = deliver_data() > 0;
    if (!flush_events()) return;
    if (link_msg_peek(L, &p, &len)) {
      if (!link_can_send(L, max_message())) return;
      execute(p, len);
      link_msg_done(L);
      progress = 1;
    }
    if (!progress) return;
  }
  D.work_left = 1;
}

void dev_run(uint32_t now) {
  D.now = now;
  link_poll(L, now);
  if (L->ev_down) {
    L->ev_down = 0;
    D.down_timing = 1;
    D.down_since = now;
  }
  if (L->ev_reset) {
    L->ev_reset = 0;
    D.down_timing = 0;
  }
  if (!L->up && !D.down_timing) {
    D.down_timing = 1;
    D.down_since = now;
  }
  if (!L->up && D.down_timing && !D.timed_out && DUE(now, D.down_since + D.cfg.channel_timeout_ms)) {
    /* §11 channel timeout: abort every socket of the channel (channel 0 stays open). */
    for (unsigned i = 0; i < D.cfg.slots; i++)
      if (D.s[i].used && !D.s[i].terminated) terminate(&D.s[i], OFFLOAD_STATUS_ECONNABORTED, 1);
    D.timed_out = 1;
  }
  if (L->up) D.timed_out = 0;
  for (unsigned i = 0; i < D.cfg.slots; i++) {
    service_socket(&D.s[i]);
    service_timers(&D.s[i]);
  }
  pump();
  for (unsigned i = 0; i < D.cfg.slots; i++) {
    sock_t *s = &D.s[i];
    if (s->used && !s->terminated && s->h != PLAT_NO_SOCK &&
        (s->sq_data > 0 || s->closing || ((s->flags & OFFLOAD_COND_WRITE_SHUT) && !s->fin_sent)))
      service_socket(s); /* what the commands just queued goes out now, not at the next readiness */
  }
  pump();
  /* Commands already read from the stream but held while the queue was full: take them now, not at the next
   * readiness (the stream may have nothing new to say). */
  for (int rounds = 0; rounds < 16 && link_input_ready(L); rounds++) {
    link_poll(L, now);
    pump();
  }
  link_flush(L);
  for (unsigned i = 0; i < D.cfg.slots; i++) set_interest(&D.s[i]);
}

uint32_t dev_next_timeout(uint32_t now, uint32_t max) {
  uint32_t t = link_next_timeout(L, now, max);
  if (D.work_left || link_input_ready(L)) return 0;
  for (unsigned i = 0; i < D.cfg.slots; i++) {
    const sock_t *s = &D.s[i];
    int32_t d;
    if (!s->used || s->terminated) continue;
    if (s->connecting) {
      if (s->connect_error) return 0;
      d = (int32_t)(s->connect_due - now);
      if (d <= 0) return 0;
      if ((uint32_t)d < t) t = (uint32_t)d;
    }
    if (s->closing && s->linger_on) {
      d = (int32_t)(s->linger_due - now);
      if (d <= 0) return 0;
      if ((uint32_t)d < t) t = (uint32_t)d;
    }
  }
  if (!L->up && D.down_timing && !D.timed_out) {
    int32_t d = (int32_t)(D.down_since + D.cfg.channel_timeout_ms - now);
    if (d <= 0) return 0;
    if ((uint32_t)d < t) t = (uint32_t)d;
  }
  return t;
}

size_t dev_pool_size(uint16_t slots, uint32_t send_queue, uint32_t recv_queue) {
  return (size_t)slots * ((size_t)send_queue + recv_queue);
}

int dev_init(const dev_config_t *cfg, uint32_t now) {
  uint8_t *p;
  memset(&D, 0, sizeof D);
  D.cfg = *cfg;
  if (D.cfg.slots == 0 || D.cfg.slots > REFDEV_MAX_SLOTS || D.cfg.send_queue == 0 || D.cfg.recv_queue == 0)
    return -1;
  if (cfg->pool == NULL || cfg->pool_size < dev_pool_size(cfg->slots, cfg->send_queue, cfg->recv_queue)) return -1;
  D.caps = cfg->caps ? cfg->caps & DEVICE_CAPS : DEVICE_CAPS;
  if (D.cfg.channel_timeout_ms == 0) D.cfg.channel_timeout_ms = REFDEV_CHANNEL_TIMEOUT_MS;
  D.now = now;
  p = cfg->pool;
  for (unsigned i = 0; i < D.cfg.slots; i++) {
    D.s[i].sq.buf = p;
    D.s[i].sq.cap = cfg->send_queue;
    p += cfg->send_queue;
    D.s[i].rq.buf = p;
    D.s[i].rq.cap = cfg->recv_queue;
    p += cfg->recv_queue;
    D.s[i].h = PLAT_NO_SOCK;
  }
  for (unsigned i = 0; i < REFDEV_CONN_POOL; i++) D.conns[i].h = PLAT_NO_SOCK;
  /* §8.3: no non-volatile memory here, so the power-on epoch is a random non-zero value. */
  do D.epoch = plat_random32() & 0x7FFFFFFFu;
  while (D.epoch == 0);
  D.event_seq = 0;
  D.boot_pending = 1;
  D.boot_reason = OFFLOAD_BOOT_REASON_POWER_ON;
  D.irq_status = OFFLOAD_IRQ_RESET;
  D.boot_time = now;
  {
    uint16_t maxp = cfg->max_payload
                        ? cfg->max_payload
                        : (cfg->framing == PLAT_LINK_TCP ? REFDEV_TCP_MAX_PAYLOAD : REFDEV_SERIAL_MAX_PAYLOAD);
    link_init(L, cfg->framing, maxp, cfg->framing == PLAT_LINK_SERIAL, cfg->baud, now);
  }
  return 0;
}

void dev_shutdown(void) {
  for (unsigned i = 0; i < D.cfg.slots; i++) {
    sock_t *s = &D.s[i];
    if (s->h != PLAT_NO_SOCK) {
      plat_net_close(s->h, 1);
      s->h = PLAT_NO_SOCK;
    }
  }
  for (unsigned i = 0; i < REFDEV_CONN_POOL; i++)
    if (D.conns[i].used) {
      plat_net_close(D.conns[i].h, 1);
      D.conns[i].used = 0;
    }
  link_flush(L);
}

const link_t *dev_link(void) { return L; }
