/**
 * The register plane: identity and control registers per protocol.json, and the read-only socket-table
 * window (socketWindowOffset + slot * stride: the encoded entry, then zeros). Reads of anything not
 * defined return 0. Over a stream transport these are reached with REG_READ / REG_WRITE; readWindow()
 * gives the same bytes for a PCIe window or `offload regs --raw`.
 */
import {
  Capability,
  DeviceStatusBit,
  FieldWriter,
  IrqBit,
  Limits,
  PROTOCOL_VERSION_WORD,
  REGISTERS,
  Register,
  type RegisterAccess,
  RegisterWindow,
  type SocketEntry,
  type StatusCodeName,
  writeEntry,
} from '../../src/protocol/index.js';

/** What the registers reflect; implemented by DeviceCore. */
export interface RegisterSource {
  capabilities(): number;
  epoch(): number;
  slotsTotal(): number;
  slotsUsed(): number;
  maxPayload(channel: number | undefined): number;
  firmwareBuild(): number;
  eventSeq(channel: number | undefined): number;
  uptimeMs(): number;
  linkUp(): boolean;
  /** The entry in a slot, if the slot is used (and visible to `channel` when given). */
  entryAt(slot: number, channel: number | undefined): SocketEntry | undefined;
}

/** Meaningful only with PCIE_RINGS: on a stream transport they read 0 and refuse writes. */
const RING_REGISTERS: ReadonlySet<number> = new Set([
  Register.CMD_RING_OFFSET,
  Register.CMD_RING_ENTRIES,
  Register.CMD_HEAD,
  Register.CMD_TAIL,
  Register.CPL_RING_OFFSET,
  Register.CPL_RING_ENTRIES,
  Register.CPL_HEAD,
  Register.CPL_TAIL,
  Register.RING_DESC_SIZE,
]);
const ACCESS = new Map<number, RegisterAccess>(REGISTERS.map((r) => [r.offset, r.access]));
const WINDOW_OFFSET = RegisterWindow.socketWindowOffset;
const STRIDE = RegisterWindow.socketWindowStride;

/**
 * Registers that live elsewhere (the PCIe window: IRQ_STATUS, IRQ_MASK, DOORBELL, SCRATCH and the ring registers
 * are written by the host directly, sim/pcie-server.ts). `read` returns undefined for a register it does not own;
 * `write` the REG_WRITE status, or undefined.
 */
export interface RegisterOverlay {
  read(offset: number): number | undefined;
  write(offset: number, value: number): StatusCodeName | undefined;
}

export class RegisterFile {
  scratch = 0;
  irqStatus = 0;
  irqMask = 0;
  overlay: RegisterOverlay | undefined;

  constructor(private readonly src: RegisterSource) {}

  /** Values after a boot or reset. */
  boot(): void {
    this.scratch = 0;
    this.irqStatus = IrqBit.RESET;
    this.irqMask = 0;
  }

  private windowEnabled(): boolean {
    return (this.src.capabilities() & Capability.REG_WINDOW) !== 0;
  }

  /** One 32-bit word at a 4-aligned byte offset, as seen from `channel` (undefined = raw/PCIe view). */
  readWord(offset: number, channel?: number, encoded?: Map<number, Buffer | null>): number {
    if (offset < WINDOW_OFFSET) return this.readRegister(offset, channel);
    if (!this.windowEnabled()) return 0;
    const rel = offset - WINDOW_OFFSET;
    const slot = Math.floor(rel / STRIDE);
    const within = rel % STRIDE;
    if (slot >= this.src.slotsTotal() || within >= Limits.entrySize) return 0;
    // One encoding per slot and call (readWindow passes a cache): a window read is not one encode per word.
    let bytes = encoded?.get(slot);
    if (bytes === undefined) {
      const entry = this.src.entryAt(slot, channel);
      bytes = entry ? encodeEntry(entry) : null;
      encoded?.set(slot, bytes);
    }
    return bytes ? bytes.readUInt32LE(within) : 0;
  }

