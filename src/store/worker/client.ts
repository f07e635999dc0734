// Worker side of the channel: greets the host as soon as the store exists, checks every call against the limits
// the host announced, sends the calls of one event-loop turn as one message, matches replies, bounds every call
// by its timeout, and fails fast while the primary does not answer.
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
   * before anything sent later).
   */
  send(requests: unknown[], written?: (error?: Error | null) => void): void;
}

export type Callback = (error: StoreError | null, value?: unknown) => void;

interface Call {
  op: AnyOp;
  args: unknown[];
  callback: Callback;
  /** performance.now() by which it must have ended: set when the call is made, whatever it waits for. */
  deadline: number;
  /** What the caller allowed, in ms: timeoutMs, or more for a lock that may wait in the host. */
  allowedMs: number;
  posted: boolean;
}

interface Pending {
  op: AnyOp;
  deadline: number;
  allowedMs: number;
  callback: Callback;
  /** Only for a call with a longer timeout than the rest (a lock): its own timer. */
  timer?: NodeJS.Timeout;
  /** Sent and counted against maxInFlight, in this pool: its answer (or timeout) lets the next waiting call go. */
  counted?: Pool;
}

/**
 * `greeting`: the handshake is out; calls wait for it. `ready`: calls go out. `unavailable`: the host did not
 * answer in time (or never did); calls fail at once while a probe asks every second. `closed`: the channel is gone.
 */
type State = 'greeting' | 'ready' | 'unavailable' | 'closed';

const probeIntervalMs = 1000;

/** Answered calls are counted in two pools: the ordinary ones, and those that may wait in the host (locks). */
type Pool = 0 | 1;
let warnedNoHost = false;

/** Emits `unavailable` (StoreError) and `available`: never express-session's `disconnect` (see cluster-store.ts). */
export class StoreClient extends EventEmitter {
  readonly #transport: Transport;
  readonly #timeoutMs: number;
  #state: State = 'greeting';
  #limits: Limits | undefined;
  #hostOps: ReadonlySet<string> = new Set();
  /** Why calls fail while unavailable or closed. */
  #failure: StoreError | undefined;
  /** Calls made before the handshake answered: sent once it has, failed if it never does. */
  #held: Call[] = [];
  /**
   * Answered calls in flight. Those without a timer of their own share `timeoutMs` and were inserted in deadline
   * order (held calls keep their earlier deadlines and go in before any later call), so one timer serves them all.
   */
  readonly #pending = new Map<number, Pending>();
  #queue: unknown[] = [];
  #posted: Callback[] = [];
  #nextId = 1;
  #flushScheduled = false;
  readonly #maxInFlight: number;
  /** Answered calls sent and not yet answered, by pool, counted against maxInFlight. */
  readonly #inFlight: [number, number] = [0, 0];
  /** Answered calls over maxInFlight, by pool: tracked (their deadline runs), sent as earlier ones are answered. */
  readonly #waiting: [unknown[][], unknown[][]] = [[], []];
  #timer: NodeJS.Timeout | undefined;
  #prober: NodeJS.Timeout | undefined;
  #greetingOut = false;

  /**
   * `maxInFlight` bounds the answered calls outstanding at once, and so the size of the host's answer to one turn of
   * this worker: a client that sends a thousand pipelined requests of large sessions makes a thousand reads, whose
   * answers would otherwise travel as one message of tens of MB through the primary (an amplification found by an
   * attacker's try). The rest wait here, in order, within their own timeout. Lock calls (longer timeouts) count in
   * a pool of their own: they may wait in the host for long, and must not hold up everyone else's calls, but each
   * grant brings a session along, so they are bounded as well.
   */
  constructor(transport: Transport, timeoutMs: number, maxInFlight = 128) {
    super();
    this.#transport = transport;
    this.#timeoutMs = timeoutMs;
    this.#maxInFlight = maxInFlight;
    // Greet at once: a missing host is then known (and warned about) at start, not at a visitor's first request.
    this.#greet();
  }

  /** Sends a request and calls back with the host's answer; `extraMs` lets it wait that much longer than timeoutMs. */
  call(op: AnyOp, args: unknown[], callback: Callback, extraMs = 0): void {
    const allowedMs = this.#timeoutMs + extraMs;
    this.#submit({ op, args, callback, deadline: performance.now() + allowedMs, allowedMs, posted: false });
  }

