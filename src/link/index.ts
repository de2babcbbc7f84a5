/**
 * # src/link — the reliable framed link (host driver and device simulator alike)
 *
 * ```ts
 * const link = new Link(transport, { role: 'host', framing: 'serial' }); // transport already open
 * link.on('message', (buf) => ...);          // exactly once, in order (ARQ on)
 * link.on('reset', (params) => ...);         // the peer restarted: in-flight messages lost, resynchronise
 * link.on('down', (err) => ...);             // terminal: err.code E_OFFLOAD_LINK_DOWN / the transport's code
 * const params = await link.start();         // { window, maxPayload, arq, peerNonce }
 * if (!link.send(bytes)) await once(link, 'drain');
 * await link.close();                        // idempotent; closes the transport (unless closeTransport: false)
 * ```
 *
 * **Start / restart** (PROTOCOL.md §4.2). start() sends SYNC {nonce, window, arq, maxPayload} (random nonce
 * per Link) at once and every 250 ms until a SYNC_ACK echoing its nonce arrives (also after the link is up).
 * A side that receives a SYNC answers SYNC_ACK {nonce = own, peerNonce = echo, window = min, arq = either,
 * maxPayload = min} (out-of-range offers clamped) and is up, sequence numbers 0 both ways; a side that
 * receives a SYNC_ACK echoing its nonce is up with the values in it. Both sides may SYNC at once: each answers
 * the other, the values are symmetric, the crossing SYNC_ACKs change nothing. While up, a SYNC with the same
 * peer nonce is only answered (a repeat: the peer has exchanged nothing yet); a SYNC, or a SYNC_ACK to our
 * SYNC, with a new nonce means the peer restarted: the link drops what is in flight and queued
 * (counters.messagesDropped), restarts the sequence numbers and emits 'reset'. Until up, frames other than
 * SYNC / SYNC_ACK are ignored. Our own SYNC coming back (same nonce) is an echo.
 * start() rejects E_OFFLOAD_NO_ANSWER after syncTimeoutMs (host default 3000; device default 0 = wait for
 * a host forever), E_OFFLOAD_NOT_A_DEVICE when bytes came back but no frame of a device (garbage, or our
 * own SYNCs echoed three times: a looped-back line).
 *
 * **ARQ on** (serial default; forced on over TCP with `arq: true`). MSG seq 0,1,2… mod 65536; every frame's
 * ack is the next seq expected. At most `window` MSG frames unacknowledged. The receiver takes only the
 * next expected seq (go-back-N): beyond a gap → NAK(ack = expected) once per gap and retransmission round
 * (again only when a frame at or below the highest seen since the NAK shows the sender went back and the
 * expected frame was lost again: without this a lost retransmission costs a whole RTO); duplicates →
 * discarded and ACKed. The sender retransmits everything unacknowledged from the oldest when
 * the RTO expires (initial max(rtoMinMs 200, (2 × window + 2) frame times at bitRate); then measured from the
 * round trips of frames sent once, RFC 6298; doubling to rtoMaxMs 2000 on expiry, back to its base on progress;
 * measured afresh when the transport drains; `rtoState` shows it) and at once from `ack` on a NAK.
 * A bare ACK goes out when no MSG carried the ack within ackDelayMs (10) or after window/2 receptions.
 * **ARQ off** (TCP default): seq / ack 0, no ACK / NAK, no retransmission; MSGs delivered as they come.
 *
 * **Liveness.** A HEARTBEAT after heartbeatMs (1000) without sending anything; the receiver answers ACK.
 * No valid frame for deadTimeoutMs (3000) → 'down' E_OFFLOAD_LINK_DOWN. Transport 'close' → 'down' with the
 * transport's code (E_OFFLOAD_PORT_VANISHED …), the TransportError as cause. 'down' is emitted only after
 * the link was up (a failed start rejects start() instead); after it the Link is dead: the layer above makes
 * a new Link (a new incarnation with a new nonce, PROTOCOL.md §4.5).
 *
 * **Backpressure.** send() always takes the message (copied) into the send queue and returns false once
 * queued-but-unsent bytes reach highWaterMark (256 KiB); 'drain' when they fall to half of it. Frames go
 * to the transport only while the window has room and the transport did not ask to wait for its 'drain'.
 * A message longer than the negotiated maxPayload throws E_OFFLOAD_MESSAGE_TOO_LARGE; send() before up
 * throws E_OFFLOAD_LINK_NOT_UP. close() drops what is still queued.
 *
 * **Channels.** Frames carry `channel` (default 0); valid frames of other channels go to
 * `onForeignChannel` and counters.foreignFrames (multiplexing several channels over one transport is for later).
 *
 * **Secure execution** (PROTOCOL.md §12.3, secure-session.ts). With a SecureSession in force every frame but
 * SYNC / SYNC_ACK is sealed (flags.SECURE, counter, 16-byte HMAC-SHA256 MAC; a retransmission gets a new counter)
 * and every received one is verified — MAC in constant time, then the 64-frame replay window (0 wide with ARQ off) —
 * before any field of it is used; refusals are dropped, logged and counted (secureBadMac, secureReplays,
 * secureTooOld, securePlainDropped). Switch-over: the device calls secureAfterQueued() right after queueing the
 * SECURE_FINISH response, the host expectSecure() as it sends SECURE_FINISH. A link reset ends the session. Without
 * a session the only cost is a test for `undefined` per frame.
 *
 * Logs: a pino child { link, channel } of `logger` (silent by default). counters: see LinkCounters.
 */
export {
  agreeParams,
  Link,
  type LinkCounters,
  type LinkEvents,
  type LinkFraming,
  type LinkOptions,
  type LinkParams,
  type LinkRole,
  type RtoState,
} from './link.js';
export { isLinkError, LinkError, LinkErrorCode } from './errors.js';
export type { MessageChannel, MessageChannelEvents, RegisterPort } from './channel.js';
export {
  channelPairs,
  openPcieChannel,
  type OpenPcieOptions,
  PcieRingChannel,
  type PcieRingCounters,
  type PcieRingOptions,
} from './pcie-rings.js';
export {
  MAX_COUNTER,
  REPLAY_WINDOW,
  type SecureRejection,
  SecureSession,
  type SecureSessionOptions,
} from './secure-session.js';
