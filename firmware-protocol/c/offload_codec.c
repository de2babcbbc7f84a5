/*
 * socket-offload reference codec: see offload_codec.h. Table-driven from the generated offload_protocol.h.
 * Every read is bounds-checked against the length the caller passed; nothing allocates.
 */
#include "offload_codec.h"

#include <string.h>

/* ---- Errors ----------------------------------------------------------------------------------------------- */

const char *offload_error_name(int err) {
  switch (err) {
  case OFFLOAD_OK:
    return "OK";
#define OFFLOAD_ERR_CASE(NAME, value) \
  case value:                         \
    return #NAME;
    OFFLOAD_DECODE_ERROR_TABLE(OFFLOAD_ERR_CASE)
#undef OFFLOAD_ERR_CASE
  case OFFLOAD_ERR_NO_SPACE:
    return "NO_SPACE";
  case OFFLOAD_ERR_ARGUMENT:
    return "ARGUMENT";
  case OFFLOAD_ERR_NEED_MORE:
    return "NEED_MORE";
  default:
    return "UNKNOWN";
  }
}

/* ---- CRC-32 ----------------------------------------------------------------------------------------------- */

#ifndef OFFLOAD_CRC32_BITWISE
static const uint32_t crc_table[256] = {
  0x00000000u, 0x77073096u, 0xEE0E612Cu, 0x990951BAu, 0x076DC419u, 0x706AF48Fu,
  0xE963A535u, 0x9E6495A3u, 0x0EDB8832u, 0x79DCB8A4u, 0xE0D5E91Eu, 0x97D2D988u,
  0x09B64C2Bu, 0x7EB17CBDu, 0xE7B82D07u, 0x90BF1D91u, 0x1DB71064u, 0x6AB020F2u,
  0xF3B97148u, 0x84BE41DEu, 0x1ADAD47Du, 0x6DDDE4EBu, 0xF4D4B551u, 0x83D385C7u,
  0x136C9856u, 0x646BA8C0u, 0xFD62F97Au, 0x8A65C9ECu, 0x14015C4Fu, 0x63066CD9u,
  0xFA0F3D63u, 0x8D080DF5u, 0x3B6E20C8u, 0x4C69105Eu, 0xD56041E4u, 0xA2677172u,
  0x3C03E4D1u, 0x4B04D447u, 0xD20D85FDu, 0xA50AB56Bu, 0x35B5A8FAu, 0x42B2986Cu,
  0xDBBBC9D6u, 0xACBCF940u, 0x32D86CE3u, 0x45DF5C75u, 0xDCD60DCFu, 0xABD13D59u,
  0x26D930ACu, 0x51DE003Au, 0xC8D75180u, 0xBFD06116u, 0x21B4F4B5u, 0x56B3C423u,
  0xCFBA9599u, 0xB8BDA50Fu, 0x2802B89Eu, 0x5F058808u, 0xC60CD9B2u, 0xB10BE924u,
  0x2F6F7C87u, 0x58684C11u, 0xC1611DABu, 0xB6662D3Du, 0x76DC4190u, 0x01DB7106u,
  0x98D220BCu, 0xEFD5102Au, 0x71B18589u, 0x06B6B51Fu, 0x9FBFE4A5u, 0xE8B8D433u,
  0x7807C9A2u, 0x0F00F934u, 0x9609A88Eu, 0xE10E9818u, 0x7F6A0DBBu, 0x086D3D2Du,
  0x91646C97u, 0xE6635C01u, 0x6B6B51F4u, 0x1C6C6162u, 0x856530D8u, 0xF262004Eu,
  0x6C0695EDu, 0x1B01A57Bu, 0x8208F4C1u, 0xF50FC457u, 0x65B0D9C6u, 0x12B7E950u,
  0x8BBEB8EAu, 0xFCB9887Cu, 0x62DD1DDFu, 0x15DA2D49u, 0x8CD37CF3u, 0xFBD44C65u,
  0x4DB26158u, 0x3AB551CEu, 0xA3BC0074u, 0xD4BB30E2u, 0x4ADFA541u, 0x3DD895D7u,
  0xA4D1C46Du, 0xD3D6F4FBu, 0x4369E96Au, 0x346ED9FCu, 0xAD678846u, 0xDA60B8D0u,
  0x44042D73u, 0x33031DE5u, 0xAA0A4C5Fu, 0xDD0D7CC9u, 0x5005713Cu, 0x270241AAu,
  0xBE0B1010u, 0xC90C2086u, 0x5768B525u, 0x206F85B3u, 0xB966D409u, 0xCE61E49Fu,
  0x5EDEF90Eu, 0x29D9C998u, 0xB0D09822u, 0xC7D7A8B4u, 0x59B33D17u, 0x2EB40D81u,
  0xB7BD5C3Bu, 0xC0BA6CADu, 0xEDB88320u, 0x9ABFB3B6u, 0x03B6E20Cu, 0x74B1D29Au,
  0xEAD54739u, 0x9DD277AFu, 0x04DB2615u, 0x73DC1683u, 0xE3630B12u, 0x94643B84u,
  0x0D6D6A3Eu, 0x7A6A5AA8u, 0xE40ECF0Bu, 0x9309FF9Du, 0x0A00AE27u, 0x7D079EB1u,
  0xF00F9344u, 0x8708A3D2u, 0x1E01F268u, 0x6906C2FEu, 0xF762575Du, 0x806567CBu,
  0x196C3671u, 0x6E6B06E7u, 0xFED41B76u, 0x89D32BE0u, 0x10DA7A5Au, 0x67DD4ACCu,
  0xF9B9DF6Fu, 0x8EBEEFF9u, 0x17B7BE43u, 0x60B08ED5u, 0xD6D6A3E8u, 0xA1D1937Eu,
  0x38D8C2C4u, 0x4FDFF252u, 0xD1BB67F1u, 0xA6BC5767u, 0x3FB506DDu, 0x48B2364Bu,
  0xD80D2BDAu, 0xAF0A1B4Cu, 0x36034AF6u, 0x41047A60u, 0xDF60EFC3u, 0xA867DF55u,
  0x316E8EEFu, 0x4669BE79u, 0xCB61B38Cu, 0xBC66831Au, 0x256FD2A0u, 0x5268E236u,
  0xCC0C7795u, 0xBB0B4703u, 0x220216B9u, 0x5505262Fu, 0xC5BA3BBEu, 0xB2BD0B28u,
  0x2BB45A92u, 0x5CB36A04u, 0xC2D7FFA7u, 0xB5D0CF31u, 0x2CD99E8Bu, 0x5BDEAE1Du,
  0x9B64C2B0u, 0xEC63F226u, 0x756AA39Cu, 0x026D930Au, 0x9C0906A9u, 0xEB0E363Fu,
  0x72076785u, 0x05005713u, 0x95BF4A82u, 0xE2B87A14u, 0x7BB12BAEu, 0x0CB61B38u,
  0x92D28E9Bu, 0xE5D5BE0Du, 0x7CDCEFB7u, 0x0BDBDF21u, 0x86D3D2D4u, 0xF1D4E242u,
  0x68DDB3F8u, 0x1FDA836Eu, 0x81BE16CDu, 0xF6B9265Bu, 0x6FB077E1u, 0x18B74777u,
  0x88085AE6u, 0xFF0F6A70u, 0x66063BCAu, 0x11010B5Cu, 0x8F659EFFu, 0xF862AE69u,
  0x616BFFD3u, 0x166CCF45u, 0xA00AE278u, 0xD70DD2EEu, 0x4E048354u, 0x3903B3C2u,
  0xA7672661u, 0xD06016F7u, 0x4969474Du, 0x3E6E77DBu, 0xAED16A4Au, 0xD9D65ADCu,
  0x40DF0B66u, 0x37D83BF0u, 0xA9BCAE53u, 0xDEBB9EC5u, 0x47B2CF7Fu, 0x30B5FFE9u,
  0xBDBDF21Cu, 0xCABAC28Au, 0x53B39330u, 0x24B4A3A6u, 0xBAD03605u, 0xCDD70693u,
  0x54DE5729u, 0x23D967BFu, 0xB3667A2Eu, 0xC4614AB8u, 0x5D681B02u, 0x2A6F2B94u,
  0xB40BBE37u, 0xC30C8EA1u, 0x5A05DF1Bu, 0x2D02EF8Du,
};
#endif

