// What `npm run bench:latency` (the bench process) and the cluster primary it starts (latency-primary.ts) tell
// each other over the primary's IPC channel, and what the primary passes to its workers. Types only.

export type Variant = 'memory' | 'cluster' | 'redis';

export interface PrimaryConfig {
  variant: Variant;
  /** Sessions pre-filled: in the primary's table (cluster), in each worker's MemoryStore (memory), in Redis. */
  sessions: number;
  /** maxSessions of the host: room for the pre-filled sessions and the run's new visitors, so nothing is evicted. */
  capacity: number;
  workers: number;
  /** The store's index.ts to import (this checkout's or a --baseline checkout's). */
  storePath: string;
  /** cluster: the snapshot file (its folder is the bench's temporary one), written every snapshotIntervalMs. */
  snapshotFile?: string;
  snapshotIntervalMs: number;
  sweepIntervalMs: number;
  redisUrl?: string;
  /** serve: fill, fork, answer; fill-and-close: fill, write the snapshot through host.close(), exit (no workers). */
  mode: 'serve' | 'fill-and-close';
}

export interface WorkerConfig {
  variant: Variant;
  sessions: number;
  storePath: string;
  redisUrl?: string;
  /** When the pre-filled sessions expire, ms since the epoch (memory: each worker fills its own). */
  expiresAt: number;
}

/** A window's figures from the primary. Times are ms since the epoch (performance.timeOrigin + now). */
export interface PrimaryWindow {
  /** The event loop's delay while the window ran (monitorEventLoopDelay, 1 ms resolution), ms. */
  loopDelayMs: { max: number; p999: number; p99: number; mean: number };
  /** Snapshot writes that ended in the window: from the table's records() walk (if seen) to snapshot-saved/-failed. */
  snapshots: { startAt: number | null; endAt: number; count: number | null; error?: string }[];
  /**
   * Sweeps that removed something or took ≥ 5 ms, merged when less than 1 s apart: the time of a synchronous sweep
   * (the event loop blocked all along), or the span of a sliced one and the event-loop turns it took (`calls`).
   */
  sweeps: { startAt: number; durationMs: number; removed: number; calls: number }[];
  /** Drops of the table's size seen by a 50 ms watch (sweeps, whatever calls them). */
  sizeDrops: { startAt: number; endAt: number; removed: number }[];
  /** Blocks of the event loop of 50 ms or more, seen by a 10 ms timer: when each began and how long it lasted. */
  blocks: { startAt: number; ms: number }[];
}

export type PrimaryMessage =
  | { kind: 'filled'; sessions: number; fillMs: number; heapUsed: number; arrayBuffers: number; heapUsedEmpty: number; arrayBuffersEmpty: number; jsonBytes: number }
  | { kind: 'loaded'; at: number; outcome: string; restored: number | null; setupMs: number }
  | { kind: 'ready'; url: string; workerPids: number[]; startedAt: number; maxBlockSinceStartMs: number }
  | { kind: 'armed'; expiring: number; armMs: number }
  | { kind: 'window'; window: PrimaryWindow }
  | { kind: 'closed'; saved: number | null; closeMs: number; fileBytes: number }
  | { kind: 'failed'; message: string };

export type BenchCommand = { cmd: 'arm-expiry'; expireAt: number } | { cmd: 'window-start' } | { cmd: 'window-end' };

/** A worker's first message to its primary. */
export interface WorkerListening {
  kind: 'latency-worker-listening';
  port: number;
}
