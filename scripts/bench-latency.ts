// `npm run bench:latency`: the latency tail while the primary does something long. Open-loop session load at a
// fixed rate against a cluster whose store holds N pre-filled sessions (snapshots and sweeps on a short interval,
// half the sessions expiring in the window), beside MemoryStore in each worker (and connect-redis): p50 to max,
// ratios to MemoryStore, the primary's longest event-loop block, when snapshots and sweeps ran; then the start
// from a snapshot of N sessions and the primary's heap per session. A markdown table (or --json), docs/latency.svg.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { cleanupOnExit, type Cleanups } from './lib/cleanup.js';
import { startCluster } from './lib/latency-cluster.js';
import { runOpenLoop } from './lib/latency-load.js';
import { latencySvg } from './lib/latency-plot.js';
import { chooseVariants, parseOptions, UsageError, type Options, type Variant } from './lib/latency-options.js';
import type { PrimaryConfig } from './lib/latency-protocol.js';
import { markdown, summarizeRun, type HeapSummary, type Report, type RunSummary, type StartSummary } from './lib/latency-report.js';
import { cookieFor, sidOf } from './lib/latency-sessions.js';
import { epochNow } from './lib/latency-watch.js';
import { redisUnavailable, startRedis } from './lib/redis-server.js';

/** A snapshot interval no run reaches: the start measurement writes its snapshot through host.close() alone. */
const never = 3_600_000;

async function main(): Promise<void> {
  const { values } = parseArgs({
    allowNegative: true,
    options: {
      sessions: { type: 'string', default: '100000,1000000' },
      rate: { type: 'string', default: '1000' },
      duration: { type: 'string', default: '30' },
      warmup: { type: 'string', default: '5' },
      rounds: { type: 'string', default: '2' },
      workers: { type: 'string', default: '2' },
      connections: { type: 'string', default: '64' },
      variants: { type: 'string', default: 'memory,cluster,redis' },
      baseline: { type: 'string' },
      // How the tables and the chart name the --baseline checkout (its path, by default).
      'baseline-label': { type: 'string' },
      'snapshot-interval': { type: 'string', default: '5' },
      'sweep-interval': { type: 'string', default: '5' },
      'expire-after': { type: 'string', default: '4' },
      'new-share': { type: 'string', default: '0.02' },
      'write-share': { type: 'string', default: '0.1' },
      timeout: { type: 'string', default: '10' },
      start: { type: 'boolean', default: true },
      plot: { type: 'string', default: 'docs/latency.svg' },
      json: { type: 'boolean', default: false },
      replot: { type: 'string' },
    },
  });
  if (values.replot !== undefined) {
    const report = JSON.parse(readFileSync(values.replot, 'utf8')) as Report;
    if (values.plot) writeFileSync(values.plot, chart(report));
    console.log(markdown(report));
    return;
  }
  const o = parseOptions(values);
  const variants = chooseVariants(values.variants, values.baseline, values['baseline-label']);
  const cleanups = cleanupOnExit();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-latency-'));
  cleanups.add(() => rmSync(dir, { recursive: true, force: true }));
  const bench: Bench = { cleanups, o, dir, say: (line) => console.error(line) }; // progress on stderr, even with --json
  bench.say(`snapshots in ${dir}`);
  const redis = variants.find((v) => v.kind === 'redis');
  if (redis) redis.skip = redisUnavailable();
  const report: Report = {
    machine: { cores: os.availableParallelism(), cpu: os.cpus()[0]?.model ?? 'unknown', node: process.version, date: new Date().toISOString(), loadAverages: os.loadavg() },
    setup: { ...o.setup },
    variants: variants.map(({ name, label, skip }) => (skip === undefined ? { name, label } : { name, label, skipped: skip })),
    runs: [],
    starts: [],
    heap: [],
  };
  try {
    if (redis && redis.skip === undefined) {
      const server = await startRedis(cleanups.add);
      bench.say(`redis-server pid ${server.pid()}`);
      redis.redisUrl = server.url;
    }
    await measureRounds(bench, variants.filter((v) => v.skip === undefined), report);
  } finally {
    await cleanups.run();
  }
  if (values.plot) {
    writeFileSync(values.plot, chart(report));
    bench.say(`wrote ${values.plot}`);
  }
  console.log(values.json ? JSON.stringify(report) : markdown(report));
}

