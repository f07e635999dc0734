// The message protocol between ClusterStore (workers) and the store host (primary): tagged batches of
// request tuples one way, reply tuples the other; errors travel as plain { name, message, code }.

/** Every store message carries this tag; anything else on the IPC channel belongs to someone else. */
export const TAG = 'express-cluster-sessions:store@1';

export type Op = 'get' | 'set' | 'destroy' | 'touch' | 'all' | 'length' | 'clear' | 'ping' | 'lock' | 'unlock';

/**
 * A request as it travels: [requestId, op, ...arguments]. Id 0 marks a posted write (set, touch, destroy):
 * nobody waits for its answer, so none is sent; the worker counts it done once it is written to the channel.
 */
export type Request =
  | [id: number, op: 'get' | 'destroy', sid: string]
  | [id: number, op: 'set', sid: string, json: string, expiresAt: number | null]
  | [id: number, op: 'touch', sid: string, expiresAt: number | null]
  | [id: number, op: 'all' | 'length' | 'clear' | 'ping']
  | [id: number, op: 'lock', key: string, waitMs: number, holdMs: number, maxWaiters: number, sid: string | null]
  | [id: number, op: 'unlock', key: string, token: number];

/** A reply: [requestId, error or null, value]. */
export type Reply = [id: number, error: WireError | null, value?: unknown];

export interface WireError {
  name: string;
  message: string;
  code: string;
}

/** A worker's requests of one event-loop turn; `c` tells apart the stores of one process, and comes back. */
export interface RequestBatch {
  tag: typeof TAG;
  c: unknown;
  q: unknown[];
}

export interface ReplyBatch {
  tag: typeof TAG;
  c: unknown;
  r: Reply[];
}

export const ErrorCode = {
  timeout: 'ERR_SESSION_STORE_TIMEOUT',
  closed: 'ERR_SESSION_STORE_CLOSED',
  badRequest: 'ERR_SESSION_STORE_BAD_REQUEST',
  tooLarge: 'ERR_SESSION_TOO_LARGE',
  internal: 'ERR_SESSION_STORE_INTERNAL',
  lockWaitTimeout: 'ERR_SESSION_LOCK_WAIT_TIMEOUT',
  lockQueueFull: 'ERR_SESSION_LOCK_QUEUE_FULL',
} as const;

/** Codes that mean "the store cannot serve this right now": HTTP 503, try again. */
const unavailableCodes: ReadonlySet<string> = new Set([ErrorCode.timeout, ErrorCode.closed, ErrorCode.lockWaitTimeout]);

/** An error raised by the store, on either side of the channel. */
export class StoreError extends Error {
  override name = 'StoreError';
  readonly code: string;
  /**
   * For error handlers: 503 when the store is unreachable or a session lock was not granted in time, 413 for a
   * session too large to save, 429 when too many requests of one session already wait for its lock, 500 otherwise.
   */
  readonly statusCode: number;

  constructor(code: string, message: string) {
    super(message);
    this.code = code;
    this.statusCode = unavailableCodes.has(code) ? 503 : (statusByCode[code] ?? 500);
  }
}

const statusByCode: Readonly<Record<string, number>> = { [ErrorCode.tooLarge]: 413, [ErrorCode.lockQueueFull]: 429 };

export function toWireError(error: unknown): WireError {
  if (error instanceof StoreError) return { name: error.name, message: error.message, code: error.code };
  return { name: 'StoreError', message: 'session store host failed on this request', code: ErrorCode.internal };
}

export function fromWireError(wire: WireError): StoreError {
  return new StoreError(String(wire.code), String(wire.message));
}

export function isRequestBatch(message: unknown): message is RequestBatch {
  return isTagged(message) && Array.isArray((message as { q?: unknown }).q);
}

export function isReplyBatch(message: unknown): message is ReplyBatch {
  return isTagged(message) && Array.isArray((message as { r?: unknown }).r);
}

function isTagged(message: unknown): boolean {
  return typeof message === 'object' && message !== null && (message as { tag?: unknown }).tag === TAG;
}

export const POSTED = 0;

/** Ops that may be posted; anything that returns data must be answered. */
export const postableOps: ReadonlySet<Op> = new Set(['set', 'touch', 'destroy', 'unlock']);

export interface RequestLimits {
  maxIdLength: number;
}

/** Limits both sides apply by default: the worker refuses before sending, the host refuses what gets through. */
export const defaultLimits = { maxIdLength: 256, maxSessionBytes: 16_384 };

