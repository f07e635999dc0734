// The session host, in the primary: runs the ops that every worker's store sends, current and future, on one
// Sessions table. `attach(cluster)` subscribes to the cluster's messages; nothing happens on import.
import type { Cluster, Worker } from 'node:cluster';
import { EventEmitter } from 'node:events';
import { badRequest, toWireError } from '../shared/errors.js';
import { coreOps, LATER, type AnyOp, type Handshake, type Limits, type OpContext } from '../shared/ops.js';
import { checkOptions, integer, oneOf, type Rule } from '../shared/options.js';
import { isRequestBatch, POSTED, PROTOCOL, TAG, type ReplyBatch, type WireReply } from '../shared/wire.js';
import { SessionTable } from './session-table.js';
import { inSlices, stepSessions } from './slices.js';
import { costOf, tableRules, type Sessions, type TableOptions } from './sessions.js';

/**
 * An optional part of the store (the session lock, snapshots): its ops, and what it keeps in the host. The core
 * never imports a feature; the primary names the ones it wants in ClusterStore.setup({ features }).
 */
export interface Feature<State = unknown> {
  readonly name: string;
  readonly ops?: readonly AnyOp[];
  /** What the feature was made with: setup() called again compares features by name and settings. */
  readonly settings?: Readonly<Record<string, unknown>>;
  /** Called once by the host's constructor: returns the state its ops are given, and what to do at close(). */
  attach(host: StoreHost): { state: State; close?: () => Promise<void> | void };
}

export interface StoreHostOptions extends TableOptions {
  /** Longest session id accepted, in characters. Announced to every store. @default 256 */
  maxIdLength?: number | undefined;
  /** Largest session saved, in bytes of JSON: a larger `set` fails with ERR_SESSION_TOO_LARGE (413). Announced. @default 16_384 */
  maxSessionBytes?: number | undefined;
  /** Longest user id (the session field stores index sessions by), in characters. Announced. @default 256 */
  maxUserIdLength?: number | undefined;
  /** How often expired sessions are swept from memory, in ms. @default 60_000 */
  sweepIntervalMs?: number | undefined;
  /** A table of your own (see sessions.ts); then set the table's options (maxSessions, maxTotalBytes, …) on it. @default a SessionTable */
  sessions?: Sessions | undefined;
  /** Optional parts: `sessionLocks`, `snapshots({ file })`. @default none */
  features?: readonly Feature[] | undefined;
}

/** Counters since the host started: store requests served, the IPC messages that carried them, posted writes refused. */
export interface HostStats {
  messagesIn: number;
  messagesOut: number;
  requests: number;
  rejected: number;
  sessions: number;
  /** Users with at least one session. */
  users: number;
  /** What the sessions are counted as against maxTotalBytes. */
  bytes: number;
  /** Sessions the bounds evicted: to stay within maxSessions, maxTotalBytes, and a user's maxSessionsPerUser. */
  evictedForCount: number;
  evictedForBytes: number;
  evictedForUser: number;
}

/** What `swept` tells after each sweep: expired sessions removed, and the event-loop turns it took. */
export interface Swept {
  removed: number;
  turns: number;
}

/** What a feature filling the table (a snapshot loading) is told: which ids ended while it filled. */
export interface Filling {
  /** Whether `sid` was destroyed since the filling began: a record of it must not be restored. */
  ended(sid: string): boolean;
}

/** What `evicting` tells, once per bound: the table reached it and evicts to stay within it. */
export interface Evicting {
  bound: 'maxSessions' | 'maxTotalBytes';
  limit: number;
  sessions: number;
  bytes: number;
}

type Send = (replies: WireReply[]) => void;

/** What a table must have: checked when it is passed in, so a table written to an older interface fails at setup(). */
const sessionMethods = ['read', 'set', 'update', 'touch', 'destroy', 'has', 'walk', 'entries', 'length', 'clear', 'sweep', 'userSessions', 'destroyUser'] as const;

function isSessions(value: unknown): boolean {
  const table = value as Partial<Record<string, unknown>> | null;
  return (
    typeof table === 'object' &&
    table !== null &&
    sessionMethods.every((name) => typeof table[name] === 'function') &&
    typeof table.evictions === 'object' &&
    typeof table.bounds === 'object'
  );
}

