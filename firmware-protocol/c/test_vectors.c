/*
 * Test of the C reference codec against the golden vectors (vectors_data.c, generated from the JSON vectors
 * the TypeScript codec produces), plus a randomized robustness run over the deframer, the frame, TCP and
 * message decoders. Prints one summary line "c-codec vectors: N passed, M failed"; exits non-zero on any
 * failure. Usage: test_vectors [robustness iterations, default 300000]
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "offload_codec.h"
#include "offload_secure.h"
#include "vectors_data.h"

static int vector_failed; /* failures within the current vector */
static int total_failures;

static void fail(const char *vector, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "FAIL %s: ", vector);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  vector_failed++;
  total_failures++;
}

#define CHECK(vec, cond, ...)      \
  do {                             \
    if (!(cond)) fail(vec, __VA_ARGS__); \
  } while (0)

static int same(const uint8_t *a, size_t na, const uint8_t *b, size_t nb) {
  size_t i;
  if (na != nb) return 0;
  for (i = 0; i < na; i++) {
    if (a[i] != b[i]) return 0;
  }
  return 1;
}

static uint8_t buf1[70000 * 2];
static uint8_t buf2[70000 * 2];

/* ---- CRC -------------------------------------------------------------------------------------------------- */

static void test_crc(const vec_crc_t *v) {
  uint32_t crc = offload_crc32(0, v->input, v->len), split;
  size_t half = v->len / 2;
  CHECK(v->name, crc == v->crc, "crc32 %08lx, expected %08lx", (unsigned long)crc, (unsigned long)v->crc);
  split = offload_crc32(offload_crc32(0, v->input, half), v->input + half, v->len - half);
  CHECK(v->name, split == v->crc, "crc32 in two pieces %08lx", (unsigned long)split);
}

/* ---- COBS ------------------------------------------------------------------------------------------------- */

static void test_cobs(const vec_cobs_t *v) {
  size_t n = 0;
  int err = offload_cobs_encode(v->decoded, v->decoded_len, buf1, sizeof buf1, &n);
  CHECK(v->name, err == OFFLOAD_OK && same(buf1, n, v->encoded, v->encoded_len), "encode: %s, %zu bytes",
        offload_error_name(err), n);
  CHECK(v->name, n <= OFFLOAD_COBS_MAX_ENCODED(v->decoded_len), "encoded beyond OFFLOAD_COBS_MAX_ENCODED");
  /* exact capacity works, one less does not */
  err = offload_cobs_encode(v->decoded, v->decoded_len, buf1, v->encoded_len, &n);
  CHECK(v->name, err == OFFLOAD_OK, "encode with exact capacity: %s", offload_error_name(err));
  err = offload_cobs_encode(v->decoded, v->decoded_len, buf1, v->encoded_len - 1, &n);
  CHECK(v->name, err == OFFLOAD_ERR_NO_SPACE, "encode with capacity - 1: %s", offload_error_name(err));
  /* in place: input at the tail of the output buffer */
  {
    size_t max = OFFLOAD_COBS_MAX_ENCODED(v->decoded_len), shift = max - v->decoded_len;
    memcpy(buf2 + shift, v->decoded, v->decoded_len);
    err = offload_cobs_encode(buf2 + shift, v->decoded_len, buf2, max, &n);
    CHECK(v->name, err == OFFLOAD_OK && same(buf2, n, v->encoded, v->encoded_len), "in-place encode: %s",
          offload_error_name(err));
  }
  err = offload_cobs_decode(v->encoded, v->encoded_len, buf1, sizeof buf1, &n);
  CHECK(v->name, err == OFFLOAD_OK && same(buf1, n, v->decoded, v->decoded_len), "decode: %s, %zu bytes",
        offload_error_name(err), n);
  memcpy(buf2, v->encoded, v->encoded_len);
  err = offload_cobs_decode(buf2, v->encoded_len, buf2, v->encoded_len, &n);
  CHECK(v->name, err == OFFLOAD_OK && same(buf2, n, v->decoded, v->decoded_len), "in-place decode: %s",
        offload_error_name(err));
}

/* ---- Frames ----------------------------------------------------------------------------------------------- */

static void check_frame(const char *name, const char *what, const offload_frame_t *f, const vec_frame_t *v) {
  CHECK(name, f->version == v->version && f->flags == v->flags && f->channel == v->channel && f->type == v->type &&
                  f->seq == v->seq && f->ack == v->ack && f->length == v->length,
        "%s: header %u/%u/%u/%u seq %u ack %u length %u", what, f->version, f->flags, f->channel, f->type, f->seq,
        f->ack, f->length);
  CHECK(name, f->payload != NULL && same(f->payload, f->length, v->payload, v->payload_len), "%s: payload", what);
  if (v->has_counter) CHECK(name, f->counter == v->counter, "%s: counter", what);
  if (v->mac) CHECK(name, f->mac != NULL && same(f->mac, 16, v->mac, 16), "%s: MAC", what);
  else CHECK(name, f->mac == NULL, "%s: unexpected MAC", what);
}

