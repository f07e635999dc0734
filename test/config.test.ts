// loadConfig: defaults, parsing, and the exact messages a bad environment gets.
import assert from 'node:assert/strict';
import os from 'node:os';
import { test } from 'node:test';
import { ConfigError, loadConfig } from '../src/config.js';

/** What production asks for, to test one rule at a time: a secret long enough, the demo accounts allowed. */
const production = { NODE_ENV: 'production', SESSION_SECRET: 'x'.repeat(32), DEMO_USERS: 'true' };

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
    rateLimitMaxClients: 100_000,
    demoUsers: false,
    demoAccounts: true,
    httpHeadersTimeoutMs: 10_000,
    httpRequestTimeoutMs: 30_000,
    httpKeepAliveTimeoutMs: 5_000,
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
  assert.equal(loadConfig(production, true).logFormat, 'json');
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

test('loadConfig: TRUST_PROXY that trusts addresses a client can hold is refused in production while rate limits are on, naming the alternatives', () => {
  const refused = {
    true: /^TRUST_PROXY=true trusts every X-Forwarded-For address a client sends, so a client dodges the rate limits by inventing one: give the number of proxies in front of the app \(1 to 3\) or their private addresses/,
    '4': /^TRUST_PROXY=4 trusts 4 hops: with fewer proxies than that in front of the app, a client chooses the address the rate limits count\. More than 3 is not a real chain/,
    '1000': /^TRUST_PROXY=1000 trusts 1000 hops/,
    '0.0.0.0/1,128.0.0.0/1': /^TRUST_PROXY trusts public addresses \(0\.0\.0\.0\/1, 128\.0\.0\.0\/1\): a client there chooses the address the rate limits count\. Trust only your proxies: give the number of proxies/,
    '10.0.0.0/8, 8.8.8.8': /^TRUST_PROXY trusts public addresses \(8\.8\.8\.8\)/,
    '172.16.0.0/11': /^TRUST_PROXY trusts public addresses \(172\.16\.0\.0\/11\)/,
    '10.0.0.0/254.0.0.0': /^TRUST_PROXY trusts public addresses \(10\.0\.0\.0\/254\.0\.0\.0\)/,
    '::/1': /^TRUST_PROXY trusts public addresses \(::\/1\)/,
    '::ffff:0.0.0.0/96': /^TRUST_PROXY trusts public addresses/,
  };
  for (const [TRUST_PROXY, message] of Object.entries(refused)) {
    assert.throws(() => loadConfig({ ...production, TRUST_PROXY }), (error: ConfigError) => {
      assert.equal(error.problems.length, 1, TRUST_PROXY);
      assert.match(error.problems[0]!, message);
      return true;
    });
    // The same value is Express's to take when nothing counts client addresses, or outside production.
    assert.doesNotThrow(() => loadConfig({ ...production, TRUST_PROXY, RATE_LIMIT_SIGNIN_ATTEMPTS: '0' }));
    assert.doesNotThrow(() => loadConfig({ TRUST_PROXY }));
  }
  const accepted = ['false', '1', '3', '127.0.0.1', 'loopback', 'uniquelocal, linklocal', '10.0.0.0/8, fd00::/8', '10.1.2.0/255.255.255.0', '172.16.0.0/12', '192.168.1.7', 'fe80::1', '::1'];
  for (const TRUST_PROXY of accepted) assert.doesNotThrow(() => loadConfig({ ...production, TRUST_PROXY }), TRUST_PROXY);
});

test('loadConfig: TRUST_PROXY is read as Express reads it (proxy-addr): true/false, a number of hops, or a list', () => {
  assert.deepEqual(
    ['true', 'false', '0', '1', 'loopback, 10.0.0.0/8'].map((TRUST_PROXY) => loadConfig({ TRUST_PROXY }).trustProxy),
    [true, false, false, 1, ['loopback', '10.0.0.0/8']],
  );
});

