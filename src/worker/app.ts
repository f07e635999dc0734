// createApp(): the Express app with its session middleware, routes and error handler. Runs in each worker; knows
// no cluster and never listens, so tests can run it in one process with any express-session store.
import express, { type ErrorRequestHandler, type Express, type Request, type RequestHandler } from 'express';
import session, { type Store } from 'express-session';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import helmet from 'helmet';
import type { IncomingMessage } from 'node:http';
import { pino, type Logger } from 'pino';
import { pinoHttp } from 'pino-http';
import { accountRoutes, isUserAware, refuseCrossSite } from './account.js';
import { sessionOf } from './request-session.js';
import { createDemoDirectory, type UserDirectory } from '../users.js';

declare module 'express-session' {
  interface SessionData {
    /** When this visitor was first seen, ms since the epoch; its presence is what makes a visit a "return". */
    firstVisitAt: number;
    /** What POST /notes kept for this visitor. */
    notes: string[];
    /** Visits counted by the page (POST /api/visit). */
    visits: number;
  }
}

/** The routes that sign a session out (this one, or others of the user): they skip the session lock. */
const signOutPaths = new Set(['/logout', '/api/sessions/revoke', '/api/sessions/revoke-others']);

/** A path as Express's router matches it by default: case-insensitive, trailing slashes ignored (no regex: linear). */
function routePath(path: string): string {
  let end = path.length;
  while (end > 1 && path.charCodeAt(end - 1) === 47 /* / */) end--;
  return path.slice(0, end).toLowerCase();
}

/** The session cookie's name; not express-session's "connect.sid", which tells attackers the stack. */
export const SESSION_COOKIE = 'ecs.sid';

/** What the app reports to (src/worker/metrics.ts in the template; the primary serves them on its own port). */
export interface AppMetrics {
  observeRequest(route: string, status: number): void;
}

export interface AppOptions {
  store: Store;
  /** The first signs the cookie, all verify: put the new secret first to rotate. */
  secrets: string[];
  /** Shown in responses: which worker answered. */
  workerId: number | string;
  /** Session lifetime: the cookie's max age, and the store's expiry, in ms. @default 86_400_000 */
  sessionMaxAgeMs?: number;
  /** Send the cookie over HTTPS only. @default false */
  secureCookie?: boolean;
  /** Session cookie name. @default SESSION_COOKIE ("ecs.sid") */
  cookieName?: string;
  /**
   * Middleware run just before the session is loaded, for requests that use sessions: sessionLock() (it must
   * watch the same cookie name). @default none
   */
  sessionLock?: RequestHandler;
  /**
   * Express's `trust proxy`: set it behind a TLS-terminating proxy, so a secure cookie is sent when the proxy says
   * the visitor came over HTTPS (X-Forwarded-Proto). @default false
   */
  trustProxy?: boolean | number | string | string[];
  /** Count requests. @default none */
  metrics?: AppMetrics;
  /** Where errors (and, with `logRequests`, every request) are logged. @default pino to stdout */
  log?: Logger;
  /** One line per request: method, path, status, time (pino-http; cookies redacted by the logger). @default false */
  logRequests?: boolean;
  /** The store's cap on one user's sessions: "Your sessions" lists up to this many. @default 100 */
  maxSessionsPerUser?: number;
  /** Who may sign in. @default the demo accounts of src/users.ts */
  users?: UserDirectory;
  /** Rate limits (src/worker/rate-limits.ts): failed sign-ins, and all requests, per client address. @default none */
  limits?: { signIn?: RequestHandler | undefined; requests?: RequestHandler | undefined };
}

