// The wire form between the stores in the workers and the host in the primary: tagged batches of request
// tuples one way, of reply tuples the other. Positional on purpose: the op definitions (ops.ts) name the fields.
import type { WireError } from './errors.js';

/** Every store message carries this tag; anything else on the IPC channel belongs to someone else. */
export const TAG = 'express-cluster-sessions:store';

/** Bumped when the wire form or an op changes shape; the host says its version in the handshake. */
export const PROTOCOL = 3;

/**
 * A request is [requestId, op, ...arguments]. Id 0 marks a posted write: nobody waits for it, so no answer is
 * sent; the worker counts it done once it is written to the channel.
 */
export const POSTED = 0;

/** A reply: [requestId, error or null, value]. */
export type WireReply = [id: number, error: WireError | null, value?: unknown];

/** A worker's requests of one event-loop turn; `c` tells apart the stores of one process, and comes back. */
export interface RequestBatch {
  tag: typeof TAG;
  c: number;
  q: unknown[];
}

export interface ReplyBatch {
  tag: typeof TAG;
  c: number;
  r: WireReply[];
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
