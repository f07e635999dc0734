// `npm run bench:store`: store operations without HTTP. This process is the primary and hosts the store; its
// workers call get/set/touch at 1 and 64 outstanding, beside a bare IPC echo (the floor), one group of workers
// per IPC serialization, with the primary's CPU and IPC messages per op. Then the primary's heap per session at
// 100,000 sessions of about 200 bytes of JSON, and gets of a few sessions among all those held.
import cluster, { type Worker } from 'node:cluster';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { fileURLToPath } from 'node:url';
import { ClusterStore } from '../src/store/index.js';
import { TAG } from '../src/store/shared/wire.js';
import { ECHO_TAG, sessionOfBytes, type BenchCommand, type BenchOp, type BenchResult } from './lib/store-bench-protocol.js';
import { cleanupOnExit } from './lib/cleanup.js';
import { spread } from './lib/stats.js';

const sidLength = 32;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      workers: { type: 'string', default: '2' },
      duration: { type: 'string', default: '3' },
      rounds: { type: 'string', default: '3' },
      'session-bytes': { type: 'string', default: '200' },
      sessions: { type: 'string', default: '100000' },
      // Both by default, alternated case by case in one run: the ratio between them is the figure that holds.
      serialization: { type: 'string', default: 'json,advanced' },
      ops: { type: 'string', default: 'echo,get,set,touch' },
      outstanding: { type: 'string', default: '1,64' },
      'cpu-prof-dir': { type: 'string' },
      // The workers lower their own priority, so on a machine with fewer cores than processes the primary still
      // gets a whole core: the saturating run of `npm run bench:capacity` measures the host's ceiling this way.
      nice: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  const serializations = values.serialization.split(',');
  const unknown = serializations.find((s) => s !== 'json' && s !== 'advanced');
  if (unknown !== undefined || new Set(serializations).size !== serializations.length) {
    throw new Error(`--serialization takes json, advanced or both (json,advanced), got ${values.serialization}`);
  }
  const workerCount = Number(values.workers);
  const durationMs = Number(values.duration) * 1000;
  const sessionBytes = Number(values['session-bytes']);
  const sessionCount = Number(values.sessions);
  const say = (line: string) => (values.json ? undefined : console.error(line));

  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const host = ClusterStore.setup({ maxSessions: 10_000_000, maxSessionBytes: 1 << 20 })!;
  const { getPad, replyPad } = echoSizes(sessionBytes);
  const replyPadding = 'x'.repeat(replyPad);
  cluster.on('message', (worker, message: { tag?: string; id?: number }) => {
    if (message?.tag === ECHO_TAG) worker.send({ tag: ECHO_TAG, id: message.id, pad: replyPadding });
  });
  const profile = values['cpu-prof-dir'] === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${values['cpu-prof-dir']}`];
  const cleanups = cleanupOnExit();
  // One group of workers per serialization, all served by the same host: a channel's serialization is its own.
  const groups = (serializations as Serialization[]).map((serialization) => {
    cluster.setupPrimary({ exec: fileURLToPath(new URL('./lib/store-bench-worker.ts', import.meta.url)), execArgv: ['--import', 'tsx', ...profile], serialization });
    return { serialization, workers: Array.from({ length: workerCount }, () => cluster.fork(values.nice ? { STORE_BENCH_NICE: '19' } : {})) };
  });
  const allWorkers = groups.flatMap((group) => group.workers);
  // Interrupted (or left behind by npm), it kills them; a run that ends lets them exit on their own (finally, below).
  cleanups.add(() => allWorkers.forEach((worker) => worker.process.kill('SIGKILL')));
  /** One case on one group's workers at once, with the primary's CPU and the host's messages over it. */
  const runCase = async (group: (typeof groups)[number], command: Extract<BenchCommand, { cmd: 'run' }>): Promise<Row> => {
    const cpuBefore = process.cpuUsage();
    const statsBefore = host.stats();
    const results = (await Promise.all(group.workers.map((w) => ask(w, command, 'result')))) as Extract<BenchResult, { kind: 'result' }>[];
    const cpu = process.cpuUsage(cpuBefore);
    const statsAfter = host.stats();
    const messages = statsAfter.messagesIn - statsBefore.messagesIn + statsAfter.messagesOut - statsBefore.messagesOut;
    return combine(command.op, command.concurrency, group.serialization, results, { cpuS: (cpu.user + cpu.system) / 1e6, messages });
  };
  const workers = groups[0]!.workers;
  try {
    await Promise.all(allWorkers.map((w) => next(w, 'ready')));
    const keys = 1000;
    await Promise.all(allWorkers.map((w) => ask(w, { cmd: 'fill', count: keys, sessionBytes, offset: 0 }, 'filled')));

    const rows: Row[] = [];
    for (const concurrency of values.outstanding.split(',').map(Number)) {
      const perCase = new Map<string, Row[]>();
      for (let round = 1; round <= Number(values.rounds); round++) {
        for (const op of values.ops.split(',') as BenchOp[]) {
          // The groups take turns within a case, in an order that alternates by round.
          for (const group of round % 2 === 1 ? groups : [...groups].reverse()) {
            const row = await runCase(group, { cmd: 'run', op, concurrency, durationMs, keys, sessionBytes, echoPadBytes: getPad });
            say(
              `round ${round} ${group.serialization.padEnd(8)} ${op.padEnd(5)} x${concurrency}: ${row.opsPerS.toFixed(0)} ops/s, ` +
                `mean ${row.meanUs.toFixed(0)} µs, p99 ${row.p99Us.toFixed(0)} µs, primary ${row.primaryUsPerOp.toFixed(2)} µs CPU/op`,
            );
            const key = `${group.serialization} ${op}`;
            perCase.set(key, [...(perCase.get(key) ?? []), row]);
          }
        }
      }
      for (const runs of perCase.values()) {
        const json = perCase.get(`json ${runs[0]!.op}`);
        // Paired by round: each round's figure over the json group's figure for the same case and round.
        const vsJson = json === undefined ? undefined : spread(runs.map((run, i) => run.opsPerS / json[i]!.opsPerS));
        rows.push({ ...medianRow(runs), vsJson });
      }
    }

    // --sessions 0 skips the memory figure and the full-table row.
    let memory: Memory | null = null;
    if (sessionCount > 0) {
      // Memory: the host's heap before and after the workers store `sessionCount` sessions through the real path.
      await Promise.all(workers.map((w) => ask(w, { cmd: 'run', op: 'get', concurrency: 1, durationMs: 10, keys, sessionBytes, echoPadBytes: 0 }, 'result')));
      host.sessions.clear();
      gc();
      const heapBefore = process.memoryUsage().heapUsed;
      const perWorker = Math.ceil(sessionCount / workerCount);
      await Promise.all(workers.map((w, i) => ask(w, { cmd: 'fill', count: perWorker, sessionBytes, offset: (i + 1) * 10_000_000 }, 'filled')));
      await Promise.all(workers.map((w) => ask(w, { cmd: 'run', op: 'get', concurrency: 1, durationMs: 10, keys, sessionBytes, echoPadBytes: 0 }, 'result')));
      gc();
      const stored = host.sessions.size;
      const heapPerSession = (process.memoryUsage().heapUsed - heapBefore) / stored;
      const jsonBytes = JSON.stringify(sessionOfBytes(sessionBytes)).length;
      memory = { sessions: stored, sidLength, jsonBytes, heapPerSession, ratio: heapPerSession / (sidLength + jsonBytes) };

      // A full table with a few busy visitors: the same 50 sessions per worker read over and over among all those held.
      const hot = 50;
      const group = groups[0]!;
      await Promise.all(group.workers.map((w) => ask(w, { cmd: 'fill', count: hot, sessionBytes, offset: 0 }, 'filled')));
      for (const concurrency of values.outstanding.split(',').map(Number)) {
        const runs: Row[] = [];
        for (let round = 1; round <= Number(values.rounds); round++) {
          runs.push(await runCase(group, { cmd: 'run', op: 'get', concurrency, durationMs, keys: hot, sessionBytes, echoPadBytes: 0 }));
        }
        // Each worker reads its own `hot` sessions (a worker's session ids carry its pid).
        const row = { ...medianRow(runs), held: { sessions: host.sessions.size, read: hot * group.workers.length } };
        say(`${row.held.sessions} held, ${row.held.read} read: get x${concurrency}: ${row.opsPerS.toFixed(0)} ops/s, primary ${row.primaryUsPerOp.toFixed(2)} µs CPU/op`);
        rows.push(row);
      }
    }

    const report = {
      machine: { cores: os.availableParallelism(), node: process.version, date: new Date().toISOString() },
      setup: { workers: workerCount, durationS: durationMs / 1000, rounds: Number(values.rounds), sessionBytes, serializations: serializations as Serialization[] },
      rows,
      memory,
    };
    console.log(values.json ? JSON.stringify(report, null, 2) : markdown(report));
  } finally {
    // Closing the channel lets each worker exit on its own (and write a --cpu-prof profile); kill the slow.
    const exited = allWorkers.map((worker) => new Promise((resolve) => worker.process.once('exit', resolve)));
    for (const worker of allWorkers) if (worker.isConnected()) worker.disconnect();
    const timer = setTimeout(() => allWorkers.forEach((worker) => worker.process.kill('SIGKILL')), 5000);
    await Promise.all(exited);
    clearTimeout(timer);
  }
}

type Serialization = 'json' | 'advanced';

interface Memory {
  sessions: number;
  sidLength: number;
  jsonBytes: number;
  heapPerSession: number;
  ratio: number;
}

interface Row {
  op: BenchOp;
  concurrency: number;
  serialization: Serialization;
  opsPerS: number;
  meanUs: number;
  p99Us: number;
  /** CPU the primary spent per op (hosting, or echoing), in µs: what one primary core can carry is 1e6 / this. */
  primaryUsPerOp: number;
  /** The primary's CPU over the case's wall time: near 1, the host is the limit. */
  primaryCores: number;
  /** IPC messages the host received and sent per op. */
  messagesPerOp: number;
  /** Run on a table holding this many sessions, reading only `read` of them (the other rows: 1,000 held, all read). */
  held?: { sessions: number; read: number } | undefined;
  /** ops/s over the json group's in the same round: median, lowest, highest. */
  vsJson?: { median: number; low: number; high: number } | undefined;
}

function combine(
  op: BenchOp,
  concurrency: number,
  serialization: Serialization,
  results: Extract<BenchResult, { kind: 'result' }>[],
  primary: { cpuS: number; messages: number },
): Row {
  const ops = results.reduce((n, r) => n + r.ops, 0);
  const primaryCpuS = primary.cpuS;
  return {
    op,
    concurrency,
    serialization,
    opsPerS: results.reduce((n, r) => n + r.ops / r.elapsedS, 0),
    meanUs: results.reduce((n, r) => n + r.meanUs * r.ops, 0) / ops,
    p99Us: Math.max(...results.map((r) => r.p99Us)),
    primaryUsPerOp: (primaryCpuS * 1e6) / ops,
    primaryCores: primaryCpuS / Math.max(...results.map((r) => r.elapsedS)),
    // The echo is one message each way per op, and the host does not count it.
    messagesPerOp: op === 'echo' ? 2 : primary.messages / ops,
  };
}

/** The round whose ops/s is the median (the lower middle one of an even count): all its figures, from that one round. */
function medianRow(runs: Row[]): Row {
  const sorted = [...runs].sort((a, b) => a.opsPerS - b.opsPerS);
  return { ...sorted[(sorted.length - 1) >> 1]! };
}

/** Pads for the echo so its messages are as long as a get's request and reply. */
function echoSizes(sessionBytes: number): { getPad: number; replyPad: number } {
  const sid = 's'.repeat(sidLength);
  const request = JSON.stringify({ tag: TAG, c: 1, q: [[123456, 'get', sid]] });
  const reply = JSON.stringify({ tag: TAG, c: 1, r: [[123456, null, [JSON.stringify(sessionOfBytes(sessionBytes)), Date.now()]]] });
  const bare = JSON.stringify({ tag: ECHO_TAG, id: 123456, pad: '' });
  return { getPad: Math.max(0, request.length - bare.length), replyPad: Math.max(0, reply.length - bare.length) };
}

function markdown(report: {
  machine: { cores: number; node: string; date: string };
  setup: { workers: number; durationS: number; rounds: number; sessionBytes: number; serializations: Serialization[] };
  rows: Row[];
  memory: Memory | null;
}): string {
  const out = [
    `${report.machine.cores} cores, Node ${report.machine.node}, ${report.machine.date.slice(0, 10)}; ${report.setup.workers} workers, ` +
      `${report.setup.rounds} rounds of ${report.setup.durationS} s per case (medians); sessions of ${report.setup.sessionBytes} bytes of JSON; ` +
      `IPC serialization ${report.setup.serializations.join(' and ')}${report.setup.serializations.length > 1 ? ', alternated case by case' : ''}.`,
    '',
    '| op | outstanding per worker | serialization | ops/s (all workers) | mean µs | p99 µs | mean × echo | primary CPU µs/op | primary cores | IPC msgs/op | ops/s × json (lowest–highest) |',
    '|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  const { serializations } = report.setup;
  const rows = [...report.rows].sort(
    (a, b) =>
      a.concurrency - b.concurrency ||
      Number(a.held !== undefined) - Number(b.held !== undefined) ||
      order(a.op) - order(b.op) ||
      serializations.indexOf(a.serialization) - serializations.indexOf(b.serialization),
  );
  for (const row of rows) {
    const echo = report.rows.find((r) => r.op === 'echo' && r.concurrency === row.concurrency && r.serialization === row.serialization);
    const vs = row.serialization === 'json' || row.vsJson === undefined ? '–' : `${row.vsJson.median.toFixed(2)} (${row.vsJson.low.toFixed(2)}–${row.vsJson.high.toFixed(2)})`;
    const label =
      row.op === 'echo'
        ? 'bare IPC echo (floor)'
        : row.held
          ? `get, ${row.held.sessions.toLocaleString('en-US')} sessions held, ${row.held.read} read`
          : row.op === 'get'
            ? 'get (round trip)'
            : `${row.op} (posted: until written)`;
    out.push(
      `| ${label} | ${row.concurrency} | ${row.serialization} | ${row.opsPerS.toFixed(0)} | ${row.meanUs.toFixed(1)} | ${row.p99Us.toFixed(0)} | ` +
        `${echo ? (row.meanUs / echo.meanUs).toFixed(2) : '–'} | ${row.primaryUsPerOp.toFixed(2)} | ${row.primaryCores.toFixed(2)} | ${row.messagesPerOp.toFixed(3)} | ${vs} |`,
    );
  }
  const m = report.memory;
  if (m !== null) {
    out.push(
      '',
      `Primary heap per session at ${m.sessions} sessions (${m.sidLength}-character id, ${m.jsonBytes} bytes of JSON): ` +
        `${m.heapPerSession.toFixed(0)} bytes = ${m.ratio.toFixed(2)} × (id + JSON).`,
    );
  }
  return out.join('\n');
}

function order(op: BenchOp): number {
  return ['echo', 'get', 'set', 'touch'].indexOf(op);
}

function next(worker: Worker, kind: BenchResult['kind']): Promise<BenchResult> {
  return new Promise((resolve, reject) => {
    const listener = (message: BenchResult) => {
      if (message?.kind !== kind) return;
      worker.off('message', listener);
      worker.off('exit', exited);
      resolve(message);
    };
    // A worker that dies mid-case would otherwise leave the benchmark waiting for ever.
    const exited = (code: number | null, signal: string | null) => reject(new Error(`bench:store worker ${worker.process.pid} exited (${signal ?? code}) while its primary waited for "${kind}"`));
    worker.on('message', listener);
    worker.once('exit', exited);
  });
}

function ask(worker: Worker, command: BenchCommand, kind: BenchResult['kind']): Promise<BenchResult> {
  const answer = next(worker, kind);
  worker.send(command);
  return answer;
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