static void test_frame(const vec_frame_t *v) {
  offload_frame_t f, g;
  offload_deframer_t d;
  offload_deframe_result_t r;
  size_t n = 0, consumed = 0, i, frames = 0;
  size_t max = v->length > OFFLOAD_DEFAULT_MAX_PAYLOAD_SERIAL ? v->length : OFFLOAD_DEFAULT_MAX_PAYLOAD_SERIAL;
  int err = offload_frame_decode(v->frame, v->frame_len, OFFLOAD_MAX_PAYLOAD_ABSOLUTE, &f);
  CHECK(v->name, err == OFFLOAD_OK, "decode: %s", offload_error_name(err));
  if (err == OFFLOAD_OK) check_frame(v->name, "decode", &f, v);

  memset(&g, 0, sizeof g);
  g.version = v->version;
  g.flags = v->flags;
  g.channel = v->channel;
  g.type = v->type;
  g.seq = v->seq;
  g.ack = v->ack;
  g.length = v->length;
  g.counter = v->counter;
  g.payload = v->payload;
  g.mac = v->mac;
  CHECK(v->name, offload_frame_size(&g) == v->frame_len, "frame_size %zu", offload_frame_size(&g));
  err = offload_frame_encode(&g, buf1, sizeof buf1, &n);
  CHECK(v->name, err == OFFLOAD_OK && same(buf1, n, v->frame, v->frame_len), "encode: %s", offload_error_name(err));
  err = offload_frame_encode(&g, buf1, v->frame_len - 1, &n);
  CHECK(v->name, err == OFFLOAD_ERR_NO_SPACE, "encode into a short buffer: %s", offload_error_name(err));
  err = offload_wire_encode(&g, buf1, sizeof buf1, &n);
  CHECK(v->name, err == OFFLOAD_OK && same(buf1, n, v->wire, v->wire_len), "wire encode: %s", offload_error_name(err));
  err = offload_tcp_encode(&g, buf1, sizeof buf1, &n);
  CHECK(v->name, err == OFFLOAD_OK && same(buf1, n, v->tcp, v->tcp_len), "tcp encode: %s", offload_error_name(err));

  err = offload_tcp_decode(v->tcp, v->tcp_len, max, &f, &consumed);
  CHECK(v->name, err == OFFLOAD_OK && consumed == v->tcp_len, "tcp decode: %s, consumed %zu", offload_error_name(err),
        consumed);
  if (err == OFFLOAD_OK) check_frame(v->name, "tcp decode", &f, v);
  err = offload_tcp_decode(v->tcp, v->tcp_len - 1, max, &f, &consumed);
  CHECK(v->name, err == OFFLOAD_ERR_NEED_MORE && consumed == 0, "tcp decode of a partial record: %s",
        offload_error_name(err));

  /* deframer: whole, then one byte at a time, after idle fill */
  CHECK(v->name, offload_deframer_init(&d, buf2, sizeof buf2, max) == OFFLOAD_OK, "deframer init");
  n = offload_deframer_feed(&d, v->wire, v->wire_len, &r);
  CHECK(v->name, n == v->wire_len && r.kind == OFFLOAD_DEFRAME_FRAME && r.wire_bytes == v->wire_len,
        "deframer: kind %d error %s consumed %zu", r.kind, offload_error_name(r.error), n);
  if (r.kind == OFFLOAD_DEFRAME_FRAME) check_frame(v->name, "deframer", &r.frame, v);
  buf1[0] = 0;
  buf1[1] = 0;
  n = offload_deframer_feed(&d, buf1, 2, &r);
  CHECK(v->name, n == 2 && r.kind == OFFLOAD_DEFRAME_NONE, "idle fill produced something");
  for (i = 0; i < v->wire_len; i++) {
    n = offload_deframer_feed(&d, v->wire + i, 1, &r);
    if (r.kind == OFFLOAD_DEFRAME_FRAME) {
      frames++;
      check_frame(v->name, "deframer bytewise", &r.frame, v);
    } else if (r.kind != OFFLOAD_DEFRAME_NONE) {
      fail(v->name, "deframer bytewise: %s", offload_error_name(r.error));
    }
  }
  CHECK(v->name, frames == 1, "deframer bytewise: %zu frames", frames);
}

/* ---- Messages --------------------------------------------------------------------------------------------- */

static int check_value(const char *name, const char *where, uint8_t type, const offload_value_t *got,
                       const vec_value_t *exp);

static int check_addr(const char *name, const char *where, const offload_addr_t *a, const vec_value_t *exp) {
  if (a->family != exp->family || a->port != exp->num || !same(a->address, 16, exp->bytes, 16)) {
    fail(name, "%s.%s: addr family %u port %u", where, exp->name, a->family, a->port);
    return 0;
  }
  return 1;
}