/** What every measurement needs: where to register cleanups, the options, the temporary folder, the progress line. */
interface Bench {
  cleanups: Cleanups;
  o: Options;
  dir: string;
  say: (line: string) => void;
}

/** Each round: every N, every variant (in alternating order), then the start from a snapshot at the largest N. */
async function measureRounds(bench: Bench, runnable: Variant[], report: Report): Promise<void> {
  const { o, say } = bench;
  for (let round = 1; round <= o.rounds; round++) {
    for (const sessions of o.sessionCounts) {
      // Alternated: one variant does not always run on the machine the one before it left warm.
      for (const variant of round % 2 === 1 ? runnable : [...runnable].reverse()) {
        const { run, heap } = await measureRun(bench, variant, sessions, round);
        report.runs.push(run);
        if (heap) report.heap.push(heap);
        say(
          `round ${round} ${variant.name.padEnd(8)} ${sessions.toLocaleString('en-US').padStart(9)}: p50 ${run.latencyMs.p50.toFixed(2)} p99 ${run.latencyMs.p99.toFixed(1)} ` +
            `p99.9 ${run.latencyMs.p999.toFixed(1)} max ${run.latencyMs.max.toFixed(0)} ms; primary max block ${run.primary.loopDelayMs.max.toFixed(0)} ms; ` +
            `${run.answered}/${run.sent} answered, ${run.failed} failed, ${run.lost} lost; load ${run.loadAverage.toFixed(1)}`,
        );
      }
      if (!o.start || sessions !== Math.max(...o.sessionCounts)) continue;
      for (const variant of runnable.filter((v) => v.kind === 'cluster')) {
        const start = await measureStart(bench, variant, sessions, round);
        report.starts.push(start);
        say(`round ${round} start ${variant.name} ${sessions}: snapshot-loaded after ${start.toLoadedMs.toFixed(0)} ms, first answer after ${start.toFirstAnswerMs.toFixed(0)} ms, primary max block ${start.maxBlockMs.toFixed(0)} ms`);
      }
    }
  }
}

async function measureRun({ cleanups, o, dir, say }: Bench, variant: Variant, sessions: number, round: number) {
  const snapshotFile = path.join(dir, `${variant.name}-${sessions}-${round}.jsonl`);
  const config = primaryConfig(o, variant, sessions, { snapshotFile, mode: 'serve' });
  const loadAverage = os.loadavg()[0]!;
  const cluster = startCluster(cleanups.add, config);
  say(`${variant.name} ${sessions}: primary pid ${cluster.child.pid} (its workers in its process group)`);
  try {
    const filled = variant.kind === 'memory' ? undefined : await cluster.next('filled');
    const ready = await cluster.next('ready');
    if (variant.kind !== 'memory') {
      // Half the sessions expire `expire-after` seconds into the window (arming them takes well under a second).
      cluster.send({ cmd: 'arm-expiry', expireAt: epochNow() + 1000 + (o.setup.warmupS + o.setup.expireAfterS) * 1000 });
      await cluster.next('armed');
    }
    const load = await runOpenLoop({ ...o.load, url: ready.url, sessions, onWindow: (edge) => edge === 'start' && cluster.send({ cmd: 'window-start' }) });
    cluster.send({ cmd: 'window-end' });
    const { window } = await cluster.next('window');
    const run: RunSummary = summarizeRun({ variant: variant.name, sessions, round, loadAverage }, load, window);
    const heap: HeapSummary | undefined =
      filled && variant.kind === 'cluster'
        ? {
            variant: variant.name,
            sessions,
            round,
            heapPerSession: (filled.heapUsed - filled.heapUsedEmpty) / sessions,
            idAndJsonBytes: sidOf(0).length + filled.jsonBytes,
            arrayBuffersPerSession: (filled.arrayBuffers - filled.arrayBuffersEmpty) / sessions,
          }
        : undefined;
    return { run, heap };
  } finally {
    await cluster.stop();
    rmSync(snapshotFile, { force: true });
  }
}

