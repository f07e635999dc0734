// Pre-fills the N sessions of `npm run bench:latency` where each variant keeps them: the store host's table (in
// the primary), express-session's MemoryStore (in each worker), Redis (from the primary, as connect-redis writes
// them); and makes half of them expire at a given time, so the run's sweeps have work.
import type { Store } from 'express-session';
import type { RedisClientType } from 'redis';
import type { Sessions } from '../../src/store/index.js';
import { expiresDuringRun, sessionOf, sidOf, userOf } from './latency-sessions.js';

/** connect-redis's default key prefix. */
export const redisPrefix = 'sess:';
const redisBatch = 5000;

/** Fills the host's table as the workers' sets would (JSON strings, the user of one session in ten); returns the characters of JSON. */
export function fillTable(table: Sessions, sessions: number, expiresAt: number): number {
  let jsonChars = 0;
  for (let i = 0; i < sessions; i++) {
    const json = JSON.stringify(sessionOf(i, sessions, expiresAt));
    jsonChars += json.length;
    table.set(sidOf(i), json, expiresAt, userOf(i, sessions));
  }
  return jsonChars;
}

/** Moves the expiry of the even half of the table's sessions to `expireAt`; returns how many. */
export function expireHalfOfTable(table: Sessions, sessions: number, expireAt: number): number {
  let moved = 0;
  for (let i = 0; i < sessions; i++) {
    if (!expiresDuringRun(i)) continue;
    table.touch(sidOf(i), expireAt);
    moved++;
  }
  return moved;
}

/** Fills a MemoryStore through its own set(), which keeps each session as a JSON string. */
export function fillMemoryStore(store: Store, sessions: number, expiresAt: number): void {
  for (let i = 0; i < sessions; i++) store.set(sidOf(i), sessionOf(i, sessions, expiresAt) as never);
}

/** Fills Redis as connect-redis's set() would (JSON under `sess:<id>`, a TTL in seconds), pipelined in batches. */
export async function fillRedis(client: RedisClientType, sessions: number, expiresAt: number): Promise<void> {
  const ttlS = Math.ceil((expiresAt - Date.now()) / 1000);
  for (let from = 0; from < sessions; from += redisBatch) {
    const batch = Array.from({ length: Math.min(redisBatch, sessions - from) }, (_, j) => from + j);
    await Promise.all(batch.map((i) => client.set(redisPrefix + sidOf(i), JSON.stringify(sessionOf(i, sessions, expiresAt)), { expiration: { type: 'EX', value: ttlS } })));
  }
}

/** The Redis counterpart of expireHalfOfTable: PEXPIREAT on the even half; Redis drops them itself. */
export async function expireHalfOfRedis(client: RedisClientType, sessions: number, expireAt: number): Promise<number> {
  let moved = 0;
  for (let from = 0; from < sessions; from += redisBatch) {
    const batch = Array.from({ length: Math.min(redisBatch, sessions - from) }, (_, j) => from + j).filter(expiresDuringRun);
    await Promise.all(batch.map((i) => client.pExpireAt(redisPrefix + sidOf(i), Math.round(expireAt))));
    moved += batch.length;
  }
  return moved;
}
