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
// Each store is made with `host`, the option that points a ClusterStore at a host in this same process: tests of
// one file may run their withHost() one after another or at once, and ClusterStore.setup() is left alone.
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

/**
 * Runs `test` with a host of its own and a store talking to it; closes the host after (its features' close()),
 * however `test` ends. Resolves with what `test` returns.
 */
export async function withHost<T>(options: HostOptions, test: (harness: Harness) => Promise<T> | T): Promise<T> {
  const { ops, store: storeOptions, features = [], ...hostOptions } = options;
  const own: Feature[] = ops === undefined || ops.length === 0 ? [] : [{ name: 'test-ops', ops, attach: () => ({ state: undefined }) }];
  const host = new StoreHost({ ...hostOptions, features: [...features, ...own] });
  try {
    const store = new ClusterStore({ ...storeOptions, host });
    const harness: Harness = {
      host,
      store,
      call: (op, args, through = store) => new Promise((resolve, reject) => through.call(op, args, (error, reply) => (error ? reject(error) : resolve(reply!)))),
      get: (sid, through = store) => promised<SessionData | null | undefined>((done) => through.get(sid, done)).then((found) => found ?? null),
      set: (sid, session, through = store) => promised<void>((done) => through.set(sid, session, done)),
      destroy: (sid, through = store) => promised<void>((done) => through.destroy(sid, done)),
      newStore: (more) => new ClusterStore({ ...more, host }),
    };
    return await test(harness);
  } finally {
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

function promised<T>(call: (done: (error?: unknown, value?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => call((error, value) => (error ? reject(error instanceof Error ? error : new Error('store call failed', { cause: error })) : resolve(value as T))));
}
