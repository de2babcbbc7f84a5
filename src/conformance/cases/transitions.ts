/**
 * Every socket command in every reachable socket status, for both socket types, with the expected outcome
 * read from TRANSITIONS (generated from protocol.json, §6.5) — not hand-copied. One test per cell:
 *   refused  → the rule's status code (SEND/SENDTO: with accepted 0), and the entry exactly as it was;
 *   allowed  → OK (or the resource outcome PROTOCOL.md allows: ACCEPT on an empty queue E_WOULD_BLOCK, SEND to
 *              a full queue E_QUEUE_FULL), then the rule's target status (or what the network makes of it at
 *              once: CONNECTING → CONNECTED, SENDING → CONNECTED/RECEIVING), announced by STATUS;
 *   CLOSE    → TERMINATED by the final STATUS, after which the id is unknown.
 * The cells of one status share one socket for every command that leaves it as it was; a command that moves
 * it gets a socket of its own.
 */
import {
  type CommandBodies,
  type CommandName,
  type EventMessage,
  SOCKET_STATUS_NAME,
  type SocketEntry,
  SocketOption,
  SocketStatus,
  type SocketStatusName,
  type StatusCodeName,
  TRANSITIONS,
} from '../../protocol/index.js';
import type { TestContext } from '../context.js';
import { addrText, hexId, socketStatusName } from '../format.js';
import { makeSubject, REACHABLE, type TypeName } from '../subjects.js';
import { type ConformanceCase, ConformanceFailure, check, fail, NotApplicable } from '../types.js';

type Expected = { allowed: true; to: SocketStatusName | '=' } | { allowed: false; code: StatusCodeName };

/** The table's cell, straight from TRANSITIONS. */
export function expectedCell(
  command: string,
  type: TypeName,
  status: SocketStatusName,
): Expected | undefined {
  const rule = TRANSITIONS.find((r) => r.command === command && (r.type === type || r.type === '*'));
  if (!rule) return undefined;
  // §6.5: a TERMINATED id does not exist; every command naming it gets E_UNKNOWN_SOCKET.
  if (status === 'TERMINATED') return { allowed: false, code: 'E_UNKNOWN_SOCKET' };
  const to = rule.from[status];
  if (to !== undefined) return { allowed: true, to };
  return { allowed: false, code: rule.else[status] ?? rule.else['*'] ?? 'E_BAD_STATE' };
}

/** Commands of TRANSITIONS, in table order. */
function commandsOf(type: TypeName): string[] {
  const out: string[] = [];
  for (const r of TRANSITIONS)
    if ((r.type === type || r.type === '*') && !out.includes(r.command)) out.push(r.command);
  return out;
}

/** Does an allowed command change the socket (so it needs a socket of its own)? */
function mutates(command: string, type: TypeName, status: SocketStatusName, e: Expected): boolean {
  if (!e.allowed) return false;
  if (command === 'CLOSE') return true;
  if (command === 'SEND' || command === 'SENDTO') return !(type === 'STREAM' && status === 'SENDING');
  return e.to !== '=' && e.to !== status;
}

function bodyFor(ctx: TestContext, command: string, type: TypeName, id: number): CommandBodies[CommandName] {
  const p = ctx.peers;
  switch (command) {
    case 'BIND':
      return { id, addr: ctx.anyAddr() };
    case 'LISTEN':
      return { id, backlog: 4 };
    case 'CONNECT':
      return type === 'STREAM'
        ? { id, timeoutMs: 5000, addr: ctx.addr(p.silent) }
        : { id, timeoutMs: 0, addr: ctx.addr(p.udpEcho) };
    case 'ACCEPT':
      return { id, recvCredit: 0 };
    case 'SEND':
      return { id, data: Buffer.from('x') };
    case 'SENDTO':
      return { id, addr: ctx.addr(p.udpEcho), data: Buffer.from('x') };
    case 'RECV_CREDIT':
      return { id, bytes: 0 };
    case 'SHUTDOWN':
      return { id, how: 2 };
    case 'CLOSE':
      return { id, abort: 1 };
    case 'SETOPT':
      return { id, option: SocketOption.TTL, value: 64 };
    case 'GETOPT':
      return { id, option: SocketOption.TTL };
    case 'UPDATE':
      return { id, status: 0xff, setFlags: 0, clearFlags: 0 };
    case 'QUERY':
      return { id };
  }
  throw new Error(`no body for ${command}`);
}

