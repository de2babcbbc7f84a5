/**
 * The capability handshake: start the link (frame parameters), then HELLO (protocol version, capabilities,
 * slots, epoch, event sequence). Failures become typed errors:
 *   E_OFFLOAD_NO_ANSWER     nothing came back within the timeout;
 *   E_OFFLOAD_NOT_A_DEVICE  bytes came back, but not this protocol (no link sync, undecodable or wrong answers);
 *   E_OFFLOAD_BAD_VERSION   a device of another major version.
 */
import type { Logger } from 'pino';
import type { MessageChannel } from '../link/channel.js';
import type { LinkParams } from '../link/link.js';
import {
  Capability,
  type CapabilityName,
  PROTOCOL_VERSION,
  PROTOCOL_VERSION_WORD,
  StatusCode,
  STATUS_NAME,
  type OkResponseMessage,
} from '../protocol/index.js';
import { type ChannelInfo, type ChannelOptions, openChannel } from './channel.js';
import { DeviceError, DeviceErrorCode } from './errors.js';
import type { RequestTracker } from './requests.js';

export interface HandshakeOptions extends ChannelOptions {
  /** How long link start and HELLO may take together (ms). Default 5000. */
  handshakeTimeoutMs?: number;
  /** Capabilities the host asks for (default HOST_CAPS). */
  hostCaps?: number;
  /** @internal the link is already up (re-handshake after a reset). */
  linkAlreadyUp?: boolean;
}

/** What this driver can use. */
export const HOST_CAPS =
  Capability.TCP |
  Capability.UDP |
  Capability.IPV6 |
  Capability.ARQ |
  Capability.SNAPSHOT |
  Capability.REG_WINDOW |
  Capability.KEEPALIVE |
  Capability.CHANNELS |
  Capability.EGRESS_POLICY;

export interface DeviceInfo {
  protocolVersion: { major: number; minor: number; word: number };
  /** Capability bits the device offers (the driver uses only these). */
  capabilities: number;
  capabilityNames: CapabilityName[];
  /** Socket slots available to this channel. */
  slots: number;
  /** Boot epoch. */
  epoch: number;
  /** Largest message either side accepts: min(HELLO maxPayload, link maxPayload). */
  maxPayload: number;
  /** Event sequence number at the handshake. */
  eventSeq: number;
  sendQueueSize: number;
  recvQueueSize: number;
  firmware: string;
  /** Negotiated link parameters. */
  link: LinkParams;
  /** Secure execution: every frame on this channel is authenticated (PROTOCOL.md §12). */
  secure: boolean;
  /** The channel this device object speaks on: number, role and quotas (CHANNEL_OPEN after HELLO). */
  channel: ChannelInfo;
}

function capabilityNames(bits: number): CapabilityName[] {
  return (Object.keys(Capability) as CapabilityName[]).filter((n) => (bits & Capability[n]) !== 0);
}