uint32_t offload_crc32(uint32_t crc, const uint8_t *data, size_t len) {
  size_t i;
  crc = ~crc;
  for (i = 0; i < len; i++) {
#ifdef OFFLOAD_CRC32_BITWISE
    int k;
    crc ^= data[i];
    for (k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
#else
    crc = crc_table[(crc ^ data[i]) & 0xFFu] ^ (crc >> 8);
#endif
  }
  return ~crc;
}

/* ---- COBS ------------------------------------------------------------------------------------------------- */

int offload_cobs_encode(const uint8_t *in, size_t len, uint8_t *out, size_t cap, size_t *out_len) {
  size_t i, o = 1, code_at = 0;
  uint8_t code = 1;
  if ((in == NULL && len > 0) || out == NULL || out_len == NULL) return OFFLOAD_ERR_ARGUMENT;
  *out_len = 0;
  if (cap < 1) return OFFLOAD_ERR_NO_SPACE;
  /* Reads of in[i] always happen before any write that could reach it (see the header for the overlap rule). */
  for (i = 0; i < len; i++) {
    uint8_t b = in[i];
    if (b == 0) {
      out[code_at] = code;
      if (o >= cap) return OFFLOAD_ERR_NO_SPACE;
      code_at = o++;
      code = 1;
      continue;
    }
    if (o >= cap) return OFFLOAD_ERR_NO_SPACE;
    out[o++] = b;
    code++;
    if (code == 0xFF) {
      out[code_at] = code;
      code = 1;
      if (i == len - 1) { /* a full block that ends the input needs no further block */
        *out_len = o;
        return OFFLOAD_OK;
      }
      if (o >= cap) return OFFLOAD_ERR_NO_SPACE;
      code_at = o++;
    }
  }
  out[code_at] = code;
  *out_len = o;
  return OFFLOAD_OK;
}

int offload_cobs_decode(const uint8_t *in, size_t len, uint8_t *out, size_t cap, size_t *out_len) {
  size_t i = 0, o = 0;
  if ((in == NULL && len > 0) || (out == NULL && cap > 0) || out_len == NULL) return OFFLOAD_ERR_ARGUMENT;
  *out_len = 0;
  while (i < len) {
    size_t code = in[i], j;
    if (code == 0) return OFFLOAD_ERR_COBS_INVALID;
    if (code > len - i) return OFFLOAD_ERR_COBS_INVALID; /* block runs past the end */
    for (j = i + 1; j < i + code; j++) {
      uint8_t b = in[j];
      if (b == 0) return OFFLOAD_ERR_COBS_INVALID;
      if (o >= cap) return OFFLOAD_ERR_NO_SPACE;
      out[o++] = b; /* o < j: in-place decoding never overtakes the input */
    }
    i += code;
    if (code != 0xFF && i < len) {
      if (o >= cap) return OFFLOAD_ERR_NO_SPACE;
      out[o++] = 0;
    }
  }
  *out_len = o;
  return OFFLOAD_OK;
}

/* ---- Frames ----------------------------------------------------------------------------------------------- */

static int frame_type_known(uint8_t type) {
  switch (type) {
#define OFFLOAD_FT_CASE(NAME, value) case value:
    OFFLOAD_FRAME_TYPE_TABLE(OFFLOAD_FT_CASE)
#undef OFFLOAD_FT_CASE
    return 1;
  default:
    return 0;
  }
}

static size_t frame_overhead(uint8_t flags) {
  return OFFLOAD_FRAME_HEADER_SIZE + OFFLOAD_CRC_SIZE +
         ((flags & OFFLOAD_FRAME_FLAG_SECURE) ? OFFLOAD_SECURE_COUNTER_SIZE + OFFLOAD_SECURE_MAC_SIZE : 0u);
}

size_t offload_frame_size(const offload_frame_t *f) { return frame_overhead(f->flags) + f->length; }

int offload_frame_encode(const offload_frame_t *f, uint8_t *out, size_t cap, size_t *out_len) {
  size_t size, o = OFFLOAD_FRAME_HEADER_SIZE;
  int secure;
  if (f == NULL || out == NULL || out_len == NULL) return OFFLOAD_ERR_ARGUMENT;
  *out_len = 0;
  secure = (f->flags & OFFLOAD_FRAME_FLAG_SECURE) != 0;
  if ((f->payload == NULL && f->length > 0) || (secure && f->mac == NULL)) return OFFLOAD_ERR_ARGUMENT;
  size = offload_frame_size(f);
  if (cap < size) return OFFLOAD_ERR_NO_SPACE;
  out[OFFLOAD_FRAME_HDR_VERSION_OFF] = OFFLOAD_FRAME_VERSION;
  out[OFFLOAD_FRAME_HDR_FLAGS_OFF] = f->flags;
  out[OFFLOAD_FRAME_HDR_CHANNEL_OFF] = f->channel;
  out[OFFLOAD_FRAME_HDR_TYPE_OFF] = f->type;
  offload_put_u16(out + OFFLOAD_FRAME_HDR_SEQ_OFF, f->seq);
  offload_put_u16(out + OFFLOAD_FRAME_HDR_ACK_OFF, f->ack);
  offload_put_u16(out + OFFLOAD_FRAME_HDR_LENGTH_OFF, f->length);
  if (secure) {
    offload_put_u64(out + o, f->counter);
    o += OFFLOAD_SECURE_COUNTER_SIZE;
  }
  /* memmove: the payload may already sit in the output buffer (e.g. a message encoded in place). */
  if (f->length > 0) memmove(out + o, f->payload, f->length);
  o += f->length;
  if (secure) {
    memmove(out + o, f->mac, OFFLOAD_SECURE_MAC_SIZE);
    o += OFFLOAD_SECURE_MAC_SIZE;
  }
  offload_put_u32(out + o, offload_crc32(0, out, o));
  *out_len = o + OFFLOAD_CRC_SIZE;
  return OFFLOAD_OK;
}

int offload_frame_decode(const uint8_t *buf, size_t len, size_t max_payload, offload_frame_t *out) {
  size_t body, overhead, o = OFFLOAD_FRAME_HEADER_SIZE;
  offload_frame_t f;
  if ((buf == NULL && len > 0) || out == NULL) return OFFLOAD_ERR_ARGUMENT;
  memset(out, 0, sizeof *out);
  if (len < OFFLOAD_FRAME_HEADER_SIZE + OFFLOAD_CRC_SIZE) return OFFLOAD_ERR_FRAME_TOO_SHORT;
  body = len - OFFLOAD_CRC_SIZE;
  if (offload_crc32(0, buf, body) != offload_get_u32(buf + body)) return OFFLOAD_ERR_FRAME_BAD_CRC;
  if (buf[OFFLOAD_FRAME_HDR_VERSION_OFF] != OFFLOAD_FRAME_VERSION) return OFFLOAD_ERR_FRAME_BAD_VERSION;
  memset(&f, 0, sizeof f);
  f.version = buf[OFFLOAD_FRAME_HDR_VERSION_OFF];
  f.flags = buf[OFFLOAD_FRAME_HDR_FLAGS_OFF];
  f.channel = buf[OFFLOAD_FRAME_HDR_CHANNEL_OFF];
  f.type = buf[OFFLOAD_FRAME_HDR_TYPE_OFF];
  f.seq = offload_get_u16(buf + OFFLOAD_FRAME_HDR_SEQ_OFF);
  f.ack = offload_get_u16(buf + OFFLOAD_FRAME_HDR_ACK_OFF);
  f.length = offload_get_u16(buf + OFFLOAD_FRAME_HDR_LENGTH_OFF);
  if (!frame_type_known(f.type)) return OFFLOAD_ERR_FRAME_BAD_TYPE;
  overhead = frame_overhead(f.flags);
  if (len < overhead) return OFFLOAD_ERR_FRAME_TOO_SHORT;
  if (len - overhead != f.length) return OFFLOAD_ERR_FRAME_LENGTH_MISMATCH;
  if (f.length > max_payload) return OFFLOAD_ERR_FRAME_OVERSIZE;
  if (f.flags & OFFLOAD_FRAME_FLAG_SECURE) {
    f.counter = offload_get_u64(buf + o);
    o += OFFLOAD_SECURE_COUNTER_SIZE;
  }
  f.payload = buf + o;
  o += f.length;
  if (f.flags & OFFLOAD_FRAME_FLAG_SECURE) f.mac = buf + o;
  *out = f;
  return OFFLOAD_OK;
}

int offload_wire_encode(const offload_frame_t *f, uint8_t *out, size_t cap, size_t *out_len) {
  size_t size, max_enc, shift, flen = 0, elen = 0;
  int err;
  if (f == NULL || out == NULL || out_len == NULL) return OFFLOAD_ERR_ARGUMENT;
  *out_len = 0;
  size = offload_frame_size(f);
  max_enc = OFFLOAD_COBS_MAX_ENCODED(size);
  if (cap < max_enc + 1) return OFFLOAD_ERR_NO_SPACE;
  /* The frame goes to the tail of the encoded area, then COBS runs forward over it (safe, see cobs_encode). */
  shift = max_enc - size;
  err = offload_frame_encode(f, out + shift, cap - shift, &flen);
  if (err) return err;
  err = offload_cobs_encode(out + shift, flen, out, max_enc, &elen);
  if (err) return err;
  out[elen] = 0;
  *out_len = elen + 1;
  return OFFLOAD_OK;
}

int offload_tcp_encode(const offload_frame_t *f, uint8_t *out, size_t cap, size_t *out_len) {
  size_t flen = 0;
  int err;
  if (f == NULL || out == NULL || out_len == NULL) return OFFLOAD_ERR_ARGUMENT;
  *out_len = 0;
  if (cap < OFFLOAD_TCP_LENGTH_PREFIX_SIZE) return OFFLOAD_ERR_NO_SPACE;
  err = offload_frame_encode(f, out + OFFLOAD_TCP_LENGTH_PREFIX_SIZE, cap - OFFLOAD_TCP_LENGTH_PREFIX_SIZE, &flen);
  if (err) return err;
  offload_put_u32(out, (uint32_t)flen);
  *out_len = flen + OFFLOAD_TCP_LENGTH_PREFIX_SIZE;
  return OFFLOAD_OK;
}

int offload_tcp_decode(const uint8_t *buf, size_t len, size_t max_payload, offload_frame_t *out, size_t *consumed) {
  uint32_t rec;
  if ((buf == NULL && len > 0) || out == NULL || consumed == NULL) return OFFLOAD_ERR_ARGUMENT;
  *consumed = 0;
  memset(out, 0, sizeof *out);
  if (len < OFFLOAD_TCP_LENGTH_PREFIX_SIZE) return OFFLOAD_ERR_NEED_MORE;
  rec = offload_get_u32(buf);
  if (max_payload > OFFLOAD_MAX_PAYLOAD_ABSOLUTE) max_payload = OFFLOAD_MAX_PAYLOAD_ABSOLUTE;
  if (rec > OFFLOAD_FRAME_SIZE_SECURE(max_payload)) return OFFLOAD_ERR_FRAME_OVERSIZE;
  if (rec < OFFLOAD_FRAME_SIZE(0)) return OFFLOAD_ERR_FRAME_TOO_SHORT;
  if (len - OFFLOAD_TCP_LENGTH_PREFIX_SIZE < rec) return OFFLOAD_ERR_NEED_MORE;
  *consumed = OFFLOAD_TCP_LENGTH_PREFIX_SIZE + (size_t)rec;
  return offload_frame_decode(buf + OFFLOAD_TCP_LENGTH_PREFIX_SIZE, rec, max_payload, out);
}

/* ---- Serial deframer -------------------------------------------------------------------------------------- */

int offload_deframer_init(offload_deframer_t *d, uint8_t *buf, size_t cap, size_t max_payload) {
  if (d == NULL || buf == NULL) return OFFLOAD_ERR_ARGUMENT;
  if (max_payload > OFFLOAD_MAX_PAYLOAD_ABSOLUTE) max_payload = OFFLOAD_MAX_PAYLOAD_ABSOLUTE;
  d->buf = buf;
  d->limit = OFFLOAD_DEFRAMER_BUFFER_SIZE(max_payload);
  d->used = 0;
  d->overflowed = 0;
  d->max_payload = max_payload;
  if (cap < d->limit) {
    d->limit = 0;
    return OFFLOAD_ERR_NO_SPACE;
  }
  return OFFLOAD_OK;
}

void offload_deframer_reset(offload_deframer_t *d) {
  d->used = 0;
  d->overflowed = 0;
}

size_t offload_deframer_feed(offload_deframer_t *d, const uint8_t *data, size_t len, offload_deframe_result_t *r) {
  size_t i;
  memset(r, 0, sizeof *r);
  r->kind = OFFLOAD_DEFRAME_NONE;
  if (d->limit == 0 || d->buf == NULL) return len; /* not initialised: swallow, never write */
  for (i = 0; i < len; i++) {
    uint8_t b = data[i];
    size_t n = 0;
    int err;
    if (b != 0) {
      if (d->overflowed > 0) {
        d->overflowed++;
      } else if (d->used >= d->limit) {
        d->overflowed = d->used + 1; /* count everything of this frame, keep none of it */
        d->used = 0;
      } else {
        d->buf[d->used++] = b;
      }
      continue;
    }
    if (d->overflowed > 0) {
      r->kind = OFFLOAD_DEFRAME_ERROR;
      r->error = OFFLOAD_ERR_FRAME_OVERSIZE;
      r->wire_bytes = d->overflowed + 1;
      d->overflowed = 0;
      return i + 1;
    }
    if (d->used == 0) continue; /* back-to-back delimiters: idle fill */
    r->wire_bytes = d->used + 1;
    err = offload_cobs_decode(d->buf, d->used, d->buf, d->limit, &n);
    d->used = 0;
    if (err == OFFLOAD_OK) err = offload_frame_decode(d->buf, n, d->max_payload, &r->frame);
    if (err == OFFLOAD_OK) {
      r->kind = OFFLOAD_DEFRAME_FRAME;
    } else {
      r->kind = OFFLOAD_DEFRAME_ERROR;
      r->error = err;
      memset(&r->frame, 0, sizeof r->frame);
    }
    return i + 1;
  }
  return len;
}

/* ---- Structs ---------------------------------------------------------------------------------------------- */

#define GET_U8(dst, p) (dst) = (p)[0];
#define GET_U16(dst, p) (dst) = offload_get_u16(p);
#define GET_U32(dst, p) (dst) = offload_get_u32(p);
#define GET_BYTES16(dst, p) memcpy((dst), (p), 16);
#define GET_ADDR(dst, p)                                  \
  if ((err = offload_addr_decode((p), &(dst))) != 0) {    \
    return err;                                           \
  }
#define PUT_U8(src, p) (p)[0] = (src);
#define PUT_U16(src, p) offload_put_u16((p), (src));
#define PUT_U32(src, p) offload_put_u32((p), (src));
#define PUT_BYTES16(src, p) memcpy((p), (src), 16);
#define PUT_ADDR(src, p)                                  \
  if ((err = offload_addr_encode(&(src), (p))) != 0) {    \
    return err;                                           \
  }

int offload_addr_decode(const uint8_t *p, offload_addr_t *a) {
  int err = 0;
  size_t used, i;
#define X(name, T, off, size) GET_##T(a->name, p + (off))
  OFFLOAD_ADDR_FIELDS(X)
#undef X
  (void)err;
  if (a->family == OFFLOAD_ADDR_FAMILY_NONE) used = 0;
  else if (a->family == OFFLOAD_ADDR_FAMILY_IPV4) used = 4;
  else if (a->family == OFFLOAD_ADDR_FAMILY_IPV6) used = 16;
  else return OFFLOAD_ERR_MSG_BAD_FIELD;
  if (a->reserved != 0) return OFFLOAD_ERR_MSG_BAD_FIELD;
  if (a->family == OFFLOAD_ADDR_FAMILY_NONE && a->port != 0) return OFFLOAD_ERR_MSG_BAD_FIELD;
  for (i = used; i < sizeof a->address; i++) {
    if (a->address[i] != 0) return OFFLOAD_ERR_MSG_BAD_FIELD;
  }
  return OFFLOAD_OK;
}

int offload_addr_encode(const offload_addr_t *a, uint8_t *p) {
  offload_addr_t c = *a;
  size_t used;
  int err = 0;
  if (c.family == OFFLOAD_ADDR_FAMILY_NONE) used = 0;
  else if (c.family == OFFLOAD_ADDR_FAMILY_IPV4) used = 4;
  else if (c.family == OFFLOAD_ADDR_FAMILY_IPV6) used = 16;
  else return OFFLOAD_ERR_ARGUMENT;
  c.reserved = 0;
  if (used == 0) c.port = 0;
  memset(c.address + used, 0, sizeof c.address - used);
#define X(name, T, off, size) PUT_##T(c.name, p + (off))
  OFFLOAD_ADDR_FIELDS(X)
#undef X
  (void)err;
  return OFFLOAD_OK;
}

int offload_entry_decode(const uint8_t *p, offload_entry_t *e) {
  int err = 0;
#define X(name, T, off, size) GET_##T(e->name, p + (off))
  OFFLOAD_ENTRY_FIELDS(X)
#undef X
  (void)err;
  return OFFLOAD_OK;
}

int offload_entry_encode(const offload_entry_t *e, uint8_t *p) {
  int err = 0;
#define X(name, T, off, size) PUT_##T(e->name, p + (off))
  OFFLOAD_ENTRY_FIELDS(X)
#undef X
  (void)err;
  return OFFLOAD_OK;
}

#define SF_ADDR(name, T, off, size) {#name, OFFLOAD_FT_##T, (off), (size), (uint16_t)offsetof(offload_addr_t, name)},
#define SF_ENTRY(name, T, off, size) {#name, OFFLOAD_FT_##T, (off), (size), (uint16_t)offsetof(offload_entry_t, name)},
const offload_struct_field_t offload_addr_fields[] = {OFFLOAD_ADDR_FIELDS(SF_ADDR)};
const size_t offload_addr_field_count = sizeof offload_addr_fields / sizeof offload_addr_fields[0];
const offload_struct_field_t offload_entry_fields[] = {OFFLOAD_ENTRY_FIELDS(SF_ENTRY)};
const size_t offload_entry_field_count = sizeof offload_entry_fields / sizeof offload_entry_fields[0];
#undef SF_ADDR
#undef SF_ENTRY

/* ---- Message tables --------------------------------------------------------------------------------------- */

#define FD(MSG, PART, name, T, off, size, cnt) {#name, OFFLOAD_FT_##T, (size), (off), (cnt)},
static const offload_field_desc_t field_table[OFFLOAD_FIELD_COUNT] = {OFFLOAD_FIELD_TABLE(FD)};
#undef FD

#define MD(NAME, op, KIND, cap, rf, rn, sf, sn, ef, en, vf, vn)                                                  \
  {#NAME, (op), OFFLOAD_KIND_##KIND, (cap), {&field_table[rf], &field_table[sf], &field_table[ef], &field_table[vf]}, \
   {(rn), (sn), (en), (vn)}},
const offload_msg_desc_t offload_messages[OFFLOAD_MESSAGE_COUNT] = {OFFLOAD_MESSAGE_TABLE(MD)};
#undef MD
const size_t offload_message_count = OFFLOAD_MESSAGE_COUNT;

enum {
#define MI(NAME, op, ...) MSG_INDEX_##NAME,
  OFFLOAD_MESSAGE_TABLE(MI)
#undef MI
  MSG_INDEX_COUNT
};

/* opcode -> message index + 1 (0 = undefined); a duplicate opcode would be a -Woverride-init error. */
static const uint8_t opcode_index[256] = {
#define OI(NAME, op, ...) [op] = MSG_INDEX_##NAME + 1,
    OFFLOAD_MESSAGE_TABLE(OI)
#undef OI
};

const offload_msg_desc_t *offload_msg_desc_by_opcode(uint8_t opcode) {
  uint8_t i = opcode_index[opcode];
  return i ? &offload_messages[i - 1] : NULL;
}

const offload_msg_desc_t *offload_msg_desc_by_name(const char *name) {
  size_t i;
  if (name == NULL) return NULL;
  for (i = 0; i < OFFLOAD_MESSAGE_COUNT; i++) {
    if (strcmp(offload_messages[i].name, name) == 0) return &offload_messages[i];
  }
  return NULL;
}

const offload_field_desc_t *offload_msg_fields(const offload_msg_desc_t *d, uint8_t kind, uint16_t status, uint8_t *n) {
  int part;
  switch (kind) {
  case OFFLOAD_KIND_COMMAND:
    part = OFFLOAD_PART_REQ;
    break;
  case OFFLOAD_KIND_RESPONSE:
    part = status == OFFLOAD_STATUS_OK ? OFFLOAD_PART_RSP : OFFLOAD_PART_ERR;
    break;
  case OFFLOAD_KIND_EVENT:
    part = OFFLOAD_PART_EVT;
    break;
  default:
    part = OFFLOAD_PART_RSP;
    break;
  }
  *n = d->nfields[part];
  return d->fields[part];
}

/* Resolves a wire opcode to its definition and the kind of message it starts. */
static const offload_msg_desc_t *resolve(uint8_t op, uint8_t *kind) {
  const offload_msg_desc_t *d;
  if (op == OFFLOAD_OP_ERROR_RESPONSE) {
    *kind = OFFLOAD_KIND_ERROR;
    return offload_msg_desc_by_opcode(op);
  }
  d = offload_msg_desc_by_opcode((uint8_t)(op & ~OFFLOAD_OP_RESPONSE_BIT));
  if (d == NULL || d->kind == OFFLOAD_KIND_ERROR) return NULL;
  if (op & OFFLOAD_OP_RESPONSE_BIT) {
    if (d->kind != OFFLOAD_KIND_COMMAND) return NULL;
    *kind = OFFLOAD_KIND_RESPONSE;
  } else {
    *kind = d->kind;
  }
  return d;
}

/* ---- Message decoding ------------------------------------------------------------------------------------- */

/* Strict UTF-8 (no overlongs, surrogates or code points above U+10FFFF), as a fatal TextDecoder. */
static int utf8_valid(const uint8_t *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint8_t c = s[i], lo = 0x80, hi = 0xBF;
    size_t need, k;
    if (c < 0x80) {
      i++;
      continue;
    }
    if (c >= 0xC2 && c <= 0xDF) need = 1;
    else if (c == 0xE0) need = 2, lo = 0xA0;
    else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) need = 2;
    else if (c == 0xED) need = 2, hi = 0x9F;
    else if (c == 0xF0) need = 3, lo = 0x90;
    else if (c >= 0xF1 && c <= 0xF3) need = 3;
    else if (c == 0xF4) need = 3, hi = 0x8F;
    else return 0;
    if (n - i - 1 < need) return 0;
    if (s[i + 1] < lo || s[i + 1] > hi) return 0;
    for (k = 2; k <= need; k++) {
      if ((s[i + k] & 0xC0) != 0x80) return 0;
    }
    i += need + 1;
  }
  return 1;
}

