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
import { cleanupOnExit, type Cleanups } from './lib/cleanup.js';
import { startCpuWindow } from './lib/cpu.js';
import { runSessionLoad, type Workload } from './lib/session-load.js';
import { logLogSvg, type Series } from './lib/svg-plot.js';
import { median } from './lib/stats.js';

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
  /** Store calls the host ran per HTTP request: the model's premise is one (a get, or a set). */
  storeCallsPerRequest: number;
  /** CPU used meanwhile by processes not ours, in cores: noise. */
  othersCores: number | null;
}

/** A row of `npm run bench:store -- --json`. */
interface StoreRow {
  /** Set on the rows of a full table, which this script does not use. */
  held?: unknown;
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
/** Seconds per case of the store runs. */
const storeDurationS = 3;

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

  const options: Options = { workerCounts, durationS, warmupS, connections, serialization: values.serialization };
  const cleanups = cleanupOnExit();
  let report: Report;
  try {
    const http = await httpPoints(options, cleanups, say);
    // The store without HTTP, at 1 call outstanding per worker (each its own message) and at 64.
    const store: StorePoint[] = [];
    for (const workers of workerCounts) {
      const rows = await storeBench(cleanups.add, ['--workers', String(workers), '--ops', 'get,set', '--outstanding', '1,64', '--rounds', '1', '--serialization', values.serialization]);
      for (const row of rows) {
        store.push({ ...row, workers });
        say(`store ${workers} workers ${row.op} x${row.concurrency}: ${row.opsPerS.toFixed(0)} ops/s, primary ${row.primaryUsPerOp.toFixed(2)} µs/op, ${row.messagesPerOp.toFixed(3)} msgs/op`);
      }
    }
    // The saturating run: four niced drivers keep 256 gets (then sets) outstanding each; the primary keeps its core.
    const saturated = await storeBench(cleanups.add, ['--workers', '4', '--ops', 'get,set', '--outstanding', '256', '--rounds', '3', '--nice', '--serialization', values.serialization]);
    for (const row of saturated) say(`saturating ${row.op}: ${row.opsPerS.toFixed(0)} ops/s with the primary at ${row.primaryCores.toFixed(2)} cores, ${row.primaryUsPerOp.toFixed(2)} µs/op`);
    report = {
      machine: { cores: os.availableParallelism(), cpu: os.cpus()[0]?.model ?? 'unknown', node: process.version, date: new Date().toISOString() },
      setup: { workers: workerCounts, durationS, connections, serialization: values.serialization, typicalUs, storeDurationS },
      http,
      store,
      saturated,
      model: capacityModel(http, store, saturated, typicalUs, workerCounts),
    };
  } finally {
    await cleanups.run();
  }
  writeFileSync(values.out, chart(report));
  say(`wrote ${values.out}`);
  console.log(values.json ? JSON.stringify(report, null, 2) : markdown(report));
}

interface Options {
  workerCounts: number[];
  durationS: number;
  warmupS: number;
  connections: number;
  serialization: string;
}

/** The real app at each worker count, returning then fresh visitors: what each request cost the primary and the workers. */
async function httpPoints(o: Options, cleanups: Cleanups, say: (line: string) => void): Promise<HttpPoint[]> {
  const http: HttpPoint[] = [];
  for (const workers of o.workerCounts) {
    const env = { NODE_ENV: 'test', WEB_CONCURRENCY: String(workers), METRICS: 'false', SESSION_STORE: 'cluster', CLUSTER_SERIALIZATION: o.serialization };
    const app = await startApp(cleanups.add, env);
    for (const workload of ['returning', 'fresh'] as const) {
      await runSessionLoad({ url: app.url, connections: o.connections, durationS: o.warmupS, workload });
      const primaryPid = app.child.pid!;
      const workerPids = app.workerPids();
      const before = await hostStats(app);
      const cpu = startCpuWindow([primaryPid, ...workerPids]);
      const load = await runSessionLoad({ url: app.url, connections: o.connections, durationS: o.durationS, workload });
      const used = cpu.stop();
      const after = await hostStats(app);
      const failed = load.errors + load.timeouts + load.non2xx;
      if (failed > 0) throw new Error(`${workers} workers, ${workload}: ${failed} requests failed`);
      const primaryS = used.byPid.get(primaryPid) ?? 0;
      const workersS = workerPids.reduce((sum, pid) => sum + (used.byPid.get(pid) ?? 0), 0);
      const point: HttpPoint = {
        workers,
        workload,
        requestsPerS: load.requestsPerS,
        primaryCores: primaryS / used.wallS,
        primaryUs: (primaryS * 1e6) / load.requests,
        workerUs: (workersS * 1e6) / load.requests,
        messagesPerRequest: (after.messagesIn - before.messagesIn + after.messagesOut - before.messagesOut) / load.requests,
        storeCallsPerRequest: (after.requests - before.requests) / load.requests,
        othersCores: used.othersS === null ? null : used.othersS / used.wallS,
      };
      http.push(point);
      say(
        `http ${workers} workers ${workload.padEnd(9)} ${point.requestsPerS.toFixed(0)} req/s, primary ${point.primaryCores.toFixed(2)} cores = ` +
          `${point.primaryUs.toFixed(1)} µs/request, ${point.storeCallsPerRequest.toFixed(2)} store calls and ${point.messagesPerRequest.toFixed(3)} msgs/request, ` +
          `workers ${point.workerUs.toFixed(0)} µs/request, others ${point.othersCores?.toFixed(2) ?? '?'} cores`,
      );
    }
    await stopApp(app);
  }
  return http;
}