/** Fills N sessions and writes them through host.close(); then times a fresh primary's start from that file. */
async function measureStart({ cleanups, o, dir, say }: Bench, variant: Variant, sessions: number, round: number): Promise<StartSummary> {
  const snapshotFile = path.join(dir, `start-${variant.name}-${sessions}.jsonl`);
  rmSync(snapshotFile, { force: true });
  const filler = startCluster(cleanups.add, primaryConfig(o, variant, sessions, { snapshotFile, mode: 'fill-and-close', workers: 0, snapshotIntervalMs: never }));
  say(`start ${variant.name} ${sessions}: filling primary pid ${filler.child.pid}`);
  const closed = await filler.next('closed');
  await filler.stop();
  const fresh = startCluster(cleanups.add, primaryConfig(o, variant, 0, { snapshotFile, mode: 'serve', snapshotIntervalMs: never, capacity: 2 * sessions + 100_000 }));
  say(`start ${variant.name} ${sessions}: fresh primary pid ${fresh.child.pid} (its workers in its process group)`);
  try {
    const loaded = await fresh.next('loaded');
    const ready = await fresh.next('ready');
    const answeredAt = await firstRestoredAnswer(ready.url, epochNow() + 120_000);
    fresh.send({ cmd: 'window-end' }); // no window was started: the figures since the primary started
    const { window } = await fresh.next('window');
    return {
      variant: variant.name,
      sessions,
      round,
      writeMs: closed.closeMs,
      fileBytes: closed.fileBytes,
      restored: loaded.restored,
      toLoadedMs: loaded.at - fresh.spawnedAt,
      toFirstAnswerMs: answeredAt - fresh.spawnedAt,
      maxBlockMs: window.loopDelayMs.max,
    };
  } finally {
    await fresh.stop();
    rmSync(snapshotFile, { force: true });
  }
}

/** Asks for a session of the snapshot until a worker answers with it; when that answer came (ms since the epoch). */
async function firstRestoredAnswer(url: string, deadline: number): Promise<number> {
  const cookie = cookieFor(sidOf(1));
  for (;;) {
    const response = await fetch(`${url}/hello`, { headers: { cookie } }).catch(() => undefined);
    const body = response ? await response.text() : '';
    if (body.includes('"known":true')) return epochNow();
    if (epochNow() > deadline) throw new Error(`no worker answered with session 1 of the snapshot at ${url} (last answer: ${response?.status} ${body})`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function primaryConfig(o: Options, variant: Variant, sessions: number, overrides: Partial<PrimaryConfig> & Pick<PrimaryConfig, 'mode'>): PrimaryConfig {
  return {
    variant: variant.kind,
    sessions,
    capacity: 2 * sessions + 100_000,
    workers: o.setup.workers,
    storePath: variant.storePath,
    snapshotIntervalMs: o.setup.snapshotIntervalMs,
    sweepIntervalMs: o.setup.sweepIntervalMs,
    ...(variant.redisUrl === undefined ? {} : { redisUrl: variant.redisUrl }),
    ...overrides,
  };
}

/** The timeline at the largest N, the last round of each variant. */
function chart(report: Report): string {
  const largest = Math.max(...report.runs.map((r) => r.sessions));
  const last = new Map(report.runs.filter((r) => r.sessions === largest).map((r) => [r.variant, r]));
  const labels = new Map(report.variants.map((v) => [v.name, v.label]));
  const { setup: s, machine: m } = report;
  return latencySvg(
    [...last.values()],
    labels,
    `Latency of each request, ${largest.toLocaleString('en-US')} sessions, ${s.ratePerS} req/s offered (open loop)`,
    `Node ${m.node}, ${m.cores} cores, ${m.date.slice(0, 10)}, load ${m.loadAverages[0]?.toFixed(1)}; ${s.workers} workers; the slowest request of each 20 ms slot; snapshot every ${s.snapshotIntervalMs / 1000} s, sweep every ${s.sweepIntervalMs / 1000} s`,
  );
}

main().catch((error: unknown) => {
  console.error(error instanceof UsageError ? error.message : error);
  process.exit(error instanceof UsageError ? 2 : 1);
});