export function createApp(options: AppOptions): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', options.trustProxy ?? false);
  app.use(securityHeaders(options.secureCookie ?? false));
  const log = options.log ?? pino();
  if (options.logRequests) app.use(requestLogger(log));
  const metrics = options.metrics;
  if (metrics) {
    app.use((req, res, next) => {
      res.once('finish', () => metrics.observeRequest((req.route as { path?: string } | undefined)?.path ?? 'unmatched', res.statusCode));
      next();
    });
  }
  app.get('/healthz', (_req, res) => {
    res.json({ ok: true });
  });
  // The page's script and styles, before the session middleware: files need no session.
  app.use(express.static(fileURLToPath(new URL('./public/', import.meta.url)), { index: false }));
  if (options.limits?.requests) app.use(options.limits.requests);
  app.use(refuseCrossSite);
  if (options.sessionLock) {
    const lock = options.sessionLock;
    // Signing out never waits behind the session's other requests: a thief holding one open (a body that never
    // comes) would otherwise keep its owner from signing it out. Unordered is safe: a request of the session that
    // loaded it before saves nothing after (its save is refused: revocation sticks).
    app.use((req, res, next) => (req.method === 'POST' && signOutPaths.has(routePath(req.path)) ? next() : lock(req, res, next)));
  }
  app.use(
    session({
      store: options.store,
      secret: options.secrets,
      name: options.cookieName ?? SESSION_COOKIE,
      resave: false,
      saveUninitialized: false,
      cookie: {
        maxAge: options.sessionMaxAgeMs ?? 86_400_000,
        httpOnly: true,
        sameSite: 'lax',
        secure: options.secureCookie ?? false,
      },
    }),
  );

  app.get('/hello', (req, res) => {
    const session = sessionOf(req);
    const returning = session.firstVisitAt !== undefined;
    // A first visit writes the session (a `set`); a return only reads it, and express-session `touch`es it.
    session.firstVisitAt ??= Date.now();
    res.json({
      msg: `${returning ? 'Hello again' : 'Hello'} from worker ${options.workerId}`,
      worker: options.workerId,
      pid: process.pid,
      sessionAgeS: Math.round((Date.now() - session.firstVisitAt) / 1000),
    });
  });

  // Keeping data in the session: saved before answering, so a failed save (too large, store away, the session
  // signed out meanwhile) is this request's error rather than a 200 for data that was never stored.
  app.post('/notes', express.json({ limit: '4kb' }), (req, res, next) => {
    const note: unknown = (req.body as { note?: unknown } | undefined)?.note;
    if (typeof note !== 'string' || note.length === 0) {
      res.status(400).json({ error: 'send JSON {"note": "some text"}' });
      return;
    }
    const session = sessionOf(req);
    session.notes = [...(session.notes ?? []), note];
    session.save((error) => {
      if (error) next(error);
      else res.json({ notes: session.notes });
    });
  });

  app.get('/notes', (req, res) => {
    res.json({ notes: sessionOf(req).notes ?? [] });
  });

  // The page: proof at a glance that the session follows the visitor across workers.
  const page = readFileSync(new URL('./public/index.html', import.meta.url), 'utf8');
  app.get('/', (_req, res) => {
    res.type('html').send(page);
  });
  app.get('/api/session', (req, res) => {
    res.json(describe(sessionOf(req), null));
  });
  app.post('/api/visit', (req, res, next) => {
    const session = sessionOf(req);
    session.firstVisitAt ??= Date.now();
    session.visits = (session.visits ?? 0) + 1;
    // Saved before answering, like POST /notes: a session signed out meanwhile answers 401, not a count never kept.
    session.save((error) => {
      if (error) return next(error);
      // A new connection for the next request, so the cluster may hand it to another worker.
      res.set('Connection', 'close').json(describe(session, options.workerId));
    });
  });
  // Sign-in and "Your sessions" need a store whose sessions know their user (not the benchmarks' MemoryStore).
  if (isUserAware(options.store)) app.use(accountRoutes(options.store, options.users ?? createDemoDirectory(), options.workerId, options.maxSessionsPerUser ?? 100, options.limits?.signIn));
  app.post('/logout', (req, res, next) => {
    sessionOf(req).destroy((error) => {
      if (error) next(error);
      else res.json({ ok: true });
    });
  });

  app.use((_req, res) => {
    res.status(404).json({ error: 'not found' });
  });
  app.use(errorHandler(log));
  return app;
}

/**
 * helmet's headers, with a Content-Security-Policy the page passes: scripts and styles from this origin only (no
 * inline ones: the page's are files), requests to this origin only, no framing. `upgrade-insecure-requests` only
 * when cookies are secure (production, behind TLS): on plain-HTTP development it would break the page's requests.
 */
function securityHeaders(https: boolean): RequestHandler {
  return helmet({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        scriptSrcAttr: ["'none'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        fontSrc: ["'self'"],
        objectSrc: ["'none'"],
        baseUri: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        ...(https ? { upgradeInsecureRequests: [] } : {}),
      },
    },
    // Served over plain HTTP in development: a Strict-Transport-Security header there would only confuse.
    strictTransportSecurity: https,
  });
}

function requestLogger(log: Logger) {
  const path = (req: IncomingMessage) => (req as Request).originalUrl ?? req.url;
  return pinoHttp({
    logger: log,
    customLogLevel: (_req, res, error) => (error || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info'),
    customSuccessMessage: (req, res, ms) => `${req.method} ${path(req)} ${res.statusCode} in ${Math.round(ms)} ms`,
    customErrorMessage: (req, res, error) => `${req.method} ${path(req)} ${res.statusCode}: ${error.message}`,
  });
}

function describe(session: NonNullable<Request['session']>, worker: number | string | null) {
  const firstVisitAt = session.firstVisitAt;
  return { visits: session.visits ?? 0, sessionAgeS: firstVisitAt === undefined ? 0 : Math.round((Date.now() - firstVisitAt) / 1000), worker };
}

const errorHandler = (log: Logger): ErrorRequestHandler => (error: unknown, req, res, _next) => {
  const status = statusOf(error);
  const logger = req.log ?? log;
  if (res.headersSent) {
    // express-session saves a changed session after the route answered: a failed save (too large, store away)
    // can no longer change the status, so say it here. Routes that must know save first (see POST /notes).
    logger.error({ err: error }, `${req.method} ${req.originalUrl} failed after its response had started: ${(error as Error).message}`);
    return;
  }
  // 503s are the store being away, which the worker logs once per outage, not once per request.
  if (status >= 500 && status !== 503) logger.error({ err: error }, `${req.method} ${req.originalUrl} failed: ${(error as Error).message}`);
  if (status === 503) res.setHeader('Retry-After', '1');
  res.status(status).json({ error: messageFor(status, error) });
};

function statusOf(error: unknown): number {
  const candidate = (error as { statusCode?: unknown; status?: unknown } | null) ?? {};
  const status = candidate.statusCode ?? candidate.status;
  return typeof status === 'number' && status >= 400 && status <= 599 ? status : 500;
}

function messageFor(status: number, error: unknown): string {
  if (status === 503) return 'session store unavailable, try again shortly';
  if (status === 413) return 'the session is too large: it was not saved';
  // A session store's save of a session that ended meanwhile (signed out, revoked): it stays ended.
  if (status === 401) return 'this session has ended (signed out): sign in again';
  if (status < 500 && (error as { expose?: unknown }).expose === true) return (error as Error).message;
  return status < 500 ? 'bad request' : 'internal error';
}
