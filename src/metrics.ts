// Prometheus metrics. Each worker counts its HTTP requests and store calls; the primary adds what the store host
// holds and renders the whole cluster's metrics (prom-client's aggregator) when a worker asks for /metrics.
import cluster, { type Worker } from 'node:cluster';
import client from 'prom-client';
import { asControl, CONTROL_TAG, type ControlMessage } from './control.js';
import { lockStats, type Outcome, type StoreHost } from './store/index.js';

export interface RenderedMetrics {
  contentType: string;
  body: string;
}

export interface WorkerMetrics {
  observeRequest: (route: string, status: number) => void;
  observeStore: (op: string, outcome: Outcome, durationMs: number) => void;
  /** The whole cluster's metrics, asked of the primary. */
  render: () => Promise<RenderedMetrics>;
}

/** In a worker: registers the worker's metrics and answers through the primary. */
export function createWorkerMetrics(timeoutMs = 5000): WorkerMetrics {
  client.collectDefaultMetrics();
  // Constructing it is what makes prom-client answer the primary's aggregation requests in this worker.
  new client.AggregatorRegistry();
  const requests = new client.Counter({ name: 'ecs_http_requests_total', help: 'HTTP requests answered, by route and status', labelNames: ['route', 'status'] });
  const storeCalls = new client.Counter({ name: 'ecs_store_operations_total', help: 'Session store calls, by op and outcome', labelNames: ['op', 'outcome'] });
  const storeSeconds = new client.Histogram({
    name: 'ecs_store_operation_duration_seconds',
    help: 'Session store call duration (posted writes: until written to the IPC channel)',
    labelNames: ['op'],
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1, 5],
  });
  const timeouts = new client.Counter({ name: 'ecs_store_ipc_timeouts_total', help: 'Store calls the primary did not answer within the timeout' });

  const waiting = new Map<number, (result: Extract<ControlMessage, { cmd: 'metrics-result' }>) => void>();
  let nextId = 1;
  process.on('message', (message: unknown) => {
    const control = asControl(message);
    if (control?.cmd !== 'metrics-result') return;
    waiting.get(control.id)?.(control);
    waiting.delete(control.id);
  });

  return {
    observeRequest: (route, status) => requests.inc({ route, status: String(status) }),
    observeStore: (op, outcome, durationMs) => {
      storeCalls.inc({ op, outcome });
      storeSeconds.observe({ op }, durationMs / 1000);
      if (outcome === 'timeout') timeouts.inc();
    },
    render: () =>
      new Promise((resolve, reject) => {
        const id = nextId++;
        const timer = setTimeout(() => {
          waiting.delete(id);
          reject(Object.assign(new Error('the primary did not send the metrics in time'), { statusCode: 503 }));
        }, timeoutMs);
        waiting.set(id, (result) => {
          clearTimeout(timer);
          if (result.error) reject(new Error(result.error));
          else resolve({ contentType: result.contentType, body: result.body });
        });
        process.send?.({ tag: CONTROL_TAG, cmd: 'metrics', id } satisfies ControlMessage);
      }),
  };
}

/** In the primary: answers the workers' `metrics` requests with every worker's metrics plus the host's. */
export function serveClusterMetrics(host: StoreHost | undefined): void {
  const aggregator = new client.AggregatorRegistry();
  const own = new client.Registry();
  if (host) {
    const stat = (key: 'sessions' | 'requests' | 'messagesIn' | 'messagesOut' | 'rejected') => () => host.stats()[key];
    gauge(own, 'ecs_sessions', 'Sessions held by the store host in the primary', stat('sessions'));
    gauge(own, 'ecs_store_host_requests', 'Store requests the host has served since it started', stat('requests'));
    gauge(own, 'ecs_store_host_ipc_messages_in', 'IPC messages the host has received', stat('messagesIn'));
    gauge(own, 'ecs_store_host_ipc_messages_out', 'IPC messages the host has sent', stat('messagesOut'));
    gauge(own, 'ecs_store_host_rejected_writes', 'Posted writes the host refused', stat('rejected'));
    const locks = (key: 'locked' | 'waiting' | 'expired' | 'refused') => () => lockStats(host)?.[key] ?? 0;
    gauge(own, 'ecs_session_locks_held', 'Sessions locked by a request right now (SESSION_LOCK)', locks('locked'));
    gauge(own, 'ecs_session_lock_waiters', 'Requests waiting for their session lock right now', locks('waiting'));
    gauge(own, 'ecs_session_locks_expired', 'Locks released because their request outlasted the hold time', locks('expired'));
    gauge(own, 'ecs_session_lock_refusals', 'Requests that waited too long or found the queue full', locks('refused'));
  }
  cluster.on('message', (worker: Worker, message: unknown) => {
    const control = asControl(message);
    if (control?.cmd !== 'metrics') return;
    const reply = (fields: Partial<Extract<ControlMessage, { cmd: 'metrics-result' }>>) => {
      if (worker.isConnected()) worker.send({ tag: CONTROL_TAG, cmd: 'metrics-result', id: control.id, contentType: aggregator.contentType, body: '', ...fields });
    };
    Promise.all([aggregator.clusterMetrics(), own.metrics()]).then(
      ([workers, primary]) => reply({ body: `${workers}\n${primary}` }),
      (error: Error) => reply({ error: `cannot gather the cluster's metrics: ${error.message}` }),
    );
  });
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
