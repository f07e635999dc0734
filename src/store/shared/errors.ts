// Errors of the store, on both sides of the IPC channel: each has a code and the HTTP status an error handler
// should answer with. Across the channel they travel as plain { name, message, code } and are rebuilt here.

export const ErrorCode = {
  /** The host did not answer a call within timeoutMs. */
  timeout: 'ERR_SESSION_STORE_TIMEOUT',
  /** The primary has not answered lately: calls fail at once until it answers a probe. */
  unavailable: 'ERR_SESSION_STORE_UNAVAILABLE',
  /** No host ever answered: the primary never called ClusterStore.setup(). */
  noHost: 'ERR_SESSION_STORE_NO_HOST',
  /** The IPC channel to the primary is closed for good. */
  closed: 'ERR_SESSION_STORE_CLOSED',
  /** The primary and the workers disagree: protocol versions, or a feature the primary did not register. */
  misconfigured: 'ERR_SESSION_STORE_MISCONFIGURED',
  /** A malformed request: a bug, in a store or in whoever else sent it. */
  badRequest: 'ERR_SESSION_STORE_BAD_REQUEST',
  tooLarge: 'ERR_SESSION_TOO_LARGE',
  /**
   * A request saved a session it had loaded, but the session ended meanwhile (a logout, a revoke, "sign out
   * everywhere", expiry or eviction): it stays ended. 401: the visitor is signed out.
   */
  ended: 'ERR_SESSION_ENDED',
  /** The session's user field holds a string over maxUserIdLength: the app's user ids are longer than the host allows. */
  userIdTooLong: 'ERR_SESSION_USER_ID_TOO_LONG',
  internal: 'ERR_SESSION_STORE_INTERNAL',
  /** What the store holds under a session id is not a session's JSON (written by another tool, or corrupted). */
  unreadable: 'ERR_SESSION_UNREADABLE',
} as const;

const statusByCode: Readonly<Record<string, number>> = {
  [ErrorCode.timeout]: 503,
  [ErrorCode.unavailable]: 503,
  [ErrorCode.noHost]: 503,
  [ErrorCode.closed]: 503,
  [ErrorCode.tooLarge]: 413,
  [ErrorCode.ended]: 401,
};

/**
 * An error raised by the store. `statusCode` lets any Express error handler (the default one too) answer right:
 * the core's codes have theirs above; a feature's own codes (the lock's, in lock/errors.ts) bring theirs along.
 */
export class StoreError extends Error {
  override name = 'StoreError';
  readonly code: string;
  /** 503: the store cannot serve this now, try again; 401: the session ended; 413: session too large; a feature's own; 500 otherwise. */
  readonly statusCode: number;

  /** `statusCode`: a feature's own code brings its status (an HTTP error status, 400 to 599; anything else is 500). */
  constructor(code: string, message: string, statusCode?: number) {
    super(message);
    this.code = code;
    this.statusCode = statusCode === undefined ? (statusByCode[code] ?? 500) : isErrorStatus(statusCode) ? statusCode : 500;
  }
}

export interface WireError {
  name: string;
  message: string;
  code: string;
  statusCode?: number;
}

/** Only StoreErrors cross the channel with their message: anything else is a bug in the host, told as such. */
export function toWireError(error: unknown): WireError {
  if (error instanceof StoreError) return { name: error.name, message: error.message, code: error.code, statusCode: error.statusCode };
  return { name: 'StoreError', message: 'session store host failed on this request', code: ErrorCode.internal };
}

/** The status a wire error names is kept only if it is an HTTP error status; otherwise its code's own, or 500. */
export function fromWireError(wire: WireError): StoreError {
  return new StoreError(String(wire.code), String(wire.message), isErrorStatus(wire.statusCode) ? wire.statusCode : undefined);
}

function isErrorStatus(status: unknown): status is number {
  return Number.isInteger(status) && (status as number) >= 400 && (status as number) <= 599;
}

export function badRequest(message: string): StoreError {
  return new StoreError(ErrorCode.badRequest, `malformed store request: ${message}`);
}

/** A save of a session that ended while the request ran (see ErrorCode.ended). */
export function sessionEnded(sid: string): StoreError {
  return new StoreError(
    ErrorCode.ended,
    `session ${JSON.stringify(sid.slice(0, 8) + '…')} ended (signed out, revoked, expired or evicted) while this request ran: it was not saved, and stays ended`,
  );
}

/** A stored session's JSON, parsed; ERR_SESSION_UNREADABLE when it is not JSON of an object. */
export function parseSession(json: string, sid: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    value = undefined;
  }
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
  throw new StoreError(ErrorCode.unreadable, `the store holds something under session ${JSON.stringify(sid.slice(0, 8) + '…')} that is not a session's JSON: the request cannot use it`);
}
