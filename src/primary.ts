// Entry of `npm start`: reads the configuration, hosts the session store, forks one worker per CPU,
// replaces workers that die, and on SIGTERM/SIGINT drains them all and exits. Knows no Express.
import cluster, { type Worker } from 'node:cluster';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RestartBackoff } from './backoff.js';
import { loadConfigOrExit, redact } from './config.js';
import { drainMessage, EXIT_CONFIG } from './control.js';
import { ClusterStore } from './store/index.js';

function main(): void {
  const config = loadConfigOrExit();
  const secrets = config.sessionSecrets.length > 0 ? config.sessionSecrets : [developmentSecret()];
  const host =
    config.sessionStore === 'cluster'
      ? ClusterStore.setup({
          maxSessions: config.sessionMaxSessions,
          maxSessionBytes: config.sessionMaxBytes,
          defaultTtlMs: config.sessionMaxAgeMs,
        })
      : undefined;
  host?.on('rejected', (error: Error) => log(`session store refused a write: ${error.message}`));
  // The worker file sits next to this one: worker.ts under tsx, worker.js in a compiled build.
  const self = fileURLToPath(import.meta.url);
  cluster.setupPrimary({ exec: path.join(path.dirname(self), `worker${path.extname(self)}`) });

  const startedAt = new Map<Worker, number>();
  const backoff = new RestartBackoff();
  let stopping = false;
  let forced = false;

  const fork = () => {
    if (stopping) return;
    // Every worker gets the same secret, or a cookie signed by one would not verify on another.
    const worker = cluster.fork({ SESSION_SECRET: secrets.join(',') });
    startedAt.set(worker, Date.now());
  };

  cluster.on('online', (worker) => log(`worker ${worker.id} (pid ${worker.process.pid}) online`));
  cluster.on('listening', (worker, address) => {
    log(`worker ${worker.id} (pid ${worker.process.pid}) listening on http://localhost:${address.port}`);
  });
  cluster.on('exit', (worker, code, signal) => {
    const uptimeMs = Date.now() - (startedAt.get(worker) ?? Date.now());
    startedAt.delete(worker);
    log(`worker ${worker.id} (pid ${worker.process.pid}) exited (${signal ?? `code ${code}`}) after ${uptimeMs} ms`);
    if (stopping) {
      if (startedAt.size === 0) exit(forced ? 1 : 0);
      return;
    }
    if (code === EXIT_CONFIG) {
      log('a worker cannot start as configured (see its message above): stopping');
      stopping = forced = true;
      killAll();
      if (startedAt.size === 0) exit(1);
      return;
    }
    const delayMs = backoff.next(uptimeMs);
    if (backoff.quickDeaths >= 3) log(`workers keep dying soon after start (${backoff.quickDeaths} in a row): check the errors above`);
    if (delayMs > 0) log(`replacing worker ${worker.id} in ${delayMs} ms`);
    setTimeout(fork, delayMs);
  });

  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) {
      log(`${signal} again: killing ${startedAt.size} workers now`);
      killAll();
      return;
    }
    stopping = true;
    log(`${signal}: draining ${startedAt.size} workers (at most ${config.shutdownTimeoutMs} ms)`);
    if (startedAt.size === 0) exit(0);
    for (const worker of startedAt.keys()) if (worker.isConnected()) worker.send(drainMessage);
    setTimeout(() => {
      log(`shutdown timeout (${config.shutdownTimeoutMs} ms, SHUTDOWN_TIMEOUT_MS): killing ${startedAt.size} workers`);
      killAll();
    }, config.shutdownTimeoutMs).unref();
  };
  const killAll = () => {
    forced = true;
    for (const worker of startedAt.keys()) worker.process.kill('SIGKILL');
  };
  // `kill -USR2 <pid>`: what the store holds and what the IPC channel carried so far.
  process.on('SIGUSR2', () => log(`store stats ${JSON.stringify(host?.stats() ?? null)}`));
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);

  const where = config.redisUrl === null ? '' : ` at ${redact(config.redisUrl)}`;
  log(`pid ${process.pid}, ${config.nodeEnv}, sessions in ${config.sessionStore}${where}: starting ${config.webConcurrency} workers`);
  for (let i = 0; i < config.webConcurrency; i++) fork();
}

function developmentSecret(): string {
  log('SESSION_SECRET not set: using a random secret for this run (sessions end when the app restarts)');
  return randomBytes(32).toString('base64url');
}

function exit(code: number): void {
  log(`exiting with code ${code}`);
  process.exit(code);
}

function log(message: string): void {
  console.log(`[primary] ${message}`);
}

main();
