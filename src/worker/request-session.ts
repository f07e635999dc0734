// The request's session, for routes: express-session leaves none while its store says it is disconnected (the
// Redis store does, while Redis is away); that is a 503, not a route crashing on undefined. Runs in each worker.
import type { Request } from 'express';

export function sessionOf(req: Request): NonNullable<Request['session']> {
  if (req.session === undefined) throw new SessionUnavailableError();
  return req.session;
}

class SessionUnavailableError extends Error {
  readonly statusCode = 503;
  constructor() {
    super('session store unavailable');
  }
}
