// `npm run bench`: the same session-aware load against variants of the same app and worker count, alternated
// round by round; medians and ratios to the unshared MemoryStore, as a markdown table (or --json).
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { hostStats, startApp, stopApp, type AppProcess } from './lib/app-process.js';
import { cleanupOnExit } from './lib/cleanup.js';
import { startCpuWindow } from './lib/cpu.js';
import { redisUnavailable, startRedis } from './lib/redis-server.js';
import { runSessionLoad, type LoadResult, type Workload } from './lib/session-load.js';
import { median } from './lib/stats.js';

interface Variant {
  name: string;
  label: string;
  path: string;
  env?: Record<string, string>;
  /** Why this variant cannot run here, if it cannot. */
  skip?: string;
  /** Processes besides the app that serve this variant (its CPU is the variant's, not noise). */
  servers?: () => number[];
  /** The primary hosts the sessions: its CPU and IPC messages are reported. */
  hosted?: boolean;
  /** Another checkout of this project to run (--baseline), for a before/after comparison in one run. */
  cwd?: string;
  /** Each connection signs in first as this user: its session is in the store's user index. */
  signIn?: { username: string; password: string };
  /** The workloads it runs, when not all. */
  workloads?: Workload[];
}

const allVariants: Variant[] = [
  { name: 'none', label: 'no session middleware (HTTP ceiling, /healthz)', path: '/healthz', env: { SESSION_STORE: 'memory' } },
  { name: 'memory', label: 'MemoryStore in each worker (unshared)', path: '/hello', env: { SESSION_STORE: 'memory' } },
  { name: 'cluster', label: 'ClusterStore (this project)', path: '/hello', env: { SESSION_STORE: 'cluster' }, hosted: true },
  {
    name: 'cluster-advanced',
    label: 'ClusterStore, CLUSTER_SERIALIZATION=advanced',
    path: '/hello',
    env: { SESSION_STORE: 'cluster', CLUSTER_SERIALIZATION: 'advanced' },
    hosted: true,
  },
  {
    name: 'cluster-lock',
    label: 'ClusterStore with SESSION_LOCK=true',
    path: '/hello',
    env: { SESSION_STORE: 'cluster', SESSION_LOCK: 'true' },
    hosted: true,
  },
  { name: 'redis', label: 'connect-redis, local redis-server', path: '/hello' },
  {
    name: 'cluster-user',
    label: 'ClusterStore, visitors signed in (their sessions in the user index)',
    path: '/hello',
    env: { SESSION_STORE: 'cluster' },
    hosted: true,
    signIn: { username: 'alice', password: 'alice-demo-password' },
    workloads: ['returning'],
  },
];

/** Ratios between two variants, paired by round, printed under each table. */
const comparisons = [
  { variant: 'cluster', over: 'redis', label: 'ClusterStore ÷ connect-redis' },
  { variant: 'cluster-advanced', over: 'cluster', label: 'IPC serialization advanced ÷ json' },
  { variant: 'cluster-lock', over: 'cluster', label: 'SESSION_LOCK on ÷ off (the cost of the lock)' },
  { variant: 'cluster-user', over: 'cluster', label: 'signed in ÷ anonymous (the cost of the user index)' },
];

interface Run {
  variant: string;
  workload: Workload;
  round: number;
  load: LoadResult;
  primaryCores: number | null;
  primaryShare: number | null;
  ipcMessagesPerRequest: number | null;
  othersCores: number | null;
  retries: number;
}