/* Compares a decoded struct with expected values, member by member through the generated field table. */
static int check_entry(const char *name, const char *where, const offload_entry_t *e, const vec_value_t *exp) {
  size_t i, k;
  int ok = 1;
  if (exp->nsub != offload_entry_field_count) {
    fail(name, "%s.%s: %zu expected entry fields, the entry has %zu", where, exp->name, exp->nsub,
         offload_entry_field_count);
    return 0;
  }
  for (i = 0; i < exp->nsub; i++) {
    const vec_value_t *x = &exp->sub[i];
    const offload_struct_field_t *sf = NULL;
    const uint8_t *mem;
    for (k = 0; k < offload_entry_field_count; k++) {
      if (strcmp(offload_entry_fields[k].name, x->name) == 0) sf = &offload_entry_fields[k];
    }
    if (sf == NULL || sf->type != x->type) {
      fail(name, "%s.%s.%s: no such entry field of that type", where, exp->name, x->name);
      ok = 0;
      continue;
    }
    mem = (const uint8_t *)e + sf->mem_off;
    switch (sf->type) {
    case OFFLOAD_FT_U8:
      if (*mem != x->num) ok = 0, fail(name, "%s.%s: %u, expected %lu", exp->name, x->name, *mem, (unsigned long)x->num);
      break;
    case OFFLOAD_FT_U16: {
      uint16_t val;
      memcpy(&val, mem, sizeof val);
      if (val != x->num) ok = 0, fail(name, "%s.%s: %u, expected %lu", exp->name, x->name, val, (unsigned long)x->num);
      break;
    }
    case OFFLOAD_FT_U32: {
      uint32_t val;
      memcpy(&val, mem, sizeof val);
      if (val != x->num) {
        ok = 0;
        fail(name, "%s.%s: %lu, expected %lu", exp->name, x->name, (unsigned long)val, (unsigned long)x->num);
      }
      break;
    }
    case OFFLOAD_FT_ADDR: {
      offload_addr_t a;
      memcpy(&a, mem, sizeof a);
      ok &= check_addr(name, exp->name, &a, x);
      break;
    }
    default:
      fail(name, "%s.%s: unexpected entry field type", exp->name, x->name);
      ok = 0;
    }
  }
  return ok;
}

static int check_value(const char *name, const char *where, uint8_t type, const offload_value_t *got,
                       const vec_value_t *exp) {
  size_t k;
  if (type != exp->type) {
    fail(name, "%s.%s: type %u, expected %u", where, exp->name, type, exp->type);
    return 0;
  }
  switch (type) {
  case OFFLOAD_FT_U8:
  case OFFLOAD_FT_U16:
  case OFFLOAD_FT_U32:
    if (got->u != exp->num) {
      fail(name, "%s.%s: %lu, expected %lu", where, exp->name, (unsigned long)got->u, (unsigned long)exp->num);
      return 0;
    }
    return 1;
  case OFFLOAD_FT_BYTES16:
  case OFFLOAD_FT_BYTES:
  case OFFLOAD_FT_STR8:
    if (!same(got->bytes.ptr, got->bytes.len, exp->bytes, exp->len)) {
      fail(name, "%s.%s: %zu bytes differ from the expected %zu", where, exp->name, got->bytes.len, exp->len);
      return 0;
    }
    return 1;
  case OFFLOAD_FT_ADDR:
    return check_addr(name, where, &got->addr, exp);
  case OFFLOAD_FT_ENTRY:
    return check_entry(name, where, &got->entry, exp);
  case OFFLOAD_FT_U32_ARRAY:
    if (got->u32s.count != exp->num) {
      fail(name, "%s.%s: %zu words, expected %lu", where, exp->name, got->u32s.count, (unsigned long)exp->num);
      return 0;
    }
    for (k = 0; k < exp->num; k++) {
      uint32_t w = got->u32s.list ? got->u32s.list[k] : offload_get_u32(got->u32s.raw + 4 * k);
      if (w != exp->u32s[k]) {
        fail(name, "%s.%s[%zu]: %lu, expected %lu", where, exp->name, k, (unsigned long)w, (unsigned long)exp->u32s[k]);
        return 0;
      }
    }
    return 1;
  case OFFLOAD_FT_ENTRY_ARRAY:
    if (got->entries.count != exp->num || exp->nsub != exp->num) {
      fail(name, "%s.%s: %zu entries, expected %lu", where, exp->name, got->entries.count, (unsigned long)exp->num);
      return 0;
    }
    for (k = 0; k < exp->num; k++) {
      offload_entry_t e;
      int err = offload_entry_decode(got->entries.raw + k * OFFLOAD_ENTRY_SIZE, &e);
      if (err) {
        fail(name, "%s.%s[%zu]: %s", where, exp->name, k, offload_error_name(err));
        return 0;
      }
      if (!check_entry(name, exp->name, &e, &exp->sub[k])) return 0;
    }
    return 1;
  default:
    fail(name, "%s.%s: unknown type %u", where, exp->name, type);
    return 0;
  }
}

/* Expected values -> codec values (for encoding). Entry arrays are built in the caller's storage. */
static offload_entry_t entry_store[8][64];

