// Prometheus metrics counted in each worker: its HTTP requests and its session store calls. The worker serves none
// itself: the primary's metrics server (src/primary/metrics.ts) gathers them over IPC with prom-client's aggregator.
import client from 'prom-client';
import type { Outcome } from '../store/index.js';

export interface WorkerMetrics {
  observeRequest: (route: string, status: number) => void;
  observeStore: (op: string, outcome: Outcome, durationMs: number) => void;
}

/** Registers this worker's metrics; the primary's aggregator collects them over IPC. */
export function createWorkerMetrics(): WorkerMetrics {
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
  return {
    observeRequest: (route, status) => requests.inc({ route, status: String(status) }),
    observeStore: (op, outcome, durationMs) => {
      storeCalls.inc({ op, outcome });
      storeSeconds.observe({ op }, durationMs / 1000);
      if (outcome === 'timeout') timeouts.inc();
    },
  };
}
