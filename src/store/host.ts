// Primary side: answers the store requests of every worker, current and future, from one SessionTable.
// Runs in the primary process only; `attach()` subscribes to cluster messages, nothing happens on import.
import type { Cluster, Worker } from 'node:cluster';
import { SessionTable, type SessionTableOptions } from './session-table.js';
import { isRequestBatch, parseRequest, TAG, toWireError, type Reply, type ReplyBatch, type Request } from './protocol.js';
import { integerOption } from './options.js';

export interface StoreHostOptions extends SessionTableOptions {
  /** Longest session id accepted, in characters; longer ones are answered with an error. @default 256 */
  maxIdLength?: number;
}

const noop = () => {};

/** Counters since the host started: store requests served, and the IPC messages that carried them. */
export interface HostStats {
  messagesIn: number;
  messagesOut: number;
  requests: number;
}

export class StoreHost {
  readonly table: SessionTable;
  readonly #limits: { maxIdLength: number };
  #detach: (() => void) | undefined;
  readonly #stats: HostStats = { messagesIn: 0, messagesOut: 0, requests: 0 };

  constructor(options: StoreHostOptions = {}) {
    this.table = new SessionTable(options);
    this.#limits = { maxIdLength: integerOption('maxIdLength', options.maxIdLength, 256) };
  }

  /** Answers one batch of raw requests. Never throws: a malformed request gets an error reply when it has an id. */
  handle(batch: readonly unknown[]): Reply[] {
    const replies: Reply[] = [];
    this.#stats.requests += batch.length;
    for (const raw of batch) {
      const request = parseRequest(raw, this.#limits);
      if (!Array.isArray(request)) {
        if (request.id !== null) replies.push([request.id, toWireError(request.error)]);
        continue;
      }
      try {
        replies.push([request[0], null, this.#run(request)]);
      } catch (error) {
        replies.push([request[0], toWireError(error)]);
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
      const reply: ReplyBatch = { tag: TAG, c: message.c, r: this.handle(message.q) };
      // A worker that died while its batch was in flight has no one left to read the answer.
      if (!worker.isConnected()) return;
      this.#stats.messagesOut++;
      worker.send(reply, noop);
    };
    cluster.on('message', onMessage);
    this.table.startSweeping();
    this.#detach = () => {
      cluster.off('message', onMessage);
      this.table.stopSweeping();
    };
  }

  stats(): HostStats & { sessions: number } {
    return { ...this.#stats, sessions: this.table.size };
  }

  detach(): void {
    this.#detach?.();
    this.#detach = undefined;
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
