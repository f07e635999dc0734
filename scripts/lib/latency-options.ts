// The command line of `npm run bench:latency`: its options checked at once (one message listing each bad one),
// and the variants it measures (this checkout's store, MemoryStore, connect-redis, a --baseline checkout's store).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Variant as Kind } from './latency-protocol.js';

export interface Variant {
  name: string;
  label: string;
  kind: Kind;
  /** The store's index.ts: this checkout's, or the --baseline checkout's. */
  storePath: string;
  skip?: string;
  redisUrl?: string;
}

const thisStore = fileURLToPath(new URL('../../src/store/index.ts', import.meta.url));

/** A mistake in the command line: its message is the whole story, no stack trace. */
export class UsageError extends Error {}

/** The variants named in --variants, in the order known, and the --baseline checkout's store after them. */
export function chooseVariants(list: string, baseline: string | undefined, baselineLabel?: string): Variant[] {
  const known: Variant[] = [
    { name: 'memory', label: 'MemoryStore in each worker', kind: 'memory', storePath: thisStore },
    { name: 'cluster', label: 'ClusterStore (this checkout)', kind: 'cluster', storePath: thisStore },
    { name: 'redis', label: 'connect-redis, local redis-server', kind: 'redis', storePath: thisStore },
  ];
  const names = list.split(',');
  const unknown = names.filter((name) => !known.some((v) => v.name === name));
  if (unknown.length > 0) throw new UsageError(`--variants takes ${known.map((v) => v.name).join(', ')}; got ${unknown.join(', ')}`);
  const chosen = known.filter((v) => names.includes(v.name));
  if (baseline !== undefined) {
    const dir = path.resolve(baseline);
    if (!existsSync(path.join(dir, 'src/store/index.ts'))) throw new UsageError(`--baseline must be a checkout of this project (with src/store/index.ts and its node_modules), got ${dir}`);
    chosen.push({ name: 'baseline', label: baselineLabel ?? `ClusterStore of --baseline ${dir}`, kind: 'cluster', storePath: path.join(dir, 'src/store/index.ts') });
  }
  return chosen;
}

/** Every numeric option checked at once: one message listing each bad one. */
export function parseOptions(values: Record<string, string | boolean | undefined>) {
  const problems: string[] = [];
  const number = (name: string, min: number, max = Infinity) => {
    const value = Number(values[name]);
    if (!(value >= min && value <= max)) problems.push(`--${name} must be a number from ${min}${max === Infinity ? '' : ` to ${max}`}, got ${JSON.stringify(values[name])}`);
    return value;
  };
  const sessionCounts = String(values.sessions).split(',').map(Number);
  if (!sessionCounts.every((n) => Number.isSafeInteger(n) && n >= 2)) problems.push(`--sessions must be a list of integers ≥ 2, got ${JSON.stringify(values.sessions)}`);
  const setup = {
    ratePerS: number('rate', 1),
    durationS: number('duration', 0.1),
    warmupS: number('warmup', 0),
    rounds: number('rounds', 1),
    workers: number('workers', 1, 64),
    connections: number('connections', 1),
    newShare: number('new-share', 0, 1),
    writeShare: number('write-share', 0, 1),
    snapshotIntervalMs: number('snapshot-interval', 0.001) * 1000,
    sweepIntervalMs: number('sweep-interval', 0.001) * 1000,
    expireAfterS: number('expire-after', 0),
  };
  const timeoutMs = number('timeout', 0.1) * 1000;
  if (problems.length > 0) throw new UsageError(problems.join('\n'));
  const load = { ratePerS: setup.ratePerS, warmupS: setup.warmupS, durationS: setup.durationS, connections: setup.connections, newShare: setup.newShare, writeShare: setup.writeShare, timeoutMs };
  return { setup, load, sessionCounts, rounds: setup.rounds, start: values.start === true };
}

export type Options = ReturnType<typeof parseOptions>;
