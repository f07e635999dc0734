// Worker side: queues store requests, sends those of one event-loop turn as one message, matches replies,
// fails a call after `timeoutMs` or at once when the channel is closed, and reports availability.
// Writes are posted: done once written to the channel, with no answer to wait for.
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { ErrorCode, fromWireError, POSTED, StoreError, type Op, type Reply } from './protocol.js';

/** How requests reach the host: cluster IPC in a worker, a direct call in the primary. */
export interface Transport {
  readonly connected: boolean;
  /**
   * Sends one batch. `written`, when given, is called once the batch is in the channel (the host will read it
   * before anything sent later); without it, a failed send surfaces as the channel closing.
   */
  send(requests: unknown[], written?: (error?: Error | null) => void): void;
}

export type Callback = (error: StoreError | null, value?: unknown) => void;

interface Pending {
  op: Op;
  deadline: number;
  callback: Callback;
}

const probeIntervalMs = 1000;

/**
 * Emits `disconnect` when a call times out or the channel closes, and `connect` when the host answers again
 * (express-session skips sessions in between). While unavailable it pings the host to find out.
 */
export class StoreClient extends EventEmitter {
  readonly #transport: Transport;
  readonly #timeoutMs: number;
  readonly #pending = new Map<number, Pending>();
  /** Calls with a timeout of their own (a lock may wait longer than timeoutMs): one timer each. */
  readonly #long = new Map<number, Pending & { timer: NodeJS.Timeout }>();
  #queue: unknown[] = [];
  #posted: { op: Op; callback: Callback }[] = [];
  #nextId = 1;
  #flushScheduled = false;
  #timer: NodeJS.Timeout | undefined;
  #prober: NodeJS.Timeout | undefined;
  #available = true;

  constructor(transport: Transport, timeoutMs: number) {
    super();
    this.#transport = transport;
    this.#timeoutMs = timeoutMs;
  }

  get available(): boolean {
    return this.#available;
  }

  /** Sends a request and calls back with the host's answer; `extraMs` lets this call wait that much longer than timeoutMs. */
  call(op: Op, args: unknown[], callback: Callback, extraMs = 0): void {
    if (!this.#transport.connected) {
      process.nextTick(callback, closedError(op));
      return;
    }
    const id = this.#nextId++;
    if (extraMs === 0) {
      // These calls share one timeout, so insertion order is deadline order: one timer serves them all.
      this.#pending.set(id, { op, deadline: performance.now() + this.#timeoutMs, callback });
      this.#timer ??= this.#arm(this.#timeoutMs);
    } else {
      const timeoutMs = this.#timeoutMs + extraMs;
      const timer = setTimeout(() => {
        this.#long.delete(id);
        this.#setAvailable(false);
        callback(timeoutError(op, timeoutMs));
      }, timeoutMs).unref();
      this.#long.set(id, { op, deadline: 0, callback, timer });
    }
    this.#queue.push([id, op, ...args]);
    this.#scheduleFlush();
  }

  /**
   * Sends a write (set, touch, destroy, unlock) that expects no answer: `callback` runs once the batch holding
   * it is written to the channel. The host applies it before it answers any read sent after that, from any
   * worker. Without a callback, nobody waits for the write, and the batch is sent without a completion callback.
   */
  post(op: Op, args: unknown[], callback?: Callback): void {
    if (!this.#transport.connected) {
      if (callback) process.nextTick(callback, closedError(op));
      return;
    }
    this.#queue.push([POSTED, op, ...args]);
    if (callback) this.#posted.push({ op, callback });
    this.#scheduleFlush();
  }

  /** Delivers a batch of replies from the host. */
  receive(replies: readonly Reply[]): void {
    for (const reply of replies) {
      if (!Array.isArray(reply)) continue;
      const id = reply[0];
      let pending: Pending | undefined = this.#pending.get(id);
      if (pending !== undefined) this.#pending.delete(id);
      else {
        const long = this.#long.get(id);
        if (long === undefined) continue; // late answer to a call that already timed out
        clearTimeout(long.timer);
        this.#long.delete(id);
        pending = long;
      }
      const error = reply[1];
      pending.callback(error ? fromWireError(error) : null, reply[2]);
    }
    if (!this.#available) this.#setAvailable(true);
  }

  /** The channel to the host is gone for good: fail everything now and from now on. */
  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#queue = [];
    this.#failAll((op) => closedError(op));
    this.#setAvailable(false);
    clearInterval(this.#prober);
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(this.#flush);
  }

  readonly #flush = (): void => {
    this.#flushScheduled = false;
    const requests = this.#queue;
    const posted = this.#posted;
    this.#queue = [];
    this.#posted = [];
    if (!this.#transport.connected) {
      this.close();
      for (const { op, callback } of posted) callback(closedError(op));
      return;
    }
    if (posted.length === 0) {
      this.#transport.send(requests);
      return;
    }
    this.#transport.send(requests, (error) => {
      if (error) this.close();
      for (const { op, callback } of posted) callback(error ? closedError(op) : null);
    });
  };

  readonly #expire = (): void => {
    this.#timer = undefined;
    const now = performance.now();
    const due: Pending[] = [];
    for (const [id, pending] of this.#pending) {
      if (pending.deadline > now) {
        this.#timer = this.#arm(pending.deadline - now);
        break;
      }
      this.#pending.delete(id);
      due.push(pending);
    }
    if (due.length === 0) return;
    if (due.some((pending) => pending.op !== 'ping')) this.#setAvailable(false);
    for (const pending of due) pending.callback(timeoutError(pending.op, this.#timeoutMs));
  };

  #arm(delayMs: number): NodeJS.Timeout {
    // The timer only bounds calls; it must not keep a process alive that has nothing else to do.
    return setTimeout(this.#expire, delayMs).unref();
  }

  #failAll(errorFor: (op: Op) => StoreError): void {
    const all = [...this.#pending.values(), ...this.#long.values()];
    for (const { timer } of this.#long.values()) clearTimeout(timer);
    this.#pending.clear();
    this.#long.clear();
    for (const pending of all) pending.callback(errorFor(pending.op));
  }

  #setAvailable(available: boolean): void {
    if (available === this.#available) return;
    this.#available = available;
    if (available) {
      clearInterval(this.#prober);
      this.#prober = undefined;
      this.emit('connect');
      return;
    }
    this.emit('disconnect');
    if (this.#transport.connected) {
      this.#prober = setInterval(() => this.call('ping', [], () => {}), probeIntervalMs);
      this.#prober.unref();
    }
  }
}

function timeoutError(op: Op, timeoutMs: number): StoreError {
  return new StoreError(
    ErrorCode.timeout,
    `session store: ${op} got no answer from the primary within ${timeoutMs} ms (timeoutMs); ` +
      'is ClusterStore.setup() called in the primary, and is the primary responsive?',
  );
}

function closedError(op: Op): StoreError {
  return new StoreError(ErrorCode.closed, `session store: cannot ${op}, the IPC channel to the primary is closed`);
}
