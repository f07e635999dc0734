// The sessions `npm run bench:latency` pre-fills, and the cookies its load client signs for them: shared by the
// bench (the client), the primary it starts (the table, Redis) and that primary's workers (MemoryStore).
import { createHmac } from 'node:crypto';

/** The workers' express-session secret: the client signs its cookies with it, as express-session would. */
export const secret = 'bench-latency: a secret the load client knows';
export const cookieName = 'connect.sid';
/** Lifetime of a session that stays for the whole run, in ms: express-session's cookie.originalMaxAge. */
export const lifetimeMs = 86_400_000;
/** Every tenth session belongs to a user (`userId`), about five sessions to a user. */
const userEvery = 10;
const sessionsPerUser = 5;

/** Session number `i`'s id: 32 characters of base64url, as express-session's uid-safe ids are; a flat string. */
export function sidOf(i: number): string {
  const bytes = Buffer.alloc(24, 0x5a);
  bytes.writeUIntBE(i, 18, 6);
  return bytes.toString('base64url');
}

/** Session number `i`'s user, or null (nine sessions in ten have none). */
export function userOf(i: number, sessions: number): string | null {
  if (i % userEvery !== 0) return null;
  const users = Math.max(1, Math.ceil(sessions / userEvery / sessionsPerUser));
  return `user-${(i / userEvery) % users}`;
}

/** Session number `i` as express-session stores it: about 128 bytes of JSON, 150 with a user. */
export function sessionOf(i: number, sessions: number, expiresAt: number): Record<string, unknown> {
  const userId = userOf(i, sessions);
  const cookie = { originalMaxAge: lifetimeMs, expires: new Date(expiresAt).toISOString(), httpOnly: true, path: '/' };
  return userId === null ? { cookie, views: i % 1000, theme: 'light' } : { cookie, views: i % 1000, theme: 'light', userId };
}

/**
 * Sessions of even number expire during the run (the sweep's work); the odd ones live on, and are the ones
 * returning visitors come back with.
 */
export function expiresDuringRun(i: number): boolean {
  return i % 2 === 0;
}

/** The Cookie header of a returning visitor of session `sid`: `s:` + id + '.' + HMAC-SHA256, as express-session signs it. */
export function cookieFor(sid: string): string {
  const signature = createHmac('sha256', secret).update(sid).digest('base64').replace(/=+$/, '');
  return `${cookieName}=${encodeURIComponent(`s:${sid}.${signature}`)}`;
}

/** A returning visitor: a random session that lives through the run (an odd number below `sessions`). */
export function pickLiveSession(sessions: number, random: () => number = Math.random): number {
  const live = Math.floor(sessions / 2);
  return 2 * Math.floor(random() * live) + 1;
}