static int decode_fields(const offload_field_desc_t *f, uint8_t n, const uint8_t *buf, size_t len, size_t pos,
                         offload_value_t *v) {
  uint8_t i;
  int err;
  for (i = 0; i < n; i++) {
    size_t rest = len - pos;
    switch (f[i].type) {
    case OFFLOAD_FT_U8:
      if (rest < 1) return OFFLOAD_ERR_MSG_TOO_SHORT;
      v[i].u = buf[pos];
      pos += 1;
      break;
    case OFFLOAD_FT_U16:
      if (rest < 2) return OFFLOAD_ERR_MSG_TOO_SHORT;
      v[i].u = offload_get_u16(buf + pos);
      pos += 2;
      break;
    case OFFLOAD_FT_U32:
      if (rest < 4) return OFFLOAD_ERR_MSG_TOO_SHORT;
      v[i].u = offload_get_u32(buf + pos);
      pos += 4;
      break;
    case OFFLOAD_FT_BYTES16:
      if (rest < 16) return OFFLOAD_ERR_MSG_TOO_SHORT;
      v[i].bytes.ptr = buf + pos;
      v[i].bytes.len = 16;
      pos += 16;
      break;
    case OFFLOAD_FT_ADDR:
      if (rest < OFFLOAD_ADDR_SIZE) return OFFLOAD_ERR_MSG_TOO_SHORT;
      if ((err = offload_addr_decode(buf + pos, &v[i].addr)) != 0) return err;
      pos += OFFLOAD_ADDR_SIZE;
      break;
    case OFFLOAD_FT_ENTRY:
      if (rest < OFFLOAD_ENTRY_SIZE) return OFFLOAD_ERR_MSG_TOO_SHORT;
      if ((err = offload_entry_decode(buf + pos, &v[i].entry)) != 0) return err;
      pos += OFFLOAD_ENTRY_SIZE;
      break;
    case OFFLOAD_FT_STR8: {
      size_t slen;
      if (rest < 1) return OFFLOAD_ERR_MSG_TOO_SHORT;
      slen = buf[pos];
      if (rest - 1 < slen) return OFFLOAD_ERR_MSG_TOO_SHORT;
      if (!utf8_valid(buf + pos + 1, slen)) return OFFLOAD_ERR_MSG_BAD_FIELD;
      v[i].bytes.ptr = buf + pos + 1;
      v[i].bytes.len = slen;
      pos += 1 + slen;
      break;
    }
    case OFFLOAD_FT_BYTES:
      v[i].bytes.ptr = buf + pos;
      v[i].bytes.len = rest;
      pos = len;
      break;
    case OFFLOAD_FT_U32_ARRAY:
      if (rest % 4 != 0) return OFFLOAD_ERR_MSG_BAD_LENGTH;
      v[i].u32s.raw = buf + pos;
      v[i].u32s.list = NULL;
      v[i].u32s.count = rest / 4;
      pos = len;
      break;
    case OFFLOAD_FT_ENTRY_ARRAY: {
      size_t count, k;
      offload_entry_t e;
      if (f[i].count_index >= i) return OFFLOAD_ERR_ARGUMENT; /* table error; cannot happen */
      count = v[f[i].count_index].u;
      if (rest / OFFLOAD_ENTRY_SIZE != count || rest % OFFLOAD_ENTRY_SIZE != 0) return OFFLOAD_ERR_MSG_BAD_FIELD;
      for (k = 0; k < count; k++) {
        if ((err = offload_entry_decode(buf + pos + k * OFFLOAD_ENTRY_SIZE, &e)) != 0) return err;
      }
      v[i].entries.raw = buf + pos;
      v[i].entries.list = NULL;
      v[i].entries.count = count;
      pos = len;
      break;
    }
    default:
      return OFFLOAD_ERR_ARGUMENT; /* table error; cannot happen */
    }
  }
  return pos == len ? OFFLOAD_OK : OFFLOAD_ERR_MSG_BAD_LENGTH;
}

