/* GENERATED from protocol.json by npm run gen — do not edit. */
/*
 * socket-offload protocol 1.0: every number and layout a firmware author needs,
 * as byte-offset macros (no packed structs: no alignment or endianness traps), little-endian
 * get/put helpers, and X-macro tables that a table-driven codec (firmware-protocol/c) interprets.
 * Multi-byte fields are little-endian. Message offsets count from the first byte of the message
 * (the opcode); struct offsets from the first byte of the struct.
 * Self-contained C11 (also valid C99 and C++): needs only <stdint.h>.
 */
#ifndef OFFLOAD_PROTOCOL_H
#define OFFLOAD_PROTOCOL_H

#include <stdint.h>

/* ---- Version --------------------------------------------------------------------------------------------- */

#define OFFLOAD_PROTOCOL_VERSION_MAJOR          1u
#define OFFLOAD_PROTOCOL_VERSION_MINOR          0u
#define OFFLOAD_PROTOCOL_VERSION                0x0100u /* major << 8 | minor (HELLO, VERSION register) */
#define OFFLOAD_FRAME_VERSION                   1u /* frame header version byte */

/* ---- Limits ---------------------------------------------------------------------------------------------- */

#define OFFLOAD_FRAME_HEADER_SIZE               10u
#define OFFLOAD_CRC_SIZE                        4u
#define OFFLOAD_SECURE_COUNTER_SIZE             8u
#define OFFLOAD_SECURE_MAC_SIZE                 16u
#define OFFLOAD_MAX_PAYLOAD_ABSOLUTE            65535u
#define OFFLOAD_DEFAULT_MAX_PAYLOAD_SERIAL      4096u
#define OFFLOAD_DEFAULT_MAX_PAYLOAD_TCP         16384u
#define OFFLOAD_MIN_MAX_PAYLOAD                 256u
#define OFFLOAD_DEFAULT_WINDOW                  16u
#define OFFLOAD_MAX_WINDOW                      64u
#define OFFLOAD_TCP_LENGTH_PREFIX_SIZE          4u
#define OFFLOAD_MESSAGE_HEADER_SIZE             4u
#define OFFLOAD_EVENT_HEADER_SIZE               12u
#define OFFLOAD_ADDR_SIZE                       20u
#define OFFLOAD_ENTRY_SIZE                      80u
#define OFFLOAD_MAX_SLOTS                       255u
#define OFFLOAD_DEVICE_SOCKET_ID                65535u
#define OFFLOAD_RESET_MAGIC                     0x52535421u
#define OFFLOAD_REGISTER_MAGIC                  0x4F464C44u
#define OFFLOAD_MAX_REGISTER_READ               32u

/* ---- Little-endian helpers ------------------------------------------------------------------------------- */

static inline uint16_t offload_get_u16(const uint8_t *p) { return (uint16_t)((unsigned)p[0] | ((unsigned)p[1] << 8)); }
static inline uint32_t offload_get_u32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t offload_get_u64(const uint8_t *p) {
  return (uint64_t)offload_get_u32(p) | ((uint64_t)offload_get_u32(p + 4) << 32);
}
static inline void offload_put_u16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void offload_put_u32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}
static inline void offload_put_u64(uint8_t *p, uint64_t v) {
  offload_put_u32(p, (uint32_t)v); offload_put_u32(p + 4, (uint32_t)(v >> 32));
}

/* ---- Frame header (then [counter u64 if SECURE] payload [MAC if SECURE] CRC-32 u32) ---------------------- */

#define OFFLOAD_FRAME_HDR_VERSION_OFF           0u /* u8: Frame format version; 1. */
#define OFFLOAD_FRAME_HDR_VERSION_SIZE          1u
#define OFFLOAD_FRAME_HDR_FLAGS_OFF             1u /* u8: Frame flags (frameFlags). */
#define OFFLOAD_FRAME_HDR_FLAGS_SIZE            1u
#define OFFLOAD_FRAME_HDR_CHANNEL_OFF           2u /* u8: Channel number; 0 is the default channel, 255 the administrative channel. */
#define OFFLOAD_FRAME_HDR_CHANNEL_SIZE          1u
#define OFFLOAD_FRAME_HDR_TYPE_OFF              3u /* u8: Frame type (frameTypes). */
#define OFFLOAD_FRAME_HDR_TYPE_SIZE             1u
#define OFFLOAD_FRAME_HDR_SEQ_OFF               4u /* u16: Sequence number of a MSG frame (mod 65536); 0 in other frames. */
#define OFFLOAD_FRAME_HDR_SEQ_SIZE              2u
#define OFFLOAD_FRAME_HDR_ACK_OFF               6u /* u16: Cumulative acknowledgement: the next sequence number the sender expects to receive. */
#define OFFLOAD_FRAME_HDR_ACK_SIZE              2u
#define OFFLOAD_FRAME_HDR_LENGTH_OFF            8u /* u16: Payload length in bytes (excludes header, secure extension and CRC). */
#define OFFLOAD_FRAME_HDR_LENGTH_SIZE           2u
#define OFFLOAD_FRAME_HDR_SIZE                  10u

/* Frame types. */
#define OFFLOAD_FRAME_TYPE_MSG                  1u /* Carries one mailbox message as payload; sequenced and acknowledged when ARQ is on. */
#define OFFLOAD_FRAME_TYPE_ACK                  2u /* Acknowledgement only (ack field); no payload. */
#define OFFLOAD_FRAME_TYPE_NAK                  3u /* The receiver detected a gap: retransmit everything from `ack` on. */
#define OFFLOAD_FRAME_TYPE_SYNC                 4u /* Link (re)start and parameter offer; payload syncPayload. */
#define OFFLOAD_FRAME_TYPE_SYNC_ACK             5u /* Answer to SYNC with the agreed parameters; payload syncAckPayload. */
#define OFFLOAD_FRAME_TYPE_HEARTBEAT            6u /* Liveness probe; the receiver answers with an ACK frame. */
#define OFFLOAD_FRAME_TYPE_BYE                  7u /* The sender leaves this channel's link: the receiver declares it down at once; no payload, not acknowledged. */
/* X(NAME, value) */
#define OFFLOAD_FRAME_TYPE_TABLE(X) \
  X(MSG, 1) \
  X(ACK, 2) \
  X(NAK, 3) \
  X(SYNC, 4) \
  X(SYNC_ACK, 5) \
  X(HEARTBEAT, 6) \
  X(BYE, 7)
/* Frame flags (masks); the other bits are reserved and 0. */
#define OFFLOAD_FRAME_FLAG_SECURE               0x01u /* bit 0: An 8-byte counter follows the header and a 16-byte MAC follows the payload. */
/* Frame size before COBS for a payload length (secure: counter and MAC included). */
#define OFFLOAD_FRAME_SIZE(payloadLen)          ((uint32_t)(payloadLen) + OFFLOAD_FRAME_HEADER_SIZE + OFFLOAD_CRC_SIZE)
#define OFFLOAD_FRAME_SIZE_SECURE(payloadLen)   (OFFLOAD_FRAME_SIZE(payloadLen) + OFFLOAD_SECURE_COUNTER_SIZE + OFFLOAD_SECURE_MAC_SIZE)
/* Worst-case COBS encoding of n bytes (without the 0x00 delimiter). */
#define OFFLOAD_COBS_MAX_ENCODED(n)             ((uint32_t)(n) + (uint32_t)(n) / 254u + 1u)
/* Largest COBS-encoded frame (without delimiter) for a maximum payload: the serial receive buffer. */
#define OFFLOAD_WIRE_MAX_ENCODED(maxPayload)    (OFFLOAD_COBS_MAX_ENCODED(OFFLOAD_FRAME_SIZE_SECURE(maxPayload)))

/* ---- SYNC / SYNC_ACK frame payloads ---------------------------------------------------------------------- */

#define OFFLOAD_SYNC_NONCE_OFF                  0u /* u32: Random per link incarnation; a SYNC with a new nonce means the peer restarted. */
#define OFFLOAD_SYNC_NONCE_SIZE                 4u
#define OFFLOAD_SYNC_WINDOW_OFF                 4u /* u8: Largest number of unacknowledged MSG frames the sender will accept (1..64). */
#define OFFLOAD_SYNC_WINDOW_SIZE                1u
#define OFFLOAD_SYNC_ARQ_OFF                    5u /* u8: 1 = sequence/ack/retransmit on (serial); 0 = off (reliable transport). */
#define OFFLOAD_SYNC_ARQ_SIZE                   1u
#define OFFLOAD_SYNC_MAX_PAYLOAD_OFF            6u /* u16: Largest frame payload the sender can receive (256..65535). */
#define OFFLOAD_SYNC_MAX_PAYLOAD_SIZE           2u
#define OFFLOAD_SYNC_SIZE                       8u
#define OFFLOAD_SYNC_ACK_NONCE_OFF              0u /* u32: The answerer's own incarnation nonce. */
#define OFFLOAD_SYNC_ACK_NONCE_SIZE             4u
#define OFFLOAD_SYNC_ACK_PEER_NONCE_OFF         4u /* u32: Echo of the nonce of the SYNC being answered. */
#define OFFLOAD_SYNC_ACK_PEER_NONCE_SIZE        4u
#define OFFLOAD_SYNC_ACK_WINDOW_OFF             8u /* u8: Agreed window: min of both offers. */
#define OFFLOAD_SYNC_ACK_WINDOW_SIZE            1u
#define OFFLOAD_SYNC_ACK_ARQ_OFF                9u /* u8: Agreed ARQ: 1 if either side asked for it. */
#define OFFLOAD_SYNC_ACK_ARQ_SIZE               1u
#define OFFLOAD_SYNC_ACK_MAX_PAYLOAD_OFF        10u /* u16: Agreed maximum payload: min of both offers. */
#define OFFLOAD_SYNC_ACK_MAX_PAYLOAD_SIZE       2u
#define OFFLOAD_SYNC_ACK_SIZE                   12u

/* ---- Structs (byte offsets within the struct) ------------------------------------------------------------ */

/* addr: A network endpoint. family 0 = none (all other bytes zero). IPv4 uses the first 4 address bytes, the other 12 are zero. */
#define OFFLOAD_ADDR_FAMILY_OFF                 0u /* u8: 0 none, 4 IPv4, 6 IPv6. */
#define OFFLOAD_ADDR_FAMILY_SIZE                1u
#define OFFLOAD_ADDR_RESERVED_OFF               1u /* u8: 0. */
#define OFFLOAD_ADDR_RESERVED_SIZE              1u
#define OFFLOAD_ADDR_PORT_OFF                   2u /* u16: Port number. */
#define OFFLOAD_ADDR_PORT_SIZE                  2u
#define OFFLOAD_ADDR_ADDRESS_OFF                4u /* bytes16: Address bytes in network order. */
#define OFFLOAD_ADDR_ADDRESS_SIZE               16u

/* entry: One socket table entry (FIG 48): local socket structure, remote socket structure, status, options, queue levels. */
#define OFFLOAD_ENTRY_ID_OFF                    0u /* u16: Socket id: low byte slot index, high byte generation (1..255); 0 = free slot. */
#define OFFLOAD_ENTRY_ID_SIZE                   2u
#define OFFLOAD_ENTRY_TYPE_OFF                  2u /* u8: socketTypes. */
#define OFFLOAD_ENTRY_TYPE_SIZE                 1u
#define OFFLOAD_ENTRY_FAMILY_OFF                3u /* u8: 4 or 6. */
#define OFFLOAD_ENTRY_FAMILY_SIZE               1u
#define OFFLOAD_ENTRY_PROTOCOL_OFF              4u /* u8: 6 TCP, 17 UDP. */
#define OFFLOAD_ENTRY_PROTOCOL_SIZE             1u
#define OFFLOAD_ENTRY_STATUS_OFF                5u /* u8: socketStatuses. */
#define OFFLOAD_ENTRY_STATUS_SIZE               1u
#define OFFLOAD_ENTRY_FLAGS_OFF                 6u /* u16: conditionFlags. */
#define OFFLOAD_ENTRY_FLAGS_SIZE                2u
#define OFFLOAD_ENTRY_LAST_ERROR_OFF            8u /* u16: statusCodes: the last asynchronous error (0 none). */
#define OFFLOAD_ENTRY_LAST_ERROR_SIZE           2u
#define OFFLOAD_ENTRY_OPTIONS_OFF               10u /* u16: Bit (option value - 1) set for each boolean option that is on. */
#define OFFLOAD_ENTRY_OPTIONS_SIZE              2u
#define OFFLOAD_ENTRY_BLOCKING_OFF              12u /* u8: Blocking mode requested at open: 0 non-blocking, 1 blocking. */
#define OFFLOAD_ENTRY_BLOCKING_SIZE             1u
#define OFFLOAD_ENTRY_CHANNEL_OFF               13u /* u8: Owning channel. */
#define OFFLOAD_ENTRY_CHANNEL_SIZE              1u
#define OFFLOAD_ENTRY_BACKLOG_OFF               14u /* u16: Listen backlog (LISTENING) else 0. */
#define OFFLOAD_ENTRY_BACKLOG_SIZE              2u
#define OFFLOAD_ENTRY_CONN_QUEUED_OFF           16u /* u16: Connections waiting in the connection queue. */
#define OFFLOAD_ENTRY_CONN_QUEUED_SIZE          2u
#define OFFLOAD_ENTRY_RESERVED_OFF              18u /* u16: 0. */
#define OFFLOAD_ENTRY_RESERVED_SIZE             2u
#define OFFLOAD_ENTRY_SEND_QUEUED_OFF           20u /* u32: Bytes in the send queue (accepted from the host, not yet sent to the network). */
#define OFFLOAD_ENTRY_SEND_QUEUED_SIZE          4u
#define OFFLOAD_ENTRY_RECV_QUEUED_OFF           24u /* u32: Bytes in the receive queue (from the network, not yet delivered to the host). */
#define OFFLOAD_ENTRY_RECV_QUEUED_SIZE          4u
#define OFFLOAD_ENTRY_SEND_SPACE_OFF            28u /* u32: Free bytes in the send queue. */
#define OFFLOAD_ENTRY_SEND_SPACE_SIZE           4u
#define OFFLOAD_ENTRY_RECV_CREDIT_OFF           32u /* u32: Receive credit the host has granted and the device has not used yet. */
#define OFFLOAD_ENTRY_RECV_CREDIT_SIZE          4u
#define OFFLOAD_ENTRY_LOCAL_OFF                 36u /* addr: Local endpoint. */
#define OFFLOAD_ENTRY_LOCAL_SIZE                20u
#define OFFLOAD_ENTRY_REMOTE_OFF                56u /* addr: Remote endpoint. */
#define OFFLOAD_ENTRY_REMOTE_SIZE               20u
#define OFFLOAD_ENTRY_PENDING_EVENTS_OFF        76u /* u32: Bit (event opcode - 0x40) set for each event kind queued for the host and not yet sent. */
#define OFFLOAD_ENTRY_PENDING_EVENTS_SIZE       4u

