/*
 * socket-offload reference codec for firmware: CRC-32, COBS, frames, the serial deframer, TCP-shim records
 * and mailbox messages. C11, no allocation, no global state, no I/O: every function works on buffers the
 * caller owns, and no input can make it read or write outside them.
 *
 * Everything protocol-specific (opcodes, field lists, layouts) comes from the generated header
 * ../include/offload_protocol.h; the message codec interprets its tables, so regenerating the header from
 * protocol.json updates the codec without touching this file.
 *
 * Results: OFFLOAD_OK (0), a protocol decode error OFFLOAD_ERR_* (1..12, protocol.json decodeErrors), or
 * one of the codec's own errors below (never sent on the wire).
 */
#ifndef OFFLOAD_CODEC_H
#define OFFLOAD_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "offload_protocol.h"

#ifdef __cplusplus
extern "C" {
#endif

#define OFFLOAD_OK 0
/* The output buffer is too small. */
#define OFFLOAD_ERR_NO_SPACE 0x100
/* An encoder or init function got an impossible argument (value too big for its field, NULL buffer, ...). */
#define OFFLOAD_ERR_ARGUMENT 0x101

/* "OK", "FRAME_BAD_CRC", "NO_SPACE", ... ("UNKNOWN" for anything else). */
const char *offload_error_name(int err);

/* ---- CRC-32 (IEEE 802.3: reflected 0xEDB88320, init and final xor 0xFFFFFFFF) ------------------------------ */

/* zlib-compatible: start with crc = 0, feed the data in as many pieces as you like:
 *   crc = offload_crc32(0, a, na); crc = offload_crc32(crc, b, nb);
 * Build with -DOFFLOAD_CRC32_BITWISE to drop the 1 KiB table (slower, no table). */
uint32_t offload_crc32(uint32_t crc, const uint8_t *data, size_t len);

/* ---- COBS ------------------------------------------------------------------------------------------------- */

/* Encodes len bytes (canonical Cheshire-Baker; empty input -> 01; a final full block gets no extra 01).
 * Writes at most OFFLOAD_COBS_MAX_ENCODED(len) bytes, no delimiter. `out` must not overlap `in`, except
 * that in == out + OFFLOAD_COBS_MAX_ENCODED(len) - len (the input at the tail of the output buffer) works. */
int offload_cobs_encode(const uint8_t *in, size_t len, uint8_t *out, size_t cap, size_t *out_len);
/* Decodes one COBS sequence (no delimiter). Accepts both forms of a final full block. out == in (in-place)
 * is allowed. Errors: OFFLOAD_ERR_COBS_INVALID (zero byte inside, or a code running past the end). */
int offload_cobs_decode(const uint8_t *in, size_t len, uint8_t *out, size_t cap, size_t *out_len);

/* ---- Frames ----------------------------------------------------------------------------------------------- */

typedef struct offload_frame {
  uint8_t version; /* decode: always OFFLOAD_FRAME_VERSION; encode: ignored, OFFLOAD_FRAME_VERSION is written */
  uint8_t flags;   /* OFFLOAD_FRAME_FLAG_* */
  uint8_t channel;
  uint8_t type;    /* OFFLOAD_FRAME_TYPE_* */
  uint16_t seq;
  uint16_t ack;
  uint16_t length;        /* payload bytes */
  uint64_t counter;       /* SECURE frames only */
  const uint8_t *payload; /* `length` bytes (may be NULL when length is 0) */
  const uint8_t *mac;     /* SECURE frames only: OFFLOAD_SECURE_MAC_SIZE bytes */
} offload_frame_t;

/* Bytes the frame occupies before COBS (header [+counter] + payload [+MAC] + CRC). */
size_t offload_frame_size(const offload_frame_t *f);
/* header [+counter] payload [+MAC] CRC-32. */
int offload_frame_encode(const offload_frame_t *f, uint8_t *out, size_t cap, size_t *out_len);
/* Decodes one unencoded frame; checks, in this order: size, CRC, version, type, secure size, length field,
 * maximum payload (max_payload: negotiated maximum, OFFLOAD_MAX_PAYLOAD_ABSOLUTE if none). The payload and MAC
 * point into buf. Errors: FRAME_TOO_SHORT, FRAME_BAD_CRC, FRAME_BAD_VERSION, FRAME_BAD_TYPE,
 * FRAME_LENGTH_MISMATCH, FRAME_OVERSIZE. */
int offload_frame_decode(const uint8_t *buf, size_t len, size_t max_payload, offload_frame_t *out);

/* Serial wire: COBS(frame) + 0x00, built in one buffer. cap >= OFFLOAD_COBS_MAX_ENCODED(frame size) + 1 is
 * always enough (OFFLOAD_WIRE_MAX_ENCODED(maxPayload) + 1 for any frame up to maxPayload). */
int offload_wire_encode(const offload_frame_t *f, uint8_t *out, size_t cap, size_t *out_len);

/* TCP shim: u32 LE frame length + frame, no COBS. */
int offload_tcp_encode(const offload_frame_t *f, uint8_t *out, size_t cap, size_t *out_len);
/* Looks for one record at the start of buf. Returns OFFLOAD_OK with *consumed = record size and the frame
 * (pointing into buf); OFFLOAD_ERR_NEED_MORE when buf holds only part of a record (*consumed = 0); or a
 * decode error. When *consumed > 0 the record is bad but its boundary is known: drop it and go on. When
 * *consumed == 0 with an error (record length outside 14 .. OFFLOAD_FRAME_SIZE_SECURE(max_payload):
 * FRAME_TOO_SHORT or FRAME_OVERSIZE) the stream is out of step and must be closed. */
#define OFFLOAD_ERR_NEED_MORE 0x102
int offload_tcp_decode(const uint8_t *buf, size_t len, size_t max_payload, offload_frame_t *out, size_t *consumed);

/* ---- Serial deframer -------------------------------------------------------------------------------------- */

/* Receive buffer needed for a maximum payload (the largest COBS-encoded secure frame). */
#define OFFLOAD_DEFRAMER_BUFFER_SIZE(maxPayload) OFFLOAD_WIRE_MAX_ENCODED(maxPayload)

typedef struct offload_deframer {
  uint8_t *buf;       /* caller's buffer, >= OFFLOAD_DEFRAMER_BUFFER_SIZE(max_payload) bytes */
  size_t limit;       /* OFFLOAD_DEFRAMER_BUFFER_SIZE(max_payload) */
  size_t used;        /* encoded bytes of the current frame */
  size_t overflowed;  /* > 0: the current frame grew past `limit`; bytes dropped so far */
  size_t max_payload;
} offload_deframer_t;

#define OFFLOAD_DEFRAME_NONE 0  /* all input consumed, no frame complete yet */
#define OFFLOAD_DEFRAME_FRAME 1 /* result.frame is valid until the next call on this deframer */
#define OFFLOAD_DEFRAME_ERROR 2 /* result.error: bytes up to and including a delimiter were discarded */

typedef struct offload_deframe_result {
  int kind;              /* OFFLOAD_DEFRAME_* */
  int error;             /* kind ERROR: COBS_INVALID, FRAME_* (FRAME_OVERSIZE for a frame that outgrew the buffer) */
  size_t wire_bytes;     /* kind FRAME / ERROR: stream bytes covered, delimiter included */
  offload_frame_t frame; /* kind FRAME: points into the deframer's buffer */
} offload_deframe_result_t;

/* max_payload: the negotiated maximum (frames with a larger payload are FRAME_OVERSIZE). */
int offload_deframer_init(offload_deframer_t *d, uint8_t *buf, size_t cap, size_t max_payload);
/* Drops any partial frame (e.g. after the link restarts). */
void offload_deframer_reset(offload_deframer_t *d);
/* Consumes bytes up to and including the first delimiter that completes a frame or an error, or all of them.
 * Returns the number of bytes consumed; call again with the rest:
 *   while (len > 0) { size_t n = offload_deframer_feed(&d, p, len, &r); p += n; len -= n; if (r.kind) ...; }
 * Back-to-back delimiters (idle fill) produce nothing. A frame that grows past the buffer is not buffered:
 * its bytes are dropped up to the next delimiter, which yields one FRAME_OVERSIZE. */
size_t offload_deframer_feed(offload_deframer_t *d, const uint8_t *data, size_t len, offload_deframe_result_t *result);

/* ---- Structs ---------------------------------------------------------------------------------------------- */

/* Decoded (host-order) forms of the protocol structs; members follow the generated field tables. */
#define OFFLOAD_MEMBER_U8(n) uint8_t n;
#define OFFLOAD_MEMBER_U16(n) uint16_t n;
#define OFFLOAD_MEMBER_U32(n) uint32_t n;
#define OFFLOAD_MEMBER_BYTES16(n) uint8_t n[16];
#define OFFLOAD_MEMBER_ADDR(n) offload_addr_t n;
#define OFFLOAD_MEMBER_X(name, T, off, size) OFFLOAD_MEMBER_##T(name)

typedef struct offload_addr {
  OFFLOAD_ADDR_FIELDS(OFFLOAD_MEMBER_X)
} offload_addr_t;

typedef struct offload_entry {
  OFFLOAD_ENTRY_FIELDS(OFFLOAD_MEMBER_X)
} offload_entry_t;

/* Wire -> struct. Checks the address rules (family 0/4/6; reserved 0; bytes beyond the family and, for
 * family 0, the port are 0): MSG_BAD_FIELD. `p` must hold OFFLOAD_ADDR_SIZE / OFFLOAD_ENTRY_SIZE bytes. */
int offload_addr_decode(const uint8_t *p, offload_addr_t *a);
int offload_entry_decode(const uint8_t *p, offload_entry_t *e);
/* Struct -> wire, canonical form (reserved 0; family 0 writes port and address as 0; IPv4 writes 12 zero
 * bytes after the 4 address bytes). ARGUMENT if the family is not 0/4/6. */
int offload_addr_encode(const offload_addr_t *a, uint8_t *p);
int offload_entry_encode(const offload_entry_t *e, uint8_t *p);

/* Generic description of a struct member, for dumps and tests. */
typedef struct offload_struct_field {
  const char *name;
  uint8_t type;       /* OFFLOAD_FT_* */
  uint8_t wire_off;   /* offset in the wire struct */
  uint8_t size;       /* wire size */
  uint16_t mem_off;   /* offsetof() in the C struct */
} offload_struct_field_t;
extern const offload_struct_field_t offload_addr_fields[];
extern const size_t offload_addr_field_count;
extern const offload_struct_field_t offload_entry_fields[];
extern const size_t offload_entry_field_count;

/* ---- Messages --------------------------------------------------------------------------------------------- */

/* Message kinds: a definition is COMMAND, EVENT or ERROR; a decoded message also RESPONSE. */
#define OFFLOAD_KIND_COMMAND 1
#define OFFLOAD_KIND_RESPONSE 2
#define OFFLOAD_KIND_EVENT 3
#define OFFLOAD_KIND_ERROR 4

/* Field lists of a definition. */
#define OFFLOAD_PART_REQ 0 /* command request */
#define OFFLOAD_PART_RSP 1 /* response with status OK; ERROR_RESPONSE */
#define OFFLOAD_PART_ERR 2 /* response with another status (SEND, SENDTO); empty for the others */
#define OFFLOAD_PART_EVT 3 /* event */

typedef struct offload_field_desc {
  const char *name;    /* protocol.json field name */
  uint8_t type;        /* OFFLOAD_FT_* */
  uint8_t size;        /* wire size, 0 = variable */
  uint16_t offset;     /* offset from the message start, OFFLOAD_OFF_VARIABLE after a variable field */
  uint8_t count_index; /* entry[]: index of the count field in the same list; else OFFLOAD_NO_COUNT */
} offload_field_desc_t;

typedef struct offload_msg_desc {
  const char *name;        /* "SOCKET_OPEN" */
  uint8_t opcode;          /* command / event opcode; 0x80 for ERROR_RESPONSE */
  uint8_t kind;            /* OFFLOAD_KIND_COMMAND, _EVENT or _ERROR */
  uint32_t capability;     /* OFFLOAD_CAP_* mask the device must advertise, 0 = always */
  const offload_field_desc_t *fields[4]; /* per OFFLOAD_PART_* */
  uint8_t nfields[4];
} offload_msg_desc_t;

extern const offload_msg_desc_t offload_messages[];
extern const size_t offload_message_count;

/* By command / event opcode (0x80: ERROR_RESPONSE); NULL if undefined. */
const offload_msg_desc_t *offload_msg_desc_by_opcode(uint8_t opcode);
const offload_msg_desc_t *offload_msg_desc_by_name(const char *name);

/* One field value. Which member is valid follows the field type. */
typedef union offload_value {
  uint32_t u;                  /* U8, U16, U32 */
  struct {
    const uint8_t *ptr;        /* BYTES16 (16 bytes), STR8 (UTF-8, not NUL-terminated), BYTES */
    size_t len;
  } bytes;
  struct {
    const uint8_t *raw;        /* decode: count little-endian words in the message */
    const uint32_t *list;      /* encode: if not NULL, used instead of raw */
    size_t count;
  } u32s;                      /* U32_ARRAY */
  offload_addr_t addr;         /* ADDR */
  offload_entry_t entry;       /* ENTRY */
  struct {
    const uint8_t *raw;        /* decode: count wire entries (OFFLOAD_ENTRY_SIZE each, validated);
                                  read one with offload_entry_decode(raw + i * OFFLOAD_ENTRY_SIZE, &e) */
    const offload_entry_t *list; /* encode: if not NULL, used instead of raw */
    size_t count;              /* must equal the count field */
  } entries;                   /* ENTRY_ARRAY */
} offload_value_t;

typedef struct offload_msg {
  const offload_msg_desc_t *desc;
  uint8_t kind;     /* OFFLOAD_KIND_*: COMMAND, RESPONSE, EVENT or ERROR */
  uint8_t opcode;   /* wire opcode (a response: command opcode | 0x80) */
  uint8_t flags;    /* header flags byte: reserved, 0 (decode rejects anything else; the encoder writes 0) */
  uint16_t tag;     /* commands, responses, ERROR_RESPONSE; events: 0 (decode rejects anything else) */
  uint16_t status;  /* responses, ERROR_RESPONSE */
  uint32_t epoch;   /* events */
  uint32_t seq;     /* events */
  const offload_field_desc_t *fields; /* the field list that applies (see OFFLOAD_PART_*) */
  uint8_t nfields;
  offload_value_t v[OFFLOAD_MAX_FIELDS]; /* index with the generated *_IDX macros */
} offload_msg_t;

/* Decodes one message. Byte fields point into buf (no copies): keep buf while you use them.
 * Checks, in this order: empty (MSG_EMPTY), 4-byte header (MSG_TOO_SHORT), flags 0 (MSG_BAD_FIELD), opcode
 * (MSG_UNKNOWN_OPCODE), event tag 0 (MSG_BAD_FIELD), then the fields in order (MSG_TOO_SHORT, MSG_BAD_FIELD:
 * address rules, invalid UTF-8, entry[] count not matching the bytes; MSG_BAD_LENGTH: u32[] not whole words,
 * bytes left after the last field). m->kind/desc/opcode/tag are set as far as decoding got. */
int offload_msg_decode(const uint8_t *buf, size_t len, offload_msg_t *m);

/* Prepares m for encoding from a wire opcode (0x10 SOCKET_OPEN command, 0x90 its response, 0x42 DATA event,
 * 0x80 ERROR_RESPONSE): sets desc, kind, the field list for the status, and zeroes the values. */
int offload_msg_init(offload_msg_t *m, uint8_t wire_opcode, uint16_t tag, uint16_t status);
/* Encodes m (desc, kind, tag, status, epoch, seq and the values of the field list the kind and status
 * select; m->fields is not consulted). ARGUMENT for a value that does not fit its field, NO_SPACE. */
int offload_msg_encode(const offload_msg_t *m, uint8_t *out, size_t cap, size_t *out_len);

/* The field list for a kind and status. */
const offload_field_desc_t *offload_msg_fields(const offload_msg_desc_t *d, uint8_t kind, uint16_t status, uint8_t *n);
/* Value of a field by its protocol.json name, or NULL. */
const offload_value_t *offload_msg_get(const offload_msg_t *m, const char *name);
offload_value_t *offload_msg_value(offload_msg_t *m, const char *name);

#ifdef __cplusplus
}
#endif

#endif /* OFFLOAD_CODEC_H */
