// The figures `npm run bench:latency` prints: one run's latencies and counts, the ranges over its rounds with ratios
// to MemoryStore paired by round, the start from a snapshot, the heap per session; as markdown tables.
import type { OpenLoopResult } from './latency-load.js';
import { outcomes } from './latency-load.js';
import type { PrimaryWindow } from './latency-protocol.js';

/** Slots of the timeline the chart draws: the slowest request scheduled in each. */
const slotMs = 20;

export interface RunSummary {
  variant: string;
  sessions: number;
  round: number;
  /** The machine's load average (1 min) when the run began. */
  loadAverage: number;
  sent: number;
  answered: number;
  failed: number;
  lost: number;
  /** Over every request of the window, failed ones at the time they failed (a timeout counts its whole wait). */
  latencyMs: { p50: number; p99: number; p999: number; max: number };
  clientMaxBlockMs: number;
  windowStartAt: number;
  primary: PrimaryWindow;
  /** [ms from the window's start, the slowest latency of the requests scheduled in that 20 ms slot]. */
  timeline: [number, number][];
}

export function summarizeRun(meta: Pick<RunSummary, 'variant' | 'sessions' | 'round' | 'loadAverage'>, load: OpenLoopResult, primary: PrimaryWindow): RunSummary {
  const count = (name: (typeof outcomes)[number]) => load.outcome.reduce((n, o) => n + Number(outcomes[o] === name), 0);
  const sorted = Float64Array.from(load.latencyMs).sort();
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? NaN;
  const slots = new Map<number, number>();
  load.scheduledMs.forEach((scheduled, k) => {
    const slot = Math.floor(scheduled / slotMs) * slotMs;
    slots.set(slot, Math.max(slots.get(slot) ?? 0, load.latencyMs[k]!));
  });
  return {
    ...meta,
    sent: load.outcome.length,
    answered: count('ok') + count('lost') + count('http-error'),
    failed: count('http-error') + count('socket-error') + count('timeout'),
    lost: count('lost'),
    latencyMs: { p50: at(0.5), p99: at(0.99), p999: at(0.999), max: sorted.at(-1) ?? NaN },
    clientMaxBlockMs: load.clientMaxBlockMs,
    windowStartAt: load.windowStartAt,
    primary,
    timeline: [...slots].map(([slot, max]) => [slot, Math.round(max * 100) / 100]),
  };
}

export interface StartSummary {
  variant: string;
  sessions: number;
  round: number;
  /** host.close() writing the last snapshot, ms; the file's size. */
  writeMs: number;
  fileBytes: number;
  restored: number | null;
  /** From spawning the fresh primary to its snapshot-loaded event, and to a worker's first answer with a session from the file. */
  toLoadedMs: number;
  toFirstAnswerMs: number;
  /** The primary's longest event-loop block from its start until its workers listened. */
  maxBlockMs: number;
}

export interface HeapSummary {
  variant: string;
  sessions: number;
  round: number;
  heapPerSession: number;
  idAndJsonBytes: number;
  arrayBuffersPerSession: number;
}

export interface Report {
  machine: { cores: number; cpu: string; node: string; date: string; loadAverages: number[] };
  setup: { ratePerS: number; durationS: number; warmupS: number; workers: number; connections: number; rounds: number; newShare: number; writeShare: number; snapshotIntervalMs: number; sweepIntervalMs: number; expireAfterS: number };
  variants: { name: string; label: string; skipped?: string }[];
  runs: RunSummary[];
  starts: StartSummary[];
  heap: HeapSummary[];
}

const range = (values: number[], digits = 1) => {
  const present = values.filter((v) => !Number.isNaN(v));
  if (present.length === 0) return '–';
  const [low, high] = [Math.min(...present), Math.max(...present)];
  return low.toFixed(digits) === high.toFixed(digits) ? low.toFixed(digits) : `${low.toFixed(digits)}–${high.toFixed(digits)}`;
};
const thousands = (n: number) => n.toLocaleString('en-US');