const rules: Readonly<Record<keyof StoreHostOptions, Rule>> = {
  ...tableRules,
  maxIdLength: integer(1, 65_536),
  maxSessionBytes: integer(64),
  maxUserIdLength: integer(1, 65_536),
  sweepIntervalMs: integer(1),
  sessions: oneOf(`a Sessions table (see primary/sessions.ts: the methods ${sessionMethods.join(', ')} and the properties evictions and bounds)`, isSessions),
  features: oneOf('an array of features (sessionLocks, snapshots(…))', (value) => Array.isArray(value) && value.every((f) => typeof (f as Feature | null)?.attach === 'function')),
};

const hints: Readonly<Record<string, string>> = {
  snapshotFile: 'snapshots moved to a feature of their own: `features: [snapshots({ file })]`, imported from the store\'s index.ts',
  snapshotIntervalMs: 'snapshots moved to a feature of their own: `features: [snapshots({ file, intervalMs })]`',
  ttl: '`defaultTtlMs`, in ms, is the lifetime of a session whose cookie has no expiry',
  max: 'did you mean `maxSessions`?',
};

const noop = () => {};

/**
 * Emits `rejected` (error) for a posted write it refused: no worker waits for that answer, so the primary should
 * log it. Emits `evicting` (Evicting) the first time the table evicts to stay within maxSessions, and the first
 * time for maxTotalBytes: log it. Emits `worker-exit` (worker id) when a worker of the attached cluster exits.
 * Features add their own.
 */
export class StoreHost extends EventEmitter {
  readonly sessions: Sessions;
  readonly limits: Limits;
  readonly #sweepIntervalMs: number;
  readonly #ops = new Map<string, { op: AnyOp; state: unknown }>();
  readonly #features = new Map<Feature, { state: unknown; close?: () => Promise<void> | void }>();
  readonly #handshake: Handshake;
  readonly #stats = { messagesIn: 0, messagesOut: 0, requests: 0, rejected: 0 };
  /** The bounds `evicting` was emitted for: once each. */
  readonly #evicting = new Set<Evicting['bound']>();
  /** While a feature fills the table: the requests waiting for it, and the ids destroyed meanwhile. */
  #filling: { waiting: { raw: unknown[]; send: Send; owner: number }[]; ended: Set<string> } | undefined;
  #sweeping: Promise<Swept> | undefined;
  /** Reads waiting for the end of the turn, with the replies their batch already has. */
  #deferred: { requests: unknown[]; send: Send; owner: number; replies: WireReply[] }[] = [];
  #detach: (() => void) | undefined;

  constructor(options: StoreHostOptions = {}) {
    super();
    checkOptions('ClusterStore.setup()', options, rules, hints);
    const { maxSessions, maxTotalBytes, maxSessionsPerUser, defaultTtlMs, absoluteTimeoutMs } = options;
    const tableOptions = { maxSessions, maxTotalBytes, maxSessionsPerUser, defaultTtlMs, absoluteTimeoutMs };
    if (options.sessions !== undefined && Object.values(tableOptions).some((value) => value !== undefined)) {
      throw new TypeError(`ClusterStore.setup(): with \`sessions\` (a table of your own), set ${Object.keys(tableOptions).join(', ')} on that table`);
    }
    this.limits = { maxIdLength: options.maxIdLength ?? 256, maxSessionBytes: options.maxSessionBytes ?? 16_384, maxUserIdLength: options.maxUserIdLength ?? 256 };
    const largest = costOf('x'.repeat(this.limits.maxIdLength), 'x'.repeat(this.limits.maxSessionBytes));
    if (maxTotalBytes !== undefined && maxTotalBytes < 4 * largest) {
      throw new TypeError(`ClusterStore.setup(): \`maxTotalBytes\` (${maxTotalBytes}) must hold at least 4 of the largest sessions (maxSessionBytes ${this.limits.maxSessionBytes}, counted as ${largest} bytes each): raise it or lower maxSessionBytes`);
    }
    this.sessions = options.sessions ?? new SessionTable(tableOptions);
    this.#sweepIntervalMs = options.sweepIntervalMs ?? 60_000;
    const features = options.features ?? [];
    const names = [...coreOps, ...features.flatMap((feature) => feature.ops ?? [])].map((op) => op.name);
    const twice = names.find((name, i) => names.indexOf(name) !== i);
    if (twice !== undefined) throw new TypeError(`ClusterStore.setup(): two ops are named ${JSON.stringify(twice)}; give a feature's ops names of their own`);
    for (const op of coreOps) this.#ops.set(op.name, { op, state: undefined });
    for (const feature of features) {
      const attached = feature.attach(this);
      this.#features.set(feature, attached);
      for (const op of feature.ops ?? []) this.#ops.set(op.name, { op, state: attached.state });
    }
    this.#handshake = { protocol: PROTOCOL, limits: this.limits, ops: [...this.#ops.keys()] };
  }