int offload_msg_decode(const uint8_t *buf, size_t len, offload_msg_t *m) {
  const offload_msg_desc_t *d;
  size_t pos = OFFLOAD_MSG_HEADER_SIZE;
  uint8_t kind = 0;
  if ((buf == NULL && len > 0) || m == NULL) return OFFLOAD_ERR_ARGUMENT;
  memset(m, 0, sizeof *m);
  if (len == 0) return OFFLOAD_ERR_MSG_EMPTY;
  if (len < OFFLOAD_MSG_HEADER_SIZE) return OFFLOAD_ERR_MSG_TOO_SHORT;
  m->opcode = buf[OFFLOAD_MSG_OPCODE_OFF];
  m->flags = buf[OFFLOAD_MSG_FLAGS_OFF];
  m->tag = offload_get_u16(buf + OFFLOAD_MSG_TAG_OFF);
  if (m->flags != 0) return OFFLOAD_ERR_MSG_BAD_FIELD; /* reserved, must be 0 */
  d = resolve(m->opcode, &kind);
  if (d == NULL) return OFFLOAD_ERR_MSG_UNKNOWN_OPCODE;
  m->desc = d;
  m->kind = kind;
  if (kind == OFFLOAD_KIND_EVENT) {
    if (m->tag != 0) return OFFLOAD_ERR_MSG_BAD_FIELD; /* events carry tag 0 */
    if (len < OFFLOAD_EVT_HEADER_SIZE) return OFFLOAD_ERR_MSG_TOO_SHORT;
    m->epoch = offload_get_u32(buf + OFFLOAD_EVT_EPOCH_OFF);
    m->seq = offload_get_u32(buf + OFFLOAD_EVT_SEQ_OFF);
    pos = OFFLOAD_EVT_HEADER_SIZE;
  } else if (kind == OFFLOAD_KIND_RESPONSE || kind == OFFLOAD_KIND_ERROR) {
    if (len < OFFLOAD_RSP_HEADER_SIZE) return OFFLOAD_ERR_MSG_TOO_SHORT;
    m->status = offload_get_u16(buf + OFFLOAD_RSP_STATUS_OFF);
    pos = OFFLOAD_RSP_HEADER_SIZE;
  }
  m->fields = offload_msg_fields(d, kind, m->status, &m->nfields);
  return decode_fields(m->fields, m->nfields, buf, len, pos, m->v);
}