  private readRegister(offset: number, channel: number | undefined): number {
    const over = this.overlay?.read(offset);
    if (over !== undefined) return over >>> 0;
    const s = this.src;
    switch (offset) {
      case Register.MAGIC:
        return Limits.registerMagic;
      case Register.VERSION:
        return PROTOCOL_VERSION_WORD;
      case Register.CAPS:
        return s.capabilities();
      case Register.STATUS:
        return DeviceStatusBit.READY | (s.linkUp() ? DeviceStatusBit.LINK_UP : 0);
      case Register.BOOT_EPOCH:
        return s.epoch();
      case Register.SLOTS:
        return ((s.slotsUsed() & 0xffff) << 16) | (s.slotsTotal() & 0xffff);
      case Register.MAX_PAYLOAD:
        return s.maxPayload(channel);
      case Register.FIRMWARE_BUILD:
        return s.firmwareBuild();
      case Register.IRQ_STATUS:
        return this.irqStatus;
      case Register.IRQ_MASK:
        return this.irqMask;
      case Register.DOORBELL:
        return 0;
      case Register.EVENT_SEQ:
        return s.eventSeq(channel);
      case Register.SCRATCH:
        return this.scratch;
      case Register.UPTIME_MS:
        return s.uptimeMs();
      case Register.SOCKET_WINDOW_OFFSET:
        return this.windowEnabled() ? WINDOW_OFFSET : 0;
      case Register.SOCKET_WINDOW_STRIDE:
        return this.windowEnabled() ? STRIDE : 0;
      default:
        // The ring registers read 0 on a stream transport (PCIE_RINGS is not implemented); reserved offsets 0.
        return 0;
    }
  }

  /**
   * REG_WRITE semantics (PROTOCOL.md §9.2). Returns the status code to answer; on refusal nothing changes.
   * Reserved offsets and the socket window are read-only; so are the ring registers without PCIe rings.
   */
  write(offset: number, value: number): StatusCodeName {
    if (offset % 4 !== 0) return 'E_INVALID';
    const over = this.overlay?.write(offset, value);
    if (over !== undefined) return over;
    const access = ACCESS.get(offset);
    if (access === undefined || access === 'RO' || RING_REGISTERS.has(offset)) return 'E_NOT_PERMITTED';
    const v = value >>> 0;
    switch (offset) {
      case Register.IRQ_STATUS:
        this.irqStatus = (this.irqStatus & ~v) >>> 0; // RW1C
        break;
      case Register.IRQ_MASK:
        this.irqMask = v & (IrqBit.CPL | IrqBit.CMD_SPACE | IrqBit.RESET);
        break;
      case Register.DOORBELL:
        break; // WO: accepted, nothing to ring without PCIe rings
      case Register.SCRATCH:
        this.scratch = v;
        break;
    }
    return 'OK';
  }

  /** `length` bytes from byte `offset` of the register space (any alignment), raw view (every channel). */
  readWindow(offset: number, length: number, channel?: number): Buffer {
    const out = Buffer.alloc(Math.max(0, length));
    if (length <= 0) return out;
    const first = Math.floor(offset / 4) * 4;
    const word = Buffer.alloc(4);
    const encoded = new Map<number, Buffer | null>();
    for (let w = first; w < offset + length; w += 4) {
      if (w > 0xfffffffc) break;
      word.writeUInt32LE(this.readWord(w, channel, encoded) >>> 0, 0);
      for (let i = 0; i < 4; i++) {
        const pos = w + i - offset;
        if (pos >= 0 && pos < length) out[pos] = word[i]!;
      }
    }
    return out;
  }
}

export function encodeEntry(e: SocketEntry): Buffer {
  const w = new FieldWriter(Limits.entrySize);
  writeEntry(w, e);
  return w.finish();
}