export function markdown(report: Report): string {
  const { machine: m, setup: s } = report;
  const out = [
    `${m.cores} cores (${m.cpu}), Node ${m.node}, ${m.date.slice(0, 10)}, load average ${m.loadAverages.map((l) => l.toFixed(1)).join(' / ')} at the start; ` +
      `${s.workers} workers, ${s.ratePerS} req/s offered (open loop), ${s.rounds} round(s) of ${s.durationS} s after ${s.warmupS} s of warm-up, ` +
      `${s.newShare * 100} % new visitors, ${s.writeShare * 100} % of returning visits save; cluster: a snapshot every ${s.snapshotIntervalMs / 1000} s, ` +
      `a sweep every ${s.sweepIntervalMs / 1000} s, half the sessions expire ${s.expireAfterS} s into the window. Latencies: ranges over rounds; ratios paired by round; ` +
      'requests: totals over rounds (answered: an HTTP answer; failed: not 200 or none; lost: a returning visitor answered without their session).',
    '',
    '| variant | sessions | p50 ms | p99 ms | p99.9 ms | max ms | p50 × mem | p99 × mem | p99.9 × mem | max × mem | sent | answered | failed | lost | primary max block ms | primary p99.9 block ms | client max block ms |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const sessions of [...new Set(report.runs.map((r) => r.sessions))]) {
    const reference = new Map(report.runs.filter((r) => r.variant === 'memory' && r.sessions === sessions).map((r) => [r.round, r]));
    for (const variant of report.variants.filter((v) => v.skipped === undefined)) {
      const mine = report.runs.filter((r) => r.variant === variant.name && r.sessions === sessions);
      if (mine.length === 0) continue;
      const ratio = (pick: (r: RunSummary) => number) => range(mine.map((r) => (reference.has(r.round) ? pick(r) / pick(reference.get(r.round)!) : NaN)), 2);
      const sum = (pick: (r: RunSummary) => number) => thousands(mine.reduce((n, r) => n + pick(r), 0));
      out.push(
        `| ${variant.label} | ${thousands(sessions)} | ${range(mine.map((r) => r.latencyMs.p50), 2)} | ${range(mine.map((r) => r.latencyMs.p99))} | ${range(mine.map((r) => r.latencyMs.p999))} | ` +
          `${range(mine.map((r) => r.latencyMs.max), 0)} | ${ratio((r) => r.latencyMs.p50)} | ${ratio((r) => r.latencyMs.p99)} | ${ratio((r) => r.latencyMs.p999)} | ${ratio((r) => r.latencyMs.max)} | ` +
          `${sum((r) => r.sent)} | ${sum((r) => r.answered)} | ${sum((r) => r.failed)} | ${sum((r) => r.lost)} | ` +
          `${range(mine.map((r) => r.primary.loopDelayMs.max), 0)} | ${range(mine.map((r) => r.primary.loopDelayMs.p999), 0)} | ${range(mine.map((r) => r.clientMaxBlockMs), 0)} |`,
      );
    }
  }
  for (const v of report.variants.filter((v) => v.skipped !== undefined)) out.push('', `${v.label}: skipped (${v.skipped})`);
  out.push('', ...longOperations(report), '', ...events(report));
  const label = (name: string) => report.variants.find((v) => v.name === name)?.label ?? name;
  if (report.starts.length > 0) {
    out.push('', '**Start from a snapshot** (a fresh primary; times from spawning it; ranges over rounds)', '');
    out.push('| variant | sessions | write the snapshot (host.close()) ms | file MB | restored | → snapshot-loaded ms | → first answer with a restored session ms | primary max block ms |');
    out.push('|---|---:|---:|---:|---:|---:|---:|---:|');
    for (const [key, starts] of groupBy(report.starts)) {
      const [variant, sessions] = key;
      const restored = starts.map((st) => st.restored ?? NaN);
      out.push(
        `| ${label(variant)} | ${thousands(sessions)} | ${range(starts.map((st) => st.writeMs), 0)} | ${range(starts.map((st) => st.fileBytes / 1e6))} | ${range(restored, 0)} | ` +
          `${range(starts.map((st) => st.toLoadedMs), 0)} | ${range(starts.map((st) => st.toFirstAnswerMs), 0)} | ${range(starts.map((st) => st.maxBlockMs), 0)} |`,
      );
    }
  }
  if (report.heap.length > 0) {
    out.push('', '**Primary heap per session** (after gc, filled through `host.sessions.set`; ranges over rounds)', '');
    out.push('| variant | sessions | heap used per session B | id + JSON B | heap − (id + JSON) B | off-heap arrays per session B |');
    out.push('|---|---:|---:|---:|---:|---:|');
    for (const [[variant, sessions], heap] of groupBy(report.heap)) {
      out.push(
        `| ${label(variant)} | ${thousands(sessions)} | ${range(heap.map((h) => h.heapPerSession), 0)} | ${range(heap.map((h) => h.idAndJsonBytes), 0)} | ` +
          `${range(heap.map((h) => h.heapPerSession - h.idAndJsonBytes), 0)} | ${range(heap.map((h) => h.arrayBuffersPerSession))} |`,
      );
    }
  }
  return out.join('\n');
}

