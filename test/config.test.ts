// loadConfig: defaults, parsing, and the exact messages a bad environment gets.
import assert from 'node:assert/strict';
import os from 'node:os';
import { test } from 'node:test';
import { ConfigError, loadConfig } from '../src/config.js';

test('loadConfig: an empty environment gives the documented defaults', () => {
  const config = loadConfig({}, false);
  assert.deepEqual(config, {
    nodeEnv: 'development',
    port: 3000,
    webConcurrency: os.availableParallelism(),
    clusterSerialization: 'json',
    sessionSecrets: [],
    sessionStore: 'cluster',
    redisUrl: null,
    redisPrefix: 'ecs:sess:',
    sessionMaxAgeMs: 86_400_000,
    sessionMaxSessions: 100_000,
    sessionMaxBytes: 16_384,
    sessionMaxTotalBytes: null,
    sessionMaxPerUser: 100,
    storeTimeoutMs: 5000,
    shutdownTimeoutMs: 10_000,
    trustProxy: false,
    sessionAbsoluteTimeoutMs: 0,
    snapshotFile: null,
    snapshotIntervalMs: 60_000,
    metrics: true,
    metricsPort: 9464,
    metricsHost: '127.0.0.1',
    logLevel: 'info',
    logFormat: 'json',
    logRequests: false,
    sessionLock: false,
    sessionLockWaitMs: 10_000,
    sessionLockHoldMs: 30_000,
    sessionLockMaxWaiters: 64,
    rateLimitSignInAttempts: 5,
    rateLimitSignInWindowMs: 900_000,
    rateLimitRequestsPerMinute: 0,
  });
});

test('loadConfig: SESSION_LOCK works with the cluster store only, and says why otherwise', () => {
  assert.equal(loadConfig({ SESSION_LOCK: 'true' }).sessionLock, true);
  assert.throws(() => loadConfig({ SESSION_LOCK: 'true', SESSION_STORE: 'redis://127.0.0.1:6379' }), {
    problems: [
      'SESSION_LOCK=true needs SESSION_STORE=cluster: the lock lives in the primary, and with SESSION_STORE=redis the sessions do not; set SESSION_LOCK=false',
    ],
  });
  assert.throws(() => loadConfig({ SESSION_LOCK_WAIT_MS: '0' }), { problems: ['SESSION_LOCK_WAIT_MS must be an integer from 1 to 3600000, got "0"'] });
});

test('loadConfig: logs are readable by default only in development at a terminal; JSON otherwise', () => {
  assert.equal(loadConfig({}, true).logFormat, 'pretty');
  assert.equal(loadConfig({ NODE_ENV: 'production', SESSION_SECRET: 's' }, true).logFormat, 'json');
  assert.equal(loadConfig({ NODE_ENV: 'test' }, true).logFormat, 'json');
  assert.equal(loadConfig({ LOG_FORMAT: 'json' }, true).logFormat, 'json');
  assert.equal(loadConfig({ LOG_FORMAT: 'pretty' }, false).logFormat, 'pretty');
  assert.throws(() => loadConfig({ LOG_FORMAT: 'yaml', LOG_LEVEL: 'loud', LOG_REQUESTS: 'yes' }), {
    problems: [
      'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got "loud"',
      'LOG_FORMAT must be one of json, pretty, got "yaml"',
      'LOG_REQUESTS must be true, false, 1 or 0, got "yes"',
    ],
  });
});

test('loadConfig: TRUST_PROXY=true with rate limits on is refused in production, naming the alternatives', () => {
  assert.throws(() => loadConfig({ NODE_ENV: 'production', SESSION_SECRET: 's', TRUST_PROXY: 'true' }), {
    name: 'ConfigError',
    message: /TRUST_PROXY=true trusts every X-Forwarded-For address a client sends.*give the number of proxies in front of the app \(1\)/,
  });
  assert.equal(loadConfig({ NODE_ENV: 'production', SESSION_SECRET: 's', TRUST_PROXY: '1' }).trustProxy, 1);
  assert.equal(loadConfig({ NODE_ENV: 'production', SESSION_SECRET: 's', TRUST_PROXY: 'true', RATE_LIMIT_SIGNIN_ATTEMPTS: '0' }).trustProxy, true);
});

test('loadConfig: TRUST_PROXY takes true/false, a number of hops or an address list', () => {
  assert.deepEqual(
    ['true', 'false', '1', 'loopback, 10.0.0.0/8'].map((TRUST_PROXY) => loadConfig({ TRUST_PROXY }).trustProxy),
    [true, false, 1, 'loopback, 10.0.0.0/8'],
  );
  assert.throws(() => loadConfig({ TRUST_PROXY: 'yes please!' }), {
    problems: ['TRUST_PROXY must be true, false, a number of proxies, or a comma-separated list of addresses or subnets (e.g. loopback, 10.0.0.0/8), got "yes please!"'],
  });
});

