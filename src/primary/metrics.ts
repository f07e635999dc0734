// The metrics server, in the primary: the whole cluster's Prometheus metrics (prom-client's aggregator asks every
// worker for what it counted, src/worker/metrics.ts, over IPC) plus the store host's own, on a port of its own
// (METRICS_PORT, on 127.0.0.1 unless METRICS_HOST says otherwise), never on the app's public port.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import client from 'prom-client';
import { lockStats, type StoreHost } from '../store/index.js';

/**
 * GET /metrics on `host:port` answers every worker's metrics plus the store host's. Resolves with the URL once
 * listening; rejects when the port cannot be had (the caller says which setting to change).
 */
export async function serveClusterMetrics(
  store: StoreHost | undefined,
  address: { host: string; port: number },
  onError: (error: Error) => void,
): Promise<{ url: string; close: () => void }> {
  const aggregator = new client.AggregatorRegistry();
  const own = new client.Registry();
  if (store) registerHostMetrics(own, store);
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: GET /metrics\n');
      return;
    }
    Promise.all([aggregator.clusterMetrics(), own.metrics()]).then(
      ([workers, primary]) => res.writeHead(200, { 'content-type': aggregator.contentType }).end(`${workers}\n${primary}`),
      (error: Error) => res.writeHead(503, { 'content-type': 'text/plain' }).end(`cannot gather the cluster's metrics: ${error.message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, address.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  // Once listening, an error (an accept failing: EMFILE) is the metrics' problem, not the primary's: say it, go on.
  server.on('error', onError);
  server.unref(); // it serves while the primary runs; it must not keep a stopping primary alive
  const { address: bound, port } = server.address() as AddressInfo;
  const hostPart = bound.includes(':') ? `[${bound}]` : bound;
  return { url: `http://${hostPart}:${port}/metrics`, close: () => server.close() };
}

function registerHostMetrics(registry: client.Registry, host: StoreHost): void {
  const stat = (key: 'sessions' | 'users' | 'bytes' | 'requests' | 'messagesIn' | 'messagesOut' | 'rejected') => () => host.stats()[key];
  gauge(registry, 'ecs_sessions', 'Sessions held by the store host in the primary', stat('sessions'));
  gauge(registry, 'ecs_session_users', 'Users with at least one session held', stat('users'));
  gauge(registry, 'ecs_session_bytes', 'What the sessions held count as against SESSION_MAX_TOTAL_BYTES', stat('bytes'));
  new client.Counter({
    name: 'ecs_sessions_evicted_total',
    help: 'Sessions evicted to stay within a bound: SESSION_MAX_SESSIONS (count), SESSION_MAX_TOTAL_BYTES (bytes), SESSION_MAX_PER_USER (per_user)',
    labelNames: ['bound'],
    registers: [registry],
    collect() {
      const { evictedForCount, evictedForBytes, evictedForUser } = host.stats();
      this.reset();
      this.inc({ bound: 'count' }, evictedForCount);
      this.inc({ bound: 'bytes' }, evictedForBytes);
      this.inc({ bound: 'per_user' }, evictedForUser);
    },
  });
  gauge(registry, 'ecs_store_host_requests', 'Store requests the host has served since it started', stat('requests'));
  gauge(registry, 'ecs_store_host_ipc_messages_in', 'IPC messages the host has received', stat('messagesIn'));
  gauge(registry, 'ecs_store_host_ipc_messages_out', 'IPC messages the host has sent', stat('messagesOut'));
  gauge(registry, 'ecs_store_host_rejected_writes', 'Posted writes the host refused', stat('rejected'));
  const locks = (key: 'locked' | 'waiting' | 'expired' | 'refused') => () => lockStats(host)?.[key] ?? 0;
  gauge(registry, 'ecs_session_locks_held', 'Sessions locked by a request right now (SESSION_LOCK)', locks('locked'));
  gauge(registry, 'ecs_session_lock_waiters', 'Requests waiting for their session lock right now', locks('waiting'));
  gauge(registry, 'ecs_session_locks_expired', 'Locks released because their request outlasted the hold time', locks('expired'));
  gauge(registry, 'ecs_session_lock_refusals', 'Requests that waited too long or found the queue full', locks('refused'));
}

function gauge(registry: client.Registry, name: string, help: string, read: () => number): void {
  new client.Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(read());
    },
  });
}
