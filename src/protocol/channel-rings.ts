/**
 * The channel ring table of a PCIe window (PROTOCOL.md §10.5): CHANNEL_RINGS_COUNT blocks of CHANNEL_RING_STRIDE
 * bytes from CHANNEL_RINGS_OFFSET, one per extra channel, each holding that channel's ring registers. Channel 0's
 * ring registers are the ones of §9.1; `ringRegistersOf` gives either as one shape, so the ring code on both
 * sides addresses a pair the same way.
 */
import { Register } from './generated.js';

/** Bytes per block of the channel ring table. */
export const CHANNEL_RING_STRIDE = 0x40;

/** Field offsets within a block (§10.5). */
export const ChannelRingField = {
  CHANNEL: 0x00,
  CMD_RING_OFFSET: 0x04,
  CMD_RING_ENTRIES: 0x08,
  CMD_HEAD: 0x0c,
  CMD_TAIL: 0x10,
  CPL_RING_OFFSET: 0x14,
  CPL_RING_ENTRIES: 0x18,
  CPL_HEAD: 0x1c,
  CPL_TAIL: 0x20,
  RING_DESC_SIZE: 0x24,
  DOORBELL: 0x28,
  IRQ_STATUS: 0x2c,
  IRQ_MASK: 0x30,
  IRQ_VECTOR: 0x34,
  HOST_SESSION: 0x38,
  HOST_HEARTBEAT: 0x3c,
} as const;

/** Window offsets of one ring pair's registers. */
export interface RingRegisters {
  cmdRingOffset: number;
  cmdRingEntries: number;
  cmdHead: number;
  cmdTail: number;
  cplRingOffset: number;
  cplRingEntries: number;
  cplHead: number;
  cplTail: number;
  descSize: number;
  doorbell: number;
  irqStatus: number;
  irqMask: number;
  /** Extra pairs only: the host's session and heartbeat words (channel 0 has none). */
  hostSession?: number;
  hostHeartbeat?: number;
}

/** Channel 0's pair: the registers of §9.1. */
export const CHANNEL0_RING_REGISTERS: Readonly<RingRegisters> = Object.freeze({
  cmdRingOffset: Register.CMD_RING_OFFSET,
  cmdRingEntries: Register.CMD_RING_ENTRIES,
  cmdHead: Register.CMD_HEAD,
  cmdTail: Register.CMD_TAIL,
  cplRingOffset: Register.CPL_RING_OFFSET,
  cplRingEntries: Register.CPL_RING_ENTRIES,
  cplHead: Register.CPL_HEAD,
  cplTail: Register.CPL_TAIL,
  descSize: Register.RING_DESC_SIZE,
  doorbell: Register.DOORBELL,
  irqStatus: Register.IRQ_STATUS,
  irqMask: Register.IRQ_MASK,
});

/** The registers of the block at `blockOffset` (CHANNEL_RINGS_OFFSET + k × CHANNEL_RING_STRIDE). */
export function channelBlockRegisters(blockOffset: number): RingRegisters {
  const f = ChannelRingField;
  return {
    cmdRingOffset: blockOffset + f.CMD_RING_OFFSET,
    cmdRingEntries: blockOffset + f.CMD_RING_ENTRIES,
    cmdHead: blockOffset + f.CMD_HEAD,
    cmdTail: blockOffset + f.CMD_TAIL,
    cplRingOffset: blockOffset + f.CPL_RING_OFFSET,
    cplRingEntries: blockOffset + f.CPL_RING_ENTRIES,
    cplHead: blockOffset + f.CPL_HEAD,
    cplTail: blockOffset + f.CPL_TAIL,
    descSize: blockOffset + f.RING_DESC_SIZE,
    doorbell: blockOffset + f.DOORBELL,
    irqStatus: blockOffset + f.IRQ_STATUS,
    irqMask: blockOffset + f.IRQ_MASK,
    hostSession: blockOffset + f.HOST_SESSION,
    hostHeartbeat: blockOffset + f.HOST_HEARTBEAT,
  };
}