static void entry_from_vec(const vec_value_t *exp, offload_entry_t *e) {
  size_t i, k;
  memset(e, 0, sizeof *e);
  for (i = 0; i < exp->nsub; i++) {
    const vec_value_t *x = &exp->sub[i];
    for (k = 0; k < offload_entry_field_count; k++) {
      const offload_struct_field_t *sf = &offload_entry_fields[k];
      uint8_t *mem = (uint8_t *)e + sf->mem_off;
      if (strcmp(sf->name, x->name) != 0) continue;
      if (sf->type == OFFLOAD_FT_U8) {
        *mem = (uint8_t)x->num;
      } else if (sf->type == OFFLOAD_FT_U16) {
        uint16_t val = (uint16_t)x->num;
        memcpy(mem, &val, sizeof val);
      } else if (sf->type == OFFLOAD_FT_U32) {
        memcpy(mem, &x->num, sizeof x->num);
      } else if (sf->type == OFFLOAD_FT_ADDR) {
        offload_addr_t a;
        memset(&a, 0, sizeof a);
        a.family = x->family;
        a.port = (uint16_t)x->num;
        memcpy(a.address, x->bytes, 16);
        memcpy(mem, &a, sizeof a);
      }
    }
  }
}

static void value_from_vec(const vec_value_t *exp, offload_value_t *v, size_t slot) {
  size_t k;
  memset(v, 0, sizeof *v);
  switch (exp->type) {
  case OFFLOAD_FT_U8:
  case OFFLOAD_FT_U16:
  case OFFLOAD_FT_U32:
    v->u = exp->num;
    break;
  case OFFLOAD_FT_BYTES16:
  case OFFLOAD_FT_BYTES:
  case OFFLOAD_FT_STR8:
    v->bytes.ptr = exp->bytes;
    v->bytes.len = exp->len;
    break;
  case OFFLOAD_FT_ADDR:
    v->addr.family = exp->family;
    v->addr.port = (uint16_t)exp->num;
    memcpy(v->addr.address, exp->bytes, 16);
    break;
  case OFFLOAD_FT_ENTRY:
    entry_from_vec(exp, &v->entry);
    break;
  case OFFLOAD_FT_U32_ARRAY:
    v->u32s.list = exp->u32s;
    v->u32s.count = exp->num;
    break;
  case OFFLOAD_FT_ENTRY_ARRAY:
    for (k = 0; k < exp->nsub && k < 64; k++) entry_from_vec(&exp->sub[k], &entry_store[slot % 8][k]);
    v->entries.list = entry_store[slot % 8];
    v->entries.count = exp->num;
    break;
  default:
    break;
  }
}

static offload_msg_t msg_a, msg_b;

static void test_message(const vec_msg_t *v) {
  offload_msg_t *m = &msg_a, *b = &msg_b;
  size_t n = 0, i;
  int err = offload_msg_decode(v->bytes, v->len, m);
  CHECK(v->name, err == OFFLOAD_OK, "decode: %s", offload_error_name(err));
  if (err != OFFLOAD_OK) return;
  CHECK(v->name, m->kind == v->kind, "kind %u, expected %d", m->kind, v->kind);
  CHECK(v->name, strcmp(m->desc->name, v->msg_name) == 0, "message %s, expected %s", m->desc->name, v->msg_name);
  CHECK(v->name, m->opcode == v->opcode, "opcode 0x%02x, expected 0x%02x", m->opcode, v->opcode);
  CHECK(v->name, m->tag == v->tag, "tag %u, expected %u", m->tag, v->tag);
  if (v->has_status) CHECK(v->name, m->status == v->status, "status %u, expected %u", m->status, v->status);
  if (v->has_epoch) CHECK(v->name, m->epoch == v->epoch, "epoch %lu", (unsigned long)m->epoch);
  if (v->has_seq) CHECK(v->name, m->seq == v->seq, "seq %lu", (unsigned long)m->seq);
  CHECK(v->name, m->nfields == v->nfields, "%u fields, expected %zu", m->nfields, v->nfields);
  for (i = 0; i < v->nfields; i++) {
    const vec_value_t *x = &v->fields[i];
    const offload_value_t *got = offload_msg_get(m, x->name);
    uint8_t type = 0, k;
    for (k = 0; k < m->nfields; k++) {
      if (strcmp(m->fields[k].name, x->name) == 0) type = m->fields[k].type;
    }
    if (got == NULL) {
      fail(v->name, "field %s missing", x->name);
      continue;
    }
    check_value(v->name, m->desc->name, type, got, x);
  }
  /* re-encode what was decoded */
  err = offload_msg_encode(m, buf1, sizeof buf1, &n);
  CHECK(v->name, err == OFFLOAD_OK && same(buf1, n, v->bytes, v->len), "re-encode: %s, %zu bytes",
        offload_error_name(err), n);
  err = offload_msg_encode(m, buf1, v->len - 1, &n);
  CHECK(v->name, err == OFFLOAD_ERR_NO_SPACE, "encode into a short buffer: %s", offload_error_name(err));
  /* encode from the expected values alone */
  err = offload_msg_init(b, v->opcode, v->tag, v->status);
  CHECK(v->name, err == OFFLOAD_OK, "init: %s", offload_error_name(err));
  if (err != OFFLOAD_OK) return;
  if (v->has_epoch) b->epoch = v->epoch;
  if (v->has_seq) b->seq = v->seq;
  for (i = 0; i < v->nfields; i++) {
    offload_value_t *slot = offload_msg_value(b, v->fields[i].name);
    if (slot == NULL) {
      fail(v->name, "init: field %s missing", v->fields[i].name);
      continue;
    }
    value_from_vec(&v->fields[i], slot, i);
  }
  err = offload_msg_encode(b, buf2, sizeof buf2, &n);
  CHECK(v->name, err == OFFLOAD_OK && same(buf2, n, v->bytes, v->len), "encode from the expected values: %s, %zu bytes",
        offload_error_name(err), n);
}

