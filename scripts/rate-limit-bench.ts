// `npm run bench:rate-limit`: two ways to count rate limits in the primary, side by side in one run: this store's
// `rateLimits` feature (ClusterRateLimitStore) and @express-rate-limit/cluster-memory-store. Two workers keep
// --outstanding increments in flight each for --duration s, the two alternated for --rounds; medians of ops/s
// and of the primary's CPU time per increment.
import cluster, { type Worker } from 'node:cluster';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ClusterMemoryStorePrimary } from '@express-rate-limit/cluster-memory-store';
import { ClusterStore, rateLimits } from '../src/store/index.js';
import { cleanupOnExit } from './lib/cleanup.js';
import { median } from './lib/stats.js';

type Kind = 'ClusterRateLimitStore' | 'cluster-memory-store';
interface Result {
  ops: number;
  elapsedS: number;
  failed: number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rounds: { type: 'string', default: '5' }, duration: { type: 'string', default: '3' }, outstanding: { type: 'string', default: '64' } } });
  ClusterStore.setup({ features: [rateLimits] });
  new ClusterMemoryStorePrimary().init();
  cluster.setupPrimary({ exec: fileURLToPath(new URL('./lib/rate-limit-bench-worker.ts', import.meta.url)), execArgv: ['--import', 'tsx'] });
  const cleanups = cleanupOnExit();
  const workers = [cluster.fork(), cluster.fork()];
  cleanups.add(() => workers.forEach((worker) => worker.process.kill('SIGKILL')));
  try {
    await Promise.all(workers.map((worker) => reply(worker)));
    const kinds: Kind[] = ['ClusterRateLimitStore', 'cluster-memory-store'];
    const figures = new Map<Kind, { opsPerS: number; primaryUsPerOp: number }[]>(kinds.map((kind) => [kind, []]));
    for (let round = 1; round <= Number(values.rounds); round++) {
      for (const kind of kinds) {
        const cpu = process.cpuUsage();
        const results = (await Promise.all(workers.map((worker) => reply(worker, { kind, durationMs: Number(values.duration) * 1000, outstanding: Number(values.outstanding) })))) as Result[];
        const { user, system } = process.cpuUsage(cpu);
        const ops = results.reduce((sum, r) => sum + r.ops, 0);
        const failed = results.reduce((sum, r) => sum + r.failed, 0);
        const opsPerS = results.reduce((sum, r) => sum + r.ops / r.elapsedS, 0);
        figures.get(kind)!.push({ opsPerS, primaryUsPerOp: (user + system) / ops });
        console.error(`round ${round} ${kind.padEnd(22)} ${opsPerS.toFixed(0).padStart(7)} increments/s, primary ${((user + system) / ops).toFixed(1)} µs each${failed ? `, ${failed} failed` : ''}`);
      }
    }
    console.log(`Node ${process.version}; 2 workers, ${values.outstanding} increments outstanding each, ${values.rounds} rounds of ${values.duration} s (medians)\n`);
    console.log('| counter store | increments/s (all workers) | primary CPU per increment |');
    console.log('|---|---:|---:|');
    for (const [kind, runs] of figures) {
      console.log(`| ${kind} | ${median(runs.map((r) => r.opsPerS)).toFixed(0)} | ${median(runs.map((r) => r.primaryUsPerOp)).toFixed(1)} µs |`);
    }
  } finally {
    await cleanups.run();
  }
}

let nextId = 1;
function reply(worker: Worker, command?: object): Promise<unknown> {
  const id = nextId++;
  return new Promise((resolve) => {
    const onMessage = (message: { bench?: number; result?: unknown }) => {
      if (message.bench !== (command ? id : 0)) return;
      worker.off('message', onMessage);
      resolve(message.result);
    };
    worker.on('message', onMessage);
    if (command) worker.send({ bench: id, ...command });
  });
}

await main();
process.exit(0);
