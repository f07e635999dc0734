// Signing in and "Your sessions": every session of the signed-in user on every worker (and machine, with Redis),
// each of which can be signed out, or all but this one. Runs in each worker; knows no cluster, only a store whose
// sessions know their user.
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import express, { Router, type Request, type RequestHandler } from 'express';
import type { SessionData, Store } from 'express-session';
import { sessionOf } from './request-session.js';
import type { UserDirectory } from '../users.js';

declare module 'express-session' {
  interface SessionData {
    /** Whose session this is: the field the stores index sessions by. */
    userId: string;
    account: { name: string; displayName: string };
    signedInAt: number;
    /** The browser's User-Agent at sign-in. */
    device: string;
    /** The client address at sign-in (behind a proxy: with TRUST_PROXY). */
    address: string;
  }
}

export interface ListedSession {
  sid: string;
  session: SessionData;
  lastUsedAt: number;
  expiresAt: number;
}

/** A store whose sessions know their user: ClusterStore and the template's Redis store. */
export interface UserAwareStore extends Store {
  userSessions(userId: string, options: { limit?: number }, callback: (error: unknown, sessions?: ListedSession[]) => void): void;
  destroyUserSessions(userId: string, options: { except?: string }, callback: (error: unknown, ended?: number) => void): void;
}

export function isUserAware(store: Store): store is UserAwareStore {
  const candidate = store as Partial<UserAwareStore>;
  return typeof candidate.userSessions === 'function' && typeof candidate.destroyUserSessions === 'function';
}

/**
 * `worker` is said in every answer: which process answered is the point of the page. `perUser`: the store's cap on
 * one user's sessions (SESSION_MAX_PER_USER), so a listing shows every one of them and costs no more than that.
 */
export function accountRoutes(store: UserAwareStore, users: UserDirectory, worker: number | string, perUser: number, signInLimit?: RequestHandler): Router {
  const list = promisify(store.userSessions.bind(store));
  const endAll = promisify(store.destroyUserSessions.bind(store));
  const destroy = promisify(store.destroy.bind(store));
  const router = Router();

  const limited: RequestHandler = signInLimit ?? ((_req, _res, next) => next());
  router.post('/login', limited, express.json({ limit: '2kb' }), async (req, res) => {
    const { username, password } = (req.body ?? {}) as { username?: unknown; password?: unknown };
    if (typeof username !== 'string' || typeof password !== 'string' || username.length > 100 || password.length > 1000) {
      res.status(400).json({ error: 'send JSON {"username": "…", "password": "…"}' });
      return;
    }
    const user = await users.verify(username, password);
    if (user === null) {
      res.status(401).json({ error: 'wrong name or password', worker });
      return;
    }
    // A new session id at sign-in (against session fixation), keeping what the visitor had before.
    const kept = await carriedData(req, user.id);
    await promisify(sessionOf(req).regenerate.bind(sessionOf(req)))();
    const session = Object.assign(sessionOf(req), kept, {
      userId: user.id,
      account: { name: user.name, displayName: user.displayName },
      signedInAt: Date.now(),
      device: (req.get('user-agent') ?? 'unknown').slice(0, 200),
      address: req.ip ?? 'unknown',
    });
    await promisify(session.save.bind(session))();
    res.json({ ...whoIs(req), worker });
  });

  router.get('/api/me', (req, res) => {
    res.json({ ...whoIs(req), worker });
  });

  router.get('/api/sessions', signedIn, async (req, res) => {
    const sessions = await list(sessionOf(req).userId!, { limit: perUser });
    res.json({ sessions: sessions!.map((found) => describe(found, req.sessionID)), worker });
  });

  // Sign out one session, named by its handle (the page never sees session ids).
  router.post('/api/sessions/revoke', express.json({ limit: '1kb' }), signedIn, async (req, res) => {
    const handle: unknown = (req.body as { id?: unknown } | undefined)?.id;
    const sessions = await list(sessionOf(req).userId!, { limit: perUser });
    const target = sessions!.find(({ sid }) => handleOf(sid) === handle);
    if (target === undefined) {
      res.status(404).json({ error: 'no such session of yours' });
      return;
    }
    if (target.sid === req.sessionID) await promisify(sessionOf(req).destroy.bind(sessionOf(req)))();
    else await destroy(target.sid);
    res.json({ ended: 1 });
  });

  router.post('/api/sessions/revoke-others', signedIn, async (req, res) => {
    const ended = await endAll(sessionOf(req).userId!, { except: req.sessionID });
    res.json({ ended });
  });

  return router;
}

/**
 * State-changing requests must come from this site's own pages: a browser says where a request comes from in
 * Sec-Fetch-Site (or, older ones, Origin). Requests without either (curl, scripts) are not a browser's, and pass.
 * SameSite=Lax on the cookie already keeps it off cross-site POSTs; this refuses them outright, with 403.
 */
export const refuseCrossSite: RequestHandler = (req, res, next) => {
  if (req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS') return next();
  const site = req.get('sec-fetch-site');
  const origin = req.get('origin');
  const sameSite = site !== undefined ? site === 'same-origin' || site === 'none' : origin === undefined || origin === `${req.protocol}://${req.get('host')}`;
  if (sameSite) return next();
  res.status(403).json({ error: 'cross-site request refused' });
};

/**
 * What a sign-in as `userId` carries over to the new session: the data of an anonymous visitor, or of this same
 * user signing in again, as the store holds it now. Read again, because this request may have waited (a body held
 * back) while the session was signed out: an ended session carries nothing, nor does one signed in as someone
 * else (switching accounts starts from nothing of the previous user).
 */
async function carriedData(req: Request, userId: string): Promise<Partial<SessionData>> {
  const session = sessionOf(req);
  try {
    await promisify(session.reload.bind(session))();
  } catch {
    return {}; // never saved (a first request), or ended meanwhile
  }
  const data: Partial<SessionData> = { ...sessionOf(req) };
  delete data.cookie;
  return data.userId === undefined || data.userId === userId ? data : {};
}

const signedIn: RequestHandler = (req, res, next) => {
  if (sessionOf(req).userId !== undefined) return next();
  res.status(401).json({ error: 'sign in first' });
};

function whoIs(req: Request) {
  const session = sessionOf(req);
  return session.userId === undefined ? { user: null } : { user: { id: session.userId, ...session.account }, signedInAt: session.signedInAt };
}

/** A session as the page shows it: an opaque handle instead of its id, which is the bearer token. */
function describe({ sid, session, lastUsedAt, expiresAt }: ListedSession, current: string) {
  return {
    id: handleOf(sid),
    current: sid === current,
    device: session.device ?? 'unknown',
    address: session.address ?? 'unknown',
    signedInAt: session.signedInAt ?? null,
    lastSeenAt: lastUsedAt,
    expiresAt,
  };
}

function handleOf(sid: string): string {
  return createHash('sha256').update(sid).digest('base64url').slice(0, 22);
}