/* ---- Negative --------------------------------------------------------------------------------------------- */

static void test_negative(const vec_negative_t *v) {
  int err = -1;
  size_t n = 0;
  switch (v->layer) {
  case VEC_LAYER_COBS:
    err = offload_cobs_decode(v->bytes, v->len, buf1, sizeof buf1, &n);
    break;
  case VEC_LAYER_FRAME: {
    offload_frame_t f;
    err = offload_frame_decode(v->bytes, v->len, v->has_max_payload ? v->max_payload : OFFLOAD_MAX_PAYLOAD_ABSOLUTE, &f);
    break;
  }
  case VEC_LAYER_MESSAGE:
    err = offload_msg_decode(v->bytes, v->len, &msg_a);
    break;
  case VEC_LAYER_WIRE: {
    offload_deframer_t d;
    offload_deframe_result_t r;
    const uint8_t *p = v->bytes;
    size_t len = v->len, results = 0;
    offload_deframer_init(&d, buf2, sizeof buf2, v->has_max_payload ? v->max_payload : OFFLOAD_DEFAULT_MAX_PAYLOAD_SERIAL);
    while (len > 0) {
      size_t used = offload_deframer_feed(&d, p, len, &r);
      p += used;
      len -= used;
      if (r.kind == OFFLOAD_DEFRAME_NONE) continue;
      results++;
      err = r.kind == OFFLOAD_DEFRAME_ERROR ? r.error : OFFLOAD_OK;
    }
    CHECK(v->name, results == 1, "%zu deframer results, expected 1", results);
    break;
  }
  default:
    fail(v->name, "unknown layer %d", v->layer);
    return;
  }
  CHECK(v->name, err == v->error, "got %s, expected %s", offload_error_name(err), offload_error_name(v->error));
}

/* ---- Robustness ------------------------------------------------------------------------------------------- */

static uint64_t rng_state = 0x9E3779B97F4A7C15u;
static uint32_t rnd(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (uint32_t)(rng_state >> 16);
}
static size_t rnd_below(size_t n) { return n ? rnd() % n : 0; }

static int robust_failed;
static long robust_msg_ok, robust_frame_ok, robust_stream_frames;
static void robust_fail(const char *what, const uint8_t *b, size_t n) {
  size_t i;
  if (robust_failed++ < 5) {
    fprintf(stderr, "ROBUSTNESS FAIL %s: ", what);
    for (i = 0; i < n && i < 64; i++) fprintf(stderr, "%02x", b[i]);
    fputc('\n', stderr);
  }
}

/* A mutation of a valid byte string (or random bytes). */
static size_t mutate(const uint8_t *src, size_t n, uint8_t *out, size_t cap) {
  size_t len = n < cap ? n : cap, i, k, edits;
  memcpy(out, src, len);
  edits = 1 + rnd_below(4);
  for (k = 0; k < edits; k++) {
    switch (rnd_below(7)) {
    case 0: /* flip a bit */
      if (len) out[rnd_below(len)] ^= (uint8_t)(1u << rnd_below(8));
      break;
    case 1: /* set a byte */
      if (len) out[rnd_below(len)] = (uint8_t)rnd();
      break;
    case 2: /* truncate */
      len = rnd_below(len + 1);
      break;
    case 3: /* append random bytes */
      for (i = rnd_below(24); i > 0 && len < cap; i--) out[len++] = (uint8_t)rnd();
      break;
    case 4: /* interesting value */
      if (len) {
        static const uint8_t vals[] = {0x00, 0x01, 0x04, 0x06, 0x7F, 0x80, 0xFE, 0xFF};
        out[rnd_below(len)] = vals[rnd_below(sizeof vals)];
      }
      break;
    case 5: /* random buffer */
      len = rnd_below(cap < 200 ? cap : 200);
      for (i = 0; i < len; i++) out[i] = (uint8_t)rnd();
      break;
    default: /* duplicate a slice */
      if (len > 1 && len < cap) {
        size_t at = rnd_below(len), cnt = 1 + rnd_below(len - at);
        if (cnt > cap - len) cnt = cap - len;
        memmove(out + at + cnt, out + at, len - at);
        len += cnt;
      }
      break;
    }
  }
  return len;
}

static void robust_message(const uint8_t *b, size_t n) {
  static uint8_t enc[4096];
  size_t m = 0;
  int err = offload_msg_decode(b, n, &msg_a);
  if (err == OFFLOAD_OK) {
    robust_msg_ok++;
    /* whatever decodes must re-encode to the very same bytes */
    err = offload_msg_encode(&msg_a, enc, sizeof enc, &m);
    if (err != OFFLOAD_OK || !same(enc, m, b, n)) robust_fail("message round trip", b, n);
  } else if (err < OFFLOAD_ERR_MSG_TOO_SHORT || err > OFFLOAD_ERR_MSG_EMPTY) {
    robust_fail("message error outside MSG_*", b, n);
  }
}

