// The session lock, an optional feature: `sessionLocks` in the primary (ClusterStore.setup({ features })),
// `sessionLock(store)` in each worker, before express-session. The core never imports this folder.
export { LockErrorCode } from './errors.js';
export { sessionLock, type SessionLockOptions } from './middleware.js';
export { lockStats, sessionLocks } from './ops.js';
export type { LockStats } from './lock-table.js';
