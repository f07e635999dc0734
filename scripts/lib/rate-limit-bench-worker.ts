// Runs in each worker of `npm run bench:rate-limit`: keeps increments of one counter store in flight for a time.
import { ClusterMemoryStoreWorker } from '@express-rate-limit/cluster-memory-store';
import type { Options } from 'express-rate-limit';
import { ClusterRateLimitStore, ClusterStore } from '../../src/store/index.js';

const windowMs = 60_000;
const ours = new ClusterRateLimitStore(new ClusterStore(), { prefix: 'bench:' });
ours.init({ windowMs });
const theirs = new ClusterMemoryStoreWorker({ prefix: 'bench:' });
await theirs.init({ windowMs } as Options);
const stores = { ClusterRateLimitStore: ours, 'cluster-memory-store': theirs };

async function run(kind: keyof typeof stores, durationMs: number, outstanding: number) {
  const store = stores[kind];
  const end = performance.now() + durationMs;
  const started = performance.now();
  let ops = 0;
  let failed = 0;
  let n = 0;
  const lane = async () => {
    while (performance.now() < end) {
      await store.increment(`${process.pid}-${n++ % 1000}`).then(
        () => ops++,
        () => failed++,
      );
    }
  };
  await Promise.all(Array.from({ length: outstanding }, lane));
  return { ops, failed, elapsedS: (performance.now() - started) / 1000 };
}

process.on('message', (message: { bench: number; kind: keyof typeof stores; durationMs: number; outstanding: number }) => {
  if (typeof message?.bench !== 'number') return;
  void run(message.kind, message.durationMs, message.outstanding).then((result) => process.send?.({ bench: message.bench, result }));
});
process.send?.({ bench: 0 });