test('loadConfig: SESSION_SECRET is a comma-separated list, first signs', () => {
  assert.deepEqual(loadConfig({ SESSION_SECRET: 'new-one, old-one' }).sessionSecrets, ['new-one', 'old-one']);
});

test('loadConfig: PORT=0 is valid (a free port), not replaced by the default', () => {
  assert.equal(loadConfig({ PORT: '0' }).port, 0);
});

test('loadConfig: every bad variable is listed in one error, with what it accepts and what it got', () => {
  assert.throws(
    () => loadConfig({ PORT: '80a', WEB_CONCURRENCY: '0', NODE_ENV: 'prod', SESSION_MAX_AGE_S: '-5', SESSION_SECRET: 'a,,b', CLUSTER_SERIALIZATION: 'v8' }),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.deepEqual(error.problems, [
        'NODE_ENV must be one of development, production, test, got "prod"',
        'PORT must be an integer from 0 to 65535, got "80a"',
        'WEB_CONCURRENCY must be an integer from 1 to 1024, got "0"',
        'CLUSTER_SERIALIZATION must be one of json, advanced, got "v8"',
        'SESSION_SECRET must be a comma-separated list of non-empty secrets, got an empty entry',
        'SESSION_MAX_AGE_S must be an integer from 1 to 34560000, got "-5"',
      ]);
      assert.match(error.message, /^Invalid configuration \(environment variables\):\n {2}- NODE_ENV/);
      return true;
    },
  );
});

test('loadConfig: production without SESSION_SECRET is refused, naming SESSION_SECRET', () => {
  assert.throws(() => loadConfig({ NODE_ENV: 'production' }), {
    problems: [
      'SESSION_SECRET is required when NODE_ENV=production: set it to a long random string (a comma-separated list rotates secrets: the first signs, all verify)',
    ],
  });
  assert.deepEqual(loadConfig({ NODE_ENV: 'production', SESSION_SECRET: 's3cret' }).sessionSecrets, ['s3cret']);
});

test('loadConfig: SESSION_STORE=memory (unshared, for benchmarks) is refused in production', () => {
  assert.equal(loadConfig({ SESSION_STORE: 'memory' }).sessionStore, 'memory');
  assert.throws(() => loadConfig({ NODE_ENV: 'production', SESSION_SECRET: 's', SESSION_STORE: 'memory' }), {
    problems: ['SESSION_STORE=memory keeps sessions per worker, so they do not follow visitors: it is for benchmarks; use cluster in production'],
  });
  assert.throws(() => loadConfig({ SESSION_STORE: 'mongo' }), { problems: ['SESSION_STORE must be cluster, memory, or a redis:// or rediss:// URL, got "mongo"'] });
});

test('loadConfig: SESSION_STORE=redis://… or rediss://… selects Redis; a bad URL is refused without printing its password', () => {
  assert.deepEqual(
    [loadConfig({ SESSION_STORE: 'redis://127.0.0.1:6379' }), loadConfig({ SESSION_STORE: 'rediss://u:pw@h:6380/2' })].map((c) => [c.sessionStore, c.redisUrl]),
    [
      ['redis', 'redis://127.0.0.1:6379'],
      ['redis', 'rediss://u:pw@h:6380/2'],
    ],
  );
  assert.throws(() => loadConfig({ SESSION_STORE: 'http://u:secret@h' }), {
    problems: ['SESSION_STORE must be cluster, memory, or a redis:// or rediss:// URL, got "http://u:***@h"'],
  });
});

test('loadConfig: SESSION_MAX_TOTAL_BYTES too small for 4 sessions of SESSION_MAX_BYTES is refused, naming both; SESSION_MAX_PER_USER is 1 to 1000', () => {
  assert.equal(loadConfig({ SESSION_MAX_TOTAL_BYTES: '0' }).sessionMaxTotalBytes, null, '0: the default, a quarter of the heap limit');
  assert.equal(loadConfig({ SESSION_MAX_TOTAL_BYTES: '100000000' }).sessionMaxTotalBytes, 100_000_000);
  assert.throws(() => loadConfig({ SESSION_MAX_TOTAL_BYTES: '100000', SESSION_MAX_BYTES: '16384' }), {
    problems: [
      'SESSION_MAX_TOTAL_BYTES must hold at least 4 of the largest sessions SESSION_MAX_BYTES allows (133632 with SESSION_MAX_BYTES=16384), got 100000; unset it (or 0) for a quarter of the primary\'s heap limit',
    ],
  });
  assert.equal(loadConfig({ SESSION_MAX_PER_USER: '3' }).sessionMaxPerUser, 3);
  assert.throws(() => loadConfig({ SESSION_MAX_PER_USER: '1001' }), { problems: ['SESSION_MAX_PER_USER must be an integer from 1 to 1000, got "1001"'] });
});
