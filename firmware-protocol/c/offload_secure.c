/* Secure execution for firmware: see offload_secure.h. Written for clarity over speed; a SHA-256 block takes a
 * few thousand cycles on a Cortex-M without acceleration. */
#include "offload_secure.h"

#include <string.h>

/* ---- SHA-256 (FIPS 180-4) ---------------------------------------------------------------------------------- */

static const uint32_t K256[64] = {
  0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u, 0x3956c25bu, 0x59f111f1u, 0x923f82a4u, 0xab1c5ed5u,
  0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u, 0x72be5d74u, 0x80deb1feu, 0x9bdc06a7u, 0xc19bf174u,
  0xe49b69c1u, 0xefbe4786u, 0x0fc19dc6u, 0x240ca1ccu, 0x2de92c6fu, 0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau,
  0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u, 0xc6e00bf3u, 0xd5a79147u, 0x06ca6351u, 0x14292967u,
  0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu, 0x53380d13u, 0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u,
  0xa2bfe8a1u, 0xa81a664bu, 0xc24b8b70u, 0xc76c51a3u, 0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u,
  0x19a4c116u, 0x1e376c08u, 0x2748774cu, 0x34b0bcb5u, 0x391c0cb3u, 0x4ed8aa4au, 0x5b9cca4fu, 0x682e6ff3u,
  0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u, 0x90befffau, 0xa4506cebu, 0xbef9a3f7u, 0xc67178f2u,
};

static uint32_t ror(uint32_t x, unsigned n) { return (x >> n) | (x << (32u - n)); }