#define OFFLOAD_ADDR_FAMILY_NONE                0u
#define OFFLOAD_ADDR_FAMILY_IPV4                4u
#define OFFLOAD_ADDR_FAMILY_IPV6                6u

/* ---- Capabilities (HELLO caps, CAPS register) ------------------------------------------------------------ */

#define OFFLOAD_CAP_TCP                         0x0001u /* bit 0: Stream sockets. */
#define OFFLOAD_CAP_UDP                         0x0002u /* bit 1: Datagram sockets. */
#define OFFLOAD_CAP_IPV6                        0x0004u /* bit 2: Family 6 addresses. */
#define OFFLOAD_CAP_ARQ                         0x0008u /* bit 3: The serial sliding-window ARQ. */
#define OFFLOAD_CAP_SNAPSHOT                    0x0010u /* bit 4: SNAPSHOT and QUERY. */
#define OFFLOAD_CAP_REG_WINDOW                  0x0020u /* bit 5: The read-only socket-table register window. */
#define OFFLOAD_CAP_PCIE_RINGS                  0x0040u /* bit 6: Command and completion rings in the register window. */
#define OFFLOAD_CAP_CHANNELS                    0x0080u /* bit 7: More than one channel; CHANNEL_OPEN, CHANNEL_RESET. */
#define OFFLOAD_CAP_SECURE                      0x0100u /* bit 8: Secure channels: SECURE_INIT, SECURE_FINISH, SECURE frames. */
#define OFFLOAD_CAP_EGRESS_POLICY               0x0200u /* bit 9: EGRESS_SET and EGRESS_CLEAR. */
#define OFFLOAD_CAP_KEEPALIVE                   0x0400u /* bit 10: The KEEPALIVE option. */

/* ---- Status codes (response status; POSIX / Node error code in the comment) ------------------------------ */

#define OFFLOAD_STATUS_OK                       0u /* -: Success. */
#define OFFLOAD_STATUS_E_UNKNOWN_SOCKET         1u /* EBADF: Low-level error: the socket id is not in the table (of this channel). Nothing was changed (FIG 32). */
#define OFFLOAD_STATUS_E_NO_SLOT                2u /* EMFILE: No free socket slot. */
#define OFFLOAD_STATUS_E_QUEUE_FULL             3u /* ENOBUFS: The queue had less room than the data; the response says how much was accepted. */
#define OFFLOAD_STATUS_E_BAD_OPCODE             4u /* ENOSYS: Unknown opcode (answered with ERROR_RESPONSE). */
#define OFFLOAD_STATUS_E_BAD_LENGTH             5u /* EMSGSIZE: The message is shorter or longer than its opcode requires. */
#define OFFLOAD_STATUS_E_NOT_PERMITTED          6u /* EPERM: Refused by the channel's role or egress policy. */
#define OFFLOAD_STATUS_E_INVALID                7u /* EINVAL: A field value is out of range, or the command is not valid for the socket's type. */
#define OFFLOAD_STATUS_E_BAD_STATE              8u /* EINVAL: The command is not allowed in the socket's current status. */
#define OFFLOAD_STATUS_E_WOULD_BLOCK            9u /* EAGAIN: Nothing to take now (ACCEPT with an empty connection queue). */
#define OFFLOAD_STATUS_E_NOT_SUPPORTED          10u /* EOPNOTSUPP: The device does not support this (capability not advertised, option unknown). */
#define OFFLOAD_STATUS_E_BUSY                   11u /* EBUSY: Too many commands in flight on this channel. */
#define OFFLOAD_STATUS_E_BAD_VERSION            12u /* EPROTONOSUPPORT: HELLO with a major version the device does not speak. */
#define OFFLOAD_STATUS_E_INTERNAL               13u /* EIO: Device internal error. */
#define OFFLOAD_STATUS_E_QUOTA                  14u /* EDQUOT: The channel's quota (slots or queue memory) is exhausted. */
#define OFFLOAD_STATUS_E_AUTH                   15u /* EACCES: Authentication failed (secure handshake, admin credential). */
#define OFFLOAD_STATUS_ECONNREFUSED             16u /* ECONNREFUSED: The peer refused the connection. */
#define OFFLOAD_STATUS_ECONNRESET               17u /* ECONNRESET: The peer reset the connection. */
#define OFFLOAD_STATUS_ETIMEDOUT                18u /* ETIMEDOUT: Connect or keep-alive timed out. */
#define OFFLOAD_STATUS_EADDRINUSE               19u /* EADDRINUSE: Local address already in use. */
#define OFFLOAD_STATUS_ENOTCONN                 20u /* ENOTCONN: The socket is not connected. */
#define OFFLOAD_STATUS_EISCONN                  21u /* EISCONN: The socket is already connected. */
#define OFFLOAD_STATUS_EADDRNOTAVAIL            22u /* EADDRNOTAVAIL: The local address is not available on the device. */
#define OFFLOAD_STATUS_ENETUNREACH              23u /* ENETUNREACH: No route to the network. */
#define OFFLOAD_STATUS_EHOSTUNREACH             24u /* EHOSTUNREACH: No route to the host. */
#define OFFLOAD_STATUS_EPIPE                    25u /* EPIPE: The write side is shut down or the connection is gone. */
#define OFFLOAD_STATUS_ECONNABORTED             26u /* ECONNABORTED: The connection was aborted locally (CLOSE with abort, device-side abort). */
#define OFFLOAD_STATUS_EAFNOSUPPORT             27u /* EAFNOSUPPORT: Address family not supported. */
#define OFFLOAD_STATUS_EMSGSIZE                 28u /* EMSGSIZE: Datagram too large. */
#define OFFLOAD_STATUS_EALREADY                 29u /* EALREADY: A connect is already in progress. */
#define OFFLOAD_STATUS_EACCES                   30u /* EACCES: The network refused the operation (e.g. privileged port, broadcast without the option). */
/* X(NAME, value, posix name or 0) */
#define OFFLOAD_STATUS_TABLE(X) \
  X(OK, 0, 0) \
  X(E_UNKNOWN_SOCKET, 1, "EBADF") \
  X(E_NO_SLOT, 2, "EMFILE") \
  X(E_QUEUE_FULL, 3, "ENOBUFS") \
  X(E_BAD_OPCODE, 4, "ENOSYS") \
  X(E_BAD_LENGTH, 5, "EMSGSIZE") \
  X(E_NOT_PERMITTED, 6, "EPERM") \
  X(E_INVALID, 7, "EINVAL") \
  X(E_BAD_STATE, 8, "EINVAL") \
  X(E_WOULD_BLOCK, 9, "EAGAIN") \
  X(E_NOT_SUPPORTED, 10, "EOPNOTSUPP") \
  X(E_BUSY, 11, "EBUSY") \
  X(E_BAD_VERSION, 12, "EPROTONOSUPPORT") \
  X(E_INTERNAL, 13, "EIO") \
  X(E_QUOTA, 14, "EDQUOT") \
  X(E_AUTH, 15, "EACCES") \
  X(ECONNREFUSED, 16, "ECONNREFUSED") \
  X(ECONNRESET, 17, "ECONNRESET") \
  X(ETIMEDOUT, 18, "ETIMEDOUT") \
  X(EADDRINUSE, 19, "EADDRINUSE") \
  X(ENOTCONN, 20, "ENOTCONN") \
  X(EISCONN, 21, "EISCONN") \
  X(EADDRNOTAVAIL, 22, "EADDRNOTAVAIL") \
  X(ENETUNREACH, 23, "ENETUNREACH") \
  X(EHOSTUNREACH, 24, "EHOSTUNREACH") \
  X(EPIPE, 25, "EPIPE") \
  X(ECONNABORTED, 26, "ECONNABORTED") \
  X(EAFNOSUPPORT, 27, "EAFNOSUPPORT") \
  X(EMSGSIZE, 28, "EMSGSIZE") \
  X(EALREADY, 29, "EALREADY") \
  X(EACCES, 30, "EACCES")

/* ---- Socket types, statuses, condition flags, options ---------------------------------------------------- */

#define OFFLOAD_SOCKET_TYPE_STREAM              1u /* TCP. */
#define OFFLOAD_SOCKET_TYPE_DGRAM               2u /* UDP. */
#define OFFLOAD_SOCKET_STATUS_UNCONNECTED       0u /* Opened, not bound. */
#define OFFLOAD_SOCKET_STATUS_BOUND             1u /* Bound to a local address. */
#define OFFLOAD_SOCKET_STATUS_LISTENING         2u /* Accepting connections into the connection queue. */
#define OFFLOAD_SOCKET_STATUS_CONNECTING        3u /* Connect in progress. */
#define OFFLOAD_SOCKET_STATUS_CONNECTED         4u /* Established, send and receive queues empty. */
#define OFFLOAD_SOCKET_STATUS_SENDING           5u /* Established, send queue not empty. */
#define OFFLOAD_SOCKET_STATUS_RECEIVING         6u /* Established, send queue empty, receive queue not empty. */
#define OFFLOAD_SOCKET_STATUS_DISCONNECTED      7u /* The peer closed or reset, or the connect failed; received data is still delivered. */
#define OFFLOAD_SOCKET_STATUS_SHUTDOWN          8u /* The host shut down the write side (FIN queued or sent). */
#define OFFLOAD_SOCKET_STATUS_TERMINATED        9u /* Closed; the slot is freed and the id no longer exists. Appears only in the final STATUS event. */
#define OFFLOAD_SOCKET_STATUS_KEEP              0xFFu /* UPDATE: keep the status */
/* Condition flags (masks). */
#define OFFLOAD_COND_READABLE                   0x0001u /* bit 0: Receive queue not empty. */
#define OFFLOAD_COND_WRITABLE                   0x0002u /* bit 1: Send queue has free space. */
#define OFFLOAD_COND_PEER_CLOSED                0x0004u /* bit 2: The peer sent FIN (end of its data). */
#define OFFLOAD_COND_ERROR_PENDING              0x0008u /* bit 3: lastError is set and not yet acknowledged; the host may clear it with UPDATE. */
#define OFFLOAD_COND_ACCEPT_PENDING             0x0010u /* bit 4: The connection queue is not empty. */
#define OFFLOAD_COND_SEND_BLOCKED               0x0020u /* bit 5: The send queue is full. */
#define OFFLOAD_COND_RECV_BLOCKED               0x0040u /* bit 6: Data waits in the receive queue for host receive credit. */
#define OFFLOAD_COND_READ_SHUT                  0x0080u /* bit 7: The host shut down the read side. */
#define OFFLOAD_COND_WRITE_SHUT                 0x0100u /* bit 8: The host shut down the write side. */
#define OFFLOAD_COND_HOST_MARK0                 0x1000u /* bit 12: Free for the host's use; set and cleared only by UPDATE. */
#define OFFLOAD_COND_HOST_MARK1                 0x2000u /* bit 13: Free for the host's use. */
#define OFFLOAD_COND_HOST_MARK2                 0x4000u /* bit 14: Free for the host's use. */
#define OFFLOAD_COND_HOST_MARK3                 0x8000u /* bit 15: Free for the host's use. */
#define OFFLOAD_COND_HOST_SETTABLE              0xF000u /* flags the host may set with UPDATE */
#define OFFLOAD_COND_HOST_CLEARABLE             0xF008u /* flags the host may clear with UPDATE */
/* Options (SETOPT / GETOPT); a boolean option is bit (value - 1) of entry.options. */
#define OFFLOAD_OPT_REUSEADDR                   1u /* SO_REUSEADDR. */
#define OFFLOAD_OPT_NODELAY                     2u /* TCP_NODELAY. */
#define OFFLOAD_OPT_KEEPALIVE                   3u /* SO_KEEPALIVE; value = idle time in ms before the first probe, 0 = off. */
#define OFFLOAD_OPT_BROADCAST                   4u /* SO_BROADCAST. */
#define OFFLOAD_OPT_RCVBUF                      5u /* Receive queue size in bytes (device may round; GETOPT tells). */
#define OFFLOAD_OPT_SNDBUF                      6u /* Send queue size in bytes. */
#define OFFLOAD_OPT_LINGER                      7u /* SO_LINGER seconds; 0xFFFFFFFF = off (default). */
#define OFFLOAD_OPT_TTL                         8u /* IP TTL / hop limit. */
#define OFFLOAD_OPT_BIT(opt)                    (1u << ((opt) - 1u)) /* entry.options bit of a boolean option */
#define OFFLOAD_OPT_BOOLEAN_BITS                0x000Fu /* entry.options bits of the boolean options */

/* ---- Shutdown, boot reasons, channel roles, egress kinds ------------------------------------------------- */

#define OFFLOAD_SHUT_READ                       1u
#define OFFLOAD_SHUT_WRITE                      2u
#define OFFLOAD_SHUT_BOTH                       3u
#define OFFLOAD_BOOT_REASON_POWER_ON            0u
#define OFFLOAD_BOOT_REASON_HOST_RESET          1u
#define OFFLOAD_BOOT_REASON_WATCHDOG            2u
#define OFFLOAD_BOOT_REASON_FAULT               3u
#define OFFLOAD_ROLE_NORMAL                     0u
#define OFFLOAD_ROLE_ADMIN                      1u
#define OFFLOAD_EGRESS_CONNECT                  1u /* Outgoing TCP connections. */
#define OFFLOAD_EGRESS_SENDTO                   2u /* Outgoing UDP datagrams. */
#define OFFLOAD_EGRESS_LISTEN                   3u /* Local ports a channel may bind and listen on (addr = local address). */
#define OFFLOAD_CHANNEL_DEFAULT                 0u
#define OFFLOAD_CHANNEL_ADMIN                   255u

