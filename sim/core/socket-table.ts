/**
 * The fixed array of socket slots. A socket id is (generation << 8) | slot: the generation (1..255) is
 * bumped every time a slot is reused, so a stale id never names a new socket; id 0 is never valid.
 * Also maps network handles (DeviceCore's own and the backend's incoming ones) to sockets.
 */
import { INCOMING_HANDLE_BASE } from '../network/backend.js';
import type { Socket } from './socket.js';

export class SocketTable {
  private readonly slots: (Socket | undefined)[];
  /** Generation of the id last issued per slot (0 = never used). */
  private readonly generations: number[];
  private readonly handles = new Map<number, Socket>();
  private nextHandle = 1;
  private usedCount = 0;

  constructor(readonly size: number) {
    this.slots = new Array(size).fill(undefined);
    this.generations = new Array(size).fill(0);
  }

  get used(): number {
    return this.usedCount;
  }

  hasFree(): boolean {
    return this.usedCount < this.size;
  }

  /** Puts `s` into the lowest free slot and gives it a fresh id. False when the table is full. */
  insert(s: Socket): boolean {
    const slot = this.slots.indexOf(undefined);
    if (slot < 0) return false;
    const gen = (this.generations[slot]! % 255) + 1;
    this.generations[slot] = gen;
    s.slot = slot;
    s.id = (gen << 8) | slot;
    this.slots[slot] = s;
    this.usedCount++;
    return true;
  }

  remove(s: Socket): void {
    if (s.slot >= 0 && this.slots[s.slot] === s) {
      this.slots[s.slot] = undefined;
      this.usedCount--;
    }
    this.unmapHandle(s);
  }

  /** The socket with this id, if it exists (optionally only if it belongs to `channel`). */
  get(id: number, channel?: number): Socket | undefined {
    const s = this.slots[id & 0xff];
    if (!s || s.id !== id) return undefined;
    if (channel !== undefined && s.channel !== channel) return undefined;
    return s;
  }

  atSlot(slot: number): Socket | undefined {
    return this.slots[slot];
  }

  /** Used slots in slot order. */
  all(): Socket[] {
    return this.slots.filter((s): s is Socket => s !== undefined);
  }

  // ---- network handles

  /** A fresh DeviceCore handle (1 .. INCOMING_HANDLE_BASE-1, skipping handles in use). */
  allocHandle(): number {
    for (;;) {
      const h = this.nextHandle;
      this.nextHandle = h + 1 >= INCOMING_HANDLE_BASE ? 1 : h + 1;
      if (!this.handles.has(h)) return h;
    }
  }

  mapHandle(handle: number, s: Socket): void {
    this.handles.set(handle, s);
  }

  unmapHandle(s: Socket): void {
    if (s.handle !== 0 && this.handles.get(s.handle) === s) this.handles.delete(s.handle);
  }

  byHandle(handle: number): Socket | undefined {
    return this.handles.get(handle);
  }

  /** Drops every socket and handle mapping (generations are kept, so old ids stay invalid). */
  clear(): void {
    this.slots.fill(undefined);
    this.handles.clear();
    this.usedCount = 0;
  }
}