/** Other processes may use this much CPU (cores, averaged over a run) before the run is done again. */
const noisyCores = 0.15;
const maxRetries = 2;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      // Five rounds at least: one run's ratio moves by ± 0.1 here, and a median of three says little.
      rounds: { type: 'string', default: '5' },
      duration: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '3' },
      connections: { type: 'string', default: '50' },
      workers: { type: 'string', default: '2' },
      variants: { type: 'string', default: allVariants.map((v) => v.name).join(',') },
      workloads: { type: 'string', default: 'returning,fresh' },
      baseline: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const rounds = Number(values.rounds);
  const durationS = Number(values.duration);
  const warmupS = Number(values.warmup);
  const connections = Number(values.connections);
  const workloads = values.workloads.split(',') as Workload[];
  const chosen = allVariants.filter((v) => values.variants.split(',').includes(v.name));
  if (values.baseline !== undefined) {
    // The same cluster variant from another checkout (with its own node_modules), alternated with this one.
    const cwd = path.resolve(values.baseline);
    chosen.push({ name: 'baseline', label: `ClusterStore of --baseline ${cwd}`, path: '/hello', env: { SESSION_STORE: 'cluster' }, hosted: true, cwd });
    comparisons.push({ variant: 'cluster', over: 'baseline', label: 'ClusterStore ÷ --baseline (this checkout over the other)' });
  }
  const say = (line: string) => (values.json ? undefined : console.error(line));
  const cleanups = cleanupOnExit();
  const redis = chosen.find((v) => v.name === 'redis');
  if (redis) {
    const missing = redisUnavailable();
    if (missing) redis.skip = missing;
    else {
      const server = await startRedis(cleanups.add);
      say(`redis-server pid ${server.pid()}`);
      redis.env = { SESSION_STORE: server.url };
      redis.servers = () => [server.pid()].filter((pid): pid is number => pid !== undefined);
    }
  }
  const runnable = chosen.filter((v) => v.skip === undefined);

  const apps = new Map<string, AppProcess>();
  const runs: Run[] = [];
  try {
    for (const variant of runnable) {
      say(`starting ${variant.name}…`);
      // METRICS=false: the store comparison should not count ClusterStore's own instrumentation against it.
      // RATE_LIMIT_SIGNIN_ATTEMPTS=0: the signed-in variant signs in 50 connections from one address at once.
      const env = { NODE_ENV: 'test', WEB_CONCURRENCY: values.workers, METRICS: 'false', RATE_LIMIT_SIGNIN_ATTEMPTS: '0', ...variant.env };
      const app = await startApp(cleanups.add, env, { cwd: variant.cwd });
      say(`${variant.name}: primary pid ${app.child.pid} (its workers in its process group)`);
      apps.set(variant.name, app);
    }
    for (let round = 1; round <= rounds; round++) {
      for (const workload of workloads) {
        for (const variant of runnable) {
          if (variant.workloads && !variant.workloads.includes(workload)) continue;
          const app = apps.get(variant.name)!;
          const run = await measure(app, variant, workload, round, { connections, durationS, warmupS });
          runs.push(run);
          say(
            `round ${round} ${workload.padEnd(9)} ${variant.name.padEnd(12)} ${run.load.requestsPerS.toFixed(0).padStart(6)} req/s  p99 ${run.load.latencyMs.p99} ms` +
              (run.othersCores === null ? '' : `  others ${run.othersCores.toFixed(2)} cores`) +
              (run.retries ? `  (${run.retries} noisy attempts discarded)` : ''),
          );
        }
      }
    }
    for (const app of apps.values()) await stopApp(app);
  } finally {
    await cleanups.run();
  }

  const report = summarize(runs, chosen, workloads, { rounds, durationS, connections, workers: Number(values.workers) });
  console.log(values.json ? JSON.stringify({ ...report, runs }, null, 2) : markdown(report));
}

