// Runs in each worker of `npm run bench:store`: drives ClusterStore calls (or a bare IPC echo, the floor)
// at a fixed number outstanding for a fixed time, and reports ops and latencies to the primary.
import os from 'node:os';
import { ClusterStore } from '../../src/store/index.js';
import { ECHO_TAG, type BenchCommand, type BenchResult, sessionOfBytes } from './store-bench-protocol.js';

// --nice: this driver yields the CPU to the primary (see store-bench.ts).
if (process.env.STORE_BENCH_NICE !== undefined) os.setPriority(Number(process.env.STORE_BENCH_NICE));
const store = new ClusterStore();
const sid = (n: number) => `${process.pid}-${String(n).padStart(24, '0')}`.slice(-32).padStart(32, 's');

function send(message: BenchResult): void {
  process.send?.(message);
}

type Step = (done: () => void) => void;

function stepFor(command: Extract<BenchCommand, { cmd: 'run' }>): Step {
  const session = sessionOfBytes(command.sessionBytes);
  let n = 0;
  switch (command.op) {
    case 'get':
      return (done) => store.get(sid(n++ % command.keys), () => done());
    case 'set':
      // A new session object each time, as express-session's new sessions are: a posted create. (Saving one object
      // again would be an update, answered: what a request that changed a loaded session costs.)
      return (done) => store.set(sid(n++ % command.keys), { ...session }, () => done());
    case 'touch':
      return (done) => store.touch(sid(n++ % command.keys), session, () => done());
    case 'echo':
      return echoStep(command.echoPadBytes);
  }
}

/** One IPC message there and one back per op: no batching, no store. */
function echoStep(padBytes: number): Step {
  const waiting = new Map<number, () => void>();
  let next = 1;
  process.on('message', (message: { tag?: string; id?: number }) => {
    if (message?.tag !== ECHO_TAG) return;
    const done = waiting.get(message.id!);
    waiting.delete(message.id!);
    done?.();
  });
  const pad = 'x'.repeat(padBytes);
  return (done) => {
    const id = next++;
    waiting.set(id, done);
    process.send?.({ tag: ECHO_TAG, id, pad });
  };
}

async function run(command: Extract<BenchCommand, { cmd: 'run' }>): Promise<BenchResult> {
  const step = stepFor(command);
  const latenciesUs: number[] = [];
  let ops = 0;
  const started = performance.now();
  const end = started + command.durationMs;
  await new Promise<void>((resolve) => {
    let active = command.concurrency;
    const one = () => {
      const t0 = performance.now();
      step(() => {
        const t1 = performance.now();
        latenciesUs.push((t1 - t0) * 1000);
        ops++;
        if (t1 < end) one();
        else if (--active === 0) resolve();
      });
    };
    for (let i = 0; i < command.concurrency; i++) one();
  });
  // Before the sort: sorting a million latencies takes a second, which is not the store's.
  const elapsedS = (performance.now() - started) / 1000;
  latenciesUs.sort((a, b) => a - b);
  return {
    kind: 'result',
    ops,
    elapsedS,
    meanUs: latenciesUs.reduce((a, b) => a + b, 0) / Math.max(1, ops),
    p99Us: latenciesUs[Math.floor(latenciesUs.length * 0.99)] ?? 0,
  };
}

async function fill(count: number, sessionBytes: number, offset: number): Promise<void> {
  const session = sessionOfBytes(sessionBytes);
  const chunk = 1000;
  for (let i = 0; i < count; i += chunk) {
    await Promise.all(
      Array.from({ length: Math.min(chunk, count - i) }, (_, j) => new Promise<void>((resolve) => store.set(sid(offset + i + j), session, () => resolve()))),
    );
  }
}

process.on('message', (message: BenchCommand) => {
  if (message?.cmd === 'run') void run(message).then(send);
  if (message?.cmd === 'fill') void fill(message.count, message.sessionBytes, message.offset).then(() => send({ kind: 'filled' }));
});
send({ kind: 'ready' });
