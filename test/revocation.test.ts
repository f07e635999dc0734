// "Sign out" against the attacker it exists for, on the real app (`npm start`, 2 workers), with the cluster store
// (with and without SESSION_LOCK) and with Redis. Alice is signed in on her laptop; a thief holds a copy of a
// session cookie of hers. While the thief keeps requests that change the session in flight, or holds a request's
// body back until after the sign-out, Alice signs the thief out three ways: "sign out other devices", revoking
// that one session, and (when the thief copied the laptop's own cookie) signing out. Each trial counts whether
// the thief's session came back; the owner's own session must keep working and keep its saves.
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import { CookieJar, request, type Response } from './helpers/http.js';
import { startTestApp } from './helpers/app.js';
import { metricsUrl, sample } from './helpers/metrics.js';
import { until } from './helpers/poll.js';
import { redisUnavailable, startRedis } from '../scripts/lib/redis-server.js';

const alice = { username: 'alice', password: 'alice-demo-password' };
const trials = 20;
/** Requests the thief keeps in flight in the racing trials. */
const racing = 4;

type Action = 'revoke-others' | 'revoke' | 'logout';
type Style = 'in flight' | 'body held back';

interface Cluster {
  url: string;
  /** Store calls that loaded a session so far: gets, and lock grants (which bring the session along). */
  loads(): Promise<number>;
}

test('revocation, cluster store: a thief with requests in flight or a body held back never gets the session back, 20 trials each', async (t) => {
  const app = await startTestApp((fn) => t.after(fn));
  await attackEveryWay(cluster(app.url, await metricsUrl(app)), 'cluster');
});

test('revocation, cluster store with SESSION_LOCK=true: the same', async (t) => {
  const app = await startTestApp((fn) => t.after(fn), { SESSION_LOCK: 'true' });
  await attackEveryWay(cluster(app.url, await metricsUrl(app)), 'cluster, SESSION_LOCK');
});

test('revocation, SESSION_STORE=redis: the same, against a real redis-server', { skip: redisUnavailable() }, async (t) => {
  const redis = await startRedis((fn) => t.after(fn));
  const app = await startTestApp((fn) => t.after(fn), { SESSION_STORE: redis.url });
  for (const worker of [1, 2]) await app.waitForLog({ worker, msg: /^connected to Redis/ }, 15_000);
  await attackEveryWay(cluster(app.url, await metricsUrl(app)), 'redis');
});

function cluster(url: string, metrics: string): Cluster {
  const loads = async () => {
    const text = (await request(metrics)).text;
    return ['get', 'lock'].reduce((sum, op) => sum + (sample(text, `ecs_store_operations_total{op="${op}",outcome="ok"}`) ?? 0), 0);
  };
  return { url, loads };
}

async function attackEveryWay(app: Cluster, backend: string): Promise<void> {
  const report: string[] = [];
  let back = 0;
  for (const action of ['revoke-others', 'revoke', 'logout'] as const) {
    for (const style of ['in flight', 'body held back'] as const) {
      let times = 0;
      for (let i = 0; i < trials; i++) if (await trial(app, action, style)) times++;
      report.push(`${action}, ${style}: back in ${times} of ${trials}`);
      back += times;
    }
  }
  console.log(`revocation (${backend}): ${report.join('; ')}`);
  assert.equal(back, 0, `the thief's session came back:\n${report.join('\n')}`);
}

/** One trial: true when the thief is still signed in afterwards. */
async function trial(app: Cluster, action: Action, style: Style): Promise<boolean> {
  const laptop = await signIn(app.url);
  // For a logout the thief holds the laptop's own cookie; otherwise a session of its own (a second sign-in).
  const thief = action === 'logout' ? laptop.cookie! : (await signIn(app.url)).cookie!;
  const attack = style === 'in flight' ? inFlight(app.url, thief) : await heldBack(app, thief);

  const signOut = await signOutThief(app.url, laptop, action);
  assert.equal(signOut.status, 200, signOut.text);
  const answers = await attack();
  for (const answer of answers) assert.ok(answer.status === 200 || answer.status === 401, `the thief's request answered ${answer.status}: ${answer.text}`);
  if (style === 'body held back' && action !== 'logout') {
    assert.equal(answers[0]!.status, 401, 'the request held back across the sign-out is told it is signed out');
    assert.match(answers[0]!.text, /signed out/);
  }

  const stillIn = (await request(`${app.url}/api/me`, { cookie: thief })).json.user !== null;
  if (action !== 'logout') {
    // The owner's session keeps working and keeps its saves; it is the only one of hers left.
    const note = `kept ${Math.random()}`;
    const saved = await laptop.post(`${app.url}/notes`, { note });
    assert.equal(saved.status, 200, saved.text);
    assert.deepEqual(((await laptop.get(`${app.url}/notes`)).json.notes as string[]).at(-1), note);
    const listed = (await laptop.get(`${app.url}/api/sessions`)).json.sessions as { current: boolean }[];
    assert.equal(listed.filter(({ current }) => !current).length, stillIn ? 1 : 0, 'no other session of hers is listed');
    await laptop.post(`${app.url}/logout`);
  }
  return stillIn;
}

async function signIn(url: string): Promise<CookieJar> {
  const jar = new CookieJar();
  const answer = await jar.post(`${url}/login`, alice);
  assert.equal(answer.status, 200, answer.text);
  return jar;
}

function signOutThief(url: string, laptop: CookieJar, action: Action): Promise<Response> {
  switch (action) {
    case 'revoke-others':
      return laptop.post(`${url}/api/sessions/revoke-others`);
    case 'logout':
      return laptop.post(`${url}/logout`);
    case 'revoke':
      return (async () => {
        const sessions = (await laptop.get(`${url}/api/sessions`)).json.sessions as { id: string; current: boolean }[];
        const other = sessions.find(({ current }) => !current);
        assert.ok(other, 'the thief\'s session is listed before the revoke');
        return laptop.post(`${url}/api/sessions/revoke`, { id: other.id });
      })();
  }
}

/** `racing` requests that change the thief's session, sent now and racing the sign-out; resolves with their answers. */
function inFlight(url: string, cookie: string): () => Promise<Response[]> {
  const answers = Promise.all(Array.from({ length: racing }, (_, i) => request(`${url}/notes`, { method: 'POST', cookie, json: { note: `thief ${i}` } })));
  return () => answers;
}

/**
 * A request whose headers arrive (so the server loads the session) but whose body is held back: resolves once the
 * server has loaded the session, with a function that sends the body and waits for the answer.
 */
async function heldBack(app: Cluster, cookie: string): Promise<() => Promise<Response[]>> {
  const before = await app.loads();
  const body = JSON.stringify({ note: 'written after the sign-out' });
  const url = new URL(`${app.url}/notes`);
  const req = http.request(url, { method: 'POST', agent: false, headers: { cookie, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } });
  const answer = new Promise<Response>((resolve, reject) => {
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: {} }));
    });
    req.on('error', reject);
  });
  answer.catch(() => {}); // a test that fails before it sends the body must not leave a rejection unheard
  req.flushHeaders();
  await until(async () => (await app.loads()) > before, 'the server to load the session of the held request');
  return async () => {
    req.end(body);
    return [await answer];
  };
}
