// A host in this process for testing an op: withHost() makes a StoreHost of its own for one test (the options of
// ClusterStore.setup(), plus the test's own ops), and a real ClusterStore talking to it as a worker's store talks
// to the primary's: the handshake, the worker's checks, batching, posted writes, the host's run. Each call gets a
// fresh host, so the tests of one file share nothing.
//
//   const count = defineOp<[userId: string], number>({ … });
//   test('count', () => withHost({ ops: [count] }, async ({ call, set }) => {
//     await set('s1', session({ userId: 'alice' }));
//     assert.equal(await call(count, ['alice']), 1);
//   }));
//
// How: outside a cluster worker, every ClusterStore talks to the one host ClusterStore.setup() made in this process
// (cluster-store.ts), and setup() makes it once per process. So the first withHost() calls ClusterStore.setup()
// (no options) and points that host's accept(), the one door the in-process transport uses, at the host of the
// withHost() under way; between two, at itself again. Hence: one withHost() at a time (node:test runs a file's
// tests one after another unless told otherwise), and no ClusterStore.setup() with options of its own in a file
// that uses withHost(). A store keeps talking to whatever host is current: use each within its withHost().
import type { SessionData } from 'express-session';
import { ClusterStore, type ClusterStoreOptions } from '../cluster-store.js';
import { StoreHost, type Feature, type StoreHostOptions } from '../primary/host.js';
import type { AnyOp, Op } from '../shared/ops.js';

export interface HostOptions extends StoreHostOptions {
  /**
   * The test's own ops (defineOp), registered on the host as one feature, `test-ops`. An op that keeps state in the
   * host goes in a Feature of its own, in `features`.
   */
  ops?: readonly AnyOp[] | undefined;
  /** Options of the store withHost() makes (timeoutMs, userField, …). @default none */
  store?: ClusterStoreOptions | undefined;
}

export interface Harness {
  /** This test's host: its table (`host.sessions`), `stats()`, `sweep()`, `handle()` for raw requests. */
  readonly host: StoreHost;
  /** A ClusterStore talking to `host`. */
  readonly store: ClusterStore;
  /** Calls `op` through a store (default: `store`) and resolves with the host's reply; rejects with the StoreError. */
  readonly call: <Args extends unknown[], Reply>(op: Op<Args, Reply, never>, args: Args, through?: ClusterStore) => Promise<Reply>;
  /**
   * express-session's calls. As in a request: a session that get() loaded, or set() saved, is saved again as an
   * update, which fails with ERR_SESSION_ENDED when the session ended meanwhile.
   */
  readonly get: (sid: string, through?: ClusterStore) => Promise<SessionData | null>;
  readonly set: (sid: string, session: SessionData, through?: ClusterStore) => Promise<void>;
  readonly destroy: (sid: string, through?: ClusterStore) => Promise<void>;
  /** Another ClusterStore on the same host: another worker's. */
  readonly newStore: (options?: ClusterStoreOptions) => ClusterStore;
}

/** The host of the withHost() under way. */
let current: StoreHost | undefined;
/** Whether the process's host (ClusterStore.setup()) relays to `current` yet. */
let relaying = false;

/**
 * Runs `test` with a host of its own and a store talking to it; closes the host after (its features' close()),
 * however `test` ends. Resolves with what `test` returns.
 */
export async function withHost<T>(options: HostOptions, test: (harness: Harness) => Promise<T> | T): Promise<T> {
  if (current !== undefined) throw new Error('withHost(): another withHost() is under way; they share the stores\' one way to a host here: run them one after another');
  const { ops, store: storeOptions, features = [], ...hostOptions } = options;
  const own: Feature[] = ops === undefined || ops.length === 0 ? [] : [{ name: 'test-ops', ops, attach: () => ({ state: undefined }) }];
  const host = new StoreHost({ ...hostOptions, features: [...features, ...own] });
  relay();
  current = host;
  try {
    const store = new ClusterStore(storeOptions);
    const harness: Harness = {
      host,
      store,
      call: (op, args, through = store) => new Promise((resolve, reject) => through.call(op, args, (error, reply) => (error ? reject(error) : resolve(reply!)))),
      get: (sid, through = store) => promised<SessionData | null | undefined>((done) => through.get(sid, done)).then((found) => found ?? null),
      set: (sid, session, through = store) => promised<void>((done) => through.set(sid, session, done)),
      destroy: (sid, through = store) => promised<void>((done) => through.destroy(sid, done)),
      newStore: (more) => new ClusterStore(more),
    };
    return await test(harness);
  } finally {
    current = undefined;
    await host.close();
  }
}

/**
 * A session as express-session hands it to a store: `data` and a cookie that expires `maxAgeMs` from now (by
 * Date.now(), so a test on a mock clock gets a cookie on that clock).
 */
export function session(data: Record<string, unknown> = {}, maxAgeMs = 60_000): SessionData {
  const cookie = { originalMaxAge: maxAgeMs, expires: new Date(Date.now() + maxAgeMs), httpOnly: true, path: '/' };
  return { ...data, cookie } as unknown as SessionData;
}

/** Points the accept() of this process's host at the host of the withHost() under way (see the top of this file). */
function relay(): void {
  if (relaying) return;
  let processHost: StoreHost | undefined;
  try {
    processHost = ClusterStore.setup();
  } catch (error) {
    throw new Error('withHost() relays through the host ClusterStore.setup() makes in this process, with no options; this file called setup() with options of its own: use setup() or withHost() in one test file, not both', { cause: error });
  }
  if (processHost === undefined) throw new Error('withHost() runs in a primary or in a process outside a cluster, not in a cluster worker');
  const itself = processHost.accept.bind(processHost);
  processHost.accept = (requests, send, owner) => (current === undefined ? itself(requests, send, owner) : current.accept(requests, send, owner));
  relaying = true;
}

function promised<T>(call: (done: (error?: unknown, value?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => call((error, value) => (error ? reject(error instanceof Error ? error : new Error('store call failed', { cause: error })) : resolve(value as T))));
}