/* ---- Registers ------------------------------------------------------------------------------------------- */

/* Device status register bits. */
#define OFFLOAD_DEV_STATUS_READY                0x01u /* bit 0: Accepting commands. */
#define OFFLOAD_DEV_STATUS_RESETTING            0x02u /* bit 1: A reset is in progress. */
#define OFFLOAD_DEV_STATUS_FAULT                0x04u /* bit 2: A fatal internal error; only RESET is accepted. */
#define OFFLOAD_DEV_STATUS_LINK_UP              0x08u /* bit 3: At least one channel has a synchronised link. */
/* IRQ_STATUS / IRQ_MASK bits. */
#define OFFLOAD_IRQ_CPL                         0x01u /* bit 0: Completion/event ring has entries. */
#define OFFLOAD_IRQ_CMD_SPACE                   0x02u /* bit 1: Command ring has free descriptors again. */
#define OFFLOAD_IRQ_RESET                       0x04u /* bit 2: The device reset (epoch changed). */
/* Register access. */
#define OFFLOAD_ACCESS_RO                       0u
#define OFFLOAD_ACCESS_RW                       1u
#define OFFLOAD_ACCESS_WO                       2u
#define OFFLOAD_ACCESS_RW1C                     3u
/* Register byte offsets (32-bit registers) and access. */
#define OFFLOAD_REG_MAGIC                       0x00u /* RO: 0x4F464C44 ('OFLD' read as bytes 44 4C 46 4F). */
#define OFFLOAD_REG_MAGIC_ACCESS                OFFLOAD_ACCESS_RO
#define OFFLOAD_REG_VERSION                     0x04u /* RO: Protocol version: major << 8 | minor. */
#define OFFLOAD_REG_VERSION_ACCESS              OFFLOAD_ACCESS_RO
#define OFFLOAD_REG_CAPS                        0x08u /* RO: Capability bits. */
#define OFFLOAD_REG_CAPS_ACCESS                 OFFLOAD_ACCESS_RO
#define OFFLOAD_REG_STATUS                      0x0Cu /* RO: deviceStatusBits. */
#define OFFLOAD_REG_STATUS_ACCESS               OFFLOAD_ACCESS_RO
#define OFFLOAD_REG_BOOT_EPOCH                  0x10u /* RO: Incremented at every boot and reset; never 0. */
#define OFFLOAD_REG_BOOT_EPOCH_ACCESS           OFFLOAD_ACCESS_RO
#define OFFLOAD_REG_SLOTS                       0x14u /* RO: Bits 0..15 total socket slots, bits 16..31 slots in use. */
#define OFFLOAD_REG_SLOTS_ACCESS                OFFLOAD_ACCESS_RO
#define OFFLOAD_REG_MAX_PAYLOAD                 0x18u /* RO: Largest frame payload the device accepts. */
#define OFFLOAD_REG_MAX_PAYLOAD_ACCESS          OFFLOAD_ACCESS_RO
#define OFFLOAD_REG_FIRMWARE_BUILD              0x1Cu /* RO: Firmware build number (vendor-defined). */
#define OFFLOAD_REG_FIRMWARE_BUILD_ACCESS       OFFLOAD_ACCESS_RO
#define OFFLOAD_REG_IRQ_STATUS                  0x20u /* RW1C: irqBits; write 1 to clear. */
#define OFFLOAD_REG_IRQ_STATUS_ACCESS           OFFLOAD_ACCESS_RW1C
#define OFFLOAD_REG_IRQ_MASK                    0x24u /* RW: irqBits; 1 = interrupt enabled. */
#define OFFLOAD_REG_IRQ_MASK_ACCESS             OFFLOAD_ACCESS_RW
#define OFFLOAD_REG_DOORBELL                    0x28u /* WO: Write any value after advancing CMD_TAIL (PCIe); reads as 0. */
#define OFFLOAD_REG_DOORBELL_ACCESS             OFFLOAD_ACCESS_WO
#define OFFLOAD_REG_EVENT_SEQ                   0x2Cu /* RO: Sequence number of the last event sent on the reading channel. */
#define OFFLOAD_REG_EVENT_SEQ_ACCESS            OFFLOAD_ACCESS_RO
#define OFFLOAD_REG_SCRATCH                     0x30u /* RW: Bring-up register: reads back what was written; reset to 0. */
#define OFFLOAD_REG_SCRATCH_ACCESS              OFFLOAD_ACCESS_RW
#define OFFLOAD_REG_UPTIME_MS                   0x34u /* RO: Milliseconds since the last boot (wraps). */
#define OFFLOAD_REG_UPTIME_MS_ACCESS            OFFLOAD_ACCESS_RO
#define OFFLOAD_REG_CMD_RING_OFFSET             0x40u /* RO: PCIe: byte offset of the command ring in the window. */
#define OFFLOAD_REG_CMD_RING_OFFSET_ACCESS      OFFLOAD_ACCESS_RO
#define OFFLOAD_REG_CMD_RING_ENTRIES            0x44u /* RO: PCIe: descriptors in the command ring (power of two). */
#define OFFLOAD_REG_CMD_RING_ENTRIES_ACCESS     OFFLOAD_ACCESS_RO
#define OFFLOAD_REG_CMD_HEAD                    0x48u /* RO: PCIe: next descriptor the device will consume (free-running 32-bit). */
#define OFFLOAD_REG_CMD_HEAD_ACCESS             OFFLOAD_ACCESS_RO
#define OFFLOAD_REG_CMD_TAIL                    0x4Cu /* RW: PCIe: next descriptor the host will fill (free-running 32-bit). */
#define OFFLOAD_REG_CMD_TAIL_ACCESS             OFFLOAD_ACCESS_RW
#define OFFLOAD_REG_CPL_RING_OFFSET             0x50u /* RO: PCIe: byte offset of the completion/event ring. */
#define OFFLOAD_REG_CPL_RING_OFFSET_ACCESS      OFFLOAD_ACCESS_RO
#define OFFLOAD_REG_CPL_RING_ENTRIES            0x54u /* RO: PCIe: descriptors in the completion ring (power of two). */
#define OFFLOAD_REG_CPL_RING_ENTRIES_ACCESS     OFFLOAD_ACCESS_RO
#define OFFLOAD_REG_CPL_HEAD                    0x58u /* RW: PCIe: next descriptor the host will consume. */
#define OFFLOAD_REG_CPL_HEAD_ACCESS             OFFLOAD_ACCESS_RW
#define OFFLOAD_REG_CPL_TAIL                    0x5Cu /* RO: PCIe: next descriptor the device will fill. */
#define OFFLOAD_REG_CPL_TAIL_ACCESS             OFFLOAD_ACCESS_RO
#define OFFLOAD_REG_RING_DESC_SIZE              0x60u /* RO: PCIe: bytes per descriptor (header 8 + maximum message). */
#define OFFLOAD_REG_RING_DESC_SIZE_ACCESS       OFFLOAD_ACCESS_RO
#define OFFLOAD_REG_CHANNEL_RINGS_OFFSET        0x64u /* RO: PCIe: byte offset of the channel ring table (one block of ring registers per extra channel, PROTOCOL.md 10.5); 0 without one. */
#define OFFLOAD_REG_CHANNEL_RINGS_OFFSET_ACCESS OFFLOAD_ACCESS_RO
#define OFFLOAD_REG_CHANNEL_RINGS_COUNT         0x68u /* RO: PCIe: blocks in the channel ring table (extra ring pairs); 0 = channel 0 only. */
#define OFFLOAD_REG_CHANNEL_RINGS_COUNT_ACCESS  OFFLOAD_ACCESS_RO
#define OFFLOAD_REG_SOCKET_WINDOW_OFFSET        0x70u /* RO: Byte offset of the socket-table window. */
#define OFFLOAD_REG_SOCKET_WINDOW_OFFSET_ACCESS OFFLOAD_ACCESS_RO
#define OFFLOAD_REG_SOCKET_WINDOW_STRIDE        0x74u /* RO: Bytes per slot in the window (128); each slot holds one entry struct, then zeros. */
#define OFFLOAD_REG_SOCKET_WINDOW_STRIDE_ACCESS OFFLOAD_ACCESS_RO
/* X(NAME, offset, ACCESS) */
#define OFFLOAD_REGISTER_TABLE(X) \
  X(MAGIC, 0x00u, RO) \
  X(VERSION, 0x04u, RO) \
  X(CAPS, 0x08u, RO) \
  X(STATUS, 0x0Cu, RO) \
  X(BOOT_EPOCH, 0x10u, RO) \
  X(SLOTS, 0x14u, RO) \
  X(MAX_PAYLOAD, 0x18u, RO) \
  X(FIRMWARE_BUILD, 0x1Cu, RO) \
  X(IRQ_STATUS, 0x20u, RW1C) \
  X(IRQ_MASK, 0x24u, RW) \
  X(DOORBELL, 0x28u, WO) \
  X(EVENT_SEQ, 0x2Cu, RO) \
  X(SCRATCH, 0x30u, RW) \
  X(UPTIME_MS, 0x34u, RO) \
  X(CMD_RING_OFFSET, 0x40u, RO) \
  X(CMD_RING_ENTRIES, 0x44u, RO) \
  X(CMD_HEAD, 0x48u, RO) \
  X(CMD_TAIL, 0x4Cu, RW) \
  X(CPL_RING_OFFSET, 0x50u, RO) \
  X(CPL_RING_ENTRIES, 0x54u, RO) \
  X(CPL_HEAD, 0x58u, RW) \
  X(CPL_TAIL, 0x5Cu, RO) \
  X(RING_DESC_SIZE, 0x60u, RO) \
  X(CHANNEL_RINGS_OFFSET, 0x64u, RO) \
  X(CHANNEL_RINGS_COUNT, 0x68u, RO) \
  X(SOCKET_WINDOW_OFFSET, 0x70u, RO) \
  X(SOCKET_WINDOW_STRIDE, 0x74u, RO)

/* Register window layout. */
#define OFFLOAD_SOCKET_WINDOW_OFFSET            0x1000u
#define OFFLOAD_SOCKET_WINDOW_STRIDE            128u
#define OFFLOAD_SOCKET_WINDOW_SLOT(slot)        (OFFLOAD_SOCKET_WINDOW_OFFSET + (uint32_t)(slot) * OFFLOAD_SOCKET_WINDOW_STRIDE) /* one entry struct, then zeros */
#define OFFLOAD_RINGS_OFFSET                    0x10000u
#define OFFLOAD_RING_DESC_LENGTH_OFF            0u /* u16: Message bytes that follow. */
#define OFFLOAD_RING_DESC_LENGTH_SIZE           2u
#define OFFLOAD_RING_DESC_FLAGS_OFF             2u /* u8: Bit 0 VALID: written last by the producer. */
#define OFFLOAD_RING_DESC_FLAGS_SIZE            1u
#define OFFLOAD_RING_DESC_INDEX_OFF             3u /* u8: Low 8 bits of the free-running producer index, to detect a stale descriptor. */
#define OFFLOAD_RING_DESC_INDEX_SIZE            1u
#define OFFLOAD_RING_DESC_CRC_OFF               4u /* u32: CRC-32 of the message bytes, to detect a torn descriptor. */
#define OFFLOAD_RING_DESC_CRC_SIZE              4u
#define OFFLOAD_RING_DESC_HEADER_SIZE           8u
#define OFFLOAD_RING_DESC_FLAG_VALID            0x01u /* written last by the producer */

/* ---- Messages: header and opcodes ------------------------------------------------------------------------ */

