/*
 * In-process fuzzer for the reference device: host bytes go through the real link layer (deframer / TCP records,
 * SYNC, ARQ) and device logic (decoder, socket table, commands, events) over a stub platform whose network answers
 * at random (deterministically from the input). Oracles, besides AddressSanitizer and UBSan:
 *   - every byte the device writes to the host decodes as frames, and every MSG payload as a device-to-host message;
 *   - the device never closes a network handle it does not hold, nor uses one after closing it.
 *
 *   make fuzz && build/fuzz-link [--iterations N] [--seconds S] [--seed X]   random + structured + mutated inputs
 *   make libfuzzer && build/fuzz-link-libfuzzer                             (clang -fsanitize=fuzzer)
 *
 * Input layout: byte 0 = mode (bit 0: serial vs TCP framing; bit 1: start with a valid SYNC + HELLO), bytes 1..4 =
 * stub seed, then items [kind][len][len bytes]: kind 0 = one message in a valid MSG frame (correct seq), 1 = raw
 * wire bytes, 2 = let time pass (len * 37 ms), 3 = a new host stream.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "device.h"
#include "platform.h"

#define ST(name) ((int)OFFLOAD_STATUS_##name)

/* ---- stub platform ---------------------------------------------------------------------------------------- */

static uint32_t now_ms, rng, link_sess, next_sess;
static int framing;
static const uint8_t *in_p;
static size_t in_len;

#define MAX_H 1024
static uint8_t h_open[MAX_H], h_stream[MAX_H], h_interest[MAX_H];
static int h_next = 3;

static uint32_t rnd(void) {
  rng ^= rng << 13;
  rng ^= rng >> 17;
  rng ^= rng << 5;
  return rng;
}

static void fail(const char *what) {
  fprintf(stderr, "fuzz-link: ORACLE FAILED: %s\n", what);
  abort();
}

static void check_handle(plat_sock_t s) {
  if (s < 0 || s >= MAX_H || !h_open[s]) fail("device used a network handle it does not hold");
}

uint32_t plat_now_ms(void) { return now_ms; }
uint32_t plat_random32(void) { return rnd(); }

static int new_handle(int stream, plat_sock_t *out) {
  for (int i = 0; i < MAX_H; i++) {
    int h = 3 + (h_next + i) % (MAX_H - 3);
    if (!h_open[h]) {
      h_open[h] = 1;
      h_stream[h] = (uint8_t)stream;
      h_interest[h] = 0;
      h_next = h + 1;
      *out = h;
      return ST(OK);
    }
  }
  return ST(E_NO_SLOT);
}