  /** What `feature` keeps in this host (its lock table, say); undefined when the feature is not registered. */
  state<State>(feature: Feature<State>): State | undefined {
    return this.#features.get(feature)?.state as State | undefined;
  }

  /**
   * Takes one batch from a worker. Writes (and anything that is not a read) run at once, in the order sent;
   * reads are answered through `send` at the end of this turn of the event loop (setImmediate), once every
   * channel the poll found readable has been read. Why that is enough for read-after-write across workers: a
   * worker posts its write before it answers its visitor, so the write is in that worker's channel before the
   * visitor can even send the request that makes another worker read. The poll that finds the read readable
   * finds the write too, and libuv reads a readable pipe until it is empty (up to 32 reads of 64 KiB a turn):
   * larger backlogs are the bound of this guarantee. Guarded by the template's test/primary.test.ts ("read by the
   * other on the very next request, 400 times over").
   */
  accept(requests: readonly unknown[], send: Send, owner = 0): void {
    const now: unknown[] = [];
    const reads: unknown[] = [];
    for (const raw of requests) (this.#ops.get((raw as unknown[] | null)?.[1] as string)?.op.read === true ? reads : now).push(raw);
    const replies = now.length > 0 ? this.handle(now, send, owner) : [];
    if (reads.length === 0) {
      if (replies.length > 0) send(replies);
      return;
    }
    if (this.#deferred.length === 0) setImmediate(this.#answer);
    this.#deferred.push({ requests: reads, send, owner, replies });
  }

  /**
   * Runs one batch of raw requests in order and returns the replies. Never throws: a malformed request gets an
   * error reply when it has an id. An op that answers later does so alone, through `send`.
   */
  handle(requests: readonly unknown[], send: Send = noop, owner = 0): WireReply[] {
    const replies: WireReply[] = [];
    this.#stats.requests += requests.length;
    const context = new Context(this.sessions, this.#handshake, owner, send);
    for (const raw of requests) {
      // Without a usable id there is no one to answer.
      if (!Array.isArray(raw) || !Number.isSafeInteger(raw[0])) continue;
      const id = raw[0] as number;
      try {
        const value = this.#run(context, id, raw);
        if (id !== POSTED && value !== LATER) replies.push([id, null, value]);
      } catch (error) {
        if (id !== POSTED) replies.push([id, toWireError(error)]);
        else {
          this.#stats.rejected++;
          this.emit('rejected', error);
        }
      }
    }
    this.#tellEvicting();
    return replies;
  }

  /** Serves every worker of `cluster` and starts the expiry sweep. */
  attach(cluster: Cluster): void {
    if (this.#detach !== undefined) return;
    const onMessage = (worker: Worker, message: unknown) => {
      if (!isRequestBatch(message)) return;
      this.#stats.messagesIn++;
      const reply = (replies: WireReply[]) => {
        // A worker that died while its batch was in flight has no one left to read the answer.
        if (!worker.isConnected()) return;
        this.#stats.messagesOut++;
        worker.send({ tag: TAG, c: message.c, r: replies } satisfies ReplyBatch, noop);
      };
      this.accept(message.q, reply, worker.id);
    };
    const onExit = (worker: Worker) => this.emit('worker-exit', worker.id);
    cluster.on('message', onMessage);
    cluster.on('exit', onExit);
    const sweeper = setInterval(() => void this.sweep(), this.#sweepIntervalMs).unref();
    this.#detach = () => {
      cluster.off('message', onMessage);
      cluster.off('exit', onExit);
      clearInterval(sweeper);
    };
  }

  /** Stops serving, then closes the features in reverse order (snapshots write their last file). */
  async close(): Promise<void> {
    this.#detach?.();
    this.#detach = undefined;
    for (const { close } of [...this.#features.values()].reverse()) await close?.();
  }

  /**
   * Removes the expired sessions, a few hundred at a time with the event loop free in between (the workers'
   * calls are served meanwhile; a read never returns an expired session, swept or not). One sweep at a time: a
   * call while one runs gets that one. Emits `swept` (Swept).
   */
  sweep(): Promise<Swept> {
    return (this.#sweeping ??= (async () => {
      const walk = this.sessions.walk();
      let removed = 0;
      const turns = await inSlices(() => {
        const before = this.sessions.size;
        const more = walk.step(stepSessions);
        removed += before - this.sessions.size; // a step runs alone: only the walk removed
        return more;
      });
      const swept = { removed, turns };
      this.emit('swept', swept);
      return swept;
    })().finally(() => (this.#sweeping = undefined)));
  }

  /**
   * Runs `fill`, a feature's filling of the table while the host already serves (a snapshot loading in slices).
   * Until it settles, a `get`, `update` or `touch` of a session the table does not hold yet, and the ops on every
   * session (all, length, clear, a user's sessions), wait, then run in the order they came: a session a request
   * asks for is never answered "none" before the table has all it will have. `set` and `destroy` run at once;
   * `fill` must skip the ids the table holds (saved since, so newer) and those `ended()` names (destroyed since).
   */
  fill<T>(fill: (filling: Filling) => Promise<T>): Promise<T> {
    const filling = { waiting: [] as { raw: unknown[]; send: Send; owner: number }[], ended: new Set<string>() };
    this.#filling = filling;
    return fill({ ended: (sid) => filling.ended.has(sid) }).finally(() => {
      this.#filling = undefined;
      // The waiting requests of each batch together, in the order they came, as if they had just arrived.
      const byChannel = new Map<Send, { owner: number; requests: unknown[] }>();
      for (const { raw, send, owner } of filling.waiting) {
        const batch = byChannel.get(send) ?? byChannel.set(send, { owner, requests: [] }).get(send)!;
        batch.requests.push(raw);
      }
      for (const [send, { owner, requests }] of byChannel) {
        const replies = this.handle(requests, send, owner);
        if (replies.length > 0) send(replies);
      }
    });
  }

  stats(): HostStats {
    const { sessions } = this;
    const { count, bytes, perUser } = sessions.evictions;
    return { ...this.#stats, sessions: sessions.size, users: sessions.users, bytes: sessions.bytes, evictedForCount: count, evictedForBytes: bytes, evictedForUser: perUser };
  }

  /** The first eviction for each bound is news (the table is full: raise the bound, or find who fills it): say it once. */
  #tellEvicting(): void {
    const { count, bytes } = this.sessions.evictions;
    if (count === 0 && bytes === 0) return;
    for (const [bound, evicted] of [['maxSessions', count], ['maxTotalBytes', bytes]] as const) {
      if (evicted === 0 || this.#evicting.has(bound)) continue;
      this.#evicting.add(bound);
      const limit = this.sessions.bounds[bound];
      this.emit('evicting', { bound, limit, sessions: this.sessions.size, bytes: this.sessions.bytes } satisfies Evicting);
    }
  }

  #waitsForFilling(op: AnyOp, args: readonly unknown[]): boolean {
    return op.whileFilling === 'all' || (op.whileFilling === 'absent' && !this.sessions.has(args[0] as string));
  }

  readonly #answer = (): void => {
    const deferred = this.#deferred;
    this.#deferred = [];
    for (const { requests, send, owner, replies } of deferred) {
      replies.push(...this.handle(requests, send, owner));
      if (replies.length > 0) send(replies);
    }
  };

  #run(context: Context, id: number, raw: unknown[]): unknown {
    const name = raw[1];
    const entry = typeof name === 'string' ? this.#ops.get(name) : undefined;
    if (entry === undefined) {
      throw badRequest(`this host does not run the op ${JSON.stringify(name) ?? String(name)}; a feature's ops run only where the primary registered the feature: ClusterStore.setup({ features: [...] })`);
    }
    if (id === POSTED && !entry.op.postable) throw badRequest(`${name as string} cannot be posted: only writes the worker checked can go unanswered`);
    const args = raw.slice(2);
    entry.op.check(args, this.limits);
    if (this.#filling !== undefined && this.#waitsForFilling(entry.op, args)) {
      this.#filling.waiting.push({ raw, send: context.send, owner: context.owner });
      this.#stats.requests--; // counted when it runs, after the filling
      return LATER;
    }
    if (this.#filling !== undefined && entry.op.whileFilling === 'ends') this.#filling.ended.add(args[0] as string);
    context.id = id;
    context.state = entry.state;
    return (entry.op.run as (context: OpContext<unknown>, ...args: unknown[]) => unknown)(context, ...args);
  }

}

/**
 * What an op's `run` is given. One per batch: `id` and `state` are set before each run, and `later()` is only
 * valid during that synchronous call, which is when ops call it.
 */
class Context implements OpContext<unknown> {
  id = 0;
  state: unknown = undefined;

  constructor(
    readonly sessions: Sessions,
    readonly handshake: Handshake,
    readonly owner: number,
    readonly send: Send,
  ) {}

  later(): (error: unknown, value?: unknown) => void {
    const { id, send } = this;
    return (error, value) => send([error ? [id, toWireError(error)] : [id, null, value]]);
  }
}
