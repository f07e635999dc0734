// The one reader of the environment: parses and validates every setting, for the primary and the workers alike.
import os from 'node:os';
import { parseTrustProxy, publicEntries, TRUST_PROXY_FORMS, type TrustProxy } from './trust-proxy.js';
import { demoAccountsInUse } from './users.js';

export type NodeEnv = 'development' | 'production' | 'test';

/**
 * `cluster`: the primary hosts the sessions. `redis`: every worker uses the Redis server at `redisUrl`.
 * `memory`: each worker keeps its own (benchmarks only).
 */
export type SessionStoreKind = 'cluster' | 'redis' | 'memory';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface Config {
  nodeEnv: NodeEnv;
  port: number;
  webConcurrency: number;
  /** How cluster IPC messages (the session store's among them) are encoded: Node's fork() `serialization`. */
  clusterSerialization: 'json' | 'advanced';
  /** First signs new cookies, all verify (rotation). Empty in development until the primary generates one. */
  sessionSecrets: string[];
  sessionStore: SessionStoreKind;
  /** With SESSION_STORE=redis://… or rediss://…: that URL. */
  redisUrl: string | null;
  /** Prefix of every session key in Redis. */
  redisPrefix: string;
  sessionMaxAgeMs: number;
  sessionMaxSessions: number;
  sessionMaxBytes: number;
  /** Most bytes the cluster store's sessions may take in the primary's heap; null: a quarter of its heap limit. */
  sessionMaxTotalBytes: number | null;
  /** Most sessions one user holds (both stores); a sign-in beyond it ends that user's least recently used. */
  sessionMaxPerUser: number;
  storeTimeoutMs: number;
  shutdownTimeoutMs: number;
  /** Express's `trust proxy`: false, true, a number of hops, or a list of addresses, subnets and names. */
  trustProxy: TrustProxy;
  /** Absolute session lifetime, however much the session is used; 0: none. */
  sessionAbsoluteTimeoutMs: number;
  /** Cluster store: keep the sessions in this file across restarts (null: in memory only). */
  snapshotFile: string | null;
  snapshotIntervalMs: number;
  /** Serve GET /metrics (Prometheus text, the whole cluster) from the primary, on metricsHost:metricsPort. */
  metrics: boolean;
  metricsPort: number;
  /** The address the metrics port binds to: loopback unless set, so the public never reaches it. */
  metricsHost: string;
  logLevel: LogLevel;
  /** `json`: one object per line (pino); `pretty`: readable, for a terminal. */
  logFormat: 'json' | 'pretty';
  /** One log line per HTTP request (pino-http). */
  logRequests: boolean;
  /** Production may sign users in against the demo accounts of src/users.ts (a demo deployment). */
  demoUsers: boolean;
  /** The app signs users in against the demo accounts (src/users.ts's demoAccountsInUse). */
  demoAccounts: boolean;
  /** Slow clients: the request's headers must arrive within this (Node's headersTimeout). */
  httpHeadersTimeoutMs: number;
  /** The whole request, body included, must arrive within this (Node's requestTimeout); then 408. */
  httpRequestTimeoutMs: number;
  /** How long an idle keep-alive connection stays open (Node's keepAliveTimeout). */
  httpKeepAliveTimeoutMs: number;
  /** Run the requests of one session one at a time, across workers (cluster store only). */
  sessionLock: boolean;
  sessionLockWaitMs: number;
  sessionLockHoldMs: number;
  sessionLockMaxWaiters: number;
  /** Failed sign-ins one client address may make per window, counted across the cluster; 0: no limit. */
  rateLimitSignInAttempts: number;
  rateLimitSignInWindowMs: number;
  /** Requests one client address may make per minute, counted across the cluster; 0: no limit. */
  rateLimitRequestsPerMinute: number;
  /** Most client addresses the primary counts on their own; beyond it new ones share one count per limiter. */
  rateLimitMaxClients: number;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(readonly problems: string[]) {
    super(`Invalid configuration (environment variables):\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Reads the settings from `env`; throws one ConfigError listing every problem. `terminal`: whether stdout is a
 * terminal, which makes readable logs the default in development.
 */
export function loadConfig(env: Env = process.env, terminal = process.stdout.isTTY === true, demoAccounts = demoAccountsInUse): Config {
  const problems: string[] = [];
  const read = new Reader(env, problems);
  const nodeEnv = read.oneOf('NODE_ENV', ['development', 'production', 'test'], 'development');
  const config: Config = {
    nodeEnv,
    port: read.integer('PORT', 3000, 0, 65535),
    webConcurrency: read.integer('WEB_CONCURRENCY', os.availableParallelism(), 1, 1024),
    // json by default: measured against advanced on Node 24 and 26, neither wins a session request (docs/benchmarks.md).
    clusterSerialization: read.oneOf('CLUSTER_SERIALIZATION', ['json', 'advanced'], 'json'),
    sessionSecrets: read.list('SESSION_SECRET'),
    ...read.sessionStore('SESSION_STORE'),
    redisPrefix: read.text('SESSION_REDIS_PREFIX', 'ecs:sess:'),
    sessionMaxAgeMs: read.integer('SESSION_MAX_AGE_S', 86_400, 1, 400 * 86_400) * 1000,
    sessionMaxSessions: read.integer('SESSION_MAX_SESSIONS', 100_000, 1, 100_000_000),
    sessionMaxBytes: read.integer('SESSION_MAX_BYTES', 16_384, 256, 16 * 1024 * 1024),
    sessionMaxTotalBytes: read.integer('SESSION_MAX_TOTAL_BYTES', 0, 0, Number.MAX_SAFE_INTEGER) || null,
    sessionMaxPerUser: read.integer('SESSION_MAX_PER_USER', 100, 1, 1000),
    storeTimeoutMs: read.integer('SESSION_STORE_TIMEOUT_MS', 5000, 1, 600_000),
    shutdownTimeoutMs: read.integer('SHUTDOWN_TIMEOUT_MS', 10_000, 1, 600_000),
    trustProxy: read.trustProxy('TRUST_PROXY'),
    sessionAbsoluteTimeoutMs: read.integer('SESSION_ABSOLUTE_TIMEOUT_S', 0, 0, 400 * 86_400) * 1000,
    snapshotFile: read.text('SESSION_SNAPSHOT_FILE', '') || null,
    snapshotIntervalMs: read.integer('SESSION_SNAPSHOT_INTERVAL_S', 60, 1, 86_400) * 1000,
    metrics: read.boolean('METRICS', true),
    metricsPort: read.integer('METRICS_PORT', 9464, 0, 65535),
    metricsHost: read.text('METRICS_HOST', '127.0.0.1'),
    logLevel: read.oneOf('LOG_LEVEL', LOG_LEVELS, 'info'),
    logFormat: read.oneOf('LOG_FORMAT', ['json', 'pretty'], nodeEnv === 'development' && terminal ? 'pretty' : 'json'),
    logRequests: read.boolean('LOG_REQUESTS', false),
    sessionLock: read.boolean('SESSION_LOCK', false),
    sessionLockWaitMs: read.integer('SESSION_LOCK_WAIT_MS', 10_000, 1, 3_600_000),
    sessionLockHoldMs: read.integer('SESSION_LOCK_HOLD_MS', 30_000, 1, 3_600_000),
    sessionLockMaxWaiters: read.integer('SESSION_LOCK_MAX_WAITERS', 64, 1, 1_000_000),
    rateLimitSignInAttempts: read.integer('RATE_LIMIT_SIGNIN_ATTEMPTS', 5, 0, 1_000_000),
    rateLimitSignInWindowMs: read.integer('RATE_LIMIT_SIGNIN_WINDOW_S', 900, 1, 86_400) * 1000,
    rateLimitRequestsPerMinute: read.integer('RATE_LIMIT_REQUESTS_PER_MINUTE', 0, 0, 100_000_000),
    rateLimitMaxClients: read.integer('RATE_LIMIT_MAX_CLIENTS', 100_000, 1, 10_000_000),
    demoUsers: read.boolean('DEMO_USERS', false),
    demoAccounts,
    httpHeadersTimeoutMs: read.integer('HTTP_HEADERS_TIMEOUT_MS', 10_000, 100, 600_000),
    httpRequestTimeoutMs: read.integer('HTTP_REQUEST_TIMEOUT_MS', 30_000, 100, 3_600_000),
    httpKeepAliveTimeoutMs: read.integer('HTTP_KEEP_ALIVE_TIMEOUT_MS', 5_000, 100, 600_000),
  };
  if (config.httpHeadersTimeoutMs > config.httpRequestTimeoutMs) {
    problems.push(
      `HTTP_HEADERS_TIMEOUT_MS (${config.httpHeadersTimeoutMs}) must not exceed HTTP_REQUEST_TIMEOUT_MS (${config.httpRequestTimeoutMs}): the headers are part of the request`,
    );
  }
  if (nodeEnv === 'production') problems.push(...productionProblems(config));
  else if (config.demoUsers && !demoAccounts) problems.push(demoUsersIgnored);
  // The store refuses a byte bound that holds fewer than 4 of the largest sessions (256-character ids, counted at
  // 2 bytes a character plus 128): say so here, with the variables, rather than as a crash of the primary.
  const largestSession = 2 * (256 + config.sessionMaxBytes) + 128;
  if (config.sessionMaxTotalBytes !== null && config.sessionMaxTotalBytes < 4 * largestSession) {
    problems.push(
      `SESSION_MAX_TOTAL_BYTES must hold at least 4 of the largest sessions SESSION_MAX_BYTES allows (${4 * largestSession} with SESSION_MAX_BYTES=${config.sessionMaxBytes}), ` +
        `got ${config.sessionMaxTotalBytes}; unset it (or 0) for a quarter of the primary's heap limit`,
    );
  }
  if (config.sessionLock && config.sessionStore !== 'cluster') {
    problems.push(
      `SESSION_LOCK=true needs SESSION_STORE=cluster: the lock lives in the primary, and with SESSION_STORE=${config.sessionStore} ` +
        'the sessions do not; set SESSION_LOCK=false',
    );
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/** Secrets shorter than this are refused in production: 32 random characters are enough that no one guesses one. */
export const MIN_SECRET_LENGTH = 32;
/** A hop count beyond this is refused in production with rate limits on: name the proxies' addresses instead. */
export const MAX_TRUSTED_HOPS = 3;

const makeSecret = 'make one with `openssl rand -base64 32` (or `node -p "crypto.randomBytes(32).toString(\'base64url\')"`)';
const demoUsersIgnored = 'DEMO_USERS=true, but src/users.ts no longer uses the demo accounts (demoAccountsInUse is false): unset DEMO_USERS';

/** What production refuses, beyond the ranges of each variable. */
function productionProblems(config: Config): string[] {
  const { demoAccounts } = config;
  const problems: string[] = [];
  if (config.sessionSecrets.length === 0) {
    problems.push(
      `SESSION_SECRET is required when NODE_ENV=production: set it to a random string of at least ${MIN_SECRET_LENGTH} characters ` +
        `(${makeSecret}; a comma-separated list rotates secrets: the first signs, all verify)`,
    );
  }
  const short = config.sessionSecrets.flatMap((secret, i) => (secret.length < MIN_SECRET_LENGTH ? [`secret ${i + 1} of ${config.sessionSecrets.length} has ${secret.length}`] : []));
  if (short.length > 0) {
    problems.push(`SESSION_SECRET: each secret must be at least ${MIN_SECRET_LENGTH} characters when NODE_ENV=production (${short.join(', ')}): ${makeSecret}`);
  }
  if (config.sessionStore === 'memory') {
    problems.push('SESSION_STORE=memory keeps sessions per worker, so they do not follow visitors: it is for benchmarks; use cluster in production');
  }
  if (demoAccounts && !config.demoUsers) {
    problems.push(
      'the demo accounts of src/users.ts (alice and bob, their passwords in the README) would let anyone sign in: ' +
        'replace createUserDirectory() in src/users.ts with your users and set demoAccountsInUse to false, or set DEMO_USERS=true for a demo deployment',
    );
  }
  if (!demoAccounts && config.demoUsers) problems.push(demoUsersIgnored);
  if (config.rateLimitSignInAttempts + config.rateLimitRequestsPerMinute > 0) problems.push(...spoofableTrust(config.trustProxy));
  return problems;
}

/**
 * With rate limits on, the client address they count must not be one a client can choose: every X-Forwarded-For
 * entry added by an address TRUST_PROXY trusts is believed, and a client at a trusted address writes its own.
 */
function spoofableTrust(trust: TrustProxy): string[] {
  const alternatives = `give the number of proxies in front of the app (1 to ${MAX_TRUSTED_HOPS}) or their private addresses (10.0.0.5, 10.0.0.0/8, loopback, uniquelocal)`;
  if (trust === true) {
    return [`TRUST_PROXY=true trusts every X-Forwarded-For address a client sends, so a client dodges the rate limits by inventing one: ${alternatives}`];
  }
  if (typeof trust === 'number' && trust > MAX_TRUSTED_HOPS) {
    return [
      `TRUST_PROXY=${trust} trusts ${trust} hops: with fewer proxies than that in front of the app, a client chooses the address the rate limits count. ` +
        `More than ${MAX_TRUSTED_HOPS} is not a real chain: ${alternatives}`,
    ];
  }
  const reaching = Array.isArray(trust) ? publicEntries(trust) : [];
  if (reaching.length === 0) return [];
  return [
    `TRUST_PROXY trusts public addresses (${reaching.join(', ')}): a client there chooses the address the rate limits count. ` +
      `Trust only your proxies: ${alternatives}; or set RATE_LIMIT_SIGNIN_ATTEMPTS=0 and RATE_LIMIT_REQUESTS_PER_MINUTE=0 if another layer limits clients`,
  ];
}

/** For entry points: the configuration, or the problems printed to stderr and exit code 1 (no stack trace). */
export function loadConfigOrExit(): Config {
  try {
    return loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(error.message);
    process.exit(1);
  }
}

class Reader {
  constructor(
    private readonly env: Env,
    private readonly problems: string[],
  ) {}

  integer(name: string, fallback: number, min: number, max: number): number {
    const raw = this.env[name];
    if (raw === undefined || raw === '') return fallback;
    const value = /^\d+$/.test(raw.trim()) ? Number(raw) : NaN;
    if (Number.isSafeInteger(value) && value >= min && value <= max) return value;
    this.problems.push(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
    return fallback;
  }

  oneOf<T extends string>(name: string, accepted: readonly T[], fallback: T): T {
    const raw = this.env[name];
    if (raw === undefined || raw === '') return fallback;
    if ((accepted as readonly string[]).includes(raw)) return raw as T;
    this.problems.push(`${name} must be one of ${accepted.join(', ')}, got ${JSON.stringify(raw)}`);
    return fallback;
  }

  boolean(name: string, fallback: boolean): boolean {
    const raw = this.env[name]?.trim();
    if (raw === undefined || raw === '') return fallback;
    if (raw === 'true' || raw === '1') return true;
    if (raw === 'false' || raw === '0') return false;
    this.problems.push(`${name} must be true, false, 1 or 0, got ${JSON.stringify(raw)}`);
    return fallback;
  }

  trustProxy(name: string): TrustProxy {
    const raw = this.env[name]?.trim() ?? '';
    const parsed = parseTrustProxy(raw);
    if ('value' in parsed) return parsed.value;
    this.problems.push(`${name} must be ${TRUST_PROXY_FORMS}; got ${JSON.stringify(raw)}, which Express cannot use (${parsed.problem})`);
    return false;
  }

  text(name: string, fallback: string): string {
    const raw = this.env[name];
    return raw === undefined || raw === '' ? fallback : raw;
  }

  sessionStore(name: string): { sessionStore: SessionStoreKind; redisUrl: string | null } {
    const raw = this.env[name];
    if (raw === undefined || raw === '' || raw === 'cluster') return { sessionStore: 'cluster', redisUrl: null };
    if (raw === 'memory') return { sessionStore: 'memory', redisUrl: null };
    if (/^rediss?:\/\//.test(raw) && URL.canParse(raw)) return { sessionStore: 'redis', redisUrl: raw };
    this.problems.push(`${name} must be cluster, memory, or a redis:// or rediss:// URL, got ${JSON.stringify(redact(raw))}`);
    return { sessionStore: 'cluster', redisUrl: null };
  }

  list(name: string): string[] {
    const raw = this.env[name];
    if (raw === undefined || raw === '') return [];
    const items = raw.split(',').map((item) => item.trim());
    if (items.every((item) => item.length > 0)) return items;
    this.problems.push(`${name} must be a comma-separated list of non-empty secrets, got an empty entry`);
    return [];
  }
}

/** A URL as it may be printed: without its password. */
export function redact(url: string): string {
  return url.replace(/\/\/([^:/@]*):[^@/]*@/, '//$1:***@');
}