/** Statuses the network may move an allowed target to at once (§6.6). */
function successors(to: SocketStatusName): SocketStatusName[] {
  switch (to) {
    case 'CONNECTING':
      return ['CONNECTING', 'CONNECTED'];
    case 'SENDING':
      return ['SENDING', 'CONNECTED', 'RECEIVING'];
    default:
      return [to];
  }
}

const IGNORED_FIELDS = new Set(['pendingEvents']);
/** For SEND on a SENDING socket: bytes may have been accepted into the queue. */
const QUEUE_FIELDS = new Set(['pendingEvents', 'sendQueued', 'sendSpace', 'flags']);

function diffEntries(a: SocketEntry, b: SocketEntry, ignore: Set<string>): string[] {
  const out: string[] = [];
  for (const k of Object.keys(a) as (keyof SocketEntry)[]) {
    if (ignore.has(k)) continue;
    const x = a[k];
    const y = b[k];
    const sx = typeof x === 'object' ? addrText(x) : String(x);
    const sy = typeof y === 'object' ? addrText(y) : String(y);
    if (sx !== sy)
      out.push(
        `${k} ${k === 'status' ? socketStatusName(x as number) : sx} → ${k === 'status' ? socketStatusName(y as number) : sy}`,
      );
  }
  return out;
}

interface Shared {
  id?: number;
  error?: Error;
}

async function subjectFor(
  ctx: TestContext,
  type: TypeName,
  status: SocketStatusName,
  mutating: boolean,
): Promise<number> {
  const key = `subject:${type}:${status}`;
  const s = ctx.shared.get(key) as Shared | undefined;
  if (s?.error) throw s.error;
  if (s?.id !== undefined) {
    if (!mutating) return s.id;
    // The shared socket's last use: this command may move it.
    const id = s.id;
    ctx.kept.delete(id);
    s.id = undefined;
    return id;
  }
  try {
    const id = await makeSubject(ctx, type, status);
    if (!mutating) {
      ctx.kept.add(id);
      ctx.shared.set(key, { id });
    }
    return id;
  } catch (err) {
    let e = err as Error;
    if (!(e instanceof NotApplicable)) {
      e = new ConformanceFailure(
        `could not put a ${type} socket into ${status}: ${e.message}`,
        e instanceof ConformanceFailure ? e.detail : {},
      );
    }
    ctx.shared.set(key, { error: e });
    throw e;
  }
}