/* ---- Message encoding ------------------------------------------------------------------------------------- */

int offload_msg_init(offload_msg_t *m, uint8_t wire_opcode, uint16_t tag, uint16_t status) {
  const offload_msg_desc_t *d;
  uint8_t kind = 0;
  if (m == NULL) return OFFLOAD_ERR_ARGUMENT;
  memset(m, 0, sizeof *m);
  d = resolve(wire_opcode, &kind);
  if (d == NULL) return OFFLOAD_ERR_ARGUMENT;
  m->desc = d;
  m->kind = kind;
  m->opcode = wire_opcode;
  m->tag = kind == OFFLOAD_KIND_EVENT ? 0 : tag;
  m->status = (kind == OFFLOAD_KIND_RESPONSE || kind == OFFLOAD_KIND_ERROR) ? status : 0;
  m->fields = offload_msg_fields(d, kind, m->status, &m->nfields);
  return OFFLOAD_OK;
}

#define ROOM(n)                                     \
  do {                                              \
    if (cap - pos < (size_t)(n)) return OFFLOAD_ERR_NO_SPACE; \
  } while (0)

static int encode_fields(const offload_field_desc_t *f, uint8_t n, const offload_value_t *v, uint8_t *out,
                         size_t cap, size_t *ppos) {
  size_t pos = *ppos, k;
  uint8_t i;
  int err;
  for (i = 0; i < n; i++) {
    switch (f[i].type) {
    case OFFLOAD_FT_U8:
      if (v[i].u > 0xFFu) return OFFLOAD_ERR_ARGUMENT;
      ROOM(1);
      out[pos++] = (uint8_t)v[i].u;
      break;
    case OFFLOAD_FT_U16:
      if (v[i].u > 0xFFFFu) return OFFLOAD_ERR_ARGUMENT;
      ROOM(2);
      offload_put_u16(out + pos, (uint16_t)v[i].u);
      pos += 2;
      break;
    case OFFLOAD_FT_U32:
      ROOM(4);
      offload_put_u32(out + pos, v[i].u);
      pos += 4;
      break;
    case OFFLOAD_FT_BYTES16:
      if (v[i].bytes.ptr == NULL || v[i].bytes.len != 16) return OFFLOAD_ERR_ARGUMENT;
      ROOM(16);
      memmove(out + pos, v[i].bytes.ptr, 16);
      pos += 16;
      break;
    case OFFLOAD_FT_ADDR:
      ROOM(OFFLOAD_ADDR_SIZE);
      if ((err = offload_addr_encode(&v[i].addr, out + pos)) != 0) return err;
      pos += OFFLOAD_ADDR_SIZE;
      break;
    case OFFLOAD_FT_ENTRY:
      ROOM(OFFLOAD_ENTRY_SIZE);
      if ((err = offload_entry_encode(&v[i].entry, out + pos)) != 0) return err;
      pos += OFFLOAD_ENTRY_SIZE;
      break;
    case OFFLOAD_FT_STR8:
      if (v[i].bytes.len > 0xFFu || (v[i].bytes.ptr == NULL && v[i].bytes.len > 0)) return OFFLOAD_ERR_ARGUMENT;
      if (v[i].bytes.len > 0 && !utf8_valid(v[i].bytes.ptr, v[i].bytes.len)) return OFFLOAD_ERR_ARGUMENT;
      ROOM(1 + v[i].bytes.len);
      out[pos++] = (uint8_t)v[i].bytes.len;
      if (v[i].bytes.len > 0) memmove(out + pos, v[i].bytes.ptr, v[i].bytes.len);
      pos += v[i].bytes.len;
      break;
    case OFFLOAD_FT_BYTES:
      if (v[i].bytes.ptr == NULL && v[i].bytes.len > 0) return OFFLOAD_ERR_ARGUMENT;
      ROOM(v[i].bytes.len);
      if (v[i].bytes.len > 0) memmove(out + pos, v[i].bytes.ptr, v[i].bytes.len);
      pos += v[i].bytes.len;
      break;
    case OFFLOAD_FT_U32_ARRAY:
      if (v[i].u32s.list == NULL && v[i].u32s.raw == NULL && v[i].u32s.count > 0) return OFFLOAD_ERR_ARGUMENT;
      if (v[i].u32s.count > (cap - pos) / 4) return OFFLOAD_ERR_NO_SPACE;
      for (k = 0; k < v[i].u32s.count; k++) {
        uint32_t w = v[i].u32s.list ? v[i].u32s.list[k] : offload_get_u32(v[i].u32s.raw + 4 * k);
        offload_put_u32(out + pos, w);
        pos += 4;
      }
      break;
    case OFFLOAD_FT_ENTRY_ARRAY:
      if (f[i].count_index >= i || v[f[i].count_index].u != v[i].entries.count) return OFFLOAD_ERR_ARGUMENT;
      if (v[i].entries.list == NULL && v[i].entries.raw == NULL && v[i].entries.count > 0) return OFFLOAD_ERR_ARGUMENT;
      if (v[i].entries.count > (cap - pos) / OFFLOAD_ENTRY_SIZE) return OFFLOAD_ERR_NO_SPACE;
      for (k = 0; k < v[i].entries.count; k++) {
        offload_entry_t e;
        if (v[i].entries.list) {
          e = v[i].entries.list[k];
        } else if (offload_entry_decode(v[i].entries.raw + k * OFFLOAD_ENTRY_SIZE, &e) != 0) {
          return OFFLOAD_ERR_ARGUMENT;
        }
        if ((err = offload_entry_encode(&e, out + pos)) != 0) return err;
        pos += OFFLOAD_ENTRY_SIZE;
      }
      break;
    default:
      return OFFLOAD_ERR_ARGUMENT;
    }
  }
  *ppos = pos;
  return OFFLOAD_OK;
}