static void robust_frame(const uint8_t *b, size_t n) {
  static uint8_t enc[70000];
  offload_frame_t f;
  size_t m = 0, consumed = 0;
  int err = offload_frame_decode(b, n, OFFLOAD_MAX_PAYLOAD_ABSOLUTE, &f);
  if (err == OFFLOAD_OK) {
    robust_frame_ok++;
    err = offload_frame_encode(&f, enc, sizeof enc, &m);
    if (err != OFFLOAD_OK || !same(enc, m, b, n)) robust_fail("frame round trip", b, n);
  } else if (err < OFFLOAD_ERR_FRAME_TOO_SHORT || err > OFFLOAD_ERR_FRAME_OVERSIZE) {
    robust_fail("frame error outside FRAME_*", b, n);
  }
  err = offload_tcp_decode(b, n, 256, &f, &consumed);
  if (consumed > n) robust_fail("tcp consumed beyond the input", b, n);
  err = offload_cobs_decode(b, n, enc, n, &m);
  if (err == OFFLOAD_OK) {
    size_t e = 0;
    static uint8_t re[70000];
    /* canonical input re-encodes identically; the decoder also accepts a trailing 01 after a full block */
    if (offload_cobs_encode(enc, m, re, sizeof re, &e) != OFFLOAD_OK) robust_fail("cobs re-encode", b, n);
    else if (!same(re, e, b, n) && !(e + 1 == n && same(re, e, b, e) && b[e] == 0x01)) {
      /* several encodings of the same data are legal (e.g. FF-block boundaries); they must decode alike */
      size_t m2 = 0;
      static uint8_t dec2[70000];
      if (offload_cobs_decode(re, e, dec2, sizeof dec2, &m2) != OFFLOAD_OK || !same(dec2, m2, enc, m))
        robust_fail("cobs round trip", b, n);
    }
  } else if (err != OFFLOAD_ERR_COBS_INVALID) {
    robust_fail("cobs error", b, n);
  }
}

/* A stream of garbage and valid wire frames in random chunks: the deframer must hand back every valid frame. */
static void robust_stream(size_t max_payload) {
  static uint8_t stream[1 << 16];
  uint8_t *rx = (uint8_t *)malloc(OFFLOAD_DEFRAMER_BUFFER_SIZE(max_payload)); /* exact size: ASan sees overruns */
  size_t len = 0, expected = 0, got = 0, k;
  const uint8_t *p;
  offload_deframer_t d;
  offload_deframe_result_t r;
  while (len < sizeof stream - 8200) {
    if (rnd_below(3) == 0 && vec_frame_count > 0) {
      const vec_frame_t *v = &vec_frames[rnd_below(vec_frame_count)];
      if (v->length > max_payload) continue;
      stream[len++] = 0; /* whatever came before ends here */
      memcpy(stream + len, v->wire, v->wire_len);
      len += v->wire_len;
      expected++;
    } else {
      size_t n = rnd_below(rnd_below(4) == 0 ? 6000 : 60);
      for (k = 0; k < n; k++) stream[len++] = (uint8_t)(rnd_below(8) == 0 ? 0 : rnd());
    }
  }
  if (rx == NULL || offload_deframer_init(&d, rx, OFFLOAD_DEFRAMER_BUFFER_SIZE(max_payload), max_payload) != OFFLOAD_OK) {
    robust_fail("deframer init", stream, 0);
    free(rx);
    return;
  }
  p = stream;
  while (p < stream + len) {
    size_t chunk = 1 + rnd_below(300), used;
    if (chunk > (size_t)(stream + len - p)) chunk = (size_t)(stream + len - p);
    used = offload_deframer_feed(&d, p, chunk, &r);
    if (used == 0 || used > chunk) {
      robust_fail("deframer consumed nothing or too much", p, chunk);
      free(rx);
      return;
    }
    p += used;
    if (r.kind == OFFLOAD_DEFRAME_FRAME) {
      if (r.frame.length > max_payload) robust_fail("deframer frame beyond the maximum", p - used, used);
      for (k = 0; k < vec_frame_count; k++) {
        const vec_frame_t *v = &vec_frames[k];
        if (r.frame.length == v->length && r.frame.type == v->type && r.frame.seq == v->seq &&
            same(r.frame.payload, r.frame.length, v->payload, v->payload_len)) {
          got++;
          break;
        }
      }
    } else if (r.kind == OFFLOAD_DEFRAME_ERROR) {
      if (r.error < OFFLOAD_ERR_COBS_INVALID || r.error > OFFLOAD_ERR_FRAME_OVERSIZE) robust_fail("deframer error", p - used, used);
    }
  }
  free(rx);
  robust_stream_frames += (long)got;
  if (got < expected) {
    fprintf(stderr, "deframer recovered %zu of %zu frames\n", got, expected);
    robust_fail("deframer lost frames", stream, 0);
  }
}

