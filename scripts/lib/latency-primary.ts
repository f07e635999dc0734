// The cluster primary `npm run bench:latency` starts, one per run: hosts the store (cluster: the store host with
// snapshots and a short sweep; memory and redis: nothing), pre-fills the sessions, forks the workers
// (latency-worker.ts) and reports to the bench over IPC (latency-protocol.ts), watching its own event loop.
// Its argument is a PrimaryConfig as JSON. Run with --expose-gc: the heap per session is weighed after a gc.
import cluster from 'node:cluster';
import { statSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { RedisClientType } from 'redis';
import type * as StoreModule from '../../src/store/index.js';
import { expireHalfOfRedis, expireHalfOfTable, fillRedis, fillTable } from './latency-fill.js';
import type { BenchCommand, PrimaryConfig, PrimaryMessage, WorkerConfig, WorkerListening } from './latency-protocol.js';
import { lifetimeMs } from './latency-sessions.js';
import { epochNow, watchLoop } from './latency-watch.js';

type StoreHost = NonNullable<ReturnType<typeof StoreModule.ClusterStore.setup>>;

const { loop, watchHost } = watchLoop();
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});

/** Sends `message` to the bench; resolves once it is written (before an exit, which would drop it). */
function tell(message: PrimaryMessage): Promise<void> {
  return new Promise((resolve) => (process.send ? process.send(message, () => resolve()) : resolve()));
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '') as PrimaryConfig;
  // The bench gone (its IPC channel closed) takes this cluster with it.
  process.on('disconnect', () => stopWorkersAndExit(0));
  const expiresAt = Date.now() + lifetimeMs;
  const host = config.variant === 'cluster' ? await startHost(config) : undefined;
  if (host !== undefined && config.sessions > 0) fillAndWeigh(host, config.sessions, expiresAt);
  const redis = config.variant === 'redis' ? await connectRedis(config) : undefined;
  if (redis !== undefined) {
    await redis.flushAll(); // the previous run's sessions
    const started = performance.now();
    await fillRedis(redis, config.sessions, expiresAt);
    void tell({ kind: 'filled', sessions: config.sessions, fillMs: performance.now() - started, heapUsed: 0, arrayBuffers: 0, heapUsedEmpty: 0, arrayBuffersEmpty: 0, jsonBytes: 0 });
  }
  if (config.mode === 'fill-and-close') {
    await closeHost(host!, config.snapshotFile!);
    process.exit(0);
  }
  const worker: WorkerConfig = { variant: config.variant, sessions: config.sessions, storePath: config.storePath, redisUrl: config.redisUrl, expiresAt };
  const url = await forkWorkers(config.workers, worker);
  const workerPids = Object.values(cluster.workers ?? {}).map((w) => w!.process.pid!);
  void tell({ kind: 'ready', url, workerPids, startedAt: performance.timeOrigin, maxBlockSinceStartMs: loop.maxSinceStartMs() });
  process.on('message', (command: BenchCommand) => void obey(command, config, host, redis));
}

async function startHost(config: PrimaryConfig): Promise<StoreHost> {
  const store = (await import(pathToFileURL(config.storePath).href)) as typeof StoreModule;
  // One turn of the loop first: the delay monitor records a block only once its timer has ticked (imports through
  // tsx can hold the loop from the start until here).
  await new Promise((resolve) => setTimeout(resolve, 5));
  const started = performance.now();
  const host = store.ClusterStore.setup({
    maxSessions: config.capacity,
    sweepIntervalMs: config.sweepIntervalMs,
    features: [store.snapshots({ file: config.snapshotFile!, intervalMs: config.snapshotIntervalMs })],
  })!;
  const setupMs = performance.now() - started;
  host.on('snapshot-loaded', (result: { outcome: string; restored?: number }) =>
    void tell({ kind: 'loaded', at: epochNow(), outcome: result.outcome, restored: result.restored ?? null, setupMs }),
  );
  watchHost(host, host.sessions);
  return host;
}

/** Fills the table between two gcs: the heap it takes, beside the bytes of the ids and JSON it holds. */
function fillAndWeigh(host: StoreHost, sessions: number, expiresAt: number): void {
  gc();
  const empty = process.memoryUsage();
  const started = performance.now();
  const jsonChars = fillTable(host.sessions, sessions, expiresAt);
  const fillMs = performance.now() - started;
  gc();
  const full = process.memoryUsage();
  const jsonBytes = jsonChars / sessions; // one byte a character: the JSON is ASCII
  void tell({ kind: 'filled', sessions, fillMs, heapUsed: full.heapUsed, arrayBuffers: full.arrayBuffers, heapUsedEmpty: empty.heapUsed, arrayBuffersEmpty: empty.arrayBuffers, jsonBytes });
}

async function closeHost(host: StoreHost, file: string): Promise<void> {
  let saved: number | null = null;
  host.on('snapshot-saved', (count: number) => (saved = count));
  const started = performance.now();
  await host.close(); // writes the last snapshot
  await tell({ kind: 'closed', saved, closeMs: performance.now() - started, fileBytes: statSync(file).size });
}

async function connectRedis(config: PrimaryConfig): Promise<RedisClientType> {
  const { createClient } = await import('redis');
  const client = createClient({ url: config.redisUrl! }) as RedisClientType;
  await client.connect();
  return client;
}

/** Forks the workers and waits for each to listen; returns the URL they share. */
async function forkWorkers(count: number, config: WorkerConfig): Promise<string> {
  cluster.setupPrimary({ exec: fileURLToPath(new URL('./latency-worker.ts', import.meta.url)), execArgv: ['--import', 'tsx', '--expose-gc'] });
  const ports = await Promise.all(
    Array.from({ length: count }, () => {
      const worker = cluster.fork({ LATENCY_WORKER_CONFIG: JSON.stringify(config) });
      return new Promise<number>((resolve, reject) => {
        worker.on('message', (message: WorkerListening) => message?.kind === 'latency-worker-listening' && resolve(message.port));
        worker.once('exit', (code, signal) => reject(new Error(`worker ${worker.process.pid} exited (${signal ?? code}) before listening`)));
      });
    }),
  );
  return `http://127.0.0.1:${ports[0]}`;
}

async function obey(command: BenchCommand, config: PrimaryConfig, host: StoreHost | undefined, redis: RedisClientType | undefined): Promise<void> {
  if (command.cmd === 'window-start') loop.startWindow();
  else if (command.cmd === 'window-end') void tell({ kind: 'window', window: loop.window() });
  else if (command.cmd === 'arm-expiry') {
    const started = performance.now();
    const expiring = host ? expireHalfOfTable(host.sessions, config.sessions, command.expireAt) : redis ? await expireHalfOfRedis(redis, config.sessions, command.expireAt) : 0;
    void tell({ kind: 'armed', expiring, armMs: performance.now() - started });
  }
}

function stopWorkersAndExit(code: number): void {
  for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGKILL');
  process.exit(code);
}

main().catch(async (error: unknown) => {
  console.error(error);
  await tell({ kind: 'failed', message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  stopWorkersAndExit(1);
});
