// Entry of `npm start`, the primary process: reads the configuration, hosts the session store
// (SESSION_STORE=cluster), and runs the workers (src/worker/main.ts): one per CPU, replaced when they die, reloaded
// on SIGHUP, drained on SIGTERM/SIGINT. Knows no Express.
import cluster from 'node:cluster';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { getHeapStatistics } from 'node:v8';
import { fileURLToPath } from 'node:url';
import { loadConfigOrExit, redact, type Config } from '../config.js';
import { createLogger, exitOnUncaught, type Logger } from '../log.js';
import { ClusterStore, rateLimitsWith, sessionLocks, snapshots, type Evicting, type Feature, type LoadResult, type RateLimitsFull, type StoreHost } from '../store/index.js';
import { serveClusterMetrics } from './metrics.js';
import { Supervisor } from './supervisor.js';

function main(): void {
  const config = loadConfigOrExit();
  const log = createLogger(config, { role: 'primary' });
  exitOnUncaught(log);
  const secrets = config.sessionSecrets.length > 0 ? config.sessionSecrets : [developmentSecret(log)];
  const host = config.sessionStore === 'cluster' ? hostSessions(config, log) : undefined;
  host?.on('rejected', (error: Error) => log.warn({ err: error }, `session store refused a write: ${error.message}`));
  host?.on('evicting', ({ bound, limit, sessions, bytes }: Evicting) => {
    const setting =
      bound === 'maxSessions' ? `SESSION_MAX_SESSIONS (${limit})` : `SESSION_MAX_TOTAL_BYTES (${limit}${config.sessionMaxTotalBytes === null ? ': a quarter of the primary\'s heap limit, as it is not set' : ''})`;
    log.warn({ bound, limit, sessions, bytes }, `session store full: evicting the least recently used sessions (those without a user first) to stay within ${setting}; ${sessions} sessions held (counted as ${bytes} bytes). Counted in ecs_sessions_evicted_total`);
  });
  host?.on('snapshot-failed', (error: Error) =>
    log.error({ err: error, file: config.snapshotFile }, `could not write the session snapshot ${config.snapshotFile}: ${error.message}`),
  );
  host?.on('snapshot-loaded', (result: LoadResult) => logLoad(log, config.snapshotFile!, result));
  host?.on('rate-limits-full', ({ bound, limit, counters, bytes, prefix }: RateLimitsFull) => {
    const setting = bound === 'maxCounters' ? `RATE_LIMIT_MAX_CLIENTS (${limit})` : `its byte bound (${limit})`;
    log.warn({ bound, limit, counters, bytes, prefix }, `rate-limit counters full at ${setting}: new client addresses of "${prefix}" now share one count (limited sooner, never later) until windows end; raise RATE_LIMIT_MAX_CLIENTS if these are real visitors`);
  });

  // The workers' entry is ../worker/main beside this file: main.ts under tsx, main.js in a compiled build.
  const self = fileURLToPath(import.meta.url);
  const workerEntry = path.join(path.dirname(self), '..', 'worker', `main${path.extname(self)}`);
  // The primary and each worker must agree on the serialization: fork() gives both ends of the channel the same.
  cluster.setupPrimary({ exec: workerEntry, serialization: config.clusterSerialization });
  const supervisor = new Supervisor({
    workers: config.webConcurrency,
    // Every worker gets the same secret, or a cookie signed by one would not verify on another.
    env: { SESSION_SECRET: secrets.join(',') },
    shutdownTimeoutMs: config.shutdownTimeoutMs,
    log,
    onStopped: (code) => {
      // The host outlives the last worker: now it can write its last snapshot.
      void (host?.close() ?? Promise.resolve()).finally(() => {
        if (config.snapshotFile !== null) log.info({ file: config.snapshotFile }, `sessions written to ${config.snapshotFile}`);
        log.info({ code }, `exiting with code ${code}`);
        process.exit(code);
      });
    },
  });

  process.on('SIGTERM', () => supervisor.shutdown('SIGTERM'));
  process.on('SIGINT', () => supervisor.shutdown('SIGINT'));
  // `kill -HUP <pid>`: new workers replace the old ones one at a time; sessions stay in this process.
  process.on('SIGHUP', () => void supervisor.reload());
  // `kill -USR2 <pid>`: what the store holds and what the IPC channel carried so far.
  process.on('SIGUSR2', () => {
    const { rss, heapUsed } = process.memoryUsage();
    const primaryHeapLimitBytes = getHeapStatistics().heap_size_limit;
    log.info({ stats: { ...(host?.stats() ?? {}), primaryRssBytes: rss, primaryHeapBytes: heapUsed, primaryHeapLimitBytes } }, 'store stats');
  });

  const where = (config.redisUrl === null ? '' : ` at ${redact(config.redisUrl)}`) + (config.sessionLock ? ' (SESSION_LOCK on)' : '');
  log.info(
    { nodeEnv: config.nodeEnv, sessionStore: config.sessionStore, sessionLock: config.sessionLock, workers: config.webConcurrency },
    `${config.nodeEnv}, sessions in ${config.sessionStore}${where}: starting ${config.webConcurrency} workers`,
  );
  if (config.demoAccounts) {
    const why = config.nodeEnv === 'production' ? 'DEMO_USERS=true lets production use them' : 'production refuses them unless DEMO_USERS=true';
    log.warn(`demo accounts on: alice and bob can sign in with the passwords in the README (src/users.ts); ${why}`);
  }
  // Metrics on the primary's own port, before any worker starts: a port in use stops the app with the setting to change.
  const metricsAddress = { host: config.metricsHost, port: config.metricsPort };
  const metrics = config.metrics
    ? serveClusterMetrics(host, metricsAddress, (error) => log.warn({ err: error }, `metrics server: ${error.message} (the app goes on)`))
    : Promise.resolve(undefined);
  metrics.then(
    (served) => {
      if (served) log.info({ url: served.url }, `metrics on ${served.url}`);
      supervisor.start();
    },
    (error: NodeJS.ErrnoException) => {
      const where = `${metricsAddress.host}:${metricsAddress.port}`;
      log.fatal({ err: error }, `cannot serve metrics on ${where} (${error.code ?? error.message}): set METRICS_PORT to a free port (or METRICS_HOST, or METRICS=false)`);
      process.exit(1);
    },
  );
}

