// Which sessions belong to which user, in the primary: the index both tables keep beside their sessions, so that
// listing or ending one user's sessions costs in proportion to that user's sessions, not to the table. Only
// sessions with a user are in it; a table keeps it exact on every path that adds or removes a session.
import type { UserSession } from './sessions.js';

/** How a table answers for one of its sessions: its JSON and expiry (ms) if it is live (an expired one is removed). */
type Live = (sid: string) => [json: string, expiresAt: number] | undefined;

export class UserIndex {
  /** user id → (session id → when it was last used, ms since the epoch). */
  readonly #byUser = new Map<string, Map<string, number>>();

  /** Users with at least one session. */
  get size(): number {
    return this.#byUser.size;
  }

  /** `sid` belongs to `user` and was used at `atMs`. */
  put(user: string, sid: string, atMs: number): void {
    let sessions = this.#byUser.get(user);
    if (sessions === undefined) this.#byUser.set(user, (sessions = new Map<string, number>()));
    sessions.set(sid, atMs);
  }

  delete(user: string, sid: string): void {
    const sessions = this.#byUser.get(user);
    if (sessions === undefined) return;
    sessions.delete(sid);
    if (sessions.size === 0) this.#byUser.delete(user);
  }

  /** The user's session ids with their last use, most recently used first (a copy: safe to remove while walking it). */
  sessionsOf(user: string): [sid: string, lastUsedAt: number][] {
    const sessions = this.#byUser.get(user);
    return sessions === undefined ? [] : [...sessions].sort((a, b) => b[1] - a[1]);
  }

  /** The user's live sessions, most recently used first, at most `limit`. Walks all of them to drop the expired. */
  list(user: string, limit: number, live: Live): UserSession[] {
    const found: UserSession[] = [];
    for (const [sid, lastUsedAt] of this.sessionsOf(user)) {
      const session = live(sid);
      if (session !== undefined && found.length < limit) found.push([sid, session[0], session[1], lastUsedAt]);
    }
    return found;
  }

  /** Ends (with `end`) every live session of the user but `except`; returns how many. */
  endAll(user: string, except: string | null, live: Live, end: (sid: string) => void): number {
    let ended = 0;
    for (const [sid] of this.sessionsOf(user)) {
      if (sid === except || live(sid) === undefined) continue;
      end(sid);
      ended++;
    }
    return ended;
  }

  clear(): void {
    this.#byUser.clear();
  }
}