async function measure(app: AppProcess, variant: Variant, workload: Workload, round: number, o: { connections: number; durationS: number; warmupS: number }): Promise<Run> {
  for (let attempt = 0; ; attempt++) {
    const signIn = variant.signIn;
    if (o.warmupS > 0) await runSessionLoad({ url: app.url, path: variant.path, connections: o.connections, durationS: o.warmupS, workload, signIn });
    const primaryPid = app.child.pid!;
    const workerPids = app.workerPids();
    const before = variant.hosted ? await hostStats(app) : null;
    const cpu = startCpuWindow([primaryPid, ...workerPids, ...(variant.servers?.() ?? [])]);
    const load = await runSessionLoad({ url: app.url, path: variant.path, connections: o.connections, durationS: o.durationS, workload, signIn });
    const used = cpu.stop();
    const after = before === null ? null : await hostStats(app);
    const primaryS = used.byPid.get(primaryPid) ?? 0;
    const appS = [primaryPid, ...workerPids].reduce((sum, pid) => sum + (used.byPid.get(pid) ?? 0), 0);
    const othersCores = used.othersS === null ? null : used.othersS / used.wallS;
    if (othersCores !== null && othersCores > noisyCores && attempt < maxRetries) continue;
    const messages = before && after ? after.messagesIn - before.messagesIn + (after.messagesOut - before.messagesOut) : null;
    return {
      variant: variant.name,
      workload,
      round,
      load,
      primaryCores: variant.hosted ? primaryS / used.wallS : null,
      primaryShare: variant.hosted && appS > 0 ? primaryS / appS : null,
      // autocannon counts the requests answered in the window; the counters also saw a few in flight at its edges.
      ipcMessagesPerRequest: messages === null || load.requests === 0 ? null : messages / load.requests,
      othersCores,
      retries: attempt,
    };
  }
}

interface Row {
  variant: string;
  label: string;
  skipped?: string;
  requestsPerS?: number;
  ratio?: number | null;
  /** The lowest and highest of the per-round ratios behind `ratio`. */
  ratioSpread?: [number, number] | null;
  p50?: number;
  p99?: number;
  p99Ratio?: number | null;
  failed?: number;
  stickiness?: number | null;
  primaryCores?: number | null;
  primaryShare?: number | null;
  ipcMessagesPerRequest?: number | null;
}

function summarize(runs: Run[], variants: Variant[], workloads: Workload[], setup: Record<string, number>) {
  const tables = workloads.map((workload) => {
    const of = (name: string) => runs.filter((r) => r.variant === name && r.workload === workload);
    const reference = new Map(of('memory').map((r) => [r.round, r]));
    // Paired: each round's figure over the MemoryStore figure of the same round, then the median of those.
    const perRound = (mine: Run[], pick: (run: Run) => number) => mine.map((r) => (reference.has(r.round) ? pick(r) / pick(reference.get(r.round)!) : null));
    const pairedRatio = (mine: Run[], pick: (run: Run) => number) => medianOrNull(perRound(mine, pick));
    const rows: Row[] = variants.map((variant) => {
      if (variant.skip) return { variant: variant.name, label: variant.label, skipped: variant.skip };
      if (variant.workloads && !variant.workloads.includes(workload)) return { variant: variant.name, label: variant.label, skipped: `${variant.workloads.join(', ')} only` };
      const mine = of(variant.name);
      const rps = median(mine.map((r) => r.load.requestsPerS));
      const p99 = median(mine.map((r) => r.load.latencyMs.p99));
      return {
        variant: variant.name,
        label: variant.label,
        requestsPerS: rps,
        ratio: pairedRatio(mine, (r) => r.load.requestsPerS),
        ratioSpread: spreadOrNull(perRound(mine, (r) => r.load.requestsPerS)),
        p50: median(mine.map((r) => r.load.latencyMs.p50)),
        p99,
        p99Ratio: pairedRatio(mine, (r) => r.load.latencyMs.p99),
        failed: mine.reduce((n, r) => n + r.load.errors + r.load.timeouts + r.load.non2xx, 0),
        stickiness: variant.path === '/hello' ? median(mine.map((r) => r.load.stickiness ?? NaN)) : null,
        primaryCores: medianOrNull(mine.map((r) => r.primaryCores)),
        primaryShare: medianOrNull(mine.map((r) => r.primaryShare)),
        ipcMessagesPerRequest: medianOrNull(mine.map((r) => r.ipcMessagesPerRequest)),
      };
    });
    const paired = comparisons.flatMap(({ variant, over, label }) => {
      const byRound = new Map(of(over).map((r) => [r.round, r.load.requestsPerS]));
      const ratios = of(variant).map((r) => (byRound.has(r.round) ? r.load.requestsPerS / byRound.get(r.round)! : null));
      const ratio = medianOrNull(ratios);
      return ratio === null ? [] : [{ variant, over, label, ratio, spread: spreadOrNull(ratios) }];
    });
    return { workload, rows, paired };
  });
  const noisy = runs.filter((r) => r.othersCores !== null && r.othersCores > noisyCores).length;
  return {
    machine: { cores: os.availableParallelism(), cpu: os.cpus()[0]?.model ?? 'unknown', node: process.version, date: new Date().toISOString() },
    setup,
    noisyRunsKept: noisy,
    tables,
  };
}

