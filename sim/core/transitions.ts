/**
 * The command/status rules, interpreted straight from TRANSITIONS (generated from protocol.json), never
 * hand-copied. A command refused here gets the rule's status code and changes nothing.
 */
import {
  SOCKET_STATUS_NAME,
  SocketStatus,
  type SocketStatusName,
  type SocketCommandName,
  SocketType,
  type StatusCodeName,
  TRANSITIONS,
  type TransitionRule,
} from '../../src/protocol/index.js';

export { SOCKET_COMMAND_NAMES, type SocketCommandName } from '../../src/protocol/index.js';

const RULES = new Map<string, TransitionRule>();
for (const rule of TRANSITIONS) RULES.set(`${rule.command}/${rule.type}`, rule);

/** Commands that name a socket id and are governed by the transition table (src/protocol checks the list). */
export const SOCKET_COMMANDS: ReadonlySet<string> = new Set(TRANSITIONS.map((r) => r.command));

export function isSocketCommand(name: string): name is SocketCommandName {
  return SOCKET_COMMANDS.has(name);
}

export function socketTypeName(type: number): 'STREAM' | 'DGRAM' {
  return type === SocketType.STREAM ? 'STREAM' : 'DGRAM';
}

export function ruleFor(command: string, type: number): TransitionRule | undefined {
  return RULES.get(`${command}/${socketTypeName(type)}`) ?? RULES.get(`${command}/*`);
}

export type TransitionCheck =
  | { allowed: true; to: SocketStatusName | '='; rule: TransitionRule }
  | { allowed: false; code: StatusCodeName; rule: TransitionRule | undefined };

/** May `command` be applied to a socket of `type` in `status`? */
export function checkTransition(command: SocketCommandName, type: number, status: number): TransitionCheck {
  const rule = ruleFor(command, type);
  const statusName = SOCKET_STATUS_NAME[status];
  if (!rule) return { allowed: false, code: 'E_INVALID', rule };
  // TERMINATED ids do not exist.
  if (statusName === undefined || statusName === 'TERMINATED') {
    return { allowed: false, code: 'E_UNKNOWN_SOCKET', rule };
  }
  const to = rule.from[statusName];
  if (to !== undefined) return { allowed: true, to, rule };
  return { allowed: false, code: rule.else[statusName] ?? rule.else['*'] ?? 'E_BAD_STATE', rule };
}

/** The status a rule's target names ('=' keeps the current one). */
export function targetStatus(current: number, to: SocketStatusName | '='): number {
  return to === '=' ? current : SocketStatus[to];
}

/** Is `command` allowed in `status` for `type` (used to derive WRITABLE from the table)? */
export function isAllowed(command: SocketCommandName, type: number, status: number): boolean {
  return checkTransition(command, type, status).allowed;
}

/** The first concrete target status a rule names, if any (for the acceptIllegalTransition defect). */
export function firstTarget(rule: TransitionRule | undefined): SocketStatusName | undefined {
  if (!rule) return undefined;
  for (const to of Object.values(rule.from)) if (to !== undefined && to !== '=') return to;
  return undefined;
}
