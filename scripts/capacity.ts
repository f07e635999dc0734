// `npm run bench:capacity`: how far one primary goes. Measures the primary's CPU per HTTP request (returning and
// fresh visitors) and per store op as the workers rise from 1 to 4 (more workers than cores is fine: what is
// measured is CPU time, not throughput), then drives the host as hard as several niced processes can (the
// saturating run) and draws docs/capacity.svg: primary cores against session requests per second, with the
// lines that extrapolate each measured cost to one full core.
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { hostStats, startApp, stopApp } from './lib/app-process.js';
import { cleanupOnExit } from './lib/cleanup.js';
import { startCpuWindow } from './lib/cpu.js';
import { runSessionLoad, type Workload } from './lib/session-load.js';
import { logLogSvg, type Series } from './lib/svg-plot.js';

interface HttpPoint {
  workers: number;
  workload: Workload;
  requestsPerS: number;
  primaryCores: number;
  /** The primary's CPU per request, µs. */
  primaryUs: number;
  /** The workers' CPU per request, µs: this template's own cost of a request. */
  workerUs: number;
  messagesPerRequest: number;
  othersCores: number | null;
}

/** A row of `npm run bench:store -- --json`. */
interface StoreRow {
  op: string;
  concurrency: number;
  opsPerS: number;
  primaryUsPerOp: number;
  primaryCores: number;
  messagesPerOp: number;
}

interface StorePoint extends StoreRow {
  workers: number;
}

const root = fileURLToPath(new URL('..', import.meta.url));

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      workers: { type: 'string', default: '1,2,3,4' },
      duration: { type: 'string', default: '8' },
      warmup: { type: 'string', default: '2' },
      connections: { type: 'string', default: '50' },
      serialization: { type: 'string', default: 'json' },
      // What a worker of a typical app spends on one request (routing, a database round trip's bookkeeping,
      // templating): 1 ms of CPU, 1,000 requests a second per worker. This template's /hello costs far less.
      'typical-us': { type: 'string', default: '1000' },
      out: { type: 'string', default: 'docs/capacity.svg' },
      json: { type: 'boolean', default: false },
      // Draws the chart and prints the tables again from a report this script printed with --json.
      replot: { type: 'string' },
    },
  });
  if (values.replot !== undefined) {
    const report = JSON.parse(readFileSync(values.replot, 'utf8')) as Report;
    writeFileSync(values.out, chart(report));
    console.log(markdown(report));
    return;
  }
  if (values.serialization !== 'json' && values.serialization !== 'advanced') throw new Error(`--serialization takes json or advanced, got ${values.serialization}`);
  const workerCounts = values.workers.split(',').map(Number);
  const durationS = Number(values.duration);
  const warmupS = Number(values.warmup);
  const connections = Number(values.connections);
  const typicalUs = Number(values['typical-us']);
  const say = (line: string) => (values.json ? undefined : console.error(line));

  // 1. HTTP: the real app, one worker count at a time.
  const http: HttpPoint[] = [];
  const cleanups = cleanupOnExit();
  try {
    for (const workers of workerCounts) {
      const env = { NODE_ENV: 'test', WEB_CONCURRENCY: String(workers), METRICS: 'false', SESSION_STORE: 'cluster', CLUSTER_SERIALIZATION: values.serialization };
      const app = await startApp(cleanups.add, env);
      for (const workload of ['returning', 'fresh'] as const) {
        await runSessionLoad({ url: app.url, connections, durationS: warmupS, workload });
        const primaryPid = app.child.pid!;
        const workerPids = app.workerPids();
        const before = await hostStats(app);
        const cpu = startCpuWindow([primaryPid, ...workerPids]);
        const load = await runSessionLoad({ url: app.url, connections, durationS, workload });
        const used = cpu.stop();
        const after = await hostStats(app);
        const primaryS = used.byPid.get(primaryPid) ?? 0;
        const workersS = workerPids.reduce((sum, pid) => sum + (used.byPid.get(pid) ?? 0), 0);
        const messages = after.messagesIn - before.messagesIn + after.messagesOut - before.messagesOut;
        const point: HttpPoint = {
          workers,
          workload,
          requestsPerS: load.requestsPerS,
          primaryCores: primaryS / used.wallS,
          primaryUs: (primaryS * 1e6) / load.requests,
          workerUs: (workersS * 1e6) / load.requests,
          messagesPerRequest: messages / load.requests,
          othersCores: used.othersS === null ? null : used.othersS / used.wallS,
        };
        if (load.errors + load.timeouts + load.non2xx > 0) throw new Error(`${workers} workers, ${workload}: ${load.errors + load.timeouts + load.non2xx} requests failed`);
        http.push(point);
        say(
          `http ${workers} workers ${workload.padEnd(9)} ${point.requestsPerS.toFixed(0)} req/s, primary ${point.primaryCores.toFixed(2)} cores = ` +
            `${point.primaryUs.toFixed(1)} µs/request, ${point.messagesPerRequest.toFixed(3)} msgs/request, workers ${point.workerUs.toFixed(0)} µs/request`,
        );
      }
      await stopApp(app);
    }
  } finally {
    await cleanups.run();
  }

  // 2. Store ops without HTTP, at 1 call outstanding per worker (each its own message) and at 64.
  const store: StorePoint[] = [];
  for (const workers of workerCounts) {
    const rows = await storeBench(['--workers', String(workers), '--ops', 'get,set', '--outstanding', '1,64', '--rounds', '1', '--serialization', values.serialization]);
    for (const row of rows) {
      store.push({ ...row, workers });
      say(`store ${workers} workers ${row.op} x${row.concurrency}: ${row.opsPerS.toFixed(0)} ops/s, primary ${row.primaryUsPerOp.toFixed(2)} µs/op, ${row.messagesPerOp.toFixed(3)} msgs/op`);
    }
  }

  // 3. The saturating run: four niced drivers keep 256 gets (then sets) outstanding each; the primary keeps its core.
  const saturated = await storeBench(['--workers', '4', '--ops', 'get,set', '--outstanding', '256', '--rounds', '2', '--nice', '--serialization', values.serialization]);
  for (const row of saturated) say(`saturating ${row.op}: ${row.opsPerS.toFixed(0)} ops/s with the primary at ${row.primaryCores.toFixed(2)} cores, ${row.primaryUsPerOp.toFixed(2)} µs/op`);

  const model = capacityModel(http, store, saturated, typicalUs);
  const report = {
    machine: { cores: os.availableParallelism(), cpu: os.cpus()[0]?.model ?? 'unknown', node: process.version, date: new Date().toISOString() },
    setup: { workers: workerCounts, durationS, connections, serialization: values.serialization, typicalUs },
    http,
    store,
    saturated,
    model,
  };
  writeFileSync(values.out, chart(report));
  say(`wrote ${values.out}`);
  console.log(values.json ? JSON.stringify(report, null, 2) : markdown(report));
}

