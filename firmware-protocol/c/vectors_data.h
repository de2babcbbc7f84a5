/*
 * Types of the golden-vector tables in vectors_data.c (generated from the firmware-protocol/vectors JSON files by
 * scripts/gen-c-vectors.ts). Every byte pointer is valid (empty data points at a 1-byte array, length 0).
 */
#ifndef VECTORS_DATA_H
#define VECTORS_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "offload_codec.h"
#include "offload_secure.h"

typedef struct vec_crc {
  const char *name;
  const uint8_t *input;
  size_t len;
  uint32_t crc;
} vec_crc_t;

typedef struct vec_cobs {
  const char *name;
  const uint8_t *decoded;
  size_t decoded_len;
  const uint8_t *encoded; /* without the 0x00 delimiter */
  size_t encoded_len;
} vec_cobs_t;

typedef struct vec_frame {
  const char *name;
  uint8_t version, flags, channel, type;
  uint16_t seq, ack, length;
  int has_counter;
  uint64_t counter;
  const uint8_t *payload;
  size_t payload_len;
  const uint8_t *mac; /* NULL unless SECURE */
  const uint8_t *frame; /* header .. CRC */
  size_t frame_len;
  const uint8_t *wire; /* COBS + 00 */
  size_t wire_len;
  const uint8_t *tcp; /* u32 length + frame */
  size_t tcp_len;
} vec_frame_t;

/* One expected field value. */
typedef struct vec_value {
  const char *name;
  uint8_t type;          /* OFFLOAD_FT_* */
  uint32_t num;          /* U8/U16/U32: value; ADDR: port; U32_ARRAY / ENTRY_ARRAY: element count */
  uint8_t family;        /* ADDR */
  const uint8_t *bytes;  /* BYTES16, BYTES, STR8 (UTF-8), ADDR (16 address bytes) */
  size_t len;
  const uint32_t *u32s;  /* U32_ARRAY */
  const struct vec_value *sub; /* ENTRY: its fields; ENTRY_ARRAY: one ENTRY value per element */
  size_t nsub;
} vec_value_t;

typedef struct vec_msg {
  const char *name;
  const uint8_t *bytes;
  size_t len;
  int kind; /* OFFLOAD_KIND_* */
  const char *msg_name;
  uint8_t opcode; /* wire opcode */
  uint16_t tag;
  int has_status;
  uint16_t status;
  int has_epoch;
  uint32_t epoch;
  int has_seq;
  uint32_t seq;
  const vec_value_t *fields;
  size_t nfields;
} vec_msg_t;

#define VEC_LAYER_COBS 1
#define VEC_LAYER_FRAME 2
#define VEC_LAYER_WIRE 3
#define VEC_LAYER_MESSAGE 4

typedef struct vec_negative {
  const char *name;
  int layer; /* VEC_LAYER_* */
  const uint8_t *bytes;
  size_t len;
  int has_max_payload;
  uint32_t max_payload;
  int error; /* OFFLOAD_ERR_* */
} vec_negative_t;

#define VEC_SECURE_HANDSHAKE 1
#define VEC_SECURE_FRAME 2
#define VEC_SECURE_REJECT 3
#define VEC_SECURE_REPLAY 4

typedef struct vec_counter {
  uint64_t counter;
  int verdict; /* OFFLOAD_OK / OFFLOAD_SECURE_* */
} vec_counter_t;

/* Secure execution (secure.json). Pointers a kind does not use are NULL. */
typedef struct vec_secure {
  const char *name;
  int kind;           /* VEC_SECURE_* */
  const uint8_t *key; /* HANDSHAKE: K; FRAME / REJECT: the direction's session key */
  uint32_t key_id;
  uint8_t channel;
  const uint8_t *host_nonce, *device_nonce, *device_proof, *host_proof, *k_h2d, *k_d2h; /* HANDSHAKE */
  uint64_t counter;                                                                       /* FRAME */
  const uint8_t *frame; /* FRAME / REJECT: unencoded frame */
  size_t frame_len;
  const uint8_t *mac; /* FRAME */
  const uint8_t *before; /* REJECT: a frame accepted first (a replay), or NULL */
  size_t before_len;
  int verdict; /* FRAME / REJECT */
  int ordered; /* REPLAY: ARQ off */
  const vec_counter_t *counters;
  size_t ncounters;
} vec_secure_t;

extern const vec_crc_t vec_crc[];
extern const size_t vec_crc_count;
extern const vec_cobs_t vec_cobs[];
extern const size_t vec_cobs_count;
extern const vec_frame_t vec_frames[];
extern const size_t vec_frame_count;
extern const vec_msg_t vec_msgs[];
extern const size_t vec_msg_count;
extern const vec_negative_t vec_negative[];
extern const size_t vec_negative_count;
extern const vec_secure_t vec_secure[];
extern const size_t vec_secure_count;

#endif /* VECTORS_DATA_H */