int offload_msg_encode(const offload_msg_t *m, uint8_t *out, size_t cap, size_t *out_len) {
  const offload_msg_desc_t *d;
  const offload_field_desc_t *f;
  uint8_t n, op;
  size_t pos = 0;
  int err;
  if (m == NULL || out == NULL || out_len == NULL || m->desc == NULL) return OFFLOAD_ERR_ARGUMENT;
  *out_len = 0;
  d = m->desc;
  switch (m->kind) {
  case OFFLOAD_KIND_COMMAND:
    if (d->kind != OFFLOAD_KIND_COMMAND) return OFFLOAD_ERR_ARGUMENT;
    op = d->opcode;
    break;
  case OFFLOAD_KIND_RESPONSE:
    if (d->kind != OFFLOAD_KIND_COMMAND) return OFFLOAD_ERR_ARGUMENT;
    op = (uint8_t)(d->opcode | OFFLOAD_OP_RESPONSE_BIT);
    break;
  case OFFLOAD_KIND_EVENT:
  case OFFLOAD_KIND_ERROR:
    if (d->kind != m->kind) return OFFLOAD_ERR_ARGUMENT;
    op = d->opcode;
    break;
  default:
    return OFFLOAD_ERR_ARGUMENT;
  }
  ROOM(OFFLOAD_MSG_HEADER_SIZE);
  out[OFFLOAD_MSG_OPCODE_OFF] = op;
  out[OFFLOAD_MSG_FLAGS_OFF] = 0;
  offload_put_u16(out + OFFLOAD_MSG_TAG_OFF, m->kind == OFFLOAD_KIND_EVENT ? 0 : m->tag);
  pos = OFFLOAD_MSG_HEADER_SIZE;
  if (m->kind == OFFLOAD_KIND_EVENT) {
    ROOM(8);
    offload_put_u32(out + OFFLOAD_EVT_EPOCH_OFF, m->epoch);
    offload_put_u32(out + OFFLOAD_EVT_SEQ_OFF, m->seq);
    pos = OFFLOAD_EVT_HEADER_SIZE;
  } else if (m->kind != OFFLOAD_KIND_COMMAND) {
    ROOM(2);
    offload_put_u16(out + OFFLOAD_RSP_STATUS_OFF, m->status);
    pos = OFFLOAD_RSP_HEADER_SIZE;
  }
  f = offload_msg_fields(d, m->kind, m->status, &n);
  err = encode_fields(f, n, m->v, out, cap, &pos);
  if (err) return err;
  *out_len = pos;
  return OFFLOAD_OK;
}

/* ---- Lookup ----------------------------------------------------------------------------------------------- */

static int field_index(const offload_msg_t *m, const char *name) {
  uint8_t i;
  if (m == NULL || name == NULL || m->fields == NULL) return -1;
  for (i = 0; i < m->nfields; i++) {
    if (strcmp(m->fields[i].name, name) == 0) return i;
  }
  return -1;
}

const offload_value_t *offload_msg_get(const offload_msg_t *m, const char *name) {
  int i = field_index(m, name);
  return i < 0 ? NULL : &m->v[i];
}

offload_value_t *offload_msg_value(offload_msg_t *m, const char *name) {
  int i = field_index(m, name);
  return i < 0 ? NULL : &m->v[i];
}
