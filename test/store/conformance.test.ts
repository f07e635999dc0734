// The conformance suite against ClusterStore (in this process, through the same host the primary runs) and
// against the Redis store the template switches to with SESSION_STORE=redis://… (a real redis-server).
import { after } from 'node:test';
import type { Store } from 'express-session';
import { createClient } from 'redis';
import { createRedisSessionStore } from '../../src/redis/store.js';
import { ClusterStore } from '../../src/store/index.js';
import { redisUnavailable, startRedis, type RedisServer } from '../../scripts/lib/redis-server.js';
import { storeConformance } from './conformance.js';
import { pino } from 'pino';

const host = ClusterStore.setup()!;
const clusterStore = new ClusterStore();
storeConformance('ClusterStore', () =>
  Promise.resolve({
    store: clusterStore,
    expiryOf: (sid: string) => Promise.resolve([...host.sessions.entries()].find(([id]) => id === sid)?.[2] ?? null),
    corrupt: (sid: string, value: string) => Promise.resolve(host.sessions.set(sid, value, Date.now() + 60_000)),
  }),
);

const skip = redisUnavailable();
const cleanups: (() => unknown)[] = [];
after(async () => {
  for (const fn of cleanups.reverse()) await fn();
});
interface RedisUnderTest {
  server: RedisServer;
  store: ReturnType<typeof createRedisSessionStore>;
  inspect: { pTTL(key: string): Promise<number>; set(key: string, value: string, options: { expiration: { type: 'PX'; value: number } }): Promise<unknown> };
}
let redis: Promise<RedisUnderTest> | undefined;

async function redisStore(): Promise<RedisUnderTest> {
  redis ??= (async (): Promise<RedisUnderTest> => {
    const server = await startRedis((fn) => cleanups.push(fn));
    const store = createRedisSessionStore({ url: server.url, prefix: 'test:sess:', timeoutMs: 2000, log: pino({ level: 'silent' }) });
    cleanups.push(() => store.close());
    const inspect = createClient({ url: server.url });
    await inspect.connect();
    cleanups.push(() => inspect.close());
    await new Promise<void>((resolve) => (inspect.isReady ? resolve() : inspect.once('ready', resolve)));
    await waitUntilConnected(store.store);
    return { server, store, inspect };
  })();
  return redis;
}

storeConformance(
  'Redis store',
  async () => {
    const { store, inspect } = await redisStore();
    return {
      store: store.store,
      expiryOf: async (sid) => {
        const ms = await inspect.pTTL(`test:sess:${sid}`);
        return ms < 0 ? null : Date.now() + ms;
      },
      corrupt: async (sid, value) => {
        await inspect.set(`test:sess:${sid}`, value, { expiration: { type: 'PX', value: 60_000 } });
      },
    };
  },
  skip,
);

function waitUntilConnected(store: Store): Promise<void> {
  return new Promise((resolve) => {
    const probe = () =>
      store.get('probe', (error) => {
        if (!error) resolve();
        else setTimeout(probe, 50);
      });
    probe();
  });
}
