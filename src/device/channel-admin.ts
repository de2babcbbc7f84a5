/**
 * What an ADMIN channel may do beyond its own sockets (PROTOCOL.md §11, §12.5): close any channel's socket,
 * reset a channel, and (with a secure session) change the egress policy. The device decides who may; the
 * driver only refuses what the device does not advertise.
 */
import type { CapabilityName } from '../protocol/index.js';
import { type EgressRuleInit, egressBody } from './channel.js';
import type { Device } from './device.js';
import { DeviceError, DeviceErrorCode } from './errors.js';

function need(device: Device, cap: CapabilityName, what: string): void {
  if (!device.hasCapability(cap)) {
    throw new DeviceError(DeviceErrorCode.NOT_SUPPORTED, `the device does not offer ${cap} (${what})`);
  }
}

/**
 * CLOSE of a socket of any channel (ADMIN): the socket is aborted; its owner gets STATUS TERMINATED with
 * ECONNABORTED. Not for this channel's own mirrored sockets (close those through their socket objects).
 */
export async function adminClose(device: Device, id: number): Promise<void> {
  need(device, 'CHANNELS', 'closing another channel’s socket');
  await device.request('CLOSE', { id, abort: 1 }, { socketId: id });
}

/** CHANNEL_RESET (ADMIN): aborts every socket of `channel`; resolves with how many were closed. */
export async function resetChannel(device: Device, channel: number): Promise<number> {
  need(device, 'CHANNELS', 'CHANNEL_RESET');
  const r = await device.request('CHANNEL_RESET', { channel });
  return r.closed;
}

/** EGRESS_SET (ADMIN with a secure session): adds an allow rule; resolves with the channel's rule count. */
export async function setEgressRule(device: Device, rule: EgressRuleInit): Promise<number> {
  need(device, 'EGRESS_POLICY', 'EGRESS_SET');
  const r = await device.request('EGRESS_SET', egressBody(rule));
  return r.rules;
}

/** EGRESS_CLEAR (ADMIN with a secure session): removes every rule of `channel`. */
export async function clearEgress(device: Device, channel: number): Promise<void> {
  need(device, 'EGRESS_POLICY', 'EGRESS_CLEAR');
  await device.request('EGRESS_CLEAR', { channel });
}