/* Every message: [opcode u8][flags u8 = 0][tag u16] ... */
#define OFFLOAD_MSG_OPCODE_OFF                  0u
#define OFFLOAD_MSG_FLAGS_OFF                   1u
#define OFFLOAD_MSG_TAG_OFF                     2u
#define OFFLOAD_MSG_HEADER_SIZE                 4u
/* Responses (and ERROR_RESPONSE): [opcode | 0x80][0][tag][status u16] ... */
#define OFFLOAD_RSP_STATUS_OFF                  4u
#define OFFLOAD_RSP_HEADER_SIZE                 6u
/* Events: [opcode][0][tag = 0][epoch u32][seq u32] ... */
#define OFFLOAD_EVT_EPOCH_OFF                   4u
#define OFFLOAD_EVT_SEQ_OFF                     8u
#define OFFLOAD_EVT_HEADER_SIZE                 12u
#define OFFLOAD_OP_RESPONSE_BIT                 0x80u /* response opcode = command opcode | 0x80 */
#define OFFLOAD_OP_EVENT_BASE                   0x40u /* events are 0x40..0x7F; commands 0x01..0x3F */
#define OFFLOAD_OP_RESPONSE(op)                 ((uint8_t)((op) | OFFLOAD_OP_RESPONSE_BIT))
#define OFFLOAD_OP_ERROR_RESPONSE               0x80u /* error */
#define OFFLOAD_OP_HELLO                        0x01u /* command */
#define OFFLOAD_OP_HELLO_RSP                    0x81u
#define OFFLOAD_OP_PING                         0x02u /* command */
#define OFFLOAD_OP_PING_RSP                     0x82u
#define OFFLOAD_OP_REG_READ                     0x03u /* command */
#define OFFLOAD_OP_REG_READ_RSP                 0x83u
#define OFFLOAD_OP_REG_WRITE                    0x04u /* command */
#define OFFLOAD_OP_REG_WRITE_RSP                0x84u
#define OFFLOAD_OP_RESET                        0x05u /* command */
#define OFFLOAD_OP_RESET_RSP                    0x85u
#define OFFLOAD_OP_SNAPSHOT                     0x06u /* command, capability SNAPSHOT */
#define OFFLOAD_OP_SNAPSHOT_RSP                 0x86u
#define OFFLOAD_OP_CHANNEL_OPEN                 0x07u /* command, capability CHANNELS */
#define OFFLOAD_OP_CHANNEL_OPEN_RSP             0x87u
#define OFFLOAD_OP_CHANNEL_RESET                0x08u /* command, capability CHANNELS */
#define OFFLOAD_OP_CHANNEL_RESET_RSP            0x88u
#define OFFLOAD_OP_SECURE_INIT                  0x09u /* command, capability SECURE */
#define OFFLOAD_OP_SECURE_INIT_RSP              0x89u
#define OFFLOAD_OP_SECURE_FINISH                0x0Au /* command, capability SECURE */
#define OFFLOAD_OP_SECURE_FINISH_RSP            0x8Au
#define OFFLOAD_OP_EGRESS_SET                   0x0Bu /* command, capability EGRESS_POLICY */
#define OFFLOAD_OP_EGRESS_SET_RSP               0x8Bu
#define OFFLOAD_OP_EGRESS_CLEAR                 0x0Cu /* command, capability EGRESS_POLICY */
#define OFFLOAD_OP_EGRESS_CLEAR_RSP             0x8Cu
#define OFFLOAD_OP_SOCKET_OPEN                  0x10u /* command */
#define OFFLOAD_OP_SOCKET_OPEN_RSP              0x90u
#define OFFLOAD_OP_BIND                         0x11u /* command */
#define OFFLOAD_OP_BIND_RSP                     0x91u
#define OFFLOAD_OP_LISTEN                       0x12u /* command */
#define OFFLOAD_OP_LISTEN_RSP                   0x92u
#define OFFLOAD_OP_CONNECT                      0x13u /* command */
#define OFFLOAD_OP_CONNECT_RSP                  0x93u
#define OFFLOAD_OP_ACCEPT                       0x14u /* command */
#define OFFLOAD_OP_ACCEPT_RSP                   0x94u
#define OFFLOAD_OP_SEND                         0x15u /* command */
#define OFFLOAD_OP_SEND_RSP                     0x95u
#define OFFLOAD_OP_SENDTO                       0x16u /* command */
#define OFFLOAD_OP_SENDTO_RSP                   0x96u
#define OFFLOAD_OP_RECV_CREDIT                  0x17u /* command */
#define OFFLOAD_OP_RECV_CREDIT_RSP              0x97u
#define OFFLOAD_OP_SHUTDOWN                     0x18u /* command */
#define OFFLOAD_OP_SHUTDOWN_RSP                 0x98u
#define OFFLOAD_OP_CLOSE                        0x19u /* command */
#define OFFLOAD_OP_CLOSE_RSP                    0x99u
#define OFFLOAD_OP_SETOPT                       0x1Au /* command */
#define OFFLOAD_OP_SETOPT_RSP                   0x9Au
#define OFFLOAD_OP_GETOPT                       0x1Bu /* command */
#define OFFLOAD_OP_GETOPT_RSP                   0x9Bu
#define OFFLOAD_OP_UPDATE                       0x1Cu /* command */
#define OFFLOAD_OP_UPDATE_RSP                   0x9Cu
#define OFFLOAD_OP_QUERY                        0x1Du /* command, capability SNAPSHOT */
#define OFFLOAD_OP_QUERY_RSP                    0x9Du
#define OFFLOAD_OP_BOOT                         0x40u /* event */
#define OFFLOAD_OP_STATUS                       0x41u /* event */
#define OFFLOAD_OP_DATA                         0x42u /* event */
#define OFFLOAD_OP_DATAGRAM                     0x43u /* event */
#define OFFLOAD_OP_SEND_CREDIT                  0x44u /* event */
#define OFFLOAD_OP_ERROR                        0x45u /* event */

/* ---- Messages: field offsets and sizes (from the first byte of the message) ------------------------------ */

/* ERROR_RESPONSE (0x80u, error): The device's answer to a message it cannot decode (unknown opcode, bad length, wrong kind). The tag is echoed if at least 4 bytes arrived, else 0. */
#define OFFLOAD_ERROR_RESPONSE_OFFENDING_OPCODE_OFF 6u /* u8: The opcode byte received (0 if none). */
#define OFFLOAD_ERROR_RESPONSE_OFFENDING_OPCODE_SIZE 1u
#define OFFLOAD_ERROR_RESPONSE_SIZE             7u /* whole message */
#define OFFLOAD_ERROR_RESPONSE_OFFENDING_OPCODE_IDX 0u

/* HELLO (0x01u, command): First command on a channel after the link is up: exchange versions and capabilities. Commands other than HELLO, PING and REG_READ before HELLO get E_BAD_STATE. */
#define OFFLOAD_HELLO_REQ_PROTO_VERSION_OFF     4u /* u16: major << 8 | minor the host speaks. */
#define OFFLOAD_HELLO_REQ_PROTO_VERSION_SIZE    2u
#define OFFLOAD_HELLO_REQ_HOST_CAPS_OFF         6u /* u32: Capabilities the host wants to use. */
#define OFFLOAD_HELLO_REQ_HOST_CAPS_SIZE        4u
#define OFFLOAD_HELLO_REQ_SIZE                  10u /* whole message */
#define OFFLOAD_HELLO_REQ_PROTO_VERSION_IDX     0u
#define OFFLOAD_HELLO_REQ_HOST_CAPS_IDX         1u
#define OFFLOAD_HELLO_RSP_PROTO_VERSION_OFF     6u /* u16: Version the device speaks. */
#define OFFLOAD_HELLO_RSP_PROTO_VERSION_SIZE    2u
#define OFFLOAD_HELLO_RSP_CAPS_OFF              8u /* u32: Capabilities the device offers (the host uses only these). */
#define OFFLOAD_HELLO_RSP_CAPS_SIZE             4u
#define OFFLOAD_HELLO_RSP_SLOTS_OFF             12u /* u16: Socket slots available to this channel. */
#define OFFLOAD_HELLO_RSP_SLOTS_SIZE            2u
#define OFFLOAD_HELLO_RSP_MAX_PAYLOAD_OFF       14u /* u16: Largest message the device accepts. */
#define OFFLOAD_HELLO_RSP_MAX_PAYLOAD_SIZE      2u
#define OFFLOAD_HELLO_RSP_EPOCH_OFF             16u /* u32: Boot epoch. */
#define OFFLOAD_HELLO_RSP_EPOCH_SIZE            4u
#define OFFLOAD_HELLO_RSP_EVENT_SEQ_OFF         20u /* u32: Sequence number of the last event sent on this channel (the next is this + 1). */
#define OFFLOAD_HELLO_RSP_EVENT_SEQ_SIZE        4u
#define OFFLOAD_HELLO_RSP_SEND_QUEUE_SIZE_OFF   24u /* u32: Default send queue bytes per socket. */
#define OFFLOAD_HELLO_RSP_SEND_QUEUE_SIZE_SIZE  4u
#define OFFLOAD_HELLO_RSP_RECV_QUEUE_SIZE_OFF   28u /* u32: Default receive queue bytes per socket. */
#define OFFLOAD_HELLO_RSP_RECV_QUEUE_SIZE_SIZE  4u
#define OFFLOAD_HELLO_RSP_FIRMWARE_OFF          32u /* str8: Firmware identification, UTF-8. */
#define OFFLOAD_HELLO_RSP_MIN_SIZE              33u /* fixed part; variable data follows */
#define OFFLOAD_HELLO_RSP_PROTO_VERSION_IDX     0u
#define OFFLOAD_HELLO_RSP_CAPS_IDX              1u
#define OFFLOAD_HELLO_RSP_SLOTS_IDX             2u
#define OFFLOAD_HELLO_RSP_MAX_PAYLOAD_IDX       3u
#define OFFLOAD_HELLO_RSP_EPOCH_IDX             4u
#define OFFLOAD_HELLO_RSP_EVENT_SEQ_IDX         5u
#define OFFLOAD_HELLO_RSP_SEND_QUEUE_SIZE_IDX   6u
#define OFFLOAD_HELLO_RSP_RECV_QUEUE_SIZE_IDX   7u
#define OFFLOAD_HELLO_RSP_FIRMWARE_IDX          8u
#define OFFLOAD_HELLO_ERR_SIZE                  6u /* whole message */

/* PING (0x02u, command): Echo; for round-trip measurement. */
#define OFFLOAD_PING_REQ_PAYLOAD_OFF            4u /* bytes: Echoed back. */
#define OFFLOAD_PING_REQ_MIN_SIZE               4u /* fixed part; variable data follows */
#define OFFLOAD_PING_REQ_PAYLOAD_IDX            0u
#define OFFLOAD_PING_RSP_PAYLOAD_OFF            6u /* bytes: The request payload. */
#define OFFLOAD_PING_RSP_MIN_SIZE               6u /* fixed part; variable data follows */
#define OFFLOAD_PING_RSP_PAYLOAD_IDX            0u
#define OFFLOAD_PING_ERR_SIZE                   6u /* whole message */

/* REG_READ (0x03u, command): Read consecutive 32-bit registers. */
#define OFFLOAD_REG_READ_REQ_OFFSET_OFF         4u /* u32: Byte offset, multiple of 4. */
#define OFFLOAD_REG_READ_REQ_OFFSET_SIZE        4u
#define OFFLOAD_REG_READ_REQ_COUNT_OFF          8u /* u8: Registers to read (1..32; more is E_INVALID, so the response fits the smallest maxPayload). */
#define OFFLOAD_REG_READ_REQ_COUNT_SIZE         1u
#define OFFLOAD_REG_READ_REQ_SIZE               9u /* whole message */
#define OFFLOAD_REG_READ_REQ_OFFSET_IDX         0u
#define OFFLOAD_REG_READ_REQ_COUNT_IDX          1u
#define OFFLOAD_REG_READ_RSP_VALUES_OFF         6u /* u32[]: count values. */
#define OFFLOAD_REG_READ_RSP_MIN_SIZE           6u /* fixed part; variable data follows */
#define OFFLOAD_REG_READ_RSP_VALUES_IDX         0u
#define OFFLOAD_REG_READ_ERR_SIZE               6u /* whole message */

/* REG_WRITE (0x04u, command): Write one 32-bit register. RO registers answer E_NOT_PERMITTED and do not change. */
#define OFFLOAD_REG_WRITE_REQ_OFFSET_OFF        4u /* u32: Byte offset, multiple of 4. */
#define OFFLOAD_REG_WRITE_REQ_OFFSET_SIZE       4u
#define OFFLOAD_REG_WRITE_REQ_VALUE_OFF         8u /* u32: Value. */
#define OFFLOAD_REG_WRITE_REQ_VALUE_SIZE        4u
#define OFFLOAD_REG_WRITE_REQ_SIZE              12u /* whole message */
#define OFFLOAD_REG_WRITE_REQ_OFFSET_IDX        0u
#define OFFLOAD_REG_WRITE_REQ_VALUE_IDX         1u
#define OFFLOAD_REG_WRITE_RSP_SIZE              6u /* whole message */
#define OFFLOAD_REG_WRITE_ERR_SIZE              6u /* whole message */

/* RESET (0x05u, command): Reset the device: the response is sent, then every socket is dropped, the epoch increments and a BOOT event follows. */
#define OFFLOAD_RESET_REQ_MAGIC_OFF             4u /* u32: Must be 0x52535421 ('RST!'), else E_INVALID. */
#define OFFLOAD_RESET_REQ_MAGIC_SIZE            4u
#define OFFLOAD_RESET_REQ_SIZE                  8u /* whole message */
#define OFFLOAD_RESET_REQ_MAGIC_IDX             0u
#define OFFLOAD_RESET_RSP_SIZE                  6u /* whole message */
#define OFFLOAD_RESET_ERR_SIZE                  6u /* whole message */

/* SNAPSHOT (0x06u, command): Read the socket table, a page at a time, in slot order. */
#define OFFLOAD_SNAPSHOT_REQ_START_SLOT_OFF     4u /* u16: First slot index to consider. */
#define OFFLOAD_SNAPSHOT_REQ_START_SLOT_SIZE    2u
#define OFFLOAD_SNAPSHOT_REQ_MAX_ENTRIES_OFF    6u /* u8: Most entries to return (1..255; bounded by maxPayload). */
#define OFFLOAD_SNAPSHOT_REQ_MAX_ENTRIES_SIZE   1u
#define OFFLOAD_SNAPSHOT_REQ_ALL_CHANNELS_OFF   7u /* u8: 1 = every channel's sockets (admin channel only, else E_NOT_PERMITTED). */
#define OFFLOAD_SNAPSHOT_REQ_ALL_CHANNELS_SIZE  1u
#define OFFLOAD_SNAPSHOT_REQ_SIZE               8u /* whole message */
#define OFFLOAD_SNAPSHOT_REQ_START_SLOT_IDX     0u
#define OFFLOAD_SNAPSHOT_REQ_MAX_ENTRIES_IDX    1u
#define OFFLOAD_SNAPSHOT_REQ_ALL_CHANNELS_IDX   2u
#define OFFLOAD_SNAPSHOT_RSP_EPOCH_OFF          6u /* u32: Boot epoch. */
#define OFFLOAD_SNAPSHOT_RSP_EPOCH_SIZE         4u
#define OFFLOAD_SNAPSHOT_RSP_EVENT_SEQ_OFF      10u /* u32: The page reflects every event up to and including this sequence number. */
#define OFFLOAD_SNAPSHOT_RSP_EVENT_SEQ_SIZE     4u
#define OFFLOAD_SNAPSHOT_RSP_NEXT_SLOT_OFF      14u /* u16: Slot to continue from; 0xFFFF = no more. */
#define OFFLOAD_SNAPSHOT_RSP_NEXT_SLOT_SIZE     2u
#define OFFLOAD_SNAPSHOT_RSP_COUNT_OFF          16u /* u8: Entries that follow. */
#define OFFLOAD_SNAPSHOT_RSP_COUNT_SIZE         1u
#define OFFLOAD_SNAPSHOT_RSP_ENTRIES_OFF        17u /* entry[count]: Used slots only. */
#define OFFLOAD_SNAPSHOT_RSP_MIN_SIZE           17u /* fixed part; variable data follows */
#define OFFLOAD_SNAPSHOT_RSP_EPOCH_IDX          0u
#define OFFLOAD_SNAPSHOT_RSP_EVENT_SEQ_IDX      1u
#define OFFLOAD_SNAPSHOT_RSP_NEXT_SLOT_IDX      2u
#define OFFLOAD_SNAPSHOT_RSP_COUNT_IDX          3u
#define OFFLOAD_SNAPSHOT_RSP_ENTRIES_IDX        4u
#define OFFLOAD_SNAPSHOT_ERR_SIZE               6u /* whole message */

