// Which express-session store a worker uses, chosen by SESSION_STORE; the app and its routes never know.
import session from 'express-session';
import type { Config } from './config.js';
import { ClusterStore } from './store/index.js';

export function createSessionStore(config: Config): session.Store {
  switch (config.sessionStore) {
    case 'cluster':
      return new ClusterStore({ timeoutMs: config.storeTimeoutMs, maxSessionBytes: config.sessionMaxBytes });
    case 'memory':
      // Unshared: each worker has its own sessions. The benchmark's reference for "as fast as a store can be".
      return new session.MemoryStore();
  }
}