/** Longest lock key (a session cookie's value): a signed 32-character id takes about 80. */
export const maxLockKeyLength = 1024;

/** Longest wait or hold of a session lock, in ms: one hour. */
export const maxLockMs = 3_600_000;

/** Throws ERR_SESSION_TOO_LARGE when `json` is over `maxSessionBytes` bytes of UTF-8. */
export function checkSessionSize(sid: string, json: string, maxSessionBytes: number): void {
  // A UTF-16 unit takes at most 3 bytes of UTF-8: count exactly only when it could matter.
  if (json.length * 3 <= maxSessionBytes) return;
  const bytes = Buffer.byteLength(json);
  if (bytes <= maxSessionBytes) return;
  throw new StoreError(
    ErrorCode.tooLarge,
    `session ${JSON.stringify(sid.slice(0, 8) + '…')} is ${bytes} bytes of JSON, over maxSessionBytes (${maxSessionBytes}); it was not saved`,
  );
}

/**
 * Checks one request tuple from a worker. Returns the request, or the error to answer with
 * (id is null when the request has no usable id, so there is no one to answer).
 */
export function parseRequest(raw: unknown, limits: RequestLimits): Request | { id: number | null; error: StoreError } {
  if (!Array.isArray(raw) || !Number.isSafeInteger(raw[0])) {
    return { id: null, error: badRequest('a request must be [id, op, ...args] with an integer id') };
  }
  // Checked in place and returned as it came (the length is exact): no copy on this path, which every call takes.
  const id = raw[0] as number;
  const op: unknown = raw[1];
  if (id === POSTED && !postableOps.has(op as Op)) return invalid(id, op, 'only set, touch, destroy and unlock can be posted without an answer');
  switch (op) {
    case 'all':
    case 'length':
    case 'clear':
    case 'ping':
      return raw.length === 2 ? (raw as Request) : invalid(id, op, 'takes no arguments');
    case 'get':
    case 'destroy':
      return raw.length === 3 && isSid(raw[2], limits) ? (raw as Request) : invalid(id, op, sidRule(limits));
    case 'touch':
      if (raw.length !== 4 || !isSid(raw[2], limits)) return invalid(id, op, sidRule(limits));
      return isExpiry(raw[3]) ? (raw as Request) : invalid(id, op, 'expiresAt must be a finite number or null');
    case 'set':
      if (raw.length !== 5 || !isSid(raw[2], limits)) return invalid(id, op, sidRule(limits));
      if (typeof raw[3] !== 'string') return invalid(id, op, 'the session must be a JSON string');
      return isExpiry(raw[4]) ? (raw as Request) : invalid(id, op, 'expiresAt must be a finite number or null');
    case 'lock':
      if (raw.length !== 7 || !isLockKey(raw[2])) return invalid(id, op, lockKeyRule);
      if (!isCount(raw[3], maxLockMs) || !isCount(raw[4], maxLockMs) || !isCount(raw[5], 1_000_000)) {
        return invalid(id, op, `waitMs and holdMs must be integers from 1 to ${maxLockMs}, maxWaiters from 1 to 1000000`);
      }
      return raw[6] === null || isSid(raw[6], limits) ? (raw as Request) : invalid(id, op, `${sidRule(limits)}, or null`);
    case 'unlock':
      if (raw.length !== 4 || !isLockKey(raw[2])) return invalid(id, op, lockKeyRule);
      return isCount(raw[3], Number.MAX_SAFE_INTEGER) ? (raw as Request) : invalid(id, op, 'the token must be a positive integer');
    default:
      return { id, error: badRequest(`unknown op ${JSON.stringify(op) ?? String(op)}`) };
  }
}

function invalid(id: number, op: unknown, why: string): { id: number; error: StoreError } {
  return { id, error: badRequest(`${String(op)}: ${why}`) };
}

function isSid(value: unknown, limits: RequestLimits): value is string {
  return typeof value === 'string' && value.length <= limits.maxIdLength;
}

const lockKeyRule = `the lock key must be a non-empty string of at most ${maxLockKeyLength} characters`;

function isLockKey(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= maxLockKeyLength;
}

function isCount(value: unknown, max: number): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 1 && (value as number) <= max;
}

function isExpiry(value: unknown): value is number | null {
  return value === null || (typeof value === 'number' && Number.isFinite(value));
}

function sidRule(limits: RequestLimits): string {
  return `the session id must be a string of at most ${limits.maxIdLength} characters`;
}

function badRequest(message: string): StoreError {
  return new StoreError(ErrorCode.badRequest, `malformed store request: ${message}`);
}