/* CHANNEL_OPEN (0x07u, command): Claim the frame's channel with a role. The admin role needs the device's admin credential. */
#define OFFLOAD_CHANNEL_OPEN_REQ_ROLE_OFF       4u /* u8: channelRoles. */
#define OFFLOAD_CHANNEL_OPEN_REQ_ROLE_SIZE      1u
#define OFFLOAD_CHANNEL_OPEN_REQ_CREDENTIAL_OFF 5u /* bytes: Admin credential (empty for NORMAL). */
#define OFFLOAD_CHANNEL_OPEN_REQ_MIN_SIZE       5u /* fixed part; variable data follows */
#define OFFLOAD_CHANNEL_OPEN_REQ_ROLE_IDX       0u
#define OFFLOAD_CHANNEL_OPEN_REQ_CREDENTIAL_IDX 1u
#define OFFLOAD_CHANNEL_OPEN_RSP_SLOT_QUOTA_OFF 6u /* u16: Socket slots this channel may hold. */
#define OFFLOAD_CHANNEL_OPEN_RSP_SLOT_QUOTA_SIZE 2u
#define OFFLOAD_CHANNEL_OPEN_RSP_QUEUE_QUOTA_OFF 8u /* u32: Queue bytes this channel may hold. */
#define OFFLOAD_CHANNEL_OPEN_RSP_QUEUE_QUOTA_SIZE 4u
#define OFFLOAD_CHANNEL_OPEN_RSP_SIZE           12u /* whole message */
#define OFFLOAD_CHANNEL_OPEN_RSP_SLOT_QUOTA_IDX 0u
#define OFFLOAD_CHANNEL_OPEN_RSP_QUEUE_QUOTA_IDX 1u
#define OFFLOAD_CHANNEL_OPEN_ERR_SIZE           6u /* whole message */

/* CHANNEL_RESET (0x08u, command): Admin only: close every socket of one channel. */
#define OFFLOAD_CHANNEL_RESET_REQ_CHANNEL_OFF   4u /* u8: Channel to reset. */
#define OFFLOAD_CHANNEL_RESET_REQ_CHANNEL_SIZE  1u
#define OFFLOAD_CHANNEL_RESET_REQ_SIZE          5u /* whole message */
#define OFFLOAD_CHANNEL_RESET_REQ_CHANNEL_IDX   0u
#define OFFLOAD_CHANNEL_RESET_RSP_CLOSED_OFF    6u /* u16: Sockets closed. */
#define OFFLOAD_CHANNEL_RESET_RSP_CLOSED_SIZE   2u
#define OFFLOAD_CHANNEL_RESET_RSP_SIZE          8u /* whole message */
#define OFFLOAD_CHANNEL_RESET_RSP_CLOSED_IDX    0u
#define OFFLOAD_CHANNEL_RESET_ERR_SIZE          6u /* whole message */

/* SECURE_INIT (0x09u, command): Start the secure handshake (PROTOCOL.md, Secure execution). */
#define OFFLOAD_SECURE_INIT_REQ_KEY_ID_OFF      4u /* u32: Which provisioned key. */
#define OFFLOAD_SECURE_INIT_REQ_KEY_ID_SIZE     4u
#define OFFLOAD_SECURE_INIT_REQ_HOST_NONCE_OFF  8u /* bytes16: Fresh random. */
#define OFFLOAD_SECURE_INIT_REQ_HOST_NONCE_SIZE 16u
#define OFFLOAD_SECURE_INIT_REQ_SIZE            24u /* whole message */
#define OFFLOAD_SECURE_INIT_REQ_KEY_ID_IDX      0u
#define OFFLOAD_SECURE_INIT_REQ_HOST_NONCE_IDX  1u
#define OFFLOAD_SECURE_INIT_RSP_DEVICE_NONCE_OFF 6u /* bytes16: Fresh random. */
#define OFFLOAD_SECURE_INIT_RSP_DEVICE_NONCE_SIZE 16u
#define OFFLOAD_SECURE_INIT_RSP_DEVICE_PROOF_OFF 22u /* bytes16: HMAC-SHA256(K, 'dev' || hostNonce || deviceNonce || channel) truncated. */
#define OFFLOAD_SECURE_INIT_RSP_DEVICE_PROOF_SIZE 16u
#define OFFLOAD_SECURE_INIT_RSP_SIZE            38u /* whole message */
#define OFFLOAD_SECURE_INIT_RSP_DEVICE_NONCE_IDX 0u
#define OFFLOAD_SECURE_INIT_RSP_DEVICE_PROOF_IDX 1u
#define OFFLOAD_SECURE_INIT_ERR_SIZE            6u /* whole message */

/* SECURE_FINISH (0x0Au, command): Finish the secure handshake; from the response on, every frame on the channel is SECURE. */
#define OFFLOAD_SECURE_FINISH_REQ_HOST_PROOF_OFF 4u /* bytes16: HMAC-SHA256(K, 'host' || hostNonce || deviceNonce || channel) truncated. */
#define OFFLOAD_SECURE_FINISH_REQ_HOST_PROOF_SIZE 16u
#define OFFLOAD_SECURE_FINISH_REQ_SIZE          20u /* whole message */
#define OFFLOAD_SECURE_FINISH_REQ_HOST_PROOF_IDX 0u
#define OFFLOAD_SECURE_FINISH_RSP_SIZE          6u /* whole message */
#define OFFLOAD_SECURE_FINISH_ERR_SIZE          6u /* whole message */

/* EGRESS_SET (0x0Bu, command): Admin (secure) only: add an allow rule for a channel. A channel with no rules of a kind may do anything of that kind. */
#define OFFLOAD_EGRESS_SET_REQ_CHANNEL_OFF      4u /* u8: Channel the rule applies to. */
#define OFFLOAD_EGRESS_SET_REQ_CHANNEL_SIZE     1u
#define OFFLOAD_EGRESS_SET_REQ_KIND_OFF         5u /* u8: egressKinds. */
#define OFFLOAD_EGRESS_SET_REQ_KIND_SIZE        1u
#define OFFLOAD_EGRESS_SET_REQ_PREFIX_LEN_OFF   6u /* u8: Address prefix length in bits. */
#define OFFLOAD_EGRESS_SET_REQ_PREFIX_LEN_SIZE  1u
#define OFFLOAD_EGRESS_SET_REQ_RESERVED_OFF     7u /* u8: 0. */
#define OFFLOAD_EGRESS_SET_REQ_RESERVED_SIZE    1u
#define OFFLOAD_EGRESS_SET_REQ_PORT_LOW_OFF     8u /* u16: First allowed port. */
#define OFFLOAD_EGRESS_SET_REQ_PORT_LOW_SIZE    2u
#define OFFLOAD_EGRESS_SET_REQ_PORT_HIGH_OFF    10u /* u16: Last allowed port. */
#define OFFLOAD_EGRESS_SET_REQ_PORT_HIGH_SIZE   2u
#define OFFLOAD_EGRESS_SET_REQ_ADDR_OFF         12u /* addr: Address prefix (port ignored). */
#define OFFLOAD_EGRESS_SET_REQ_ADDR_SIZE        20u
#define OFFLOAD_EGRESS_SET_REQ_SIZE             32u /* whole message */
#define OFFLOAD_EGRESS_SET_REQ_CHANNEL_IDX      0u
#define OFFLOAD_EGRESS_SET_REQ_KIND_IDX         1u
#define OFFLOAD_EGRESS_SET_REQ_PREFIX_LEN_IDX   2u
#define OFFLOAD_EGRESS_SET_REQ_RESERVED_IDX     3u
#define OFFLOAD_EGRESS_SET_REQ_PORT_LOW_IDX     4u
#define OFFLOAD_EGRESS_SET_REQ_PORT_HIGH_IDX    5u
#define OFFLOAD_EGRESS_SET_REQ_ADDR_IDX         6u
#define OFFLOAD_EGRESS_SET_RSP_RULES_OFF        6u /* u16: Rules now held for the channel. */
#define OFFLOAD_EGRESS_SET_RSP_RULES_SIZE       2u
#define OFFLOAD_EGRESS_SET_RSP_SIZE             8u /* whole message */
#define OFFLOAD_EGRESS_SET_RSP_RULES_IDX        0u
#define OFFLOAD_EGRESS_SET_ERR_SIZE             6u /* whole message */

/* EGRESS_CLEAR (0x0Cu, command): Admin (secure) only: remove every rule of a channel. */
#define OFFLOAD_EGRESS_CLEAR_REQ_CHANNEL_OFF    4u /* u8: Channel. */
#define OFFLOAD_EGRESS_CLEAR_REQ_CHANNEL_SIZE   1u
#define OFFLOAD_EGRESS_CLEAR_REQ_SIZE           5u /* whole message */
#define OFFLOAD_EGRESS_CLEAR_REQ_CHANNEL_IDX    0u
#define OFFLOAD_EGRESS_CLEAR_RSP_SIZE           6u /* whole message */
#define OFFLOAD_EGRESS_CLEAR_ERR_SIZE           6u /* whole message */

/* SOCKET_OPEN (0x10u, command): Allocate a slot; the socket starts UNCONNECTED. */
#define OFFLOAD_SOCKET_OPEN_REQ_TYPE_OFF        4u /* u8: socketTypes. */
#define OFFLOAD_SOCKET_OPEN_REQ_TYPE_SIZE       1u
#define OFFLOAD_SOCKET_OPEN_REQ_FAMILY_OFF      5u /* u8: 4 or 6. */
#define OFFLOAD_SOCKET_OPEN_REQ_FAMILY_SIZE     1u
#define OFFLOAD_SOCKET_OPEN_REQ_PROTOCOL_OFF    6u /* u8: 6 TCP, 17 UDP (must match type). */
#define OFFLOAD_SOCKET_OPEN_REQ_PROTOCOL_SIZE   1u
#define OFFLOAD_SOCKET_OPEN_REQ_BLOCKING_OFF    7u /* u8: 0 non-blocking, 1 blocking (recorded; the protocol is asynchronous either way). */
#define OFFLOAD_SOCKET_OPEN_REQ_BLOCKING_SIZE   1u
#define OFFLOAD_SOCKET_OPEN_REQ_RECV_CREDIT_OFF 8u /* u32: Initial receive credit granted to the device. */
#define OFFLOAD_SOCKET_OPEN_REQ_RECV_CREDIT_SIZE 4u
#define OFFLOAD_SOCKET_OPEN_REQ_SIZE            12u /* whole message */
#define OFFLOAD_SOCKET_OPEN_REQ_TYPE_IDX        0u
#define OFFLOAD_SOCKET_OPEN_REQ_FAMILY_IDX      1u
#define OFFLOAD_SOCKET_OPEN_REQ_PROTOCOL_IDX    2u
#define OFFLOAD_SOCKET_OPEN_REQ_BLOCKING_IDX    3u
#define OFFLOAD_SOCKET_OPEN_REQ_RECV_CREDIT_IDX 4u
#define OFFLOAD_SOCKET_OPEN_RSP_ID_OFF          6u /* u16: The new socket id. */
#define OFFLOAD_SOCKET_OPEN_RSP_ID_SIZE         2u
#define OFFLOAD_SOCKET_OPEN_RSP_SEND_CREDIT_OFF 8u /* u32: Initial send credit (send queue size). */
#define OFFLOAD_SOCKET_OPEN_RSP_SEND_CREDIT_SIZE 4u
#define OFFLOAD_SOCKET_OPEN_RSP_SIZE            12u /* whole message */
#define OFFLOAD_SOCKET_OPEN_RSP_ID_IDX          0u
#define OFFLOAD_SOCKET_OPEN_RSP_SEND_CREDIT_IDX 1u
#define OFFLOAD_SOCKET_OPEN_ERR_SIZE            6u /* whole message */

/* BIND (0x11u, command): Bind to a local address (port 0 = ephemeral). */
#define OFFLOAD_BIND_REQ_ID_OFF                 4u /* u16: Socket. */
#define OFFLOAD_BIND_REQ_ID_SIZE                2u
#define OFFLOAD_BIND_REQ_ADDR_OFF               6u /* addr: Local address. */
#define OFFLOAD_BIND_REQ_ADDR_SIZE              20u
#define OFFLOAD_BIND_REQ_SIZE                   26u /* whole message */
#define OFFLOAD_BIND_REQ_ID_IDX                 0u
#define OFFLOAD_BIND_REQ_ADDR_IDX               1u
#define OFFLOAD_BIND_RSP_LOCAL_OFF              6u /* addr: The address actually bound. */
#define OFFLOAD_BIND_RSP_LOCAL_SIZE             20u
#define OFFLOAD_BIND_RSP_SIZE                   26u /* whole message */
#define OFFLOAD_BIND_RSP_LOCAL_IDX              0u
#define OFFLOAD_BIND_ERR_SIZE                   6u /* whole message */

/* LISTEN (0x12u, command): Start accepting connections (binds to an ephemeral port on all addresses if UNCONNECTED). */
#define OFFLOAD_LISTEN_REQ_ID_OFF               4u /* u16: Socket. */
#define OFFLOAD_LISTEN_REQ_ID_SIZE              2u
#define OFFLOAD_LISTEN_REQ_BACKLOG_OFF          6u /* u16: Connection queue length (1..device limit). */
#define OFFLOAD_LISTEN_REQ_BACKLOG_SIZE         2u
#define OFFLOAD_LISTEN_REQ_SIZE                 8u /* whole message */
#define OFFLOAD_LISTEN_REQ_ID_IDX               0u
#define OFFLOAD_LISTEN_REQ_BACKLOG_IDX          1u
#define OFFLOAD_LISTEN_RSP_LOCAL_OFF            6u /* addr: The listening address. */
#define OFFLOAD_LISTEN_RSP_LOCAL_SIZE           20u
#define OFFLOAD_LISTEN_RSP_SIZE                 26u /* whole message */
#define OFFLOAD_LISTEN_RSP_LOCAL_IDX            0u
#define OFFLOAD_LISTEN_ERR_SIZE                 6u /* whole message */

