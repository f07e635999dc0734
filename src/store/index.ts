// The store's public entry: import from here. Each optional feature is one export line: delete the line and its
// folder to drop the feature (lock/, snapshot/, rate-limit/); the core never imports them.
export { ClusterStore, type ClusterStoreOptions, type Outcome, type UserSessionInfo } from './cluster-store.js';
export { ErrorCode, parseSession, sessionEnded, StoreError } from './shared/errors.js';
export { StoredSessions } from './shared/stored.js';
export { checkSessionSize, checkSid, checkUserId, defineOp, LATER, ops, type Limits, type Op, type OpContext } from './shared/ops.js';
export { StoreHost, type Evicting, type Feature, type HostStats, type StoreHostOptions } from './primary/host.js';
export { PlainTable } from './primary/plain-table.js';
export { SessionTable } from './primary/session-table.js';
export type { Bounds, Evictions, SessionRecord, Sessions, StoredSession, TableOptions, UserSession } from './primary/sessions.js';
export { LockErrorCode, lockStats, sessionLock, sessionLocks, type LockStats, type SessionLockOptions } from './lock/index.js';
export { snapshots, type LoadResult, type SnapshotOptions } from './snapshot/index.js';
export { ClusterRateLimitStore, rateLimits, rateLimitStats, rateLimitsWith, type ClusterRateLimitStoreOptions, type RateLimitsFull, type RateLimitsOptions, type RateLimitStats } from './rate-limit/index.js';
