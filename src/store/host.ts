// Primary side: answers the store requests of every worker, current and future, from one SessionTable.
// Runs in the primary process only; `attach()` subscribes to cluster messages, nothing happens on import.
import type { Cluster, Worker } from 'node:cluster';
import { EventEmitter } from 'node:events';
import { SessionTable, type SessionTableOptions } from './session-table.js';
import { defaultLimits, isRequestBatch, parseRequest, POSTED, TAG, toWireError, type Reply, type ReplyBatch, type Request } from './protocol.js';
import { integerOption } from './options.js';
import { LockTable, type LockStats, type Owner } from './locks.js';
import { loadSnapshot, saveSnapshot, type LoadResult } from './snapshot.js';

export interface StoreHostOptions extends SessionTableOptions {
  /** Longest session id accepted, in characters; longer ones are answered with an error. @default 256 */
  maxIdLength?: number;
  /** Keep the sessions in this file: loaded at attach(), written every snapshotIntervalMs and at close(). */
  snapshotFile?: string;
  /** How often the snapshot is written, in ms. @default 60_000 */
  snapshotIntervalMs?: number;
}

/** Counters since the host started: store requests served, the IPC messages that carried them, posted writes refused. */
export interface HostStats {
  messagesIn: number;
  messagesOut: number;
  requests: number;
  rejected: number;
}

type Send = (replies: Reply[]) => void;

const noop = () => {};

/** What #run returns for a lock request that has to wait: its answer comes later, through `send`. */
const WAIT = Symbol('wait');

/**
 * Emits `rejected` (error) for a posted write it refused: no worker waits for that answer, so the primary logs it.
 * With a snapshot file: `snapshot-loaded` (LoadResult), `snapshot-saved` (count), `snapshot-failed` (error).
 */
export class StoreHost extends EventEmitter {
  readonly table: SessionTable;
  /** Session locks (see lock.ts): held and queued per key, released when their worker dies. */
  readonly locks = new LockTable();
  readonly #limits: { maxIdLength: number };
  readonly #stats: HostStats = { messagesIn: 0, messagesOut: 0, requests: 0, rejected: 0 };
  #deferred: { requests: unknown[]; send: Send; owner: Owner }[] = [];
  #detach: (() => void) | undefined;
  readonly #snapshotFile: string | undefined;
  readonly #snapshotIntervalMs: number;
  #saving: Promise<void> | undefined;

  constructor(options: StoreHostOptions = {}) {
    super();
    this.table = new SessionTable(options);
    this.#limits = { maxIdLength: integerOption('maxIdLength', options.maxIdLength, defaultLimits.maxIdLength) };
    this.#snapshotFile = options.snapshotFile;
    this.#snapshotIntervalMs = integerOption('snapshotIntervalMs', options.snapshotIntervalMs, 60_000);
  }