  /**
   * Sends a write nobody waits an answer for: `callback` runs once the batch holding it is in the channel. The
   * host applies it before it answers any read sent after that, from any worker. Only postable ops; before the
   * handshake it waits like any call, so it is never posted to a primary that hosts nothing.
   */
  post(op: AnyOp, args: unknown[], callback: Callback = noop): void {
    this.#submit({ op, args, callback, deadline: performance.now() + this.#timeoutMs, allowedMs: this.#timeoutMs, posted: true });
  }

  /** Delivers a batch of replies from the host. */
  receive(replies: readonly WireReply[]): void {
    for (const reply of replies) {
      if (!Array.isArray(reply)) continue;
      const pending = this.#pending.get(reply[0]);
      if (pending === undefined) continue; // a late answer to a call that already timed out
      this.#pending.delete(reply[0]);
      clearTimeout(pending.timer);
      if (pending.counted !== undefined) this.#release(pending.counted);
      const error = reply[1];
      deliver(pending.callback, error ? fromWireError(error) : null, reply[2]);
    }
  }

  /** The channel to the host is gone for good: fail everything now and from now on. */
  close(): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#failure = new StoreError(ErrorCode.closed, 'session store: the IPC channel to the primary is closed');
    clearTimeout(this.#timer);
    this.#timer = undefined;
    clearInterval(this.#prober);
    this.#queue = [];
    this.#waiting[0] = [];
    this.#waiting[1] = [];
    this.#inFlight.fill(0);
    const callbacks = [...this.#held, ...this.#pending.values()].map(({ callback }) => callback);
    for (const { timer } of this.#pending.values()) clearTimeout(timer);
    this.#held = [];
    this.#pending.clear();
    for (const callback of callbacks) deliver(callback, this.#failure);
    this.emit('unavailable', this.#failure);
  }

  #submit(call: Call): void {
    if (!this.#transport.connected) this.close();
    switch (this.#state) {
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

  #send(call: Call): void {
    const { op, args, callback, posted } = call;
    try {
      if (!this.#hostOps.has(op.name)) {
        throw new StoreError(ErrorCode.misconfigured, `session store: the host does not run \`${op.name}\`; register its feature in the primary: ClusterStore.setup({ features: [...] })`);
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
      const id = this.#track(call);
      const request = [id, op.name, ...args];
      const pool: Pool = call.allowedMs > this.#timeoutMs ? 1 : 0;
      if (this.#inFlight[pool] >= this.#maxInFlight) {
        this.#waiting[pool].push(request);
        return;
      }
      this.#inFlight[pool]++;
      this.#pending.get(id)!.counted = pool;
      this.#queue.push(request);
    }
    this.#scheduleFlush();
  }

  /** A counted call ended (answered or timed out): the oldest waiting calls of its pool still within their deadline go. */
  #release(pool: Pool): void {
    this.#inFlight[pool]--;
    const waiting = this.#waiting[pool];
    while (this.#inFlight[pool] < this.#maxInFlight && waiting.length > 0) {
      const request = waiting.shift()!;
      const pending = this.#pending.get(request[0] as number);
      if (pending === undefined) continue; // timed out while it waited
      pending.counted = pool;
      this.#inFlight[pool]++;
      this.#queue.push(request);
      this.#scheduleFlush();
    }
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(this.#flush);
  }

  /** The handshake, and while unavailable the probe: the host's protocol, limits and ops. One at a time. */
  #greet(): void {
    if (this.#greetingOut) return;
    if (!this.#transport.connected) {
      this.close();
      return;
    }
    this.#greetingOut = true;
    const callback: Callback = (error, value) => {
      this.#greetingOut = false;
      if (error) this.#unavailable(error);
      else this.#greeted(value);
    };
    const id = this.#track({ op: ops.hello, args: [], callback, deadline: performance.now() + this.#timeoutMs, allowedMs: this.#timeoutMs, posted: false });
    this.#transport.send([[id, ops.hello.name]]);
  }

  #greeted(value: unknown): void {
    const handshake = value as Partial<Handshake> | null;
    if (handshake?.protocol !== PROTOCOL || typeof handshake.limits !== 'object' || !Array.isArray(handshake.ops)) {
      const message = `session store: the host answered with protocol ${String(handshake?.protocol)}, this store speaks ${PROTOCOL}: give the primary and the workers the same copy of the store`;
      this.#unavailable(new StoreError(ErrorCode.misconfigured, message));
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
    if (cause.code === ErrorCode.timeout) cause = this.#limits === undefined ? noHostError(this.#timeoutMs) : unavailableError(this.#timeoutMs);
    const held = this.#held;
    this.#held = [];
    for (const call of held) deliver(call.callback, cause);
    if (this.#state === 'unavailable') return;
    this.#state = 'unavailable';
    this.#failure = cause;
    this.#prober = setInterval(() => this.#greet(), probeIntervalMs).unref();
    this.emit('unavailable', cause);
  }

  /** Registers an answered call, to end by its deadline; returns its request id. */
  #track({ op, callback, deadline, allowedMs }: Call): number {
    const id = this.#nextId++;
    const pending: Pending = { op, deadline, allowedMs, callback };
    const delayMs = deadline - performance.now();
    if (allowedMs > this.#timeoutMs) {
      // Longer than the shared timeout (a lock may wait in the host): a timer of its own.
      pending.timer = setTimeout(() => {
        this.#pending.delete(id);
        if (pending.counted !== undefined) this.#release(pending.counted);
        this.#timeOut(pending);
      }, Math.max(0, delayMs)).unref();
    } else {
      this.#timer ??= this.#arm(delayMs);
    }
    this.#pending.set(id, pending);
    return id;
  }

  readonly #flush = (): void => {
    this.#flushScheduled = false;
    const requests = this.#queue;
    const posted = this.#posted;
    this.#queue = [];
    this.#posted = [];
    if (!this.#transport.connected) {
      this.close();
      for (const callback of posted) deliver(callback, this.#failure!);
      return;
    }
    // A send callback costs a completion callback per message (about 10 µs a round trip): only posted writes need one.
    if (posted.length === 0) {
      this.#transport.send(requests);
      return;
    }
    this.#transport.send(requests, (error) => {
      if (error) this.close();
      for (const callback of posted) deliver(callback, error ? this.#failure! : null);
    });
  };

  readonly #expire = (): void => {
    this.#timer = undefined;
    const now = performance.now();
    for (const [id, pending] of this.#pending) {
      if (pending.timer !== undefined) continue;
      if (pending.deadline > now) {
        this.#timer = this.#arm(pending.deadline - now);
        return;
      }
      this.#pending.delete(id);
      if (pending.counted !== undefined) this.#release(pending.counted);
      this.#timeOut(pending);
    }
  };

  #timeOut(pending: Pending): void {
    const allowed = pending.allowedMs === this.#timeoutMs ? `${this.#timeoutMs} ms (timeoutMs)` : `${pending.allowedMs} ms (timeoutMs + its wait)`;
    const error = new StoreError(ErrorCode.timeout, `session store: ${pending.op.name} got no answer from the primary within ${allowed}`);
    // The handshake's own callback turns this into "unavailable"; any other call does it here.
    if (pending.op !== ops.hello) this.#unavailable(error);
    deliver(pending.callback, error);
  }

  #arm(delayMs: number): NodeJS.Timeout {
    // The timer only bounds calls; it must not keep a process alive that has nothing else to do.
    return setTimeout(this.#expire, Math.max(0, delayMs)).unref();
  }
}

/**
 * Calls back; an exception thrown by the callback (application code) is rethrown on its own tick, so it is still
 * an uncaught exception but cannot stop the other replies of a batch from being delivered.
 */
function deliver(callback: Callback, error: StoreError | null, value?: unknown): void {
  try {
    callback(error, value);
  } catch (thrown) {
    process.nextTick(() => {
      throw thrown;
    });
  }
}

function noHostError(timeoutMs: number): StoreError {
  const error = new StoreError(
    ErrorCode.noHost,
    `session store: no host answered within ${timeoutMs} ms (timeoutMs): call ClusterStore.setup() in the primary before forking the workers`,
  );
  if (!warnedNoHost) {
    warnedNoHost = true;
    process.emitWarning(`${error.message}; until then every store call fails with ${ErrorCode.noHost} (HTTP 503)`, { code: ErrorCode.noHost });
  }
  return error;
}

function unavailableError(timeoutMs: number): StoreError {
  return new StoreError(ErrorCode.unavailable, `session store: the primary did not answer within ${timeoutMs} ms (timeoutMs); failing fast until it answers again`);
}

function noop(): void {}