/** Runs `npm run bench:store` with `args` and returns its rows. */
function storeBench(args: string[]): Promise<StoreRow[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/store-bench.ts', '--json', '--sessions', '0', '--duration', '3', ...args], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) reject(new Error(`bench:store ${args.join(' ')} exited with ${code}`));
      else resolve((JSON.parse(out) as { rows: StoreRow[] }).rows);
    });
  });
}

interface Ceiling {
  label: string;
  /** For the chart's legend. */
  short: string;
  /** The primary's CPU per returning request, µs. */
  us: number;
  /** Requests a second that fill one primary core: 1e6 / us. */
  perCore: number;
  /** Workers of the typical app (typicalUs each) that many requests keep busy. */
  typicalWorkers: number;
}

/**
 * A returning visitor's request is one `get` for the store (express-session's touch is skipped), so what one
 * request costs the primary is what a get costs it plus its share of the IPC messages that carried it. Three
 * measured costs bound it: a get alone in its message (a worker that has one request at a time: the most a
 * request costs), a request as the HTTP runs batched them, and a get batched 64 to a message (the least).
 */
function capacityModel(http: HttpPoint[], store: StorePoint[], saturated: StoreRow[], typicalUs: number) {
  const returning = http.filter((p) => p.workload === 'returning');
  const fresh = http.filter((p) => p.workload === 'fresh');
  const gets = (concurrency: number) => median(store.filter((p) => p.op === 'get' && p.concurrency === concurrency).map((p) => p.primaryUsPerOp));
  const ceiling = (label: string, short: string, us: number): Ceiling => ({ label, short, us, perCore: 1e6 / us, typicalWorkers: 1e6 / us / (1e6 / typicalUs) });
  const batched = ceiling('gets batched 64 to a message (store, 1–4 workers, median)', 'gets 64 to a message', gets(64));
  const satGet = saturated.find((r) => r.op === 'get')!;
  return {
    ceilings: [
      ceiling('each get alone in its IPC message (store, 1 outstanding, 1–4 workers, median)', 'each get alone in its message', gets(1)),
      ceiling('returning visitors over HTTP (1–4 workers, median)', 'returning visitors over HTTP', median(returning.map((p) => p.primaryUs))),
      ceiling('fresh visitors over HTTP (1–4 workers, median)', 'fresh visitors over HTTP', median(fresh.map((p) => p.primaryUs))),
      batched,
    ],
    /**
     * The check: the batched cost, measured at 1–4 workers, predicts the primary's cores at the saturating run's
     * rate. Measured at or under the prediction, the cost per op does not grow with load: the line holds up to there.
     */
    check: { getsPerS: satGet.opsPerS, primaryCores: satGet.primaryCores, predictedCores: (satGet.opsPerS * batched.us) / 1e6, usPerOp: satGet.primaryUsPerOp },
    /** What a worker of this template spends per returning request, for comparison with typicalUs. */
    templateWorkerUs: median(returning.map((p) => p.workerUs)),
  };
}

