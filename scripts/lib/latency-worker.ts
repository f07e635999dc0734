// A cluster worker of `npm run bench:latency`: express and express-session on the variant's store (ClusterStore
// from the checkout measured, a MemoryStore it pre-fills itself, or connect-redis), two routes, on a port the
// cluster shares. Its configuration is a WorkerConfig as JSON in LATENCY_WORKER_CONFIG; run with --expose-gc.
import cluster from 'node:cluster';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import express from 'express';
import session, { type Store } from 'express-session';
import type * as StoreModule from '../../src/store/index.js';
import { fillMemoryStore, redisPrefix } from './latency-fill.js';
import type { WorkerConfig, WorkerListening } from './latency-protocol.js';
import { cookieName, lifetimeMs, secret } from './latency-sessions.js';

declare module 'express-session' {
  interface SessionData {
    views: number;
  }
}

async function main(): Promise<void> {
  const config = JSON.parse(process.env.LATENCY_WORKER_CONFIG ?? '') as WorkerConfig;
  const store = await createStore(config);
  const app = express();
  app.use(session({ store, secret, name: cookieName, resave: false, saveUninitialized: false, cookie: { maxAge: lifetimeMs } }));
  // A read: the session as it was (a new visitor gets one, so it is saved).
  app.get('/hello', (req, res) => {
    const known = req.session.views !== undefined;
    if (!known) req.session.views = 1;
    res.json({ known, worker: cluster.worker?.id });
  });
  // A write: express-session saves the changed session before the response ends.
  app.get('/count', (req, res) => {
    const known = req.session.views !== undefined;
    req.session.views = (req.session.views ?? 0) + 1;
    res.json({ known, worker: cluster.worker?.id });
  });
  const server = app.listen(0, '127.0.0.1', () => {
    process.send?.({ kind: 'latency-worker-listening', port: (server.address() as AddressInfo).port } satisfies WorkerListening);
  });
}

async function createStore(config: WorkerConfig): Promise<Store> {
  switch (config.variant) {
    case 'cluster': {
      const { ClusterStore } = (await import(pathToFileURL(config.storePath).href)) as typeof StoreModule;
      return new ClusterStore();
    }
    case 'memory': {
      const store = new session.MemoryStore();
      fillMemoryStore(store, config.sessions, config.expiresAt);
      // The fill's garbage collected now, not in the first seconds of the load (the primary does the same).
      (globalThis as { gc?: () => void }).gc?.();
      return store;
    }
    case 'redis': {
      const [{ createClient }, { RedisStore }] = await Promise.all([import('redis'), import('connect-redis')]);
      const client = createClient({ url: config.redisUrl! });
      await client.connect();
      return new RedisStore({ client, prefix: redisPrefix });
    }
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
