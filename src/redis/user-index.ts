// Sessions that know their user, with Redis: beside the session keys (`ecs:user:<id>` beside `ecs:sess:<sid>`),
// one sorted set per user holds that user's session ids, scored by when each was last saved or touched, at most
// the per-user cap (the save script, scripts.ts, keeps it). Membership expires with the sessions (the set's
// TTL follows its longest-lived member); a member whose session is gone, or belongs to someone else now, is
// dropped when it is read. Runs in each worker; the same methods as ClusterStore's, so the app never knows which.
import type { SessionData } from 'express-session';
import type { RedisClientType } from 'redis';
import { parseSession } from '../store/index.js';

/** What the Redis store adds for sessions that know their user: the same methods as ClusterStore's. */
export interface UserSessionMethods {
  userSessions(userId: string, options: { limit?: number }, callback: (error: unknown, sessions?: UserSessionInfo[]) => void): void;
  destroyUserSessions(userId: string, options: { except?: string | undefined }, callback: (error: unknown, ended?: number) => void): void;
}

export interface UserSessionInfo {
  sid: string;
  session: SessionData;
  lastUsedAt: number;
  expiresAt: number;
}

/** Most sessions one listing returns, as the cluster store. */
const maxListed = 1000;

export class RedisUserIndex {
  constructor(
    private readonly client: () => RedisClientType,
    /** The session keys' prefix: sessions are `<prefix><sid>`. */
    readonly prefix: string,
    /** The user sets' prefix: `<userPrefix><user id>`, beside the sessions', not under it (the store scans that). */
    private readonly userPrefix: string,
    readonly userField: string,
  ) {}

  /** The user a session belongs to: a string in its user field, else none. */
  userOf(session: SessionData): string | null {
    const user: unknown = (session as unknown as Record<string, unknown>)[this.userField];
    return typeof user === 'string' ? user : null;
  }

  userKey(userId: string): string {
    return `${this.userPrefix}${userId}`;
  }

  /**
   * The user's live sessions, most recently used first, at most `limit`: read a page of `limit` members at a
   * time, newest first, so a listing costs in proportion to what it returns (plus members gone stale).
   */
  async list(userId: string, limit: number): Promise<UserSessionInfo[]> {
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > maxListed) throw new RangeError(`limit must be an integer from 1 to ${maxListed}, got ${limit}`);
    const found: UserSessionInfo[] = [];
    for (let start = 0; found.length < limit; start += limit) {
      const members = await this.client().zRangeWithScores(this.userKey(userId), start, start + limit - 1, { REV: true });
      const sessions = await this.#sessionsOf(userId, members.map(({ value }) => value));
      for (const [i, { value: sid, score }] of members.entries()) {
        const live = sessions[i];
        // A touch between two pages moves a session to the front: never list it twice.
        if (live !== undefined && found.length < limit && !found.some((listed) => listed.sid === sid)) found.push({ sid, session: live.session, lastUsedAt: score, expiresAt: live.expiresAt });
      }
      if (members.length < limit) break;
      start -= members.length - sessions.filter((live) => live !== undefined).length; // stale members were removed
    }
    return found;
  }

  /** Ends every session of `userId` but `except`; returns how many ended. */
  async destroyAll(userId: string, except: string | null): Promise<number> {
    const client = this.client();
    const sids = (await client.zRange(this.userKey(userId), 0, -1)).filter((sid) => sid !== except);
    const sessions = await this.#sessionsOf(userId, sids);
    const mine = sids.filter((_, i) => sessions[i] !== undefined);
    const ended = mine.length === 0 ? 0 : await client.del(mine.map((sid) => this.prefix + sid));
    if (sids.length > 0) await client.zRem(this.userKey(userId), sids);
    return ended;
  }

  /**
   * The live sessions of `sids` that still belong to `userId` (undefined where not), dropping the others from the
   * set. A value that is not a session's JSON belongs to no one.
   */
  async #sessionsOf(userId: string, sids: string[]): Promise<({ session: SessionData; expiresAt: number } | undefined)[]> {
    if (sids.length === 0) return [];
    const client = this.client();
    const keys = sids.map((sid) => this.prefix + sid);
    const [values, expiries] = await Promise.all([client.mGet(keys), Promise.all(keys.map((key) => client.pExpireTime(key)))]);
    const stale: string[] = [];
    const sessions = values.map((value, i) => {
      const session = value === null ? null : readable(value, sids[i]!);
      if (session !== null && this.userOf(session) === userId && expiries[i]! > 0) {
        const expiresAt = expiries[i]!;
        if (session.cookie?.expires != null) (session.cookie as { expires: unknown }).expires = new Date(expiresAt).toISOString();
        return { session, expiresAt };
      }
      stale.push(sids[i]!);
      return undefined;
    });
    if (stale.length > 0) await client.zRem(this.userKey(userId), stale);
    return sessions;
  }
}

function readable(value: string, sid: string): SessionData | null {
  try {
    return parseSession(value, sid) as unknown as SessionData;
  } catch {
    return null;
  }
}