/** Per hosted variant and N, over rounds: how long the snapshot writes and the sweep of half took, and the longest block in each. */
function longOperations(report: Report): string[] {
  const hosted = report.runs.filter((r) => r.primary.snapshots.length + r.primary.sweeps.length > 0);
  if (hosted.length === 0) return [];
  const out = [
    '| variant | sessions | snapshot writes in the window | a write, start to saved, s | longest block in a write ms | the sweep of half, start to end ms | longest block in it ms |',
    '|---|---:|---:|---:|---:|---:|---:|',
  ];
  const label = (name: string) => report.variants.find((v) => v.name === name)?.label ?? name;
  for (const [[variant, sessions], runs] of groupBy(hosted)) {
    const writes = runs.flatMap((r) => r.primary.snapshots.filter((x) => x.startAt !== null && x.startAt >= r.windowStartAt).map((x) => ({ r, from: x.startAt!, to: x.endAt })));
    const halves = runs.flatMap((r) => r.primary.sweeps.filter((x) => x.removed >= sessions / 4).map((x) => ({ r, from: x.startAt, to: x.startAt + x.durationMs })));
    const longest = ({ r, from, to }: { r: RunSummary; from: number; to: number }) => Math.max(0, ...r.primary.blocks.filter((b) => b.startAt + b.ms >= from && b.startAt <= to).map((b) => b.ms));
    out.push(
      `| ${label(variant)} | ${thousands(sessions)} | ${range(runs.map((r) => writes.filter((w) => w.r === r).length), 0)} | ${range(writes.map((w) => (w.to - w.from) / 1000))} | ` +
        `${range(writes.map(longest), 0)} | ${range(halves.map((h) => h.to - h.from), 0)} | ${range(halves.map(longest), 0)} |`,
    );
  }
  out.push('', 'A block: a gap of 50 ms or more in a 10 ms timer of the primary (under 50 ms counts as 0); the writes counted began in the window.');
  return out;
}

/** Snapshot writes and sweeps of each hosted run, in seconds from the window's start, with the longest block in each. */
function events(report: Report): string[] {
  const hosted = report.runs.filter((r) => r.primary.snapshots.length + r.primary.sweeps.length + r.primary.sizeDrops.length > 0);
  if (hosted.length === 0) return [];
  const out = [
    '| run | snapshot writes: start → end s (sessions; longest block ms) | sweeps: start s: ms (removed; longest block ms) | size drops: start → end s (removed) |',
    '|---|---|---|---|',
  ];
  for (const r of hosted) {
    const t = (at: number | null) => (at === null ? '?' : ((at - r.windowStartAt) / 1000).toFixed(1));
    const longest = (from: number, to: number) => Math.max(0, ...r.primary.blocks.filter((b) => b.startAt + b.ms >= from && b.startAt <= to).map((b) => b.ms));
    const snaps = r.primary.snapshots.map((x) => `${t(x.startAt)} → ${t(x.endAt)} (${x.error ?? thousands(x.count ?? 0)}; ${longest(x.startAt ?? x.endAt, x.endAt).toFixed(0)})`).join('; ');
    const sweeps = r.primary.sweeps.map((x) => `${t(x.startAt)}: ${x.durationMs.toFixed(0)}${x.calls > 1 ? ` over ${x.calls} turns` : ''} (${thousands(x.removed)}; ${longest(x.startAt, x.startAt + x.durationMs).toFixed(0)})`).join('; ');
    const drops = r.primary.sizeDrops.map((x) => `${t(x.startAt)} → ${t(x.endAt)} (${thousands(x.removed)})`).join('; ');
    out.push(`| ${r.variant}, ${thousands(r.sessions)}, round ${r.round} | ${snaps || '–'} | ${sweeps || '–'} | ${drops || '–'} |`);
  }
  return out;
}

/** Items grouped by variant and sessions, in the order first seen. */
function groupBy<T extends { variant: string; sessions: number }>(items: T[]): [[string, number], T[]][] {
  const groups = new Map<string, [[string, number], T[]]>();
  for (const item of items) {
    const key = `${item.variant} ${item.sessions}`;
    if (!groups.has(key)) groups.set(key, [[item.variant, item.sessions], []]);
    groups.get(key)![1].push(item);
  }
  return [...groups.values()];
}
