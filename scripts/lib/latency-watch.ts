// Watches, from inside the primary of `npm run bench:latency`, what makes every session call wait: the event
// loop's delay (monitorEventLoopDelay, 1 ms resolution; blocks of 50 ms or more, when each began), snapshot writes
// (the host's events; their start is the table walk a write begins with: records(), or walk({ ended: true }) in the
// sliced store) and sweeps (the host's sweep() where it has one, else the table's, wrapped; and the table's size
// watched every 50 ms). Wrapping instance methods works with either store, before or after the sliced primary.
import type { EventEmitter } from 'node:events';
import { monitorEventLoopDelay, performance, type IntervalHistogram } from 'node:perf_hooks';
import type { PrimaryWindow } from './latency-protocol.js';

/** ms since the epoch, comparable across the bench's processes. */
export const epochNow = (): number => performance.timeOrigin + performance.now();

/** A sweep call shorter than this that removed nothing is not worth a line. */
const sweepNoticeMs = 5;
/** Calls (and size drops) closer than this are one sweep. */
const mergeGapMs = 1000;
const sizeWatchMs = 50;
/** The timer that finds blocks ticks this often; a gap this much longer than a tick is a block. */
const tickMs = 10;
const blockMs = 50;

interface Table {
  readonly size: number;
  sweep?: (...args: never[]) => unknown;
  records?: (...args: never[]) => unknown;
  walk?: (...args: never[]) => unknown;
}

interface Host extends EventEmitter {
  sweep?: (...args: never[]) => unknown;
}

export interface LoopWatch {
  /** The longest delay since the process started, ms. */
  maxSinceStartMs(): number;
  /** Starts a window: delays, snapshots and sweeps are counted from now. */
  startWindow(): void;
  /** The window's figures so far. */
  window(): PrimaryWindow;
}

/** Call first thing in the primary: the delay since start includes whatever setup() does. */
export function watchLoop(): { loop: LoopWatch; watchHost: (host: Host, table: Table) => void } {
  const sinceStart = enabled();
  let inWindow = enabled();
  let windowStart = epochNow();
  const snapshots: PrimaryWindow['snapshots'] = [];
  const sweeps: PrimaryWindow['sweeps'] = [];
  const sizeDrops: PrimaryWindow['sizeDrops'] = [];
  const blocks: PrimaryWindow['blocks'] = [];
  let walkStartedAt: number | null = null;
  let lastTick = epochNow();
  setInterval(() => {
    const now = epochNow();
    if (now - lastTick - tickMs >= blockMs) blocks.push({ startAt: lastTick, ms: now - lastTick - tickMs });
    lastTick = now;
  }, tickMs).unref();

  const watchHost = (host: Host, table: Table) => {
    host.on('snapshot-saved', (count: number) => snapshots.push({ startAt: takeWalk(), endAt: epochNow(), count }));
    host.on('snapshot-failed', (error: Error) => snapshots.push({ startAt: takeWalk(), endAt: epochNow(), count: null, error: error.message }));
    const records = table.records?.bind(table);
    if (records) table.records = (...args) => ((walkStartedAt ??= epochNow()), records(...args));
    const walk = table.walk?.bind(table);
    if (walk) table.walk = (...args) => ((args[0] as { ended?: boolean } | undefined)?.ended === true && (walkStartedAt ??= epochNow()), walk(...args));
    const owner = typeof host.sweep === 'function' ? host : table;
    const sweep = owner.sweep?.bind(owner);
    if (sweep) owner.sweep = (...args) => timeSweep(() => sweep(...args));
    let last = { size: table.size, at: epochNow() };
    setInterval(() => {
      const now = { size: table.size, at: epochNow() };
      const drop = { startAt: last.at, endAt: now.at, removed: last.size - now.size };
      if (drop.removed > 0) merge(sizeDrops, (d) => d.endAt, drop, (d, n) => ((d.endAt = n.endAt), (d.removed += n.removed)));
      last = now;
    }, sizeWatchMs).unref();
  };

  const takeWalk = () => {
    const at = walkStartedAt;
    walkStartedAt = null;
    return at;
  };

  /** A sweep that returns its count (the store before slices) or a promise of { removed, turns } (after). */
  const timeSweep = (run: () => unknown) => {
    const startAt = epochNow();
    const started = performance.now();
    const note = (removed: number, calls: number) => {
      const durationMs = performance.now() - started;
      if (removed === 0 && durationMs < sweepNoticeMs) return;
      merge(sweeps, (s) => s.startAt + s.durationMs, { startAt, durationMs, removed, calls }, (s, n) => ((s.durationMs += n.durationMs), (s.removed += n.removed), (s.calls += n.calls)));
    };
    const result = run();
    if (result instanceof Promise) void result.then((swept: { removed?: number; turns?: number }) => note(swept?.removed ?? 0, swept?.turns ?? 1), () => note(0, 1));
    else note(typeof result === 'number' ? result : 0, 1);
    return result;
  };

  const loop: LoopWatch = {
    maxSinceStartMs: () => sinceStart.max / 1e6,
    startWindow() {
      inWindow.disable();
      inWindow = enabled();
      windowStart = epochNow();
    },
    window() {
      const overlaps = (endAt: number) => endAt >= windowStart;
      return {
        loopDelayMs: { max: inWindow.max / 1e6, p999: inWindow.percentile(99.9) / 1e6, p99: inWindow.percentile(99) / 1e6, mean: inWindow.mean / 1e6 },
        snapshots: snapshots.filter((s) => overlaps(s.endAt)),
        sweeps: sweeps.filter((s) => overlaps(s.startAt + s.durationMs)),
        sizeDrops: sizeDrops.filter((d) => overlaps(d.endAt)),
        blocks: blocks.filter((b) => overlaps(b.startAt + b.ms)),
      };
    },
  };
  return { loop, watchHost };
}

function enabled(): IntervalHistogram {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  return histogram;
}

/** Appends `item`, or folds it into the last one when that ended less than mergeGapMs before it began. */
function merge<T extends { startAt: number }>(list: T[], endOf: (item: T) => number, item: T, fold: (into: T, item: T) => void): void {
  const last = list.at(-1);
  if (last !== undefined && item.startAt - endOf(last) < mergeGapMs) fold(last, item);
  else list.push(item);
}