function markdown(report: ReturnType<typeof summarize>): string {
  const f = (n: number | null | undefined, digits = 2) => (n === null || n === undefined || Number.isNaN(n) ? '–' : n.toFixed(digits));
  const spread = (range: [number, number] | null | undefined) => (range ? ` (${f(range[0])}–${f(range[1])})` : '');
  const out = [
    `${report.machine.cores} cores (${report.machine.cpu}), Node ${report.machine.node}, ${report.machine.date.slice(0, 10)}; ` +
      `${report.setup.workers} workers, ${report.setup.connections} connections, ${report.setup.rounds} rounds of ${report.setup.durationS} s; ` +
      'medians, ratios paired by round (each round over its own MemoryStore run), the lowest and highest round in brackets.',
  ];
  for (const { workload, rows, paired } of report.tables) {
    out.push('', `**${workload}** visitors (${workload === 'returning' ? 'cookie kept: get + touch per request' : 'no cookie: a new session and a set per request'})`, '');
    out.push('| variant | req/s | × MemoryStore | p50 ms | p99 ms | p99 × MemoryStore | failed | stickiness | primary CPU (cores) | IPC msgs/req |');
    out.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const r of rows) {
      if (r.skipped) {
        out.push(`| ${r.label} | skipped: ${r.skipped} | | | | | | | | |`);
        continue;
      }
      const stick = r.stickiness === null || r.stickiness === undefined || Number.isNaN(r.stickiness) ? '–' : `${(r.stickiness * 100).toFixed(1)} %`;
      out.push(
        `| ${r.label} | ${f(r.requestsPerS, 0)} | ${f(r.ratio)}${spread(r.ratioSpread)} | ${f(r.p50, 0)} | ${f(r.p99, 0)} | ${f(r.p99Ratio)} | ${r.failed} | ${stick} | ` +
          `${r.primaryCores == null ? '–' : `${f(r.primaryCores)} (${f((r.primaryShare ?? 0) * 100, 0)} % of app CPU)`} | ${f(r.ipcMessagesPerRequest)} |`,
      );
    }
    if (paired.length > 0) out.push('', ...paired.map(({ label, ratio, spread: range }) => `- ${label}, req/s paired by round: ${f(ratio)}${spread(range)}`));
  }
  if (report.noisyRunsKept > 0) out.push('', `Warning: ${report.noisyRunsKept} runs had other processes using > ${noisyCores} cores even after ${maxRetries} retries; treat their ratios with care.`);
  return out.join('\n');
}

/** The lowest and highest of the values present; null when there is none. */
function spreadOrNull(values: (number | null)[]): [number, number] | null {
  const present = values.filter((v): v is number => v !== null && !Number.isNaN(v));
  return present.length ? [Math.min(...present), Math.max(...present)] : null;
}

function medianOrNull(values: (number | null)[]): number | null {
  const present = values.filter((v): v is number => v !== null);
  return present.length ? median(present) : null;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