function transitionCase(
  type: TypeName,
  status: SocketStatusName,
  command: string,
  e: Expected,
): ConformanceCase {
  const cell = e.allowed ? (e.to === '=' ? '= (allowed, status unchanged)' : `→ ${e.to}`) : e.code;
  const requires: ConformanceCase['requires'] = [type === 'STREAM' ? 'TCP' : 'UDP'];
  const needs = command === 'QUERY' ? (['SNAPSHOT'] as const) : [];
  const mutating = mutates(command, type, status, e);
  return {
    id: `transition.${type}.${status}.${command}`,
    title: `${command} on a ${type} socket in ${status}: ${cell}`,
    section: '§6.5',
    requires: [...requires, ...needs],
    group: `transition.${type}.${status}`,
    timeoutMs: status === 'SENDING' ? 90_000 : 20_000,
    async run(ctx) {
      const c = ctx.client;
      const id = await subjectFor(ctx, type, status, mutating);
      await c.quiet(20, 500);
      const before = status === 'TERMINATED' ? undefined : await ctx.entry(id);
      if (before && SOCKET_STATUS_NAME[before.entry.status] !== status) {
        fail(
          `the ${type} socket ${hexId(id)} shared by the ${status} tests is now ${socketStatusName(before.entry.status)} (an earlier command of this group moved it): cannot test ${command}`,
        );
      }
      const from = c.events.length;
      const body = bodyFor(ctx, command, type, id);
      const ex = await ctx.req(command as CommandName, body);
      const where = `${command} on ${type} ${hexId(id)} in ${status}`;
      if (!e.allowed) {
        ctx.expect(ex, e.code, where, '§6.5 transition table');
        const expectLen = command === 'SEND' || command === 'SENDTO' ? 10 : 6;
        check(
          ex.raw.length === expectLen,
          `${where}: the refusal is ${ex.raw.length} bytes, ${expectLen} expected (§5.1)`,
          ctx.detail(ex, `${expectLen} bytes`),
        );
        if (expectLen === 10)
          check(
            ex.raw.readUInt32LE(6) === 0,
            `${where}: refused, yet accepted ${ex.raw.readUInt32LE(6)} bytes (§5.8.2 SEND)`,
            ctx.detail(ex, 'accepted 0'),
          );
        if (status === 'TERMINATED') {
          const q = await ctx.req('GETOPT', { id, option: SocketOption.TTL });
          ctx.expect(
            q,
            'E_UNKNOWN_SOCKET',
            `GETOPT on the TERMINATED id ${hexId(id)} after ${command}`,
            '§6.5: the id no longer exists',
          );
          return;
        }
        const after = await ctx.entry(id);
        if (before && after) {
          const d = diffEntries(before.entry, after.entry, IGNORED_FIELDS);
          if (d.length) {
            fail(
              `${where} was refused (${e.code}) but changed the socket: ${d.join(', ')} (§6.5: then the socket is left exactly as it was)`,
              ctx.detail(ex, `${e.code} and no change`),
            );
          }
        }
        // A STATUS announcing something other than what the socket was is a change (a late repeat of the same is not).
        const was = before?.entry ?? c.mirror.get(id);
        const moved = c.events
          .slice(from)
          .filter((x) => x.name === 'STATUS' && x.body.id === id)
          .map((x) => (x as EventMessage<'STATUS'>).body)
          .filter(
            (b) => !was || b.status !== was.status || b.error !== was.lastError || b.flags !== was.flags,
          );
        check(
          moved.length === 0,
          `${where} was refused but a STATUS event announced a change: ${moved.map((b) => `${socketStatusName(b.status)} flags 0x${b.flags.toString(16)}`).join(', ')} (§6.5: the socket is left as it was)`,
        );
        return;
      }
      // Allowed.
      const resource: StatusCodeName[] =
        command === 'ACCEPT'
          ? ['OK', 'E_WOULD_BLOCK']
          : command === 'SEND' && status === 'SENDING'
            ? ['OK', 'E_QUEUE_FULL']
            : ['OK'];
      ctx.expect(ex, resource, where, '§6.5 transition table (allowed)');
      if (command === 'CLOSE') {
        await ctx.waitStatus(
          id,
          (x) => x.body.status === SocketStatus.TERMINATED,
          `${where}: the final STATUS TERMINATED (§5.8.2 CLOSE)`,
          3000,
          from,
        );
        const q = await ctx.req('GETOPT', { id, option: SocketOption.TTL });
        ctx.expect(
          q,
          'E_UNKNOWN_SOCKET',
          `GETOPT on ${hexId(id)} after its TERMINATED`,
          '§5.8.2 CLOSE: the id no longer exists',
        );
        return;
      }
      const target = e.to === '=' ? status : e.to;
      const okStatuses = successors(target).map((s) => SocketStatus[s] as number);
      if (target !== status && target !== 'SENDING') {
        // A change of status is announced by STATUS (§5.9, §6.6).
        await ctx.waitStatus(
          id,
          (x) => okStatuses.includes(x.body.status),
          `${where}: a STATUS event with ${successors(target).join(' or ')} (§5.9)`,
          3000,
          from,
        );
      }
      const after = await ctx.entry(id);
      if (after) {
        check(
          okStatuses.includes(after.entry.status),
          `${where}: the socket is ${socketStatusName(after.entry.status)} afterwards, expected ${successors(target).join(' or ')} (§6.5)`,
          ctx.detail(ex, `then status ${target}`),
        );
        if (before && target === status && !mutating) {
          const ignore = command === 'SEND' ? QUEUE_FIELDS : IGNORED_FIELDS;
          const d = diffEntries(before.entry, after.entry, ignore);
          if (d.length)
            fail(
              `${where} (allowed, status unchanged) changed the socket: ${d.join(', ')} (§6.5)`,
              ctx.detail(ex, 'no change'),
            );
        }
      }
    },
  };
}

export function transitionCases(): ConformanceCase[] {
  const out: ConformanceCase[] = [];
  for (const type of ['STREAM', 'DGRAM'] as const) {
    const commands = commandsOf(type);
    for (const status of REACHABLE[type]) {
      const cells = commands
        .map((command) => ({ command, e: expectedCell(command, type, status)! }))
        .filter((x) => x.e !== undefined);
      // Cells that leave the socket as it was first (sharing one socket), then those that move it.
      const still = cells.filter((x) => !mutates(x.command, type, status, x.e));
      const moving = cells.filter((x) => mutates(x.command, type, status, x.e));
      for (const x of [...still, ...moving]) out.push(transitionCase(type, status, x.command, x.e));
    }
  }
  return out;
}