test('loadConfig: a TRUST_PROXY Express would refuse (and so kill every worker) is one problem at start, naming what it accepts', () => {
  const forms =
    'TRUST_PROXY must be true, false, a number of proxies (1), or a comma-separated list of addresses, subnets and names ' +
    '(10.0.0.5, 10.0.0.0/8, 10.0.0.0/255.0.0.0, fd00::/8, loopback, linklocal, uniquelocal)';
  const rejected = {
    foo: 'invalid IP address: foo',
    '0.0.0.0/0': 'invalid range on address: 0.0.0.0/0',
    '10.0.0.0/33': 'invalid range on address: 10.0.0.0/33',
    'yes please!': 'invalid IP address: yes please!',
    'loopback,': 'invalid IP address: ',
    '10.0.0.1/255.0.255.0': 'invalid range on address: 10.0.0.1/255.0.255.0',
  };
  for (const [TRUST_PROXY, why] of Object.entries(rejected)) {
    assert.throws(() => loadConfig({ TRUST_PROXY }), { problems: [`${forms}; got ${JSON.stringify(TRUST_PROXY)}, which Express cannot use (${why})`] }, TRUST_PROXY);
  }
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

const makeSecret = 'make one with `openssl rand -base64 32` (or `node -p "crypto.randomBytes(32).toString(\'base64url\')"`)';

test('loadConfig: production without SESSION_SECRET is refused, naming SESSION_SECRET and how to make one', () => {
  assert.throws(() => loadConfig({ ...production, SESSION_SECRET: undefined }), {
    problems: [
      `SESSION_SECRET is required when NODE_ENV=production: set it to a random string of at least 32 characters (${makeSecret}; a comma-separated list rotates secrets: the first signs, all verify)`,
    ],
  });
  assert.deepEqual(loadConfig(production).sessionSecrets, ['x'.repeat(32)]);
});

test('loadConfig: in production each secret of SESSION_SECRET has at least 32 characters, the old ones of a rotation too', () => {
  assert.throws(() => loadConfig({ ...production, SESSION_SECRET: 'a' }), {
    problems: [`SESSION_SECRET: each secret must be at least 32 characters when NODE_ENV=production (secret 1 of 1 has 1): ${makeSecret}`],
  });
  assert.throws(() => loadConfig({ ...production, SESSION_SECRET: `${'n'.repeat(40)},${'o'.repeat(31)}` }), {
    problems: [`SESSION_SECRET: each secret must be at least 32 characters when NODE_ENV=production (secret 2 of 2 has 31): ${makeSecret}`],
  });
  assert.deepEqual(loadConfig({ SESSION_SECRET: 'short-is-fine-in-development' }).sessionSecrets, ['short-is-fine-in-development']);
});

test('loadConfig: production refuses the demo accounts unless DEMO_USERS=true, naming the file to replace', () => {
  assert.throws(() => loadConfig({ ...production, DEMO_USERS: undefined }), {
    problems: [
      'the demo accounts of src/users.ts (alice and bob, their passwords in the README) would let anyone sign in: ' +
        'replace createUserDirectory() in src/users.ts with your users and set demoAccountsInUse to false, or set DEMO_USERS=true for a demo deployment',
    ],
  });
  assert.equal(loadConfig(production).demoAccounts, true);
  // A directory of real users: nothing to allow, and an allowance nothing uses is said rather than ignored.
  assert.equal(loadConfig({ ...production, DEMO_USERS: undefined }, false, false).demoAccounts, false);
  assert.throws(() => loadConfig(production, false, false), {
    problems: ['DEMO_USERS=true, but src/users.ts no longer uses the demo accounts (demoAccountsInUse is false): unset DEMO_USERS'],
  });
});

test('loadConfig: production with nothing set lists every problem at once', () => {
  assert.throws(() => loadConfig({ NODE_ENV: 'production' }), (error: ConfigError) => {
    assert.deepEqual(error.problems.map((problem) => problem.split(' ')[0]), ['SESSION_SECRET', 'the']);
    return true;
  });
});

test('loadConfig: the slow-client timeouts have defaults, ranges, and the headers fit in the request', () => {
  const config = loadConfig({ HTTP_HEADERS_TIMEOUT_MS: '2000', HTTP_REQUEST_TIMEOUT_MS: '4000', HTTP_KEEP_ALIVE_TIMEOUT_MS: '65000' });
  assert.deepEqual([config.httpHeadersTimeoutMs, config.httpRequestTimeoutMs, config.httpKeepAliveTimeoutMs], [2000, 4000, 65_000]);
  assert.throws(() => loadConfig({ HTTP_HEADERS_TIMEOUT_MS: '40000' }), {
    problems: ['HTTP_HEADERS_TIMEOUT_MS (40000) must not exceed HTTP_REQUEST_TIMEOUT_MS (30000): the headers are part of the request'],
  });
  assert.throws(() => loadConfig({ HTTP_REQUEST_TIMEOUT_MS: '0' }), { problems: ['HTTP_REQUEST_TIMEOUT_MS must be an integer from 100 to 3600000, got "0"'] });
});

test('loadConfig: SESSION_STORE=memory (unshared, for benchmarks) is refused in production', () => {
  assert.equal(loadConfig({ SESSION_STORE: 'memory' }).sessionStore, 'memory');
  assert.throws(() => loadConfig({ ...production, SESSION_STORE: 'memory' }), {
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