function withTimeout<T>(p: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(onTimeout()), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

/** Anything received at all from the peer, to tell silence from a foreign protocol. */
function heardAnything(link: MessageChannel): boolean {
  return link.counters.bytesReceived > 0;
}

/**
 * `authenticate` (the secure handshake, when asked for) runs between HELLO and CHANNEL_OPEN: a locked channel
 * accepts nothing else (§12.3), and the admin credential then travels in authenticated frames. It resolves true
 * when the channel is now secure.
 */
export async function handshake(
  link: MessageChannel,
  tracker: RequestTracker,
  options: HandshakeOptions,
  log: Logger,
  authenticate?: (capabilities: number) => Promise<boolean>,
): Promise<DeviceInfo> {
  const timeoutMs = options.handshakeTimeoutMs ?? 5000;
  const deadline = Date.now() + timeoutMs;
  let params: LinkParams;
  if (options.linkAlreadyUp) {
    params = link.params!;
  } else {
    try {
      params = await withTimeout(link.start(), timeoutMs + 1000, () =>
        heardAnything(link)
          ? new DeviceError(
              DeviceErrorCode.NOT_A_DEVICE,
              `the peer does not speak the offload link protocol (no link sync within ${timeoutMs} ms)`,
            )
          : new DeviceError(DeviceErrorCode.NO_ANSWER, `no answer from the device within ${timeoutMs} ms`),
      );
    } catch (err) {
      if (err instanceof DeviceError) throw err;
      throw classifyLinkStartError(err as Error, link, timeoutMs);
    }
  }
  const left = Math.max(100, deadline - Date.now());
  let r: Awaited<ReturnType<RequestTracker['submit']>>;
  try {
    r = await tracker.submit(
      'HELLO',
      { protoVersion: PROTOCOL_VERSION_WORD, hostCaps: options.hostCaps ?? HOST_CAPS },
      {
        timeoutMs: left,
        priority: true,
      },
    );
  } catch (err) {
    const e = err as Error & { code?: string };
    if (e.code === DeviceErrorCode.REQUEST_TIMEOUT) {
      throw new DeviceError(
        heardAnything(link) ? DeviceErrorCode.NOT_A_DEVICE : DeviceErrorCode.NO_ANSWER,
        `no answer to HELLO within ${timeoutMs} ms`,
        {},
        { cause: err },
      );
    }
    throw err;
  }
  if (r.status === StatusCode.E_BAD_VERSION) {
    throw new DeviceError(
      DeviceErrorCode.BAD_VERSION,
      `the device does not speak protocol ${PROTOCOL_VERSION.major}.${PROTOCOL_VERSION.minor}`,
      {
        hostVersion: PROTOCOL_VERSION_WORD,
      },
    );
  }
  if (r.status !== StatusCode.OK || r.name !== 'HELLO') {
    throw new DeviceError(
      DeviceErrorCode.NOT_A_DEVICE,
      `HELLO answered with ${STATUS_NAME[r.status] ?? r.status}`,
      { status: r.status },
    );
  }
  const b = (r as OkResponseMessage<'HELLO'>).body;
  const major = b.protoVersion >> 8;
  const minor = b.protoVersion & 0xff;
  if (major !== PROTOCOL_VERSION.major) {
    throw new DeviceError(
      DeviceErrorCode.BAD_VERSION,
      `the device speaks protocol ${major}.${minor}, this driver ${PROTOCOL_VERSION.major}.${PROTOCOL_VERSION.minor}`,
      { deviceVersion: b.protoVersion, hostVersion: PROTOCOL_VERSION_WORD },
    );
  }
  const caps = b.caps >>> 0;
  const secure = authenticate ? await authenticate(caps) : false;
  const channel = await openChannel(
    tracker,
    options,
    { capabilities: caps, slots: b.slots },
    Math.max(100, deadline - Date.now()),
  );
  const info: DeviceInfo = {
    protocolVersion: { major, minor, word: b.protoVersion },
    capabilities: b.caps >>> 0,
    capabilityNames: capabilityNames(b.caps),
    slots: b.slots,
    epoch: b.epoch >>> 0,
    maxPayload: Math.min(b.maxPayload, params.maxPayload),
    eventSeq: b.eventSeq >>> 0,
    sendQueueSize: b.sendQueueSize,
    recvQueueSize: b.recvQueueSize,
    firmware: b.firmware,
    link: params,
    secure,
    channel,
  };
  log.debug({ info }, 'handshake done');
  return info;
}

function classifyLinkStartError(
  err: Error & { code?: string },
  link: MessageChannel,
  timeoutMs: number,
): DeviceError {
  const code = err.code ?? '';
  if (
    code === DeviceErrorCode.NO_ANSWER ||
    code === DeviceErrorCode.NOT_A_DEVICE ||
    code === DeviceErrorCode.NO_CHANNEL
  ) {
    return new DeviceError(code, err.message, { linkCode: code }, { cause: err });
  }
  if (code === 'E_OFFLOAD_LINK_PROTOCOL') {
    return new DeviceError(
      DeviceErrorCode.NOT_A_DEVICE,
      `the peer does not speak the offload link protocol: ${err.message}`,
      { linkCode: code },
      { cause: err },
    );
  }
  return new DeviceError(
    heardAnything(link) ? DeviceErrorCode.LINK_DOWN : DeviceErrorCode.NO_ANSWER,
    `link start failed within ${timeoutMs} ms: ${err.message}`,
    { linkCode: code },
    { cause: err },
  );
}