/* Decoders get an exact-size heap copy, so AddressSanitizer sees any read past the end. */
static void robust_one(void (*fn)(const uint8_t *, size_t), const uint8_t *b, size_t n) {
  uint8_t *copy = (uint8_t *)malloc(n ? n : 1);
  if (copy == NULL) {
    robust_fail("out of memory", b, 0);
    return;
  }
  memcpy(copy, b, n);
  fn(n ? copy : copy + 1, n); /* empty input: a pointer one past a 1-byte block */
  free(copy);
}

static void robustness(long iterations) {
  static uint8_t b[8192];
  long i;
  for (i = 0; i < iterations; i++) {
    size_t n;
    switch (i % 4) {
    case 0:
    case 1: {
      const vec_msg_t *v = &vec_msgs[rnd_below(vec_msg_count)];
      n = mutate(v->bytes, v->len, b, sizeof b);
      robust_one(robust_message, b, n);
      break;
    }
    case 2: {
      const vec_frame_t *v = &vec_frames[rnd_below(vec_frame_count)];
      if (rnd_below(2)) {
        n = mutate(v->frame, v->frame_len, b, sizeof b);
        /* half the time with a valid CRC, so the checks behind the CRC see the mutation */
        if (n >= OFFLOAD_CRC_SIZE && rnd_below(2)) offload_put_u32(b + n - 4, offload_crc32(0, b, n - 4));
        robust_one(robust_frame, b, n);
      } else {
        n = mutate(v->wire, v->wire_len, b, sizeof b);
        robust_one(robust_frame, b, n > 0 ? n - 1 : 0); /* COBS without the delimiter */
      }
      break;
    }
    default:
      n = mutate(b, 0, b, sizeof b); /* random */
      robust_one(robust_message, b, n);
      robust_one(robust_frame, b, n);
      break;
    }
    if (i % 20000 == 0) robust_stream(i % 40000 == 0 ? 256 : 4096);
  }
}

/* ---- Secure execution (secure.json) ------------------------------------------------------------------------- */

/* SHA-256 / HMAC / HKDF against the published test vectors (FIPS 180-2 "abc", RFC 4231 case 2, RFC 5869 case 1):
 * checked once, before the protocol vectors, so that a broken primitive is named as such. */
