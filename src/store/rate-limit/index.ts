// Rate limits across the cluster, an optional feature: `rateLimits` in the primary (ClusterStore.setup({
// features })), `new ClusterRateLimitStore(store)` as express-rate-limit's store in each worker.
export { ClusterRateLimitStore, type ClusterRateLimitStoreOptions } from './limit-store.js';
export type { RateLimitsFull, RateLimitsOptions, RateLimitStats } from './counters.js';
export { rateLimits, rateLimitStats, rateLimitsWith } from './ops.js';