type Report = {
  machine: { cores: number; cpu: string; node: string; date: string };
  setup: { workers: number[]; durationS: number; connections: number; serialization: string; typicalUs: number };
  http: HttpPoint[];
  store: StorePoint[];
  saturated: StoreRow[];
  model: ReturnType<typeof capacityModel>;
};

function markdown(report: Report): string {
  const { machine, setup, model } = report;
  const n = (value: number, digits = 0) => value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
  const out = [
    `${machine.cores} cores (${machine.cpu}), Node ${machine.node}, ${machine.date.slice(0, 10)}; IPC serialization ${setup.serialization}; ` +
      `HTTP: ${setup.connections} connections, ${setup.durationS} s per point; store: 3 s per case.`,
    '',
    '| workers | visitors | req/s | primary cores | primary µs/request | IPC msgs/request | workers µs/request |',
    '|---:|---|---:|---:|---:|---:|---:|',
    ...report.http.map(
      (p) => `| ${p.workers} | ${p.workload} | ${n(p.requestsPerS)} | ${n(p.primaryCores, 2)} | ${n(p.primaryUs, 1)} | ${n(p.messagesPerRequest, 3)} | ${n(p.workerUs)} |`,
    ),
    '',
    '| workers | store op | outstanding per worker | ops/s | primary µs/op | IPC msgs/op |',
    '|---:|---|---:|---:|---:|---:|',
    ...report.store.map((p) => `| ${p.workers} | ${p.op} | ${p.concurrency} | ${n(p.opsPerS)} | ${n(p.primaryUsPerOp, 2)} | ${n(p.messagesPerOp, 3)} |`),
    '',
    `Saturating run (4 niced drivers, 256 outstanding each): ${report.saturated
      .map((r) => `${r.op} ${n(r.opsPerS)}/s with the primary at ${n(r.primaryCores, 2)} cores (${n(r.primaryUsPerOp, 2)} µs/op)`)
      .join('; ')}.`,
    '',
    `| primary CPU per request, from | µs | requests/s one primary core serves | workers of a typical app (${n(setup.typicalUs)} µs/request) |`,
    '|---|---:|---:|---:|',
    ...model.ceilings.map((c) => `| ${c.label} | ${n(c.us, 1)} | ${n(c.perCore)} | ${n(c.typicalWorkers)} |`),
    '',
    `Check: the saturating run served ${n(model.check.getsPerS)} gets/s with the primary at ${n(model.check.primaryCores, 2)} cores ` +
      `(${n(model.check.usPerOp, 2)} µs/op); the batched cost predicts ${n(model.check.predictedCores, 2)} cores at that rate. ` +
      `This template's workers spend ${n(model.templateWorkerUs)} µs per returning request.`,
  ];
  return out.join('\n');
}

function chart(report: Report): string {
  const { model, setup } = report;
  const colors = ['#b45309', '#1d4ed8', '#047857', '#7c3aed'];
  const line = (c: Ceiling, i: number): Series => ({
    label: `${c.short}: ${c.us.toFixed(1)} µs each → ${Math.round(c.perCore / 1000)}k req/s per core = ${Math.round(c.typicalWorkers)} typical workers`,
    color: colors[i]!,
    line: true,
    dashed: true,
    points: [
      { x: 1000, y: (1000 * c.us) / 1e6 },
      { x: 2e6, y: (2e6 * c.us) / 1e6 },
    ],
  });
  const dots = (workload: Workload, color: string): Series => ({
    label: `measured: ${workload} visitors over HTTP, 1–4 workers`,
    color,
    points: report.http.filter((p) => p.workload === workload).map((p) => ({ x: p.requestsPerS, y: p.primaryCores })),
  });
  const sat = report.saturated.find((r) => r.op === 'get')!;
  return logLogSvg({
    title: 'How far one primary goes: its CPU against the session requests it hosts',
    subtitle: `Node ${report.machine.node}, ${report.machine.date.slice(0, 10)}, ${report.machine.cores} cores, IPC ${setup.serialization}. dashed: measured cost per request × rate; typical worker: ${setup.typicalUs} µs CPU per request`,
    xLabel: 'session requests per second (all workers)',
    yLabel: 'primary CPU (cores)',
    x: [1000, 2e6],
    y: [0.001, 3],
    rule: { y: 1, label: 'one core: the primary is the limit' },
    series: [
      ...model.ceilings.filter((c) => !c.label.startsWith('fresh')).map(line),
      dots('returning', '#1d4ed8'),
      dots('fresh', '#0891b2'),
      { label: 'measured: the saturating run (gets, 4 niced drivers, 256 outstanding each)', color: '#7c3aed', points: [{ x: sat.opsPerS, y: sat.primaryCores, note: 'saturating run' }] },
    ],
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