int plat_net_open(uint8_t type, uint8_t family, plat_sock_t *out) {
  (void)family;
  if (rnd() % 32 == 0) return ST(E_NO_SLOT);
  return new_handle(type == OFFLOAD_SOCKET_TYPE_STREAM, out);
}
int plat_net_bind(plat_sock_t s, const offload_addr_t *a) {
  check_handle(s);
  (void)a;
  return rnd() % 8 == 0 ? ST(EADDRINUSE) : ST(OK);
}
int plat_net_listen(plat_sock_t s, unsigned backlog) {
  check_handle(s);
  (void)backlog;
  return rnd() % 16 == 0 ? ST(EADDRINUSE) : ST(OK);
}
static void fake_addr(offload_addr_t *a) {
  memset(a, 0, sizeof *a);
  a->family = 4;
  a->port = (uint16_t)(1024 + rnd() % 60000);
  a->address[0] = 127;
  a->address[3] = 1;
}
void plat_net_local(plat_sock_t s, offload_addr_t *out) {
  check_handle(s);
  fake_addr(out);
}
void plat_net_remote(plat_sock_t s, offload_addr_t *out) {
  check_handle(s);
  fake_addr(out);
}
int plat_net_connect(plat_sock_t s, const offload_addr_t *a) {
  static const int r[] = {ST(OK), ST(OK), ST(ECONNREFUSED), ST(ENETUNREACH)};
  check_handle(s);
  (void)a;
  return r[rnd() % 4];
}
int plat_net_connect_result(plat_sock_t s) {
  static const int r[] = {PLAT_AGAIN, ST(OK), ST(OK), ST(ECONNREFUSED),
                          ST(ETIMEDOUT)};
  check_handle(s);
  return r[rnd() % 5];
}
int plat_net_accept(plat_sock_t s, plat_sock_t *out, offload_addr_t *remote) {
  check_handle(s);
  if (rnd() % 3 != 0) return PLAT_AGAIN;
  fake_addr(remote);
  return new_handle(1, out) == ST(OK) ? ST(OK) : PLAT_AGAIN;
}
int plat_net_send(plat_sock_t s, const uint8_t *p, size_t n, size_t *sent) {
  uint32_t x = rnd() % 16;
  volatile uint8_t sink = 0;
  check_handle(s);
  if (n == 0) fail("stream send of 0 bytes");
  for (size_t i = 0; i < n; i++) sink ^= p[i]; /* touch every byte (ASan checks the range) */
  (void)sink;
  if (x < 4) return PLAT_AGAIN;
  if (x == 4) return ST(ECONNRESET);
  *sent = x < 10 ? n : 1 + rnd() % n;
  return ST(OK);
}
int plat_net_recv(plat_sock_t s, uint8_t *p, size_t cap, size_t *got) {
  uint32_t x = rnd() % 16;
  check_handle(s);
  if (cap == 0) fail("stream recv into 0 bytes");
  if (x < 6) return PLAT_AGAIN;
  if (x == 6) return PLAT_EOF;
  if (x == 7) return ST(ECONNRESET);
  *got = 1 + rnd() % (cap < 5000 ? cap : 5000);
  memset(p, (int)(x * 17), *got);
  return ST(OK);
}
int plat_net_sendto(plat_sock_t s, const offload_addr_t *a, const uint8_t *p, size_t n) {
  uint32_t x = rnd() % 8;
  volatile uint8_t sink = 0;
  check_handle(s);
  (void)a;
  for (size_t i = 0; i < n; i++) sink ^= p[i];
  (void)sink;
  return x < 2 ? PLAT_AGAIN : x == 2 ? ST(EMSGSIZE) : x == 3 ? ST(ECONNREFUSED) : ST(OK);
}
int plat_net_recvfrom(plat_sock_t s, uint8_t *p, size_t cap, size_t *got, offload_addr_t *from) {
  uint32_t x = rnd() % 16;
  check_handle(s);
  if (x < 6) return PLAT_AGAIN;
  if (x == 6) return ST(ECONNREFUSED);
  *got = x == 7 ? 20000 + rnd() % 40000 : rnd() % 3000;
  if (*got > cap) *got = cap;
  memset(p, (int)x, *got);
  fake_addr(from);
  return ST(OK);
}
void plat_net_shutdown_write(plat_sock_t s) { check_handle(s); }
void plat_net_close(plat_sock_t s, int abort_) {
  (void)abort_;
  check_handle(s);
  h_open[s] = 0;
}
int plat_net_setopt(plat_sock_t s, uint16_t o, uint32_t v) {
  check_handle(s);
  (void)o;
  (void)v;
  return rnd() % 16 == 0 ? ST(E_INVALID) : ST(OK);
}
void plat_net_interest(plat_sock_t s, unsigned bits) {
  check_handle(s);
  h_interest[s] = (uint8_t)bits;
}
unsigned plat_net_ready(plat_sock_t s) {
  check_handle(s);
  return rnd() & 3u;
}

int plat_link_framing(void) { return framing; }
uint32_t plat_link_session(void) { return link_sess; }
size_t plat_link_read(uint8_t *p, size_t cap) {
  size_t n = in_len < cap ? in_len : cap;
  if (n > 0) {
    size_t lim = 1 + rnd() % 700; /* arrive in pieces */
    if (n > lim) n = lim;
    memcpy(p, in_p, n);
    in_p += n;
    in_len -= n;
  }
  return n;
}
void plat_link_drop(void) { link_sess = 0; }

/* ---- output oracle ---------------------------------------------------------------------------------------- */