/* CONNECT (0x13u, command): Start a connection. The response only says it started (status CONNECTING); a STATUS event reports CONNECTED or DISCONNECTED with lastError. For UDP it sets the default peer at once. */
#define OFFLOAD_CONNECT_REQ_ID_OFF              4u /* u16: Socket. */
#define OFFLOAD_CONNECT_REQ_ID_SIZE             2u
#define OFFLOAD_CONNECT_REQ_TIMEOUT_MS_OFF      6u /* u32: Give up after this many ms with ETIMEDOUT; 0 = device default (30000). */
#define OFFLOAD_CONNECT_REQ_TIMEOUT_MS_SIZE     4u
#define OFFLOAD_CONNECT_REQ_ADDR_OFF            10u /* addr: Remote address. */
#define OFFLOAD_CONNECT_REQ_ADDR_SIZE           20u
#define OFFLOAD_CONNECT_REQ_SIZE                30u /* whole message */
#define OFFLOAD_CONNECT_REQ_ID_IDX              0u
#define OFFLOAD_CONNECT_REQ_TIMEOUT_MS_IDX      1u
#define OFFLOAD_CONNECT_REQ_ADDR_IDX            2u
#define OFFLOAD_CONNECT_RSP_SIZE                6u /* whole message */
#define OFFLOAD_CONNECT_ERR_SIZE                6u /* whole message */

/* ACCEPT (0x14u, command): Take the oldest connection from a listener's connection queue into a new slot. */
#define OFFLOAD_ACCEPT_REQ_ID_OFF               4u /* u16: Listening socket. */
#define OFFLOAD_ACCEPT_REQ_ID_SIZE              2u
#define OFFLOAD_ACCEPT_REQ_RECV_CREDIT_OFF      6u /* u32: Initial receive credit for the new socket. */
#define OFFLOAD_ACCEPT_REQ_RECV_CREDIT_SIZE     4u
#define OFFLOAD_ACCEPT_REQ_SIZE                 10u /* whole message */
#define OFFLOAD_ACCEPT_REQ_ID_IDX               0u
#define OFFLOAD_ACCEPT_REQ_RECV_CREDIT_IDX      1u
#define OFFLOAD_ACCEPT_RSP_NEW_ID_OFF           6u /* u16: The new connected socket. */
#define OFFLOAD_ACCEPT_RSP_NEW_ID_SIZE          2u
#define OFFLOAD_ACCEPT_RSP_SEND_CREDIT_OFF      8u /* u32: Its initial send credit. */
#define OFFLOAD_ACCEPT_RSP_SEND_CREDIT_SIZE     4u
#define OFFLOAD_ACCEPT_RSP_LOCAL_OFF            12u /* addr: Local endpoint. */
#define OFFLOAD_ACCEPT_RSP_LOCAL_SIZE           20u
#define OFFLOAD_ACCEPT_RSP_REMOTE_OFF           32u /* addr: Remote endpoint. */
#define OFFLOAD_ACCEPT_RSP_REMOTE_SIZE          20u
#define OFFLOAD_ACCEPT_RSP_SIZE                 52u /* whole message */
#define OFFLOAD_ACCEPT_RSP_NEW_ID_IDX           0u
#define OFFLOAD_ACCEPT_RSP_SEND_CREDIT_IDX      1u
#define OFFLOAD_ACCEPT_RSP_LOCAL_IDX            2u
#define OFFLOAD_ACCEPT_RSP_REMOTE_IDX           3u
#define OFFLOAD_ACCEPT_ERR_SIZE                 6u /* whole message */

/* SEND (0x15u, command): Queue stream data (TCP) or one datagram to the connected peer (UDP). The device accepts what fits in the send queue; a host that respects its send credit always gets everything accepted. */
#define OFFLOAD_SEND_REQ_ID_OFF                 4u /* u16: Socket. */
#define OFFLOAD_SEND_REQ_ID_SIZE                2u
#define OFFLOAD_SEND_REQ_DATA_OFF               6u /* bytes: Data. */
#define OFFLOAD_SEND_REQ_MIN_SIZE               6u /* fixed part; variable data follows */
#define OFFLOAD_SEND_REQ_ID_IDX                 0u
#define OFFLOAD_SEND_REQ_DATA_IDX               1u
#define OFFLOAD_SEND_RSP_ACCEPTED_OFF           6u /* u32: Bytes accepted (all of them). */
#define OFFLOAD_SEND_RSP_ACCEPTED_SIZE          4u
#define OFFLOAD_SEND_RSP_SIZE                   10u /* whole message */
#define OFFLOAD_SEND_RSP_ACCEPTED_IDX           0u
#define OFFLOAD_SEND_ERR_ACCEPTED_OFF           6u /* u32: Bytes accepted before the error (0 for UDP, where a datagram is all or nothing). */
#define OFFLOAD_SEND_ERR_ACCEPTED_SIZE          4u
#define OFFLOAD_SEND_ERR_SIZE                   10u /* whole message */
#define OFFLOAD_SEND_ERR_ACCEPTED_IDX           0u

/* SENDTO (0x16u, command): Queue one UDP datagram to an address (binds to an ephemeral port first if UNCONNECTED). */
#define OFFLOAD_SENDTO_REQ_ID_OFF               4u /* u16: Socket. */
#define OFFLOAD_SENDTO_REQ_ID_SIZE              2u
#define OFFLOAD_SENDTO_REQ_ADDR_OFF             6u /* addr: Destination. */
#define OFFLOAD_SENDTO_REQ_ADDR_SIZE            20u
#define OFFLOAD_SENDTO_REQ_DATA_OFF             26u /* bytes: Datagram. */
#define OFFLOAD_SENDTO_REQ_MIN_SIZE             26u /* fixed part; variable data follows */
#define OFFLOAD_SENDTO_REQ_ID_IDX               0u
#define OFFLOAD_SENDTO_REQ_ADDR_IDX             1u
#define OFFLOAD_SENDTO_REQ_DATA_IDX             2u
#define OFFLOAD_SENDTO_RSP_ACCEPTED_OFF         6u /* u32: Bytes accepted. */
#define OFFLOAD_SENDTO_RSP_ACCEPTED_SIZE        4u
#define OFFLOAD_SENDTO_RSP_SIZE                 10u /* whole message */
#define OFFLOAD_SENDTO_RSP_ACCEPTED_IDX         0u
#define OFFLOAD_SENDTO_ERR_ACCEPTED_OFF         6u /* u32: 0. */
#define OFFLOAD_SENDTO_ERR_ACCEPTED_SIZE        4u
#define OFFLOAD_SENDTO_ERR_SIZE                 10u /* whole message */
#define OFFLOAD_SENDTO_ERR_ACCEPTED_IDX         0u

/* RECV_CREDIT (0x17u, command): Grant the device more receive credit (bytes the host can take) for a socket. */
#define OFFLOAD_RECV_CREDIT_REQ_ID_OFF          4u /* u16: Socket. */
#define OFFLOAD_RECV_CREDIT_REQ_ID_SIZE         2u
#define OFFLOAD_RECV_CREDIT_REQ_BYTES_OFF       6u /* u32: Additional credit. */
#define OFFLOAD_RECV_CREDIT_REQ_BYTES_SIZE      4u
#define OFFLOAD_RECV_CREDIT_REQ_SIZE            10u /* whole message */
#define OFFLOAD_RECV_CREDIT_REQ_ID_IDX          0u
#define OFFLOAD_RECV_CREDIT_REQ_BYTES_IDX       1u
#define OFFLOAD_RECV_CREDIT_RSP_SIZE            6u /* whole message */
#define OFFLOAD_RECV_CREDIT_ERR_SIZE            6u /* whole message */

/* SHUTDOWN (0x18u, command): Shut down the read side, the write side (FIN after the send queue drains) or both. */
#define OFFLOAD_SHUTDOWN_REQ_ID_OFF             4u /* u16: Socket. */
#define OFFLOAD_SHUTDOWN_REQ_ID_SIZE            2u
#define OFFLOAD_SHUTDOWN_REQ_HOW_OFF            6u /* u8: shutdownHow. */
#define OFFLOAD_SHUTDOWN_REQ_HOW_SIZE           1u
#define OFFLOAD_SHUTDOWN_REQ_SIZE               7u /* whole message */
#define OFFLOAD_SHUTDOWN_REQ_ID_IDX             0u
#define OFFLOAD_SHUTDOWN_REQ_HOW_IDX            1u
#define OFFLOAD_SHUTDOWN_RSP_SIZE               6u /* whole message */
#define OFFLOAD_SHUTDOWN_ERR_SIZE               6u /* whole message */

/* CLOSE (0x19u, command): Close the socket. Graceful: the send queue drains, then FIN; abort: RST at once. The id stays until the final STATUS TERMINATED event, after which it no longer exists. */
#define OFFLOAD_CLOSE_REQ_ID_OFF                4u /* u16: Socket. */
#define OFFLOAD_CLOSE_REQ_ID_SIZE               2u
#define OFFLOAD_CLOSE_REQ_ABORT_OFF             6u /* u8: 1 = reset the connection and drop queued data. */
#define OFFLOAD_CLOSE_REQ_ABORT_SIZE            1u
#define OFFLOAD_CLOSE_REQ_SIZE                  7u /* whole message */
#define OFFLOAD_CLOSE_REQ_ID_IDX                0u
#define OFFLOAD_CLOSE_REQ_ABORT_IDX             1u
#define OFFLOAD_CLOSE_RSP_SIZE                  6u /* whole message */
#define OFFLOAD_CLOSE_ERR_SIZE                  6u /* whole message */

/* SETOPT (0x1Au, command): Set an option. */
#define OFFLOAD_SETOPT_REQ_ID_OFF               4u /* u16: Socket. */
#define OFFLOAD_SETOPT_REQ_ID_SIZE              2u
#define OFFLOAD_SETOPT_REQ_OPTION_OFF           6u /* u16: options. */
#define OFFLOAD_SETOPT_REQ_OPTION_SIZE          2u
#define OFFLOAD_SETOPT_REQ_VALUE_OFF            8u /* u32: Value (booleans: 0/1; KEEPALIVE: idle ms). */
#define OFFLOAD_SETOPT_REQ_VALUE_SIZE           4u
#define OFFLOAD_SETOPT_REQ_SIZE                 12u /* whole message */
#define OFFLOAD_SETOPT_REQ_ID_IDX               0u
#define OFFLOAD_SETOPT_REQ_OPTION_IDX           1u
#define OFFLOAD_SETOPT_REQ_VALUE_IDX            2u
#define OFFLOAD_SETOPT_RSP_SIZE                 6u /* whole message */
#define OFFLOAD_SETOPT_ERR_SIZE                 6u /* whole message */

/* GETOPT (0x1Bu, command): Read an option. */
#define OFFLOAD_GETOPT_REQ_ID_OFF               4u /* u16: Socket. */
#define OFFLOAD_GETOPT_REQ_ID_SIZE              2u
#define OFFLOAD_GETOPT_REQ_OPTION_OFF           6u /* u16: options. */
#define OFFLOAD_GETOPT_REQ_OPTION_SIZE          2u
#define OFFLOAD_GETOPT_REQ_SIZE                 8u /* whole message */
#define OFFLOAD_GETOPT_REQ_ID_IDX               0u
#define OFFLOAD_GETOPT_REQ_OPTION_IDX           1u
#define OFFLOAD_GETOPT_RSP_VALUE_OFF            6u /* u32: Value. */
#define OFFLOAD_GETOPT_RSP_VALUE_SIZE           4u
#define OFFLOAD_GETOPT_RSP_SIZE                 10u /* whole message */
#define OFFLOAD_GETOPT_RSP_VALUE_IDX            0u
#define OFFLOAD_GETOPT_ERR_SIZE                 6u /* whole message */

/* UPDATE (0x1Cu, command): FIG 32: update a socket's status and condition flags. Unknown id: E_UNKNOWN_SOCKET and nothing changes. status must be 0xFF (keep) or the current status; only host-writable flags may be set or cleared. */
#define OFFLOAD_UPDATE_REQ_ID_OFF               4u /* u16: Socket. */
#define OFFLOAD_UPDATE_REQ_ID_SIZE              2u
#define OFFLOAD_UPDATE_REQ_STATUS_OFF           6u /* u8: 0xFF = keep. */
#define OFFLOAD_UPDATE_REQ_STATUS_SIZE          1u
#define OFFLOAD_UPDATE_REQ_SET_FLAGS_OFF        7u /* u16: Flags to set. */
#define OFFLOAD_UPDATE_REQ_SET_FLAGS_SIZE       2u
#define OFFLOAD_UPDATE_REQ_CLEAR_FLAGS_OFF      9u /* u16: Flags to clear. */
#define OFFLOAD_UPDATE_REQ_CLEAR_FLAGS_SIZE     2u
#define OFFLOAD_UPDATE_REQ_SIZE                 11u /* whole message */
#define OFFLOAD_UPDATE_REQ_ID_IDX               0u
#define OFFLOAD_UPDATE_REQ_STATUS_IDX           1u
#define OFFLOAD_UPDATE_REQ_SET_FLAGS_IDX        2u
#define OFFLOAD_UPDATE_REQ_CLEAR_FLAGS_IDX      3u
#define OFFLOAD_UPDATE_RSP_STATUS_OFF           6u /* u8: Status after the update. */
#define OFFLOAD_UPDATE_RSP_STATUS_SIZE          1u
#define OFFLOAD_UPDATE_RSP_FLAGS_OFF            7u /* u16: Flags after the update. */
#define OFFLOAD_UPDATE_RSP_FLAGS_SIZE           2u
#define OFFLOAD_UPDATE_RSP_SIZE                 9u /* whole message */
#define OFFLOAD_UPDATE_RSP_STATUS_IDX           0u
#define OFFLOAD_UPDATE_RSP_FLAGS_IDX            1u
#define OFFLOAD_UPDATE_ERR_SIZE                 6u /* whole message */

/* QUERY (0x1Du, command): Read one socket's entry. */
#define OFFLOAD_QUERY_REQ_ID_OFF                4u /* u16: Socket. */
#define OFFLOAD_QUERY_REQ_ID_SIZE               2u
#define OFFLOAD_QUERY_REQ_SIZE                  6u /* whole message */
#define OFFLOAD_QUERY_REQ_ID_IDX                0u
#define OFFLOAD_QUERY_RSP_ENTRY_OFF             6u /* entry: The entry. */
#define OFFLOAD_QUERY_RSP_ENTRY_SIZE            80u
#define OFFLOAD_QUERY_RSP_SIZE                  86u /* whole message */
#define OFFLOAD_QUERY_RSP_ENTRY_IDX             0u
#define OFFLOAD_QUERY_ERR_SIZE                  6u /* whole message */