/**
 * The session store's host, with the features the configuration asks for; a setting it refuses (a snapshot file
 * that is a symbolic link) stops the app before any worker starts, with the store's message.
 */
function hostSessions(config: Config, log: Logger): StoreHost | undefined {
  // The rate limiters' counters live here too: a client's count is one for the whole cluster.
  const features: Feature[] = [rateLimitsWith({ maxCounters: config.rateLimitMaxClients })];
  if (config.sessionLock) features.push(sessionLocks);
  if (config.snapshotFile !== null) features.push(snapshots({ file: config.snapshotFile, intervalMs: config.snapshotIntervalMs }));
  try {
    return ClusterStore.setup({
      maxSessions: config.sessionMaxSessions,
      maxSessionBytes: config.sessionMaxBytes,
      maxTotalBytes: config.sessionMaxTotalBytes ?? undefined,
      maxSessionsPerUser: config.sessionMaxPerUser,
      defaultTtlMs: config.sessionMaxAgeMs,
      absoluteTimeoutMs: config.sessionAbsoluteTimeoutMs,
      features,
    });
  } catch (error) {
    log.fatal({ err: error }, `cannot start the session store: ${(error as Error).message}`);
    process.exit(1);
  }
}

function logLoad(log: Logger, file: string, result: LoadResult): void {
  switch (result.outcome) {
    case 'missing':
      return log.info({ file }, `no session snapshot at ${file} yet: starting empty`);
    case 'loaded':
      return log.info({ file, restored: result.restored, expired: result.expired }, `restored ${result.restored} sessions from ${file} (${result.expired} had expired)`);
    case 'refused':
      return log.error({ file }, `session snapshot ${file} not loaded, starting empty: ${result.reason}`);
    case 'moved-aside':
      return log.warn({ file, movedTo: result.movedTo }, `session snapshot ${file} ${result.reason}: moved to ${result.movedTo}, starting empty`);
  }
}

function developmentSecret(log: Logger): string {
  log.warn('SESSION_SECRET not set: using a random secret for this run (sessions end when the app restarts)');
  return randomBytes(32).toString('base64url');
}

main();