static void sha256_block(offload_sha256_t *s, const uint8_t *p) {
  uint32_t w[64];
  uint32_t a, b, c, d, e, f, g, h;
  unsigned i;
  for (i = 0; i < 16; i++) {
    w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
  }
  for (i = 16; i < 64; i++) {
    uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
    uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  a = s->h[0]; b = s->h[1]; c = s->h[2]; d = s->h[3];
  e = s->h[4]; f = s->h[5]; g = s->h[6]; h = s->h[7];
  for (i = 0; i < 64; i++) {
    uint32_t t1 = h + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + K256[i] + w[i];
    uint32_t t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
    h = g; g = f; f = e; e = d + t1;
    d = c; c = b; b = a; a = t1 + t2;
  }
  s->h[0] += a; s->h[1] += b; s->h[2] += c; s->h[3] += d;
  s->h[4] += e; s->h[5] += f; s->h[6] += g; s->h[7] += h;
}

void offload_sha256_init(offload_sha256_t *s) {
  static const uint32_t iv[8] = {0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u, 0xa54ff53au,
                                 0x510e527fu, 0x9b05688cu, 0x1f83d9abu, 0x5be0cd19u};
  memcpy(s->h, iv, sizeof iv);
  s->bytes = 0;
  s->used = 0;
}

void offload_sha256_update(offload_sha256_t *s, const uint8_t *data, size_t len) {
  s->bytes += len;
  while (len > 0) {
    size_t n = 64 - s->used;
    if (n > len) n = len;
    memcpy(s->buf + s->used, data, n);
    s->used += n;
    data += n;
    len -= n;
    if (s->used == 64) {
      sha256_block(s, s->buf);
      s->used = 0;
    }
  }
}

void offload_sha256_final(offload_sha256_t *s, uint8_t out[OFFLOAD_SHA256_SIZE]) {
  uint64_t bits = s->bytes * 8u;
  unsigned i;
  s->buf[s->used++] = 0x80;
  if (s->used > 56) {
    memset(s->buf + s->used, 0, 64 - s->used);
    sha256_block(s, s->buf);
    s->used = 0;
  }
  memset(s->buf + s->used, 0, 56 - s->used);
  for (i = 0; i < 8; i++) s->buf[56 + i] = (uint8_t)(bits >> (56 - 8 * i));
  sha256_block(s, s->buf);
  for (i = 0; i < 8; i++) {
    out[4 * i] = (uint8_t)(s->h[i] >> 24);
    out[4 * i + 1] = (uint8_t)(s->h[i] >> 16);
    out[4 * i + 2] = (uint8_t)(s->h[i] >> 8);
    out[4 * i + 3] = (uint8_t)s->h[i];
  }
}

/* ---- HMAC-SHA256 (RFC 2104) and HKDF-SHA256 (RFC 5869) ------------------------------------------------------ */

void offload_hmac_init(offload_hmac_t *h, const uint8_t *key, size_t key_len) {
  uint8_t k[64];
  uint8_t pad[64];
  unsigned i;
  memset(k, 0, sizeof k);
  if (key_len > 64) {
    offload_sha256_t t;
    offload_sha256_init(&t);
    offload_sha256_update(&t, key, key_len);
    offload_sha256_final(&t, k);
  } else if (key_len > 0) {
    memcpy(k, key, key_len);
  }
  for (i = 0; i < 64; i++) pad[i] = (uint8_t)(k[i] ^ 0x36u);
  offload_sha256_init(&h->inner);
  offload_sha256_update(&h->inner, pad, 64);
  for (i = 0; i < 64; i++) pad[i] = (uint8_t)(k[i] ^ 0x5cu);
  offload_sha256_init(&h->outer);
  offload_sha256_update(&h->outer, pad, 64);
  memset(k, 0, sizeof k);
}

void offload_hmac_update(offload_hmac_t *h, const uint8_t *data, size_t len) {
  offload_sha256_update(&h->inner, data, len);
}

void offload_hmac_final(offload_hmac_t *h, uint8_t out[OFFLOAD_SHA256_SIZE]) {
  uint8_t inner[OFFLOAD_SHA256_SIZE];
  offload_sha256_final(&h->inner, inner);
  offload_sha256_update(&h->outer, inner, sizeof inner);
  offload_sha256_final(&h->outer, out);
}

int offload_hkdf_sha256(const uint8_t *salt, size_t salt_len, const uint8_t *ikm, size_t ikm_len,
                        const uint8_t *info, size_t info_len, uint8_t *out, size_t out_len) {
  uint8_t prk[OFFLOAD_SHA256_SIZE];
  uint8_t t[OFFLOAD_SHA256_SIZE];
  size_t done = 0;
  uint8_t i = 0;
  offload_hmac_t h;
  if (out_len > 255u * OFFLOAD_SHA256_SIZE || (out_len > 0 && out == NULL)) return OFFLOAD_ERR_ARGUMENT;
  offload_hmac_init(&h, salt, salt_len); /* no salt: HMAC with a zero key, as RFC 5869 says */
  offload_hmac_update(&h, ikm, ikm_len);
  offload_hmac_final(&h, prk);
  while (done < out_len) {
    size_t n = out_len - done < OFFLOAD_SHA256_SIZE ? out_len - done : OFFLOAD_SHA256_SIZE;
    i++;
    offload_hmac_init(&h, prk, sizeof prk);
    if (i > 1) offload_hmac_update(&h, t, sizeof t);
    offload_hmac_update(&h, info, info_len);
    offload_hmac_update(&h, &i, 1);
    offload_hmac_final(&h, t);
    memcpy(out + done, t, n);
    done += n;
  }
  memset(prk, 0, sizeof prk);
  memset(t, 0, sizeof t);
  return OFFLOAD_OK;
}

int offload_secure_compare(const uint8_t *a, const uint8_t *b, size_t len) {
  uint8_t diff = 0;
  size_t i;
  for (i = 0; i < len; i++) diff |= (uint8_t)(a[i] ^ b[i]);
  return diff != 0;
}

/* ---- Handshake -------------------------------------------------------------------------------------------- */

void offload_secure_proof(const uint8_t key[OFFLOAD_SECURE_KEY_SIZE], int is_device,
                          const uint8_t host_nonce[OFFLOAD_SECURE_NONCE_SIZE],
                          const uint8_t device_nonce[OFFLOAD_SECURE_NONCE_SIZE], uint8_t channel,
                          uint8_t out[OFFLOAD_SECURE_PROOF_SIZE]) {
  static const uint8_t dev[3] = {'d', 'e', 'v'};
  static const uint8_t host[4] = {'h', 'o', 's', 't'};
  uint8_t mac[OFFLOAD_SHA256_SIZE];
  offload_hmac_t h;
  offload_hmac_init(&h, key, OFFLOAD_SECURE_KEY_SIZE);
  if (is_device) offload_hmac_update(&h, dev, sizeof dev);
  else offload_hmac_update(&h, host, sizeof host);
  offload_hmac_update(&h, host_nonce, OFFLOAD_SECURE_NONCE_SIZE);
  offload_hmac_update(&h, device_nonce, OFFLOAD_SECURE_NONCE_SIZE);
  offload_hmac_update(&h, &channel, 1);
  offload_hmac_final(&h, mac);
  memcpy(out, mac, OFFLOAD_SECURE_PROOF_SIZE);
}

void offload_secure_derive(const uint8_t key[OFFLOAD_SECURE_KEY_SIZE],
                           const uint8_t host_nonce[OFFLOAD_SECURE_NONCE_SIZE],
                           const uint8_t device_nonce[OFFLOAD_SECURE_NONCE_SIZE],
                           uint8_t k_h2d[OFFLOAD_SECURE_KEY_SIZE], uint8_t k_d2h[OFFLOAD_SECURE_KEY_SIZE]) {
  static const uint8_t h2d[11] = {'o', 'f', 'f', 'l', 'o', 'a', 'd', ' ', 'h', '2', 'd'};
  static const uint8_t d2h[11] = {'o', 'f', 'f', 'l', 'o', 'a', 'd', ' ', 'd', '2', 'h'};
  uint8_t salt[2 * OFFLOAD_SECURE_NONCE_SIZE];
  memcpy(salt, host_nonce, OFFLOAD_SECURE_NONCE_SIZE);
  memcpy(salt + OFFLOAD_SECURE_NONCE_SIZE, device_nonce, OFFLOAD_SECURE_NONCE_SIZE);
  (void)offload_hkdf_sha256(salt, sizeof salt, key, OFFLOAD_SECURE_KEY_SIZE, h2d, sizeof h2d, k_h2d,
                            OFFLOAD_SECURE_KEY_SIZE);
  (void)offload_hkdf_sha256(salt, sizeof salt, key, OFFLOAD_SECURE_KEY_SIZE, d2h, sizeof d2h, k_d2h,
                            OFFLOAD_SECURE_KEY_SIZE);
}

/* ---- Secure frames ---------------------------------------------------------------------------------------- */

/* Bytes covered by the MAC: header, counter, payload. */
static size_t mac_span(const uint8_t *frame, size_t frame_len) {
  size_t payload;
  size_t overhead = OFFLOAD_FRAME_HEADER_SIZE + OFFLOAD_SECURE_COUNTER_SIZE + OFFLOAD_SECURE_MAC_SIZE + OFFLOAD_CRC_SIZE;
  if (frame_len < overhead) return 0;
  payload = (size_t)frame[8] | (size_t)frame[9] << 8;
  if (payload != frame_len - overhead) return 0;
  return OFFLOAD_FRAME_HEADER_SIZE + OFFLOAD_SECURE_COUNTER_SIZE + payload;
}

int offload_secure_mac(const uint8_t key[OFFLOAD_SECURE_KEY_SIZE], const uint8_t *frame, size_t frame_len,
                       uint8_t out[OFFLOAD_SECURE_MAC_SIZE]) {
  uint8_t mac[OFFLOAD_SHA256_SIZE];
  offload_hmac_t h;
  size_t span = mac_span(frame, frame_len);
  if (span == 0) return OFFLOAD_ERR_ARGUMENT;
  offload_hmac_init(&h, key, OFFLOAD_SECURE_KEY_SIZE);
  offload_hmac_update(&h, frame, span);
  offload_hmac_final(&h, mac);
  memcpy(out, mac, OFFLOAD_SECURE_MAC_SIZE);
  return OFFLOAD_OK;
}

int offload_secure_encode(offload_secure_tx_t *tx, const offload_frame_t *f, uint8_t *out, size_t cap,
                          size_t *out_len) {
  static const uint8_t placeholder[OFFLOAD_SECURE_MAC_SIZE] = {0};
  offload_frame_t s;
  size_t n = 0;
  size_t span;
  int err;
  if (tx->last == UINT64_MAX) return OFFLOAD_SECURE_COUNTER_EXHAUSTED;
  s = *f;
  s.flags = (uint8_t)(f->flags | OFFLOAD_FRAME_FLAG_SECURE);
  s.counter = tx->last + 1u;
  s.mac = placeholder;
  err = offload_frame_encode(&s, out, cap, &n);
  if (err != OFFLOAD_OK) return err;
  span = n - OFFLOAD_SECURE_MAC_SIZE - OFFLOAD_CRC_SIZE;
  (void)offload_secure_mac(tx->key, out, n, out + span);
  {
    uint32_t crc = offload_crc32(0, out, n - OFFLOAD_CRC_SIZE);
    out[n - 4] = (uint8_t)crc;
    out[n - 3] = (uint8_t)(crc >> 8);
    out[n - 2] = (uint8_t)(crc >> 16);
    out[n - 1] = (uint8_t)(crc >> 24);
  }
  tx->last = s.counter;
  *out_len = n;
  return OFFLOAD_OK;
}

int offload_replay_check(const offload_replay_t *w, uint64_t counter) {
  uint64_t behind;
  if (counter == 0) return OFFLOAD_SECURE_TOO_OLD;
  if (counter > w->highest) return OFFLOAD_OK;
  behind = w->highest - counter;
  if (behind >= OFFLOAD_REPLAY_WINDOW) return OFFLOAD_SECURE_TOO_OLD;
  return (w->seen >> behind) & 1u ? OFFLOAD_SECURE_REPLAY : OFFLOAD_OK;
}

void offload_replay_accept(offload_replay_t *w, uint64_t counter) {
  if (counter > w->highest) {
    uint64_t shift = counter - w->highest;
    w->seen = shift >= OFFLOAD_REPLAY_WINDOW ? 1u : (w->seen << shift) | 1u;
    w->highest = counter;
  } else {
    w->seen |= (uint64_t)1 << (w->highest - counter);
  }
}

int offload_secure_verify(offload_secure_rx_t *rx, const uint8_t *frame, size_t len, size_t max_payload,
                          int ordered, offload_frame_t *out) {
  uint8_t mac[OFFLOAD_SECURE_MAC_SIZE];
  int verdict = offload_frame_decode(frame, len, max_payload, out);
  if (verdict != OFFLOAD_OK) return verdict;
  if ((out->flags & OFFLOAD_FRAME_FLAG_SECURE) == 0) return OFFLOAD_SECURE_NOT_SECURE;
  if (offload_secure_mac(rx->key, frame, len, mac) != OFFLOAD_OK) return OFFLOAD_SECURE_BAD_MAC;
  if (offload_secure_compare(mac, out->mac, OFFLOAD_SECURE_MAC_SIZE) != 0) return OFFLOAD_SECURE_BAD_MAC;
  verdict = offload_replay_check(&rx->window, out->counter);
  if (verdict == OFFLOAD_OK && ordered && out->counter <= rx->window.highest) verdict = OFFLOAD_SECURE_TOO_OLD;
  if (verdict == OFFLOAD_OK) offload_replay_accept(&rx->window, out->counter);
  return verdict;
}