/** Runs `npm run bench:store` with `args` and returns its rows; `cleanup` stops it (and its workers) if this script is stopped first. */
function storeBench(cleanup: (fn: () => unknown) => void, args: string[]): Promise<StoreRow[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/store-bench.ts', '--json', '--sessions', '0', '--duration', String(storeDurationS), ...args], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
      detached: true, // a process group of its own: the cleanup reaches its workers too
    });
    cleanup(() => {
      if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGKILL');
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.on('error', reject);
    // 'close', not 'exit': the report may still be in the pipe when the process has exited.
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`bench:store ${args.join(' ')} exited with ${code}`));
      else resolve((JSON.parse(out) as { rows: StoreRow[] }).rows.filter((row) => row.held === undefined));
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
function capacityModel(http: HttpPoint[], store: StorePoint[], saturated: StoreRow[], typicalUs: number, workerCounts: number[]) {
  const range = workerCounts.length > 1 ? `${Math.min(...workerCounts)}–${Math.max(...workerCounts)} workers, median` : `${workerCounts[0]} workers`;
  const returning = http.filter((p) => p.workload === 'returning');
  const fresh = http.filter((p) => p.workload === 'fresh');
  const gets = (concurrency: number) => median(store.filter((p) => p.op === 'get' && p.concurrency === concurrency).map((p) => p.primaryUsPerOp));
  const ceiling = (label: string, short: string, us: number): Ceiling => ({ label, short, us, perCore: 1e6 / us, typicalWorkers: 1e6 / us / (1e6 / typicalUs) });
  const batched = ceiling(`gets batched 64 to a message (store, ${range})`, 'gets 64 to a message', gets(64));
  const satGet = saturated.find((r) => r.op === 'get')!;
  return {
    ceilings: [
      ceiling(`each get alone in its IPC message (store, 1 outstanding, ${range})`, 'each get alone in its message', gets(1)),
      ceiling(`returning visitors over HTTP (${range})`, 'returning visitors over HTTP', median(returning.map((p) => p.primaryUs))),
      ceiling(`fresh visitors over HTTP (${range})`, 'fresh visitors over HTTP', median(fresh.map((p) => p.primaryUs))),
      batched,
    ],
    /**
     * The check: the batched cost, measured at each worker count, predicts the primary's cores at the saturating run's
     * rate. Measured at or under the prediction, the cost per op does not grow with load: the line holds up to there.
     */
    check: { getsPerS: satGet.opsPerS, primaryCores: satGet.primaryCores, predictedCores: (satGet.opsPerS * batched.us) / 1e6, usPerOp: satGet.primaryUsPerOp },
    /** What a worker of this template spends per returning request, for comparison with typicalUs. */
    templateWorkerUs: median(returning.map((p) => p.workerUs)),
  };
}

type Report = {
  machine: { cores: number; cpu: string; node: string; date: string };
  setup: { workers: number[]; durationS: number; connections: number; serialization: string; typicalUs: number; storeDurationS: number };
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
      `HTTP: ${setup.connections} connections, ${setup.durationS} s per point; store: ${setup.storeDurationS} s per case.`,
    '',
    '| workers | visitors | req/s | primary cores | primary µs/request | store calls/request | IPC msgs/request | workers µs/request | other processes (cores) |',
    '|---:|---|---:|---:|---:|---:|---:|---:|---:|',
    ...report.http.map(
      (p) =>
        `| ${p.workers} | ${p.workload} | ${n(p.requestsPerS)} | ${n(p.primaryCores, 2)} | ${n(p.primaryUs, 1)} | ${n(p.storeCallsPerRequest, 2)} | ` +
        `${n(p.messagesPerRequest, 3)} | ${n(p.workerUs)} | ${p.othersCores === null ? '–' : n(p.othersCores, 2)} |`,
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
    ...model.ceilings.map((c) => `| ${c.label} | ${n(c.us, 2)} | ${n(c.perCore)} | ${n(c.typicalWorkers)} |`),
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
    label: `${c.short}: ${c.us.toFixed(2)} µs each → ${Math.round(c.perCore / 1000)}k req/s per core = ${Math.round(c.typicalWorkers)} typical workers`,
    color: colors[i]!,
    line: true,
    dashed: true,
    points: [
      { x: 1000, y: (1000 * c.us) / 1e6 },
      { x: 2e6, y: (2e6 * c.us) / 1e6 },
    ],
  });
  const dots = (workload: Workload, color: string): Series => ({
    label: `measured: ${workload} visitors over HTTP, ${report.setup.workers.join(', ')} workers`,
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

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
