// What `npm run bench:store` and its workers tell each other, and the session it stores.
import type { SessionData } from 'express-session';

export const ECHO_TAG = 'store-bench:echo';

export type BenchOp = 'get' | 'set' | 'touch' | 'echo';

export type BenchCommand =
  | { cmd: 'run'; op: BenchOp; concurrency: number; durationMs: number; keys: number; sessionBytes: number; echoPadBytes: number }
  | { cmd: 'fill'; count: number; sessionBytes: number; offset: number };

export type BenchResult =
  | { kind: 'ready' }
  | { kind: 'filled' }
  | { kind: 'result'; ops: number; elapsedS: number; meanUs: number; p99Us: number };

/** A session whose JSON is `bytes` long (give or take a few), expiring in a day. */
export function sessionOfBytes(bytes: number): SessionData {
  const session = {
    cookie: { originalMaxAge: 86_400_000, expires: new Date(Date.now() + 86_400_000), httpOnly: true, path: '/' },
    padding: '',
  } as unknown as SessionData & { padding: string };
  session.padding = 'u'.repeat(Math.max(0, bytes - JSON.stringify(session).length));
  return session;
}
