// Entry of each worker process: the app with a ClusterStore, listening on PORT; drains on the primary's word
// or on SIGTERM/SIGINT: finishes what it serves, then leaves.
import cluster from 'node:cluster';
import { createDrainableServer } from './drain.js';
import { createApp } from './app.js';
import { loadConfigOrExit } from '../config.js';
import { EXIT_CONFIG, isDrainMessage } from '../control.js';
import { createLogger, exitOnUncaught } from '../log.js';
import { createWorkerMetrics } from './metrics.js';
import { createSessionStore } from './session-store.js';
import { createUserDirectory } from '../users.js';

function main(): void {
  const worker = cluster.worker;
  if (worker === undefined) throw new Error('src/worker/main.ts runs inside the cluster: start the app with `npm start`');
  const config = loadConfigOrExit();
  if (config.sessionSecrets.length === 0) throw new Error('SESSION_SECRET missing: the primary hands it to workers');
  const log = createLogger(config, { role: 'worker', worker: worker.id });
  exitOnUncaught(log);

  let draining = false;
  const metrics = config.metrics ? createWorkerMetrics() : undefined;
  const sessions = createSessionStore(config, log, metrics && ((op, outcome, ms) => metrics.observeStore(op, outcome, ms)));
  const store = sessions.store;
  if (config.sessionStore === 'cluster') {
    store.on('unavailable', (error: Error) => {
      if (!draining) log.warn(`session store in the primary unreachable (${error.message}): answering 503 until it answers again`);
    });
    store.on('available', () => log.info('session store in the primary reachable again'));
  }
  const app = createApp({
    store,
    secrets: config.sessionSecrets,
    workerId: worker.id,
    sessionMaxAgeMs: config.sessionMaxAgeMs,
    maxSessionsPerUser: config.sessionMaxPerUser,
    secureCookie: config.nodeEnv === 'production',
    trustProxy: config.trustProxy,
    metrics,
    log,
    logRequests: config.logRequests,
    sessionLock: sessions.lock,
    limits: sessions.limits,
    users: createUserDirectory(),
  });

  const timeouts = { headersMs: config.httpHeadersTimeoutMs, requestMs: config.httpRequestTimeoutMs, keepAliveMs: config.httpKeepAliveTimeoutMs };
  const { server, drain: drainServer } = createDrainableServer(app, { timeouts });
  server.on('error', (error: NodeJS.ErrnoException) => {
    const hint = error.code === 'EADDRINUSE' ? ': another program uses it; set PORT to a free port' : '';
    log.fatal({ err: error }, `cannot listen on PORT ${config.port} (${error.code ?? error.message})${hint}`);
    process.exit(EXIT_CONFIG);
  });
  server.listen(config.port);

  const drain = () => {
    if (draining) return;
    draining = true;
    log.info('draining: no new connections, finishing requests in flight');
    void drainServer()
      .then(() => sessions.close())
      .finally(() => worker.disconnect());
  };
  process.on('message', (message) => {
    if (isDrainMessage(message)) drain();
  });
  // Ctrl-C reaches the whole process group: drain like the primary asks, do not die mid-request.
  process.on('SIGTERM', drain);
  process.on('SIGINT', drain);
  // A hangup of the terminal reaches the whole group too: it is the primary's cue to reload, which replaces
  // this worker gracefully; dying of it (Node's default) would drop the requests in flight.
  process.on('SIGHUP', () => {});
}

main();
