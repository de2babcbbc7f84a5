/** Register names and offsets (the register plane): resolution and validation, no I/O. */
import {
  REGISTERS,
  Register,
  type RegisterAccess,
  type RegisterName,
  RegisterWindow,
} from '../protocol/index.js';
import { DeviceError, DeviceErrorCode } from './errors.js';

export type RegisterRef = RegisterName | number;

const BY_OFFSET = new Map<number, (typeof REGISTERS)[number]>(REGISTERS.map((r) => [r.offset, r]));

export interface ResolvedRegister {
  offset: number;
  /** Register name, or 'SOCKET_WINDOW[slot]+off' for the socket window, or a hex offset. */
  name: string;
  access: RegisterAccess | 'unknown';
}

/** Resolve a register by name (case-insensitive) or byte offset; offsets must be multiples of 4. */
export function resolveRegister(ref: RegisterRef | string): ResolvedRegister {
  if (typeof ref === 'string') {
    const key = ref.toUpperCase();
    if (key in Register) {
      const offset = Register[key as RegisterName];
      return { offset, name: key, access: BY_OFFSET.get(offset)!.access };
    }
    if (/^(0x[0-9a-f]+|\d+)$/i.test(ref)) return resolveRegister(Number(ref));
    throw new DeviceError(
      DeviceErrorCode.BAD_REGISTER,
      `unknown register '${ref}' (known: ${Object.keys(Register).join(', ')})`,
      {
        register: ref,
      },
    );
  }
  if (!Number.isInteger(ref) || ref < 0 || ref > 0xfffffffc || ref % 4 !== 0) {
    throw new DeviceError(
      DeviceErrorCode.BAD_REGISTER,
      `register offset ${ref} is not a multiple of 4 in 0..0xFFFFFFFC`,
      {
        register: ref,
      },
    );
  }
  const known = BY_OFFSET.get(ref);
  if (known) return { offset: ref, name: known.name, access: known.access };
  if (ref >= RegisterWindow.socketWindowOffset && ref < RegisterWindow.ringsOffset) {
    const rel = ref - RegisterWindow.socketWindowOffset;
    const slot = Math.floor(rel / RegisterWindow.socketWindowStride);
    return {
      offset: ref,
      name: `SOCKET_WINDOW[${slot}]+0x${(rel % RegisterWindow.socketWindowStride).toString(16)}`,
      access: 'RO',
    };
  }
  return { offset: ref, name: `0x${ref.toString(16)}`, access: 'unknown' };
}
