// Primary side: answers the store requests of every worker, current and future, from one SessionTable.
// Runs in the primary process only; `attach()` subscribes to cluster messages, nothing happens on import.
import type { Cluster, Worker } from 'node:cluster';
import { EventEmitter } from 'node:events';
import { SessionTable, type SessionTableOptions } from './session-table.js';
import { defaultLimits, isRequestBatch, parseRequest, POSTED, TAG, toWireError, type Reply, type ReplyBatch, type Request } from './protocol.js';
import { integerOption } from './options.js';

export interface StoreHostOptions extends SessionTableOptions {
  /** Longest session id accepted, in characters; longer ones are answered with an error. @default 256 */
  maxIdLength?: number;
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

/** Emits `rejected` (error) for a posted write it refused: no worker waits for that answer, so the primary logs it. */
export class StoreHost extends EventEmitter {
  readonly table: SessionTable;
  readonly #limits: { maxIdLength: number };
  readonly #stats: HostStats = { messagesIn: 0, messagesOut: 0, requests: 0, rejected: 0 };
  #deferred: { requests: unknown[]; send: Send }[] = [];
  #detach: (() => void) | undefined;

  constructor(options: StoreHostOptions = {}) {
    super();
    this.table = new SessionTable(options);
    this.#limits = { maxIdLength: integerOption('maxIdLength', options.maxIdLength, defaultLimits.maxIdLength) };
  }

  /**
   * Takes one batch from a worker. Posted writes apply at once; the rest is answered through `send` after the
   * event loop has polled once more. A worker posts a write before the response that lets its visitor go on
   * to another worker; by the next poll that write has been read too, so the other worker reads what it wrote.
   */
  accept(requests: readonly unknown[], send: Send): void {
    const answered: unknown[] = [];
    for (const raw of requests) {
      if (Array.isArray(raw) && raw[0] === POSTED) this.handle([raw]);
      else answered.push(raw);
    }
    if (answered.length === 0) return;
    if (this.#deferred.length === 0) setImmediate(() => setImmediate(this.#answer));
    this.#deferred.push({ requests: answered, send });
  }

  /** Runs one batch of raw requests in order. Never throws: a malformed request gets an error reply when it has an id. */
  handle(requests: readonly unknown[]): Reply[] {
    const replies: Reply[] = [];
    this.#stats.requests += requests.length;
    for (const raw of requests) {
      const request = parseRequest(raw, this.#limits);
      if (!Array.isArray(request)) {
        if (request.id !== null) this.#fail(replies, request.id, request.error);
        continue;
      }
      try {
        const value = this.#run(request);
        if (request[0] !== POSTED) replies.push([request[0], null, value]);
      } catch (error) {
        this.#fail(replies, request[0], error);
      }
    }
    return replies;
  }

  /** Serves every worker of `cluster` and starts the expiry sweep. */
  attach(cluster: Cluster): void {
    if (this.#detach !== undefined) return;
    const onMessage = (worker: Worker, message: unknown) => {
      if (!isRequestBatch(message)) return;
      this.#stats.messagesIn++;
      this.accept(message.q, (replies) => {
        // A worker that died while its batch was in flight has no one left to read the answer.
        if (!worker.isConnected()) return;
        this.#stats.messagesOut++;
        worker.send({ tag: TAG, c: message.c, r: replies } satisfies ReplyBatch, noop);
      });
    };
    cluster.on('message', onMessage);
    this.table.startSweeping();
    this.#detach = () => {
      cluster.off('message', onMessage);
      this.table.stopSweeping();
    };
  }

  detach(): void {
    this.#detach?.();
    this.#detach = undefined;
  }

  stats(): HostStats & { sessions: number } {
    return { ...this.#stats, sessions: this.table.size };
  }

  readonly #answer = (): void => {
    const deferred = this.#deferred;
    this.#deferred = [];
    for (const { requests, send } of deferred) send(this.handle(requests));
  };

  #fail(replies: Reply[], id: number, error: unknown): void {
    if (id !== POSTED) {
      replies.push([id, toWireError(error)]);
      return;
    }
    this.#stats.rejected++;
    this.emit('rejected', error);
  }

  #run(request: Request): unknown {
    const table = this.table;
    switch (request[1]) {
      case 'get': {
        const session = table.read(request[2]);
        return session === undefined ? null : [session.json, session.expiresAt];
      }
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
    }
  }
}