/* BOOT (0x40u, event): The device booted or reset; first event of an epoch (seq 1). The table is empty. */
#define OFFLOAD_BOOT_EVT_REASON_OFF             12u /* u8: bootReasons. */
#define OFFLOAD_BOOT_EVT_REASON_SIZE            1u
#define OFFLOAD_BOOT_EVT_SLOTS_OFF              13u /* u16: Socket slots. */
#define OFFLOAD_BOOT_EVT_SLOTS_SIZE             2u
#define OFFLOAD_BOOT_EVT_SIZE                   15u /* whole message */
#define OFFLOAD_BOOT_EVT_REASON_IDX             0u
#define OFFLOAD_BOOT_EVT_SLOTS_IDX              1u

/* STATUS (0x41u, event): A socket's status, flags or lastError changed. */
#define OFFLOAD_STATUS_EVT_ID_OFF               12u /* u16: Socket. */
#define OFFLOAD_STATUS_EVT_ID_SIZE              2u
#define OFFLOAD_STATUS_EVT_STATUS_OFF           14u /* u8: New status. */
#define OFFLOAD_STATUS_EVT_STATUS_SIZE          1u
#define OFFLOAD_STATUS_EVT_FLAGS_OFF            15u /* u16: New flags. */
#define OFFLOAD_STATUS_EVT_FLAGS_SIZE           2u
#define OFFLOAD_STATUS_EVT_ERROR_OFF            17u /* u16: lastError (0 none). */
#define OFFLOAD_STATUS_EVT_ERROR_SIZE           2u
#define OFFLOAD_STATUS_EVT_LOCAL_OFF            19u /* addr: Local endpoint (known after connect). */
#define OFFLOAD_STATUS_EVT_LOCAL_SIZE           20u
#define OFFLOAD_STATUS_EVT_REMOTE_OFF           39u /* addr: Remote endpoint. */
#define OFFLOAD_STATUS_EVT_REMOTE_SIZE          20u
#define OFFLOAD_STATUS_EVT_SIZE                 59u /* whole message */
#define OFFLOAD_STATUS_EVT_ID_IDX               0u
#define OFFLOAD_STATUS_EVT_STATUS_IDX           1u
#define OFFLOAD_STATUS_EVT_FLAGS_IDX            2u
#define OFFLOAD_STATUS_EVT_ERROR_IDX            3u
#define OFFLOAD_STATUS_EVT_LOCAL_IDX            4u
#define OFFLOAD_STATUS_EVT_REMOTE_IDX           5u

/* DATA (0x42u, event): Stream data from the network, within the host's receive credit. */
#define OFFLOAD_DATA_EVT_ID_OFF                 12u /* u16: Socket. */
#define OFFLOAD_DATA_EVT_ID_SIZE                2u
#define OFFLOAD_DATA_EVT_DATA_OFF               14u /* bytes: Data. */
#define OFFLOAD_DATA_EVT_MIN_SIZE               14u /* fixed part; variable data follows */
#define OFFLOAD_DATA_EVT_ID_IDX                 0u
#define OFFLOAD_DATA_EVT_DATA_IDX               1u

/* DATAGRAM (0x43u, event): One UDP datagram, within the host's receive credit. */
#define OFFLOAD_DATAGRAM_EVT_ID_OFF             12u /* u16: Socket. */
#define OFFLOAD_DATAGRAM_EVT_ID_SIZE            2u
#define OFFLOAD_DATAGRAM_EVT_FROM_OFF           14u /* addr: Source. */
#define OFFLOAD_DATAGRAM_EVT_FROM_SIZE          20u
#define OFFLOAD_DATAGRAM_EVT_DATA_OFF           34u /* bytes: Datagram. */
#define OFFLOAD_DATAGRAM_EVT_MIN_SIZE           34u /* fixed part; variable data follows */
#define OFFLOAD_DATAGRAM_EVT_ID_IDX             0u
#define OFFLOAD_DATAGRAM_EVT_FROM_IDX           1u
#define OFFLOAD_DATAGRAM_EVT_DATA_IDX           2u

/* SEND_CREDIT (0x44u, event): The send queue drained by `bytes`: the host may send that much more. */
#define OFFLOAD_SEND_CREDIT_EVT_ID_OFF          12u /* u16: Socket. */
#define OFFLOAD_SEND_CREDIT_EVT_ID_SIZE         2u
#define OFFLOAD_SEND_CREDIT_EVT_BYTES_OFF       14u /* u32: Additional credit. */
#define OFFLOAD_SEND_CREDIT_EVT_BYTES_SIZE      4u
#define OFFLOAD_SEND_CREDIT_EVT_SIZE            18u /* whole message */
#define OFFLOAD_SEND_CREDIT_EVT_ID_IDX          0u
#define OFFLOAD_SEND_CREDIT_EVT_BYTES_IDX       1u

/* ERROR (0x45u, event): An asynchronous error not tied to a status change (id 0xFFFF: device level). */
#define OFFLOAD_ERROR_EVT_ID_OFF                12u /* u16: Socket or 0xFFFF. */
#define OFFLOAD_ERROR_EVT_ID_SIZE               2u
#define OFFLOAD_ERROR_EVT_CODE_OFF              14u /* u16: statusCodes. */
#define OFFLOAD_ERROR_EVT_CODE_SIZE             2u
#define OFFLOAD_ERROR_EVT_SIZE                  16u /* whole message */
#define OFFLOAD_ERROR_EVT_ID_IDX                0u
#define OFFLOAD_ERROR_EVT_CODE_IDX              1u


/* ---- Tables for a table-driven codec (X-macros; expand them where you need them) ------------------------- */

/* Field types. */
#define OFFLOAD_FT_U8                           1u /* u8 */
#define OFFLOAD_FT_U16                          2u /* u16 little-endian */
#define OFFLOAD_FT_U32                          3u /* u32 little-endian */
#define OFFLOAD_FT_BYTES16                      4u /* 16 raw bytes */
#define OFFLOAD_FT_ADDR                         5u /* addr struct (OFFLOAD_ADDR_*) */
#define OFFLOAD_FT_ENTRY                        6u /* entry struct (OFFLOAD_ENTRY_*) */
#define OFFLOAD_FT_STR8                         7u /* u8 length + that many UTF-8 bytes */
#define OFFLOAD_FT_BYTES                        8u /* the rest of the message (last field only) */
#define OFFLOAD_FT_U32_ARRAY                    9u /* the rest of the message as u32 LE values */
#define OFFLOAD_FT_ENTRY_ARRAY                  10u /* entries; the count is the field named by count */
#define OFFLOAD_OFF_VARIABLE                    0xFFFFu /* field offset not fixed (after a variable-size field) */
#define OFFLOAD_NO_COUNT                        0xFFu /* field has no count field */
#define OFFLOAD_MAX_FIELDS                      9u /* most fields in one request/response/event */

/* addr struct: X(name, TYPE, offset, size) */
#define OFFLOAD_ADDR_FIELDS(X) \
  X(family, U8, 0, 1) \
  X(reserved, U8, 1, 1) \
  X(port, U16, 2, 2) \
  X(address, BYTES16, 4, 16)

/* entry struct: X(name, TYPE, offset, size) */
#define OFFLOAD_ENTRY_FIELDS(X) \
  X(id, U16, 0, 2) \
  X(type, U8, 2, 1) \
  X(family, U8, 3, 1) \
  X(protocol, U8, 4, 1) \
  X(status, U8, 5, 1) \
  X(flags, U16, 6, 2) \
  X(lastError, U16, 8, 2) \
  X(options, U16, 10, 2) \
  X(blocking, U8, 12, 1) \
  X(channel, U8, 13, 1) \
  X(backlog, U16, 14, 2) \
  X(connQueued, U16, 16, 2) \
  X(reserved, U16, 18, 2) \
  X(sendQueued, U32, 20, 4) \
  X(recvQueued, U32, 24, 4) \
  X(sendSpace, U32, 28, 4) \
  X(recvCredit, U32, 32, 4) \
  X(local, ADDR, 36, 20) \
  X(remote, ADDR, 56, 20) \
  X(pendingEvents, U32, 76, 4)

/* Every message field in order. X(MESSAGE, PART, name, TYPE, offset, size, countIndex); PART is REQ, RSP, ERR or EVT;
   size 0 = variable; countIndex = index (within the same part) of the field holding an entry[] count */