static offload_deframer_t out_deframer;
static uint8_t out_dbuf[OFFLOAD_DEFRAMER_BUFFER_SIZE(OFFLOAD_MAX_PAYLOAD_ABSOLUTE)];
static uint8_t out_rec[OFFLOAD_FRAME_SIZE_SECURE(OFFLOAD_MAX_PAYLOAD_ABSOLUTE) + 8];
static size_t out_rec_len;
static offload_msg_t out_msg;
static uint32_t out_frames;
static unsigned long seen_ok[256], seen_err[256];
static uint16_t ids[8]; /* ids the device handed out (SOCKET_OPEN, ACCEPT), for messages marked 0xEE */
static unsigned nids;

static void check_frame(const offload_frame_t *f) {
  int err;
  out_frames++;
  if (f->channel != 0 || f->flags != 0) fail("device frame on another channel or with flags");
  if (f->type != OFFLOAD_FRAME_TYPE_MSG) return;
  err = offload_msg_decode(f->payload, f->length, &out_msg);
  if (err != OFFLOAD_OK) fail("device sent a message that does not decode");
  if (out_msg.kind == OFFLOAD_KIND_COMMAND) fail("device sent a command");
  if (out_msg.status == 0 && (out_msg.opcode == OFFLOAD_OP_SOCKET_OPEN_RSP || out_msg.opcode == OFFLOAD_OP_ACCEPT_RSP))
    ids[nids++ % 8] = (uint16_t)out_msg.v[0].u;
  if (out_msg.status == 0)
    seen_ok[out_msg.opcode]++;
  else
    seen_err[out_msg.opcode]++;
}

size_t plat_link_write(const uint8_t *p, size_t n) {
  size_t take = n;
  if (link_sess == 0) return 0;
  if (rnd() % 8 == 0) take = rnd() % (n + 1); /* a slow host */
  if (framing == PLAT_LINK_SERIAL) {
    const uint8_t *q = p;
    size_t left = take;
    while (left > 0) {
      offload_deframe_result_t r;
      size_t used = offload_deframer_feed(&out_deframer, q, left, &r);
      q += used;
      left -= used;
      if (r.kind == OFFLOAD_DEFRAME_ERROR) fail("device wrote a serial frame that does not decode");
      if (r.kind == OFFLOAD_DEFRAME_FRAME) check_frame(&r.frame);
    }
  } else {
    for (size_t i = 0; i < take; i++) {
      offload_frame_t f;
      size_t consumed = 0;
      int err;
      if (out_rec_len >= sizeof out_rec) fail("device record too long");
      out_rec[out_rec_len++] = p[i];
      err = offload_tcp_decode(out_rec, out_rec_len, OFFLOAD_MAX_PAYLOAD_ABSOLUTE, &f, &consumed);
      if (err == OFFLOAD_ERR_NEED_MORE) continue;
      if (err != OFFLOAD_OK) fail("device wrote a TCP record that does not decode");
      check_frame(&f);
      out_rec_len = 0;
    }
  }
  return take;
}

/* ---- one input -------------------------------------------------------------------------------------------- */

static uint8_t pool[8 * (4096 + 4096)];
static uint8_t wire[OFFLOAD_WIRE_MAX_ENCODED(REFDEV_MAX_PAYLOAD) + 16];
static uint16_t host_seq;

/* Host frame into `wire`; returns its length (0 if it does not fit). */
static size_t host_frame(uint8_t type, const uint8_t *payload, size_t len) {
  offload_frame_t f;
  size_t n = 0;
  const link_t *l = dev_link();
  memset(&f, 0, sizeof f);
  f.type = type;
  f.length = (uint16_t)len;
  f.payload = payload;
  if (type == OFFLOAD_FRAME_TYPE_MSG && l->arq) f.seq = host_seq++;
  f.ack = l->arq ? l->snd_next : 0;
  if (framing == PLAT_LINK_SERIAL) {
    if (offload_wire_encode(&f, wire, sizeof wire, &n) != OFFLOAD_OK) return 0;
  } else if (offload_tcp_encode(&f, wire, sizeof wire, &n) != OFFLOAD_OK) {
    return 0;
  }
  return n;
}