static void test_primitives(void) {
  static const uint8_t abc_sha[32] = {0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
                                      0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
                                      0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
  static const uint8_t jefe_mac[32] = {0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24,
                                       0x26, 0x08, 0x95, 0x75, 0xc7, 0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27,
                                       0x39, 0x83, 0x9d, 0xec, 0x58, 0xb9, 0x64, 0xec, 0x38, 0x43};
  static const uint8_t okm1[42] = {0x3c, 0xb2, 0x5f, 0x25, 0xfa, 0xac, 0xd5, 0x7a, 0x90, 0x43, 0x4f, 0x64, 0xd0, 0x36,
                                   0x2f, 0x2a, 0x2d, 0x2d, 0x0a, 0x90, 0xcf, 0x1a, 0x5a, 0x4c, 0x5d, 0xb0, 0x2d, 0x56,
                                   0xec, 0xc4, 0xc5, 0xbf, 0x34, 0x00, 0x72, 0x08, 0xd5, 0xb8, 0x87, 0x18, 0x58, 0x65};
  uint8_t out[64], ikm[22], salt[13], info[10];
  offload_sha256_t s;
  offload_hmac_t h;
  size_t i;
  offload_sha256_init(&s);
  offload_sha256_update(&s, (const uint8_t *)"abc", 3);
  offload_sha256_final(&s, out);
  CHECK("sha256_abc", same(out, 32, abc_sha, 32), "SHA-256(\"abc\") wrong");
  offload_hmac_init(&h, (const uint8_t *)"Jefe", 4);
  offload_hmac_update(&h, (const uint8_t *)"what do ya want ", 16);
  offload_hmac_update(&h, (const uint8_t *)"for nothing?", 12);
  offload_hmac_final(&h, out);
  CHECK("hmac_rfc4231_2", same(out, 32, jefe_mac, 32), "HMAC-SHA256 RFC 4231 case 2 wrong");
  for (i = 0; i < sizeof ikm; i++) ikm[i] = 0x0b;
  for (i = 0; i < sizeof salt; i++) salt[i] = (uint8_t)i;
  for (i = 0; i < sizeof info; i++) info[i] = (uint8_t)(0xf0 + i);
  CHECK("hkdf_rfc5869_1", offload_hkdf_sha256(salt, sizeof salt, ikm, sizeof ikm, info, sizeof info, out, 42) == 0,
        "HKDF failed");
  CHECK("hkdf_rfc5869_1", same(out, 42, okm1, 42), "HKDF-SHA256 RFC 5869 case 1 wrong");
}

static void test_secure(const vec_secure_t *v) {
  uint8_t a[32], b[32];
  size_t i, n = 0;
  int r;
  offload_frame_t f;
  offload_secure_rx_t rx;
  offload_secure_tx_t tx;
  switch (v->kind) {
  case VEC_SECURE_HANDSHAKE:
    offload_secure_proof(v->key, 1, v->host_nonce, v->device_nonce, v->channel, a);
    CHECK(v->name, same(a, 16, v->device_proof, 16), "deviceProof differs");
    offload_secure_proof(v->key, 0, v->host_nonce, v->device_nonce, v->channel, a);
    CHECK(v->name, same(a, 16, v->host_proof, 16), "hostProof differs");
    offload_secure_derive(v->key, v->host_nonce, v->device_nonce, a, b);
    CHECK(v->name, same(a, 32, v->k_h2d, 32), "K_h2d differs");
    CHECK(v->name, same(b, 32, v->k_d2h, 32), "K_d2h differs");
    break;
  case VEC_SECURE_FRAME:
    /* Encode from the decoded fields with the counter before it: the same bytes, the same MAC. */
    r = offload_frame_decode(v->frame, v->frame_len, OFFLOAD_MAX_PAYLOAD_ABSOLUTE, &f);
    CHECK(v->name, r == OFFLOAD_OK, "decode: %s", offload_error_name(r));
    if (r != OFFLOAD_OK) break;
    CHECK(v->name, f.counter == v->counter, "counter differs");
    memcpy(tx.key, v->key, 32);
    tx.last = v->counter - 1u;
    r = offload_secure_encode(&tx, &f, buf1, sizeof buf1, &n);
    CHECK(v->name, r == OFFLOAD_OK && same(buf1, n, v->frame, v->frame_len), "encode differs (%s)",
          offload_error_name(r));
    CHECK(v->name, n >= 20 && same(buf1 + n - 20, 16, v->mac, 16), "MAC differs");
    memcpy(rx.key, v->key, 32);
    rx.window.highest = 0;
    rx.window.seen = 0;
    r = offload_secure_verify(&rx, v->frame, v->frame_len, OFFLOAD_MAX_PAYLOAD_ABSOLUTE, 0, &f);
    CHECK(v->name, r == OFFLOAD_OK, "verify: %x", (unsigned)r);
    r = offload_secure_verify(&rx, v->frame, v->frame_len, OFFLOAD_MAX_PAYLOAD_ABSOLUTE, 0, &f);
    CHECK(v->name, r == OFFLOAD_SECURE_REPLAY, "the same frame again: %x, not REPLAY", (unsigned)r);
    break;
  case VEC_SECURE_REJECT:
    memcpy(rx.key, v->key, 32);
    rx.window.highest = 0;
    rx.window.seen = 0;
    if (v->before) {
      r = offload_secure_verify(&rx, v->before, v->before_len, OFFLOAD_MAX_PAYLOAD_ABSOLUTE, 0, &f);
      CHECK(v->name, r == OFFLOAD_OK, "the frame accepted first: %x", (unsigned)r);
    }
    r = offload_secure_verify(&rx, v->frame, v->frame_len, OFFLOAD_MAX_PAYLOAD_ABSOLUTE, 0, &f);
    CHECK(v->name, r == v->verdict, "verdict %x, expected %x", (unsigned)r, (unsigned)v->verdict);
    break;
  case VEC_SECURE_REPLAY: {
    offload_replay_t w = {0, 0};
    for (i = 0; i < v->ncounters; i++) {
      uint64_t c = v->counters[i].counter;
      r = offload_replay_check(&w, c);
      if (r == OFFLOAD_OK && v->ordered && c <= w.highest) r = OFFLOAD_SECURE_TOO_OLD;
      CHECK(v->name, r == v->counters[i].verdict, "counter #%zu: verdict %x, expected %x", i, (unsigned)r,
            (unsigned)v->counters[i].verdict);
      if (r == OFFLOAD_OK) offload_replay_accept(&w, c);
    }
    break;
  }
  default:
    fail(v->name, "unknown kind %d", v->kind);
  }
}

int main(int argc, char **argv) {
  long iterations = argc > 1 ? strtol(argv[1], NULL, 10) : 300000;
  size_t i, passed = 0, failed = 0;
#define RUN(list, count, fn)          \
  for (i = 0; i < (count); i++) {     \
    vector_failed = 0;                \
    fn(&(list)[i]);                   \
    if (vector_failed) failed++;      \
    else passed++;                    \
  }
  RUN(vec_crc, vec_crc_count, test_crc)
  RUN(vec_cobs, vec_cobs_count, test_cobs)
  RUN(vec_frames, vec_frame_count, test_frame)
  RUN(vec_msgs, vec_msg_count, test_message)
  RUN(vec_negative, vec_negative_count, test_negative)
  test_primitives();
  RUN(vec_secure, vec_secure_count, test_secure)
#undef RUN
  robustness(iterations);
  printf("c-codec robustness: %ld inputs (%ld messages and %ld frames decoded and re-encoded identically, %ld frames "
         "recovered from noisy streams), %d failures\n",
         iterations, robust_msg_ok, robust_frame_ok, robust_stream_frames, robust_failed);
  printf("c-codec vectors: %zu passed, %zu failed\n", passed, failed);
  return (failed || robust_failed || total_failures) ? 1 : 0;
}
