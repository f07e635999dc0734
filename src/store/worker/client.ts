// Worker side of the channel: greets the host before anything else, checks every call against the limits the
// host announced, sends the calls of one event-loop turn as one message, matches replies, bounds every call by a
// timeout, and fails fast while the primary does not answer.
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { ErrorCode, fromWireError, StoreError } from '../shared/errors.js';
import { ops, type AnyOp, type Handshake, type Limits } from '../shared/ops.js';
import { POSTED, PROTOCOL, type WireReply } from '../shared/wire.js';

/** How requests reach the host: cluster IPC in a worker, a direct call in the primary (transport.ts). */
export interface Transport {
  readonly connected: boolean;
  /**
   * Sends one batch. `written`, when given, is called once the batch is in the channel (the host will read it
   * before anything sent later); without it, a failed send surfaces as the channel closing.
   */
  send(requests: unknown[], written?: (error?: Error | null) => void): void;
}

export type Callback = (error: StoreError | null, value?: unknown) => void;

interface Call {
  op: AnyOp;
  args: unknown[];
  callback: Callback;
  extraMs: number;
  posted: boolean;
}

interface Pending {
  id: number;
  op: AnyOp;
  deadline: number;
  callback: Callback;
  timer?: NodeJS.Timeout;
}

/**
 * `greeting`: nothing is sent but the handshake, calls wait for it. `ready`: calls go out. `unavailable`: the host
 * did not answer in time; calls fail at once while a probe asks every second. `closed`: the channel is gone.
 */
type State = 'new' | 'greeting' | 'ready' | 'unavailable' | 'closed';

const probeIntervalMs = 1000;
let warnedNoHost = false;

/** Emits `unavailable` (StoreError) and `available`: never express-session's `disconnect` (see cluster-store.ts). */
export class StoreClient extends EventEmitter {
  readonly #transport: Transport;
  readonly #timeoutMs: number;
  #state: State = 'new';
  #limits: Limits | undefined;
  #hostOps: ReadonlySet<string> = new Set();
  /** Why calls fail while unavailable. */
  #failure: StoreError | undefined;
  /** Calls made before the handshake answered: sent once it has, failed if it never does. */
  #held: Call[] = [];
  /** Answered calls in flight that share `timeoutMs`: insertion order is deadline order, so one timer serves all. */
  readonly #pending = new Map<number, Pending>();
  #queue: unknown[] = [];
  #posted: Callback[] = [];
  #nextId = 1;
  #flushScheduled = false;
  #timer: NodeJS.Timeout | undefined;
  #prober: NodeJS.Timeout | undefined;

  constructor(transport: Transport, timeoutMs: number) {
    super();
    this.#transport = transport;
    this.#timeoutMs = timeoutMs;
  }

  /** The host's limits, once it has answered the handshake. */
  get limits(): Limits | undefined {
    return this.#limits;
  }

  /** Sends a request and calls back with the host's answer; `extraMs` lets it wait that much longer than timeoutMs. */
  call(op: AnyOp, args: unknown[], callback: Callback, extraMs = 0): void {
    this.#submit({ op, args, callback, extraMs, posted: false });
  }

  /**
   * Sends a write nobody waits an answer for: `callback` runs once the batch holding it is in the channel. The
   * host applies it before it answers any read sent after that, from any worker. Only postable ops; before the
   * handshake it waits like any call, so it is never posted to a primary that hosts nothing.
   */
  post(op: AnyOp, args: unknown[], callback: Callback = noop): void {
    this.#submit({ op, args, callback, extraMs: 0, posted: true });
  }

  /** Delivers a batch of replies from the host. */
  receive(replies: readonly WireReply[]): void {
    for (const reply of replies) {
      if (!Array.isArray(reply)) continue;
      const pending = this.#pending.get(reply[0]);
      if (pending === undefined) continue; // a late answer to a call that already timed out
      this.#pending.delete(reply[0]);
      clearTimeout(pending.timer);
      const error = reply[1];
      pending.callback(error ? fromWireError(error) : null, reply[2]);
    }
  }