static void run_bytes(const uint8_t *p, size_t n) {
  in_p = p;
  in_len = n;
  for (int i = 0; i < 64 && in_len > 0; i++) {
    now_ms += rnd() % 5;
    dev_run(now_ms);
  }
  in_len = 0;
  now_ms += 1;
  dev_run(now_ms);
}

static void run_one(const uint8_t *data, size_t size) {
  dev_config_t cfg;
  uint8_t mode;
  size_t i;
  if (size < 5) return;
  mode = data[0];
  rng = (uint32_t)data[1] | (uint32_t)data[2] << 8 | (uint32_t)data[3] << 16 | (uint32_t)data[4] << 24;
  if (rng == 0) rng = 0x9E3779B9u;
  framing = (mode & 1) ? PLAT_LINK_SERIAL : PLAT_LINK_TCP;
  now_ms = 1000u + rnd() % 100000u;
  link_sess = next_sess = 1;
  memset(h_open, 0, sizeof h_open);
  host_seq = 0;
  out_rec_len = 0;
  nids = 0;
  offload_deframer_init(&out_deframer, out_dbuf, sizeof out_dbuf, OFFLOAD_MAX_PAYLOAD_ABSOLUTE);
  memset(&cfg, 0, sizeof cfg);
  cfg.slots = 8;
  cfg.send_queue = 4096;
  cfg.recv_queue = 4096;
  cfg.pool = pool;
  cfg.pool_size = sizeof pool;
  cfg.framing = framing;
  cfg.max_payload = (mode & 4) ? 256 : 0;
  cfg.baud = 921600;
  if (dev_init(&cfg, now_ms) != 0) fail("dev_init");
  dev_run(now_ms);
  if (mode & 2) {
    uint8_t sync[OFFLOAD_SYNC_SIZE], hello[10] = {OFFLOAD_OP_HELLO, 0, 1, 0, 0, 1, 0x1F, 0, 0, 0};
    size_t n;
    offload_put_u32(sync, 0x12345678u);
    sync[4] = (uint8_t)(1 + rnd() % 64);
    sync[5] = (uint8_t)(mode >> 3 & 1);
    offload_put_u16(sync + 6, (uint16_t)(256 + rnd() % 20000));
    n = host_frame(OFFLOAD_FRAME_TYPE_SYNC, sync, sizeof sync);
    run_bytes(wire, n);
    n = host_frame(OFFLOAD_FRAME_TYPE_MSG, hello, sizeof hello);
    run_bytes(wire, n);
  }
  for (i = 5; i + 2 <= size;) {
    uint8_t kind = data[i] & 3u;
    size_t len = data[i + 1];
    const uint8_t *p = data + i + 2;
    if (i + 2 + len > size) len = size - i - 2;
    i += 2 + len;
    switch (kind) {
    case 0: {
      static uint8_t msg[256];
      size_t n;
      memcpy(msg, p, len);
      if (len >= 6 && msg[0] >= OFFLOAD_OP_BIND && msg[0] <= OFFLOAD_OP_QUERY && msg[5] == 0xEE && nids > 0)
        offload_put_u16(msg + 4, ids[msg[4] % (nids < 8 ? nids : 8)]);
      n = host_frame(OFFLOAD_FRAME_TYPE_MSG, msg, len);
      if (n) run_bytes(wire, n);
      break;
    }
    case 1: run_bytes(p, len); break;
    case 2:
      for (size_t k = 0; k < len + 1u; k++) {
        now_ms += 37;
        dev_run(now_ms);
      }
      break;
    default:
      link_sess = ++next_sess;
      host_seq = 0;
      out_rec_len = 0;
      offload_deframer_reset(&out_deframer);
      dev_run(now_ms);
      break;
    }
  }
  for (int k = 0; k < 4; k++) {
    now_ms += 500;
    dev_run(now_ms);
  }
  dev_shutdown();
  for (int h = 0; h < MAX_H; h++)
    if (h_open[h]) fail("a network handle is still open after dev_shutdown");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  run_one(data, size);
  return 0;
}

