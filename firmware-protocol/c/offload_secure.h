/*
 * socket-offload secure execution for firmware (PROTOCOL.md §12): SHA-256, HMAC-SHA256, HKDF-SHA256 (RFC 5869),
 * the handshake proofs and session keys, secure frame encode / verify and the 64-frame replay window.
 * C11, no allocation, no global state, no I/O, no dependency beyond offload_codec; a device with a hardware
 * SHA-256 engine may replace the offload_sha256_* functions and keep the rest.
 *
 * Keys: the pre-shared 32-byte keys live in OTP fuses, a secure element or a read-protected flash page; they
 * never travel in messages. Session keys live in RAM for the session and should be wiped when it ends.
 */
#ifndef OFFLOAD_SECURE_H
#define OFFLOAD_SECURE_H

#include <stddef.h>
#include <stdint.h>

#include "offload_codec.h"

#ifdef __cplusplus
extern "C" {
#endif

#define OFFLOAD_SHA256_SIZE 32u
#define OFFLOAD_SECURE_KEY_SIZE 32u
#define OFFLOAD_SECURE_NONCE_SIZE 16u
#define OFFLOAD_SECURE_PROOF_SIZE 16u
/* Counters a receiver accepts behind the highest one seen: highest - 63 .. highest. */
#define OFFLOAD_REPLAY_WINDOW 64u

/* Verdicts of offload_secure_verify (besides OFFLOAD_OK and the frame decode errors). */
#define OFFLOAD_SECURE_BAD_MAC 0x201    /* MAC wrong: altered or forged */
#define OFFLOAD_SECURE_REPLAY 0x202     /* counter already seen */
#define OFFLOAD_SECURE_TOO_OLD 0x203    /* counter below the window (or 0, or not above the highest when ordered) */
#define OFFLOAD_SECURE_NOT_SECURE 0x204 /* a plain frame (flags.SECURE clear) */
/* offload_secure_encode: the 64-bit send counter is used up; a new handshake is needed. */
#define OFFLOAD_SECURE_COUNTER_EXHAUSTED 0x205

/* ---- SHA-256, HMAC-SHA256, HKDF-SHA256 ------------------------------------------------------------------ */

typedef struct offload_sha256 {
  uint32_t h[8];
  uint64_t bytes;
  uint8_t buf[64];
  size_t used;
} offload_sha256_t;

void offload_sha256_init(offload_sha256_t *s);
void offload_sha256_update(offload_sha256_t *s, const uint8_t *data, size_t len);
void offload_sha256_final(offload_sha256_t *s, uint8_t out[OFFLOAD_SHA256_SIZE]);

typedef struct offload_hmac {
  offload_sha256_t inner;
  offload_sha256_t outer;
} offload_hmac_t;

void offload_hmac_init(offload_hmac_t *h, const uint8_t *key, size_t key_len);
void offload_hmac_update(offload_hmac_t *h, const uint8_t *data, size_t len);
void offload_hmac_final(offload_hmac_t *h, uint8_t out[OFFLOAD_SHA256_SIZE]);

/* RFC 5869: extract (salt, ikm) then expand (info) to out_len bytes (at most 255 * 32). */
int offload_hkdf_sha256(const uint8_t *salt, size_t salt_len, const uint8_t *ikm, size_t ikm_len,
                        const uint8_t *info, size_t info_len, uint8_t *out, size_t out_len);

/* Constant-time comparison: 0 when equal. */
int offload_secure_compare(const uint8_t *a, const uint8_t *b, size_t len);

/* ---- Handshake (§12.2) ------------------------------------------------------------------------------------ */

/* deviceProof = HMAC-SHA256(K, "dev" | hostNonce | deviceNonce | channel)[0..16] (is_device != 0), hostProof
 * with "host" (is_device == 0). */
void offload_secure_proof(const uint8_t key[OFFLOAD_SECURE_KEY_SIZE], int is_device,
                          const uint8_t host_nonce[OFFLOAD_SECURE_NONCE_SIZE],
                          const uint8_t device_nonce[OFFLOAD_SECURE_NONCE_SIZE], uint8_t channel,
                          uint8_t out[OFFLOAD_SECURE_PROOF_SIZE]);

/* K_h2d, K_d2h = HKDF-SHA256(ikm = K, salt = hostNonce | deviceNonce, info = "offload h2d" / "offload d2h", 32). */
void offload_secure_derive(const uint8_t key[OFFLOAD_SECURE_KEY_SIZE],
                           const uint8_t host_nonce[OFFLOAD_SECURE_NONCE_SIZE],
                           const uint8_t device_nonce[OFFLOAD_SECURE_NONCE_SIZE],
                           uint8_t k_h2d[OFFLOAD_SECURE_KEY_SIZE], uint8_t k_d2h[OFFLOAD_SECURE_KEY_SIZE]);

/* ---- Secure frames (§12.3) -------------------------------------------------------------------------------- */

/* MAC = HMAC-SHA256(K_dir, header | counter | payload)[0..16] of an unencoded SECURE frame (header .. CRC). */
int offload_secure_mac(const uint8_t key[OFFLOAD_SECURE_KEY_SIZE], const uint8_t *frame, size_t frame_len,
                       uint8_t out[OFFLOAD_SECURE_MAC_SIZE]);

/* The send side of a session: K_dir and the last counter used (0: none). */
typedef struct offload_secure_tx {
  uint8_t key[OFFLOAD_SECURE_KEY_SIZE];
  uint64_t last;
} offload_secure_tx_t;

/* Encodes `f` (its flags, counter and mac are ignored) as a SECURE frame with the next counter and its MAC.
 * A retransmission is encoded again: new counter, new MAC. */
int offload_secure_encode(offload_secure_tx_t *tx, const offload_frame_t *f, uint8_t *out, size_t cap,
                          size_t *out_len);

/* The receive side's replay window: the highest counter accepted and a bitmap of the 64 below and at it. */
typedef struct offload_replay {
  uint64_t highest;
  uint64_t seen; /* bit i: counter (highest - i) accepted */
} offload_replay_t;

/* OFFLOAD_OK, OFFLOAD_SECURE_REPLAY or OFFLOAD_SECURE_TOO_OLD; changes nothing. */
int offload_replay_check(const offload_replay_t *w, uint64_t counter);
/* Records an accepted counter (call only after offload_replay_check said OK). */
void offload_replay_accept(offload_replay_t *w, uint64_t counter);

typedef struct offload_secure_rx {
  uint8_t key[OFFLOAD_SECURE_KEY_SIZE];
  offload_replay_t window;
} offload_secure_rx_t;

/* Decodes an unencoded frame and, before anything in it may be used, checks it (§12.3): a decode error, or
 * NOT_SECURE, BAD_MAC (constant time), then REPLAY / TOO_OLD against the window (ordered != 0: the transport keeps
 * order and ARQ is off, so only a counter above the highest is accepted). OFFLOAD_OK: *out is the frame and
 * the window has moved. SYNC and SYNC_ACK are plain by design: the caller handles them before this. */
int offload_secure_verify(offload_secure_rx_t *rx, const uint8_t *frame, size_t len, size_t max_payload,
                          int ordered, offload_frame_t *out);

#ifdef __cplusplus
}
#endif

#endif /* OFFLOAD_SECURE_H */