  /**
   * Takes one batch from a worker. Posted writes apply at once; the rest is answered through `send` at the end
   * of this turn of the event loop (setImmediate), once every channel the poll found readable has been read.
   * A worker's posted write is in its channel before the response that lets its visitor go on to another
   * worker, so before that worker's read was even sent: the poll that found the read found the write too, and
   * the read sees it. (libuv reads a readable pipe until it is empty, up to 32 reads of 64 KiB per turn.)
   * `owner`: the sender's worker id, whose death releases its session locks.
   */
  accept(requests: readonly unknown[], send: Send, owner: Owner = 0): void {
    const answered: unknown[] = [];
    for (const raw of requests) {
      if (Array.isArray(raw) && raw[0] === POSTED) this.handle([raw], send, owner);
      else answered.push(raw);
    }
    if (answered.length === 0) return;
    if (this.#deferred.length === 0) setImmediate(this.#answer);
    this.#deferred.push({ requests: answered, send, owner });
  }

  /**
   * Runs one batch of raw requests in order. Never throws: a malformed request gets an error reply when it has an id.
   * A lock request that has to wait is answered later, alone, through `send`.
   */
  handle(requests: readonly unknown[], send: Send = noop, owner: Owner = 0): Reply[] {
    const replies: Reply[] = [];
    this.#stats.requests += requests.length;
    for (const raw of requests) {
      const request = parseRequest(raw, this.#limits);
      if (!Array.isArray(request)) {
        if (request.id !== null) this.#fail(replies, request.id, request.error);
        continue;
      }
      try {
        const value = this.#run(request, send, owner);
        if (request[0] !== POSTED && value !== WAIT) replies.push([request[0], null, value]);
      } catch (error) {
        this.#fail(replies, request[0], error);
      }
    }
    return replies;
  }

  /** Serves every worker of `cluster`, starts the expiry sweep, and loads and keeps writing the snapshot. */
  attach(cluster: Cluster): void {
    if (this.#detach !== undefined) return;
    let snapshots: NodeJS.Timeout | undefined;
    if (this.#snapshotFile !== undefined) {
      const loaded: LoadResult = loadSnapshot(this.table, this.#snapshotFile);
      // setup() attaches before its caller can listen: tell on the next tick.
      process.nextTick(() => this.emit('snapshot-loaded', loaded));
      snapshots = setInterval(() => void this.snapshot(), this.#snapshotIntervalMs).unref();
    }
    const onMessage = (worker: Worker, message: unknown) => {
      if (!isRequestBatch(message)) return;
      this.#stats.messagesIn++;
      this.accept(
        message.q,
        (replies) => {
          // A worker that died while its batch was in flight has no one left to read the answer.
          if (!worker.isConnected()) return;
          this.#stats.messagesOut++;
          worker.send({ tag: TAG, c: message.c, r: replies } satisfies ReplyBatch, noop);
        },
        worker.id,
      );
    };
    // A dead worker finishes no request: whatever it held or waited for is let go.
    const onExit = (worker: Worker) => this.locks.releaseOwner(worker.id);
    cluster.on('message', onMessage);
    cluster.on('exit', onExit);
    this.table.startSweeping();
    this.#detach = () => {
      cluster.off('message', onMessage);
      cluster.off('exit', onExit);
      this.table.stopSweeping();
      clearInterval(snapshots);
    };
  }

  detach(): void {
    this.#detach?.();
    this.#detach = undefined;
  }

  /** Stops serving and writes the last snapshot (when there is a snapshot file). */
  async close(): Promise<void> {
    this.detach();
    await this.#saving;
    await this.snapshot();
  }

  /** Writes the snapshot now (one at a time); failures are reported on `snapshot-failed`, never thrown. */
  snapshot(): Promise<void> {
    const file = this.#snapshotFile;
    if (file === undefined || this.#saving !== undefined) return this.#saving ?? Promise.resolve();
    this.#saving = saveSnapshot(this.table, file).then(
      (count) => void this.emit('snapshot-saved', count),
      (error: unknown) => void this.emit('snapshot-failed', error),
    );
    return this.#saving.finally(() => (this.#saving = undefined));
  }

  stats(): HostStats & { sessions: number; locks: LockStats } {
    return { ...this.#stats, sessions: this.table.size, locks: this.locks.stats() };
  }

  readonly #answer = (): void => {
    const deferred = this.#deferred;
    this.#deferred = [];
    for (const { requests, send, owner } of deferred) {
      const replies = this.handle(requests, send, owner);
      if (replies.length > 0) send(replies);
    }
  };

  #fail(replies: Reply[], id: number, error: unknown): void {
    if (id !== POSTED) {
      replies.push([id, toWireError(error)]);
      return;
    }
    this.#stats.rejected++;
    this.emit('rejected', error);
  }

  #run(request: Request, send: Send, owner: Owner): unknown {
    const table = this.table;
    switch (request[1]) {
      case 'get':
        return table.read(request[2]) ?? null;
      case 'set':
        return table.set(request[2], request[3], request[4]);
      case 'touch':
        return table.touch(request[2], request[3]);
      case 'destroy':
        return table.destroy(request[2]);
      case 'all':
        return table.all();
      case 'length':
        return table.length();
      case 'clear':
        return table.clear();
      case 'ping':
        return 'pong';
      case 'lock': {
        // The grant carries the session as a get would read it at that moment: the request's get is answered
        // in the same round trip. Nobody else of this session can change it in between: they wait for the lock.
        const [id, , key, waitMs, holdMs, maxWaiters, sid] = request;
        const grant = (token: number) => [token, sid === null ? null : (table.read(sid) ?? null)];
        const token = this.locks.acquire(key, { owner, waitMs, holdMs, maxWaiters }, (error, granted) =>
          send([error ? [id, toWireError(error)] : [id, null, grant(granted!)]]),
        );
        return token === undefined ? WAIT : grant(token);
      }
      case 'unlock':
        return this.locks.release(request[2], request[3]);
    }
  }
}