#ifndef REFDEV_LIBFUZZER
/* ---- standalone driver: structured random inputs, then mutations ----------------------------------------- */

static uint32_t grng;
static uint32_t grand(void) {
  grng ^= grng << 13;
  grng ^= grng >> 17;
  grng ^= grng << 5;
  return grng;
}

/* A command with the right field sizes (from the generated tables) and plausible values. */
static size_t gen_command(uint8_t *out, size_t cap) {
  static const uint8_t ops[] = {OFFLOAD_OP_PING,       OFFLOAD_OP_REG_READ, OFFLOAD_OP_REG_WRITE,   OFFLOAD_OP_SNAPSHOT,
                                OFFLOAD_OP_SOCKET_OPEN, OFFLOAD_OP_BIND,     OFFLOAD_OP_LISTEN,      OFFLOAD_OP_CONNECT,
                                OFFLOAD_OP_ACCEPT,      OFFLOAD_OP_SEND,     OFFLOAD_OP_SENDTO,      OFFLOAD_OP_RECV_CREDIT,
                                OFFLOAD_OP_SHUTDOWN,    OFFLOAD_OP_CLOSE,    OFFLOAD_OP_SETOPT,      OFFLOAD_OP_GETOPT,
                                OFFLOAD_OP_UPDATE,      OFFLOAD_OP_QUERY,    OFFLOAD_OP_SOCKET_OPEN, OFFLOAD_OP_SOCKET_OPEN,
                                OFFLOAD_OP_CONNECT,     OFFLOAD_OP_SEND,     OFFLOAD_OP_RECV_CREDIT, OFFLOAD_OP_RESET,
                                OFFLOAD_OP_HELLO,       OFFLOAD_OP_CHANNEL_OPEN};
  uint8_t op = ops[grand() % sizeof ops];
  const offload_msg_desc_t *d = offload_msg_desc_by_opcode(op);
  size_t n = 4;
  out[0] = op;
  out[1] = 0;
  offload_put_u16(out + 2, (uint16_t)(1 + grand() % 60000));
  for (unsigned k = 0; k < d->nfields[OFFLOAD_PART_REQ]; k++) {
    const offload_field_desc_t *f = &d->fields[OFFLOAD_PART_REQ][k];
    size_t sz = f->size;
    if (f->type == OFFLOAD_FT_BYTES) sz = grand() % 4 == 0 ? grand() % 200 : grand() % 20;
    if (n + sz > cap) break;
    for (size_t b = 0; b < sz; b++) out[n + b] = (uint8_t)grand();
    if (strcmp(f->name, "id") == 0)
      offload_put_u16(out + n, grand() % 8 ? (uint16_t)(0xEE00u | grand() % 8u)
                                          : (uint16_t)(((1u + grand() % 3u) << 8) | grand() % 9u));
    else if (f->type == OFFLOAD_FT_ADDR) {
      memset(out + n, 0, 20);
      out[n] = grand() % 8 ? 4 : 6;
      offload_put_u16(out + n + 2, (uint16_t)(grand() % 3 ? 1000 + grand() % 100 : 0));
      out[n + 4] = 127;
      out[n + 7] = 1;
    } else if (f->type == OFFLOAD_FT_U8 && grand() % 2) {
      out[n] = (uint8_t)(grand() % 4);
    } else if (f->type == OFFLOAD_FT_U32 && grand() % 2) {
      offload_put_u32(out + n, grand() % 70000);
    } else if (f->type == OFFLOAD_FT_U16 && grand() % 2) {
      offload_put_u16(out + n, (uint16_t)(grand() % 12));
    }
    n += sz;
  }
  if (op == OFFLOAD_OP_SOCKET_OPEN) {
    out[4] = (uint8_t)(1 + grand() % 2);
    out[5] = grand() % 8 ? 4 : 6;
    out[6] = out[4] == 1 ? 6 : 17;
    out[7] = 0;
  }
  if (op == OFFLOAD_OP_RESET && n >= 8 && grand() % 2) offload_put_u32(out + 4, OFFLOAD_RESET_MAGIC);
  if ((op == OFFLOAD_OP_REG_WRITE || op == OFFLOAD_OP_REG_READ) && n >= 8 && grand() % 4)
    offload_put_u32(out + 4, grand() % 4 ? 4u * (grand() % 32u) : 0x1000u + 4u * (grand() % 100u));
  if (op == OFFLOAD_OP_REG_READ && n >= 9 && grand() % 2) out[8] = (uint8_t)(1 + grand() % 32);
  if (op == OFFLOAD_OP_UPDATE && n >= 11 && grand() % 2) {
    out[6] = 0xFF;
    offload_put_u16(out + 7, (uint16_t)(grand() & OFFLOAD_COND_HOST_SETTABLE));
    offload_put_u16(out + 9, (uint16_t)(grand() & OFFLOAD_COND_HOST_CLEARABLE & ~offload_get_u16(out + 7)));
  }
  return n;
}