#define OFFLOAD_FIELD_TABLE(X) \
  X(ERROR_RESPONSE, RSP, offendingOpcode, U8, 6, 1, OFFLOAD_NO_COUNT) \
  X(HELLO, REQ, protoVersion, U16, 4, 2, OFFLOAD_NO_COUNT) \
  X(HELLO, REQ, hostCaps, U32, 6, 4, OFFLOAD_NO_COUNT) \
  X(HELLO, RSP, protoVersion, U16, 6, 2, OFFLOAD_NO_COUNT) \
  X(HELLO, RSP, caps, U32, 8, 4, OFFLOAD_NO_COUNT) \
  X(HELLO, RSP, slots, U16, 12, 2, OFFLOAD_NO_COUNT) \
  X(HELLO, RSP, maxPayload, U16, 14, 2, OFFLOAD_NO_COUNT) \
  X(HELLO, RSP, epoch, U32, 16, 4, OFFLOAD_NO_COUNT) \
  X(HELLO, RSP, eventSeq, U32, 20, 4, OFFLOAD_NO_COUNT) \
  X(HELLO, RSP, sendQueueSize, U32, 24, 4, OFFLOAD_NO_COUNT) \
  X(HELLO, RSP, recvQueueSize, U32, 28, 4, OFFLOAD_NO_COUNT) \
  X(HELLO, RSP, firmware, STR8, 32, 0, OFFLOAD_NO_COUNT) \
  X(PING, REQ, payload, BYTES, 4, 0, OFFLOAD_NO_COUNT) \
  X(PING, RSP, payload, BYTES, 6, 0, OFFLOAD_NO_COUNT) \
  X(REG_READ, REQ, offset, U32, 4, 4, OFFLOAD_NO_COUNT) \
  X(REG_READ, REQ, count, U8, 8, 1, OFFLOAD_NO_COUNT) \
  X(REG_READ, RSP, values, U32_ARRAY, 6, 0, OFFLOAD_NO_COUNT) \
  X(REG_WRITE, REQ, offset, U32, 4, 4, OFFLOAD_NO_COUNT) \
  X(REG_WRITE, REQ, value, U32, 8, 4, OFFLOAD_NO_COUNT) \
  X(RESET, REQ, magic, U32, 4, 4, OFFLOAD_NO_COUNT) \
  X(SNAPSHOT, REQ, startSlot, U16, 4, 2, OFFLOAD_NO_COUNT) \
  X(SNAPSHOT, REQ, maxEntries, U8, 6, 1, OFFLOAD_NO_COUNT) \
  X(SNAPSHOT, REQ, allChannels, U8, 7, 1, OFFLOAD_NO_COUNT) \
  X(SNAPSHOT, RSP, epoch, U32, 6, 4, OFFLOAD_NO_COUNT) \
  X(SNAPSHOT, RSP, eventSeq, U32, 10, 4, OFFLOAD_NO_COUNT) \
  X(SNAPSHOT, RSP, nextSlot, U16, 14, 2, OFFLOAD_NO_COUNT) \
  X(SNAPSHOT, RSP, count, U8, 16, 1, OFFLOAD_NO_COUNT) \
  X(SNAPSHOT, RSP, entries, ENTRY_ARRAY, 17, 0, 3) \
  X(CHANNEL_OPEN, REQ, role, U8, 4, 1, OFFLOAD_NO_COUNT) \
  X(CHANNEL_OPEN, REQ, credential, BYTES, 5, 0, OFFLOAD_NO_COUNT) \
  X(CHANNEL_OPEN, RSP, slotQuota, U16, 6, 2, OFFLOAD_NO_COUNT) \
  X(CHANNEL_OPEN, RSP, queueQuota, U32, 8, 4, OFFLOAD_NO_COUNT) \
  X(CHANNEL_RESET, REQ, channel, U8, 4, 1, OFFLOAD_NO_COUNT) \
  X(CHANNEL_RESET, RSP, closed, U16, 6, 2, OFFLOAD_NO_COUNT) \
  X(SECURE_INIT, REQ, keyId, U32, 4, 4, OFFLOAD_NO_COUNT) \
  X(SECURE_INIT, REQ, hostNonce, BYTES16, 8, 16, OFFLOAD_NO_COUNT) \
  X(SECURE_INIT, RSP, deviceNonce, BYTES16, 6, 16, OFFLOAD_NO_COUNT) \
  X(SECURE_INIT, RSP, deviceProof, BYTES16, 22, 16, OFFLOAD_NO_COUNT) \
  X(SECURE_FINISH, REQ, hostProof, BYTES16, 4, 16, OFFLOAD_NO_COUNT) \
  X(EGRESS_SET, REQ, channel, U8, 4, 1, OFFLOAD_NO_COUNT) \
  X(EGRESS_SET, REQ, kind, U8, 5, 1, OFFLOAD_NO_COUNT) \
  X(EGRESS_SET, REQ, prefixLen, U8, 6, 1, OFFLOAD_NO_COUNT) \
  X(EGRESS_SET, REQ, reserved, U8, 7, 1, OFFLOAD_NO_COUNT) \
  X(EGRESS_SET, REQ, portLow, U16, 8, 2, OFFLOAD_NO_COUNT) \
  X(EGRESS_SET, REQ, portHigh, U16, 10, 2, OFFLOAD_NO_COUNT) \
  X(EGRESS_SET, REQ, addr, ADDR, 12, 20, OFFLOAD_NO_COUNT) \
  X(EGRESS_SET, RSP, rules, U16, 6, 2, OFFLOAD_NO_COUNT) \
  X(EGRESS_CLEAR, REQ, channel, U8, 4, 1, OFFLOAD_NO_COUNT) \
  X(SOCKET_OPEN, REQ, type, U8, 4, 1, OFFLOAD_NO_COUNT) \
  X(SOCKET_OPEN, REQ, family, U8, 5, 1, OFFLOAD_NO_COUNT) \
  X(SOCKET_OPEN, REQ, protocol, U8, 6, 1, OFFLOAD_NO_COUNT) \
  X(SOCKET_OPEN, REQ, blocking, U8, 7, 1, OFFLOAD_NO_COUNT) \
  X(SOCKET_OPEN, REQ, recvCredit, U32, 8, 4, OFFLOAD_NO_COUNT) \
  X(SOCKET_OPEN, RSP, id, U16, 6, 2, OFFLOAD_NO_COUNT) \
  X(SOCKET_OPEN, RSP, sendCredit, U32, 8, 4, OFFLOAD_NO_COUNT) \
  X(BIND, REQ, id, U16, 4, 2, OFFLOAD_NO_COUNT) \
  X(BIND, REQ, addr, ADDR, 6, 20, OFFLOAD_NO_COUNT) \
  X(BIND, RSP, local, ADDR, 6, 20, OFFLOAD_NO_COUNT) \
  X(LISTEN, REQ, id, U16, 4, 2, OFFLOAD_NO_COUNT) \
  X(LISTEN, REQ, backlog, U16, 6, 2, OFFLOAD_NO_COUNT) \
  X(LISTEN, RSP, local, ADDR, 6, 20, OFFLOAD_NO_COUNT) \
  X(CONNECT, REQ, id, U16, 4, 2, OFFLOAD_NO_COUNT) \
  X(CONNECT, REQ, timeoutMs, U32, 6, 4, OFFLOAD_NO_COUNT) \
  X(CONNECT, REQ, addr, ADDR, 10, 20, OFFLOAD_NO_COUNT) \
  X(ACCEPT, REQ, id, U16, 4, 2, OFFLOAD_NO_COUNT) \
  X(ACCEPT, REQ, recvCredit, U32, 6, 4, OFFLOAD_NO_COUNT) \
  X(ACCEPT, RSP, newId, U16, 6, 2, OFFLOAD_NO_COUNT) \
  X(ACCEPT, RSP, sendCredit, U32, 8, 4, OFFLOAD_NO_COUNT) \
  X(ACCEPT, RSP, local, ADDR, 12, 20, OFFLOAD_NO_COUNT) \
  X(ACCEPT, RSP, remote, ADDR, 32, 20, OFFLOAD_NO_COUNT) \
  X(SEND, REQ, id, U16, 4, 2, OFFLOAD_NO_COUNT) \
  X(SEND, REQ, data, BYTES, 6, 0, OFFLOAD_NO_COUNT) \
  X(SEND, RSP, accepted, U32, 6, 4, OFFLOAD_NO_COUNT) \
  X(SEND, ERR, accepted, U32, 6, 4, OFFLOAD_NO_COUNT) \
  X(SENDTO, REQ, id, U16, 4, 2, OFFLOAD_NO_COUNT) \
  X(SENDTO, REQ, addr, ADDR, 6, 20, OFFLOAD_NO_COUNT) \
  X(SENDTO, REQ, data, BYTES, 26, 0, OFFLOAD_NO_COUNT) \
  X(SENDTO, RSP, accepted, U32, 6, 4, OFFLOAD_NO_COUNT) \
  X(SENDTO, ERR, accepted, U32, 6, 4, OFFLOAD_NO_COUNT) \
  X(RECV_CREDIT, REQ, id, U16, 4, 2, OFFLOAD_NO_COUNT) \
  X(RECV_CREDIT, REQ, bytes, U32, 6, 4, OFFLOAD_NO_COUNT) \
  X(SHUTDOWN, REQ, id, U16, 4, 2, OFFLOAD_NO_COUNT) \
  X(SHUTDOWN, REQ, how, U8, 6, 1, OFFLOAD_NO_COUNT) \
  X(CLOSE, REQ, id, U16, 4, 2, OFFLOAD_NO_COUNT) \
  X(CLOSE, REQ, abort, U8, 6, 1, OFFLOAD_NO_COUNT) \
  X(SETOPT, REQ, id, U16, 4, 2, OFFLOAD_NO_COUNT) \
  X(SETOPT, REQ, option, U16, 6, 2, OFFLOAD_NO_COUNT) \
  X(SETOPT, REQ, value, U32, 8, 4, OFFLOAD_NO_COUNT) \
  X(GETOPT, REQ, id, U16, 4, 2, OFFLOAD_NO_COUNT) \
  X(GETOPT, REQ, option, U16, 6, 2, OFFLOAD_NO_COUNT) \
  X(GETOPT, RSP, value, U32, 6, 4, OFFLOAD_NO_COUNT) \
  X(UPDATE, REQ, id, U16, 4, 2, OFFLOAD_NO_COUNT) \
  X(UPDATE, REQ, status, U8, 6, 1, OFFLOAD_NO_COUNT) \
  X(UPDATE, REQ, setFlags, U16, 7, 2, OFFLOAD_NO_COUNT) \
  X(UPDATE, REQ, clearFlags, U16, 9, 2, OFFLOAD_NO_COUNT) \
  X(UPDATE, RSP, status, U8, 6, 1, OFFLOAD_NO_COUNT) \
  X(UPDATE, RSP, flags, U16, 7, 2, OFFLOAD_NO_COUNT) \
  X(QUERY, REQ, id, U16, 4, 2, OFFLOAD_NO_COUNT) \
  X(QUERY, RSP, entry, ENTRY, 6, 80, OFFLOAD_NO_COUNT) \
  X(BOOT, EVT, reason, U8, 12, 1, OFFLOAD_NO_COUNT) \
  X(BOOT, EVT, slots, U16, 13, 2, OFFLOAD_NO_COUNT) \
  X(STATUS, EVT, id, U16, 12, 2, OFFLOAD_NO_COUNT) \
  X(STATUS, EVT, status, U8, 14, 1, OFFLOAD_NO_COUNT) \
  X(STATUS, EVT, flags, U16, 15, 2, OFFLOAD_NO_COUNT) \
  X(STATUS, EVT, error, U16, 17, 2, OFFLOAD_NO_COUNT) \
  X(STATUS, EVT, local, ADDR, 19, 20, OFFLOAD_NO_COUNT) \
  X(STATUS, EVT, remote, ADDR, 39, 20, OFFLOAD_NO_COUNT) \
  X(DATA, EVT, id, U16, 12, 2, OFFLOAD_NO_COUNT) \
  X(DATA, EVT, data, BYTES, 14, 0, OFFLOAD_NO_COUNT) \
  X(DATAGRAM, EVT, id, U16, 12, 2, OFFLOAD_NO_COUNT) \
  X(DATAGRAM, EVT, from, ADDR, 14, 20, OFFLOAD_NO_COUNT) \
  X(DATAGRAM, EVT, data, BYTES, 34, 0, OFFLOAD_NO_COUNT) \
  X(SEND_CREDIT, EVT, id, U16, 12, 2, OFFLOAD_NO_COUNT) \
  X(SEND_CREDIT, EVT, bytes, U32, 14, 4, OFFLOAD_NO_COUNT) \
  X(ERROR, EVT, id, U16, 12, 2, OFFLOAD_NO_COUNT) \
  X(ERROR, EVT, code, U16, 14, 2, OFFLOAD_NO_COUNT)

/* Every message. X(NAME, opcode, KIND, capabilityMask, reqFirst, reqCount, rspFirst, rspCount, errFirst, errCount, evtFirst,
   evtCount): the field ranges index OFFLOAD_FIELD_TABLE. ERROR_RESPONSE fields are its RSP part. */
#define OFFLOAD_MESSAGE_TABLE(X) \
  X(ERROR_RESPONSE, 0x80u, ERROR, 0, 0, 0, 0, 1, 0, 0, 0, 0) \
  X(HELLO, 0x01u, COMMAND, 0, 1, 2, 3, 9, 12, 0, 0, 0) \
  X(PING, 0x02u, COMMAND, 0, 12, 1, 13, 1, 14, 0, 0, 0) \
  X(REG_READ, 0x03u, COMMAND, 0, 14, 2, 16, 1, 17, 0, 0, 0) \
  X(REG_WRITE, 0x04u, COMMAND, 0, 17, 2, 19, 0, 19, 0, 0, 0) \
  X(RESET, 0x05u, COMMAND, 0, 19, 1, 20, 0, 20, 0, 0, 0) \
  X(SNAPSHOT, 0x06u, COMMAND, OFFLOAD_CAP_SNAPSHOT, 20, 3, 23, 5, 28, 0, 0, 0) \
  X(CHANNEL_OPEN, 0x07u, COMMAND, OFFLOAD_CAP_CHANNELS, 28, 2, 30, 2, 32, 0, 0, 0) \
  X(CHANNEL_RESET, 0x08u, COMMAND, OFFLOAD_CAP_CHANNELS, 32, 1, 33, 1, 34, 0, 0, 0) \
  X(SECURE_INIT, 0x09u, COMMAND, OFFLOAD_CAP_SECURE, 34, 2, 36, 2, 38, 0, 0, 0) \
  X(SECURE_FINISH, 0x0Au, COMMAND, OFFLOAD_CAP_SECURE, 38, 1, 39, 0, 39, 0, 0, 0) \
  X(EGRESS_SET, 0x0Bu, COMMAND, OFFLOAD_CAP_EGRESS_POLICY, 39, 7, 46, 1, 47, 0, 0, 0) \
  X(EGRESS_CLEAR, 0x0Cu, COMMAND, OFFLOAD_CAP_EGRESS_POLICY, 47, 1, 48, 0, 48, 0, 0, 0) \
  X(SOCKET_OPEN, 0x10u, COMMAND, 0, 48, 5, 53, 2, 55, 0, 0, 0) \
  X(BIND, 0x11u, COMMAND, 0, 55, 2, 57, 1, 58, 0, 0, 0) \
  X(LISTEN, 0x12u, COMMAND, 0, 58, 2, 60, 1, 61, 0, 0, 0) \
  X(CONNECT, 0x13u, COMMAND, 0, 61, 3, 64, 0, 64, 0, 0, 0) \
  X(ACCEPT, 0x14u, COMMAND, 0, 64, 2, 66, 4, 70, 0, 0, 0) \
  X(SEND, 0x15u, COMMAND, 0, 70, 2, 72, 1, 73, 1, 0, 0) \
  X(SENDTO, 0x16u, COMMAND, 0, 74, 3, 77, 1, 78, 1, 0, 0) \
  X(RECV_CREDIT, 0x17u, COMMAND, 0, 79, 2, 81, 0, 81, 0, 0, 0) \
  X(SHUTDOWN, 0x18u, COMMAND, 0, 81, 2, 83, 0, 83, 0, 0, 0) \
  X(CLOSE, 0x19u, COMMAND, 0, 83, 2, 85, 0, 85, 0, 0, 0) \
  X(SETOPT, 0x1Au, COMMAND, 0, 85, 3, 88, 0, 88, 0, 0, 0) \
  X(GETOPT, 0x1Bu, COMMAND, 0, 88, 2, 90, 1, 91, 0, 0, 0) \
  X(UPDATE, 0x1Cu, COMMAND, 0, 91, 4, 95, 2, 97, 0, 0, 0) \
  X(QUERY, 0x1Du, COMMAND, OFFLOAD_CAP_SNAPSHOT, 97, 1, 98, 1, 99, 0, 0, 0) \
  X(BOOT, 0x40u, EVENT, 0, 0, 0, 0, 0, 0, 0, 99, 2) \
  X(STATUS, 0x41u, EVENT, 0, 0, 0, 0, 0, 0, 0, 101, 6) \
  X(DATA, 0x42u, EVENT, 0, 0, 0, 0, 0, 0, 0, 107, 2) \
  X(DATAGRAM, 0x43u, EVENT, 0, 0, 0, 0, 0, 0, 0, 109, 3) \
  X(SEND_CREDIT, 0x44u, EVENT, 0, 0, 0, 0, 0, 0, 0, 112, 2) \
  X(ERROR, 0x45u, EVENT, 0, 0, 0, 0, 0, 0, 0, 114, 2)
#define OFFLOAD_MESSAGE_COUNT                   33u
#define OFFLOAD_FIELD_COUNT                     116u

/* ---- Decode errors --------------------------------------------------------------------------------------- */

/* Plain int: the C codec returns them as its int result (0 = OK). */
#define OFFLOAD_ERR_COBS_INVALID                1 /* A COBS block code points past the end of the frame, or a zero byte appears inside it. */
#define OFFLOAD_ERR_FRAME_TOO_SHORT             2 /* Fewer bytes than header + CRC (+ secure extension). */
#define OFFLOAD_ERR_FRAME_BAD_CRC               3 /* CRC-32 trailer does not match. */
#define OFFLOAD_ERR_FRAME_BAD_VERSION           4 /* Header version is not 1. */
#define OFFLOAD_ERR_FRAME_BAD_TYPE              5 /* Unknown frame type. */
#define OFFLOAD_ERR_FRAME_LENGTH_MISMATCH       6 /* Header length disagrees with the bytes present. */
#define OFFLOAD_ERR_FRAME_OVERSIZE              7 /* Payload (or the undecoded frame) longer than the negotiated maximum; the receiver discards up to the next delimiter without buffering it. */
#define OFFLOAD_ERR_MSG_TOO_SHORT               8 /* The message ends before its fields do. */
#define OFFLOAD_ERR_MSG_BAD_LENGTH              9 /* Bytes left over after the last field of a fixed-size message. */
#define OFFLOAD_ERR_MSG_UNKNOWN_OPCODE          10 /* Opcode not defined. */
#define OFFLOAD_ERR_MSG_BAD_FIELD               11 /* A field holds an impossible value (address family other than 0/4/6, invalid UTF-8, entry count beyond the payload). */
#define OFFLOAD_ERR_MSG_EMPTY                   12 /* A MSG frame with an empty payload. */
/* X(NAME, value) */
#define OFFLOAD_DECODE_ERROR_TABLE(X) \
  X(COBS_INVALID, 1) \
  X(FRAME_TOO_SHORT, 2) \
  X(FRAME_BAD_CRC, 3) \
  X(FRAME_BAD_VERSION, 4) \
  X(FRAME_BAD_TYPE, 5) \
  X(FRAME_LENGTH_MISMATCH, 6) \
  X(FRAME_OVERSIZE, 7) \
  X(MSG_TOO_SHORT, 8) \
  X(MSG_BAD_LENGTH, 9) \
  X(MSG_UNKNOWN_OPCODE, 10) \
  X(MSG_BAD_FIELD, 11) \
  X(MSG_EMPTY, 12)

#endif /* OFFLOAD_PROTOCOL_H */
