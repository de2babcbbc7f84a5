/*
 * A minimal device-side receive loop built on the reference codec, as a firmware author would write it:
 * serial bytes -> deframer -> frame -> message -> handler -> response -> frame -> COBS -> serial.
 * It answers PING (echo) and HELLO, and anything it cannot decode with ERROR_RESPONSE. No link layer
 * (ACK/NAK/SYNC, sequence numbers) and no socket table: those belong to the real firmware.
 * `make test` runs it once as a smoke test: it feeds itself a PING and checks the answer.
 */
#include <stdio.h>
#include <string.h>

#include "offload_codec.h"

#define MAX_PAYLOAD OFFLOAD_DEFAULT_MAX_PAYLOAD_SERIAL

static uint8_t rx_buf[OFFLOAD_DEFRAMER_BUFFER_SIZE(MAX_PAYLOAD)];
static uint8_t msg_buf[MAX_PAYLOAD];
static uint8_t tx_buf[OFFLOAD_WIRE_MAX_ENCODED(MAX_PAYLOAD) + 1];
static offload_msg_t req, rsp; /* 760 bytes each: keep them off small stacks */

/* The board's UART write; here it collects into a buffer for the self-test. */
static uint8_t sent[512];
static size_t sent_len;
static void uart_write(const uint8_t *p, size_t n) {
  if (n <= sizeof sent - sent_len) {
    memcpy(sent + sent_len, p, n);
    sent_len += n;
  }
}

static void send_message(const offload_msg_t *m, uint8_t channel) {
  offload_frame_t f;
  size_t n = 0, w = 0;
  if (offload_msg_encode(m, msg_buf, sizeof msg_buf, &n) != OFFLOAD_OK) return;
  memset(&f, 0, sizeof f);
  f.type = OFFLOAD_FRAME_TYPE_MSG;
  f.channel = channel;
  f.length = (uint16_t)n;
  f.payload = msg_buf;
  if (offload_wire_encode(&f, tx_buf, sizeof tx_buf, &w) == OFFLOAD_OK) uart_write(tx_buf, w);
}

static void handle_payload(const offload_frame_t *f) {
  int err = offload_msg_decode(f->payload, f->length, &req);
  if (err != OFFLOAD_OK || req.kind != OFFLOAD_KIND_COMMAND) {
    /* The tag is echoed if the 4-byte header arrived, else 0. */
    uint16_t tag = f->length >= OFFLOAD_MSG_HEADER_SIZE ? offload_get_u16(f->payload + OFFLOAD_MSG_TAG_OFF) : 0;
    uint16_t status = err == OFFLOAD_ERR_MSG_UNKNOWN_OPCODE ? OFFLOAD_STATUS_E_BAD_OPCODE : OFFLOAD_STATUS_E_BAD_LENGTH;
    offload_msg_init(&rsp, OFFLOAD_OP_ERROR_RESPONSE, tag, status);
    rsp.v[OFFLOAD_ERROR_RESPONSE_OFFENDING_OPCODE_IDX].u = f->length > 0 ? f->payload[0] : 0;
    send_message(&rsp, f->channel);
    return;
  }
  switch (req.desc->opcode) {
  case OFFLOAD_OP_PING:
    offload_msg_init(&rsp, OFFLOAD_OP_PING_RSP, req.tag, OFFLOAD_STATUS_OK);
    rsp.v[OFFLOAD_PING_RSP_PAYLOAD_IDX].bytes = req.v[OFFLOAD_PING_REQ_PAYLOAD_IDX].bytes; /* points into rx_buf */
    break;
  case OFFLOAD_OP_HELLO: {
    static const char fw[] = "example 0.1";
    offload_msg_init(&rsp, OFFLOAD_OP_HELLO_RSP, req.tag, OFFLOAD_STATUS_OK);
    rsp.v[OFFLOAD_HELLO_RSP_PROTO_VERSION_IDX].u = OFFLOAD_PROTOCOL_VERSION;
    rsp.v[OFFLOAD_HELLO_RSP_CAPS_IDX].u = OFFLOAD_CAP_TCP;
    rsp.v[OFFLOAD_HELLO_RSP_MAX_PAYLOAD_IDX].u = MAX_PAYLOAD;
    rsp.v[OFFLOAD_HELLO_RSP_EPOCH_IDX].u = 1;
    rsp.v[OFFLOAD_HELLO_RSP_FIRMWARE_IDX].bytes.ptr = (const uint8_t *)fw;
    rsp.v[OFFLOAD_HELLO_RSP_FIRMWARE_IDX].bytes.len = sizeof fw - 1;
    break;
  }
  default:
    offload_msg_init(&rsp, OFFLOAD_OP_RESPONSE(req.desc->opcode), req.tag, OFFLOAD_STATUS_E_NOT_SUPPORTED);
    break;
  }
  send_message(&rsp, f->channel);
}

/* Call from the UART receive path with whatever bytes arrived. */
static void uart_received(offload_deframer_t *d, const uint8_t *p, size_t len) {
  while (len > 0) {
    offload_deframe_result_t r;
    size_t used = offload_deframer_feed(d, p, len, &r);
    p += used;
    len -= used;
    if (r.kind == OFFLOAD_DEFRAME_FRAME && r.frame.type == OFFLOAD_FRAME_TYPE_MSG) handle_payload(&r.frame);
    /* OFFLOAD_DEFRAME_ERROR: count it (r.error), maybe NAK; the deframer has already resynchronised. */
  }
}

int main(void) {
  static const uint8_t ping[] = {OFFLOAD_OP_PING, 0, 0x34, 0x12, 'h', 'i'};
  offload_deframer_t d, host;
  offload_frame_t f;
  uint8_t wire[64], host_buf[OFFLOAD_DEFRAMER_BUFFER_SIZE(MAX_PAYLOAD)];
  size_t n = 0;
  offload_deframe_result_t r;
  offload_msg_t *m = &req;

  offload_deframer_init(&d, rx_buf, sizeof rx_buf, MAX_PAYLOAD);
  memset(&f, 0, sizeof f);
  f.type = OFFLOAD_FRAME_TYPE_MSG;
  f.length = sizeof ping;
  f.payload = ping;
  offload_wire_encode(&f, wire, sizeof wire, &n);
  uart_received(&d, (const uint8_t *)"\x13\x37 line noise", 13); /* garbage first: resynchronised at the 00 */
  uart_received(&d, (const uint8_t *)"\0", 1);
  uart_received(&d, wire, n);

  /* Check the answer as the host would. */
  offload_deframer_init(&host, host_buf, sizeof host_buf, MAX_PAYLOAD);
  offload_deframer_feed(&host, sent, sent_len, &r);
  if (r.kind != OFFLOAD_DEFRAME_FRAME || offload_msg_decode(r.frame.payload, r.frame.length, m) != OFFLOAD_OK ||
      m->kind != OFFLOAD_KIND_RESPONSE || m->tag != 0x1234 || m->status != OFFLOAD_STATUS_OK ||
      m->v[OFFLOAD_PING_RSP_PAYLOAD_IDX].bytes.len != 2 || memcmp(m->v[OFFLOAD_PING_RSP_PAYLOAD_IDX].bytes.ptr, "hi", 2) != 0) {
    printf("example_device: FAILED\n");
    return 1;
  }
  printf("example_device: PING answered\n");
  return 0;
}