static size_t gen_input(uint8_t *buf, size_t cap) {
  size_t n = 5;
  buf[0] = (uint8_t)(grand() % 4 ? (grand() & 0x0D) | 2 : grand());
  offload_put_u32(buf + 1, grand());
  for (unsigned items = 1 + grand() % 40; items > 0 && n + 260 < cap; items--) {
    uint32_t k = grand() % 10;
    if (k < 7) {
      size_t m = gen_command(buf + n + 2, 255);
      buf[n] = 0;
      buf[n + 1] = (uint8_t)m;
      n += 2 + m;
    } else if (k == 7) {
      size_t m = grand() % 60;
      buf[n] = 1;
      buf[n + 1] = (uint8_t)m;
      for (size_t b = 0; b < m; b++) buf[n + 2 + b] = (uint8_t)(grand() % 3 ? grand() : 0);
      n += 2 + m;
    } else if (k == 8) {
      buf[n] = 2;
      buf[n + 1] = (uint8_t)(grand() % 40);
      n += 2;
    } else {
      buf[n] = grand() % 6 ? 2 : 3;
      buf[n + 1] = 0;
      n += 2;
    }
  }
  /* mutate some inputs */
  if (grand() % 3 == 0) {
    for (unsigned m = 1 + grand() % 8; m > 0; m--) buf[5 + grand() % (n - 5)] ^= (uint8_t)(1u << (grand() % 8));
  }
  return n;
}

int main(int argc, char **argv) {
  unsigned long iterations = 20000, seconds = 0, seed = 1, done = 0;
  static uint8_t buf[16384];
  uint32_t t0 = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--iterations") == 0) iterations = strtoul(argv[i + 1], NULL, 0);
    else if (strcmp(argv[i], "--seconds") == 0) seconds = strtoul(argv[i + 1], NULL, 0);
    else if (strcmp(argv[i], "--seed") == 0) seed = strtoul(argv[i + 1], NULL, 0);
  }
  {
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    t0 = (uint32_t)ts.tv_sec;
  }
  for (done = 0; done < iterations; done++) {
    size_t n;
    grng = (uint32_t)(seed * 2654435761u + done * 40503u) | 1u;
    n = gen_input(buf, sizeof buf);
    run_one(buf, n);
    if (seconds && (done & 63) == 0) {
      struct timespec ts;
      timespec_get(&ts, TIME_UTC);
      if ((uint32_t)ts.tv_sec - t0 >= seconds) {
        done++;
        break;
      }
    }
  }
  printf("fuzz-link: %lu inputs, seed %lu, no crash, every device frame and message decoded\n", done, seed);
  if (getenv("FUZZ_LINK_VERBOSE")) {
    for (int op = 0; op < 256; op++) {
      const offload_msg_desc_t *d = offload_msg_desc_by_opcode((uint8_t)(op & 0x7F));
      if (seen_ok[op] || seen_err[op])
        printf("  %02x %-14s ok %lu, not ok %lu\n", op, d ? d->name : "?", seen_ok[op], seen_err[op]);
    }
  }
  return 0;
}
#endif
