// Rate limits that hold across the workers (and the machines, with Redis): failed sign-ins per client address,
// and, when RATE_LIMIT_REQUESTS_PER_MINUTE is set, all requests per address. Runs in each worker; the counters
// live where the sessions do (the primary, or Redis), so a client cannot multiply its allowance by the workers.
import type { RequestHandler } from 'express';
import { rateLimit, type Store } from 'express-rate-limit';
import type { Config } from '../config.js';

export interface RateLimits {
  /** On POST /login: failed attempts only (a successful sign-in takes its hit back). */
  signIn?: RequestHandler;
  /** On every request but /healthz and the page's static files. */
  requests?: RequestHandler;
}

/** `counters(prefix)`: the store of one limiter's counters (the cluster host's, Redis', or this worker's own). */
export function createRateLimits(config: Config, counters: (prefix: string) => Store): RateLimits {
  const limits: RateLimits = {};
  if (config.rateLimitSignInAttempts > 0) {
    limits.signIn = rateLimit({
      windowMs: config.rateLimitSignInWindowMs,
      limit: config.rateLimitSignInAttempts,
      skipSuccessfulRequests: true,
      standardHeaders: 'draft-8',
      legacyHeaders: false,
      store: counters('signin:'),
      handler: (_req, res) => res.status(429).json({ error: 'too many failed sign-ins from this address: try again later (see Retry-After)' }),
    });
  }
  if (config.rateLimitRequestsPerMinute > 0) {
    limits.requests = rateLimit({
      windowMs: 60_000,
      limit: config.rateLimitRequestsPerMinute,
      standardHeaders: 'draft-8',
      legacyHeaders: false,
      store: counters('requests:'),
      handler: (_req, res) => res.status(429).json({ error: 'too many requests from this address: slow down (see Retry-After)' }),
    });
  }
  return limits;
}