  /** The channel to the host is gone for good: fail everything now and from now on. */
  close(): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#failure = new StoreError(ErrorCode.closed, 'session store: the IPC channel to the primary is closed');
    clearTimeout(this.#timer);
    clearInterval(this.#prober);
    this.#queue = [];
    const callbacks = [...this.#held, ...this.#pending.values()].map(({ callback }) => callback);
    for (const { timer } of this.#pending.values()) clearTimeout(timer);
    this.#held = [];
    this.#pending.clear();
    for (const callback of callbacks) callback(this.#failure);
    this.emit('unavailable', this.#failure);
  }

  #submit(call: Call): void {
    if (!this.#transport.connected) this.close();
    switch (this.#state) {
      case 'new':
        this.#state = 'greeting';
        this.#greet();
        this.#held.push(call);
        return;
      case 'greeting':
        this.#held.push(call);
        return;
      case 'ready':
        this.#send(call);
        return;
      case 'unavailable':
      case 'closed':
        process.nextTick(call.callback, this.#failure);
    }
  }

  #send({ op, args, callback, extraMs, posted }: Call): void {
    try {
      if (!this.#hostOps.has(op.name)) {
        throw new StoreError(ErrorCode.badRequest, `session store: the host does not run \`${op.name}\`; register its feature in the primary: ClusterStore.setup({ features: [...] })`);
      }
      op.check(args, this.#limits!);
    } catch (error) {
      process.nextTick(callback, error);
      return;
    }
    if (posted) {
      this.#queue.push([POSTED, op.name, ...args]);
      if (callback !== noop) this.#posted.push(callback);
    } else {
      const pending = this.#track(op, callback, extraMs);
      this.#queue.push([pending.id, op.name, ...args]);
    }
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(this.#flush);
  }

  /** The handshake (and, while unavailable, the probe): the host's protocol, limits and ops. */
  #greet(): void {
    if (!this.#transport.connected) {
      this.close();
      return;
    }
    const pending = this.#track(ops.hello, (error, value) => (error ? this.#unavailable(error) : this.#greeted(value as Handshake)), 0);
    this.#transport.send([[pending.id, ops.hello.name]]);
  }

  #greeted(handshake: Handshake): void {
    if (handshake.protocol !== PROTOCOL) {
      const message = `session store: the host speaks protocol ${handshake.protocol}, this store ${PROTOCOL}: copy the same src/store into the primary's code and the workers'`;
      this.#unavailable(new StoreError(ErrorCode.badRequest, message));
      return;
    }
    this.#limits = handshake.limits;
    this.#hostOps = new Set(handshake.ops);
    const wasUnavailable = this.#state === 'unavailable';
    this.#state = 'ready';
    this.#failure = undefined;
    clearInterval(this.#prober);
    this.#prober = undefined;
    const held = this.#held;
    this.#held = [];
    for (const call of held) this.#send(call);
    if (wasUnavailable) this.emit('available');
  }

  #unavailable(cause: StoreError): void {
    if (this.#state === 'closed') return;
    const neverGreeted = this.#limits === undefined;
    if (neverGreeted && cause.code === ErrorCode.timeout) {
      cause = new StoreError(
        ErrorCode.noHost,
        `session store: no host answered within ${this.#timeoutMs} ms (timeoutMs): call ClusterStore.setup() in the primary before forking the workers`,
      );
      if (!warnedNoHost) {
        warnedNoHost = true;
        process.emitWarning(`${cause.message}; until then every store call fails with ${ErrorCode.noHost} (HTTP 503)`, { code: ErrorCode.noHost });
      }
    } else if (cause.code === ErrorCode.timeout) {
      cause = new StoreError(ErrorCode.unavailable, `session store: the primary did not answer within ${this.#timeoutMs} ms (timeoutMs); failing fast until it answers again`);
    }
    const held = this.#held;
    this.#held = [];
    for (const call of held) call.callback(cause);
    if (this.#state === 'unavailable') return;
    this.#state = 'unavailable';
    this.#failure = cause;
    this.#prober = setInterval(() => this.#greet(), probeIntervalMs).unref();
    this.emit('unavailable', cause);
  }

  /** Registers an answered call, bounded by timeoutMs (+ extraMs). */
  #track(op: AnyOp, callback: Callback, extraMs: number): Pending {
    const pending: Pending = { id: this.#nextId++, op, deadline: performance.now() + this.#timeoutMs, callback };
    if (extraMs > 0) {
      // A call with a longer timeout than the rest (a lock may wait): a timer of its own.
      const timeoutMs = this.#timeoutMs + extraMs;
      pending.timer = setTimeout(() => {
        this.#pending.delete(pending.id);
        this.#timeOut([pending], timeoutMs);
      }, timeoutMs).unref();
    } else {
      this.#timer ??= this.#arm(this.#timeoutMs);
    }
    this.#pending.set(pending.id, pending);
    return pending;
  }

  readonly #flush = (): void => {
    this.#flushScheduled = false;
    const requests = this.#queue;
    const posted = this.#posted;
    this.#queue = [];
    this.#posted = [];
    if (!this.#transport.connected) {
      this.close();
      for (const callback of posted) callback(this.#failure!);
      return;
    }
    // A send callback costs a completion callback per message (about 10 µs a round trip): only posted writes need one.
    if (posted.length === 0) {
      this.#transport.send(requests);
      return;
    }
    this.#transport.send(requests, (error) => {
      if (error) this.close();
      for (const callback of posted) callback(error ? this.#failure! : null);
    });
  };

  readonly #expire = (): void => {
    this.#timer = undefined;
    const now = performance.now();
    const due: Pending[] = [];
    for (const [id, pending] of this.#pending) {
      if (pending.timer !== undefined) continue;
      if (pending.deadline > now) {
        this.#timer = this.#arm(pending.deadline - now);
        break;
      }
      this.#pending.delete(id);
      due.push(pending);
    }
    this.#timeOut(due, this.#timeoutMs);
  };

  #timeOut(due: Pending[], timeoutMs: number): void {
    for (const pending of due) {
      const error = new StoreError(ErrorCode.timeout, `session store: ${pending.op.name} got no answer from the primary within ${timeoutMs} ms (timeoutMs)`);
      // The handshake's own callback turns this into "unavailable"; any other call does it here.
      if (pending.op !== ops.hello) this.#unavailable(error);
      pending.callback(error);
    }
  }

  #arm(delayMs: number): NodeJS.Timeout {
    // The timer only bounds calls; it must not keep a process alive that has nothing else to do.
    return setTimeout(this.#expire, delayMs).unref();
  }
}

function noop(): void {}
