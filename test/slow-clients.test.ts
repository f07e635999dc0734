// Slow clients on the real app: headers that dribble in, a body that never comes, a connection that never speaks
// are cut off at the HTTP_*_TIMEOUT_MS limits (408 and closed), not held for Node's defaults (60 s, 300 s); a cut
// request saves nothing, and with SESSION_LOCK it lets go of its session's lock.
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { startTestApp } from './helpers/app.js';
import { CookieJar, request } from './helpers/http.js';
import { metricsUrl, sample } from './helpers/metrics.js';
import { until } from './helpers/poll.js';

/** Limits far below Node's defaults, so a connection that outlives them by many times was not cut. */
const limits = { HTTP_HEADERS_TIMEOUT_MS: '1000', HTTP_REQUEST_TIMEOUT_MS: '2000', HTTP_KEEP_ALIVE_TIMEOUT_MS: '1000' };
/** How long a test waits for the cut before it says the limit was not applied: 20 times the request limit. */
const patienceMs = 40_000;

interface Held {
  /** Everything the server sent, once it closed the connection. */
  closed: Promise<string>;
  /** Writes one more piece, if the connection is still open. */
  write(text: string): boolean;
  destroy(): void;
}

/** A raw connection to the app; fails the test if the server has not closed it within `patienceMs`. */
/** `readAfterMs`: the client reads nothing for that long, as a busy one would not. */
function connect(url: string, first = '', readAfterMs = 0): Held {
  const { hostname, port } = new URL(url);
  const socket = net.connect(Number(port), hostname);
  let received = '';
  socket.setEncoding('utf8');
  if (readAfterMs > 0) {
    socket.pause();
    setTimeout(() => socket.resume(), readAfterMs).unref();
  }
  socket.on('data', (chunk: string) => (received += chunk));
  socket.on('error', () => {}); // a reset is a close too
  const closed = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server held the connection past ${patienceMs} ms; it answered ${JSON.stringify(received)}`)), patienceMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(received);
    });
  });
  if (first) socket.write(first);
  return { closed, write: (text) => !socket.destroyed && socket.write(text), destroy: () => socket.destroy() };
}

test('slow clients: dribbled headers, a body that never comes and a silent connection are answered 408 and closed at the limits', async (t) => {
  const app = await startTestApp((fn) => t.after(fn), limits);
  const { host } = new URL(app.url);

  // Headers one byte every 50 ms: complete after about 8 s, four times the request limit, were they not cut.
  const headers = `GET /hello HTTP/1.1\r\nHost: ${host}\r\nX-Padding: ${'a'.repeat(120)}\r\n\r\n`;
  const dribble = connect(app.url);
  t.after(() => dribble.destroy());
  let sent = 0;
  const timer = setInterval(() => (sent < headers.length && dribble.write(headers[sent]!) ? sent++ : undefined), 50);
  t.after(() => clearInterval(timer));
  const silent = connect(app.url);
  t.after(() => silent.destroy());
  const body = connect(app.url, `POST /notes HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"note": "`);
  t.after(() => body.destroy());

  const [dribbled, nothing, heldBody] = await Promise.all([dribble.closed, silent.closed, body.closed]);
  clearInterval(timer);
  assert.match(dribbled, /^HTTP\/1\.1 408 /, 'dribbled headers: 408');
  assert.ok(sent < headers.length, `cut before the headers were complete (${sent} of ${headers.length} bytes sent)`);
  assert.match(nothing, /^HTTP\/1\.1 408 /, 'a connection that never sent a request: 408');
  assert.match(heldBody, /^HTTP\/1\.1 408 /, 'a body that never came: 408');
});

test('slow clients: a request whose body never arrives saves nothing, and with SESSION_LOCK lets go of the session at once', async (t) => {
  // A request limit of 4 s: time to see the held request take the lock before it is cut.
  const app = await startTestApp((fn) => t.after(fn), { ...limits, HTTP_REQUEST_TIMEOUT_MS: '4000', SESSION_LOCK: 'true', SESSION_LOCK_WAIT_MS: '60000' });
  const { host } = new URL(app.url);
  const visitor = new CookieJar();
  assert.deepEqual((await visitor.post(`${app.url}/notes`, { note: 'first' })).json.notes, ['first']);

  const metrics = await metricsUrl(app);
  const locks = async () => sample((await request(metrics)).text, 'ecs_store_operations_total{op="lock",outcome="ok"}') ?? 0;
  const before = await locks();
  // The thief's copy of the cookie: a note whose body stops halfway, holding the session's lock while it waits.
  const note = JSON.stringify({ note: 'never complete' });
  const held = connect(app.url, `POST /notes HTTP/1.1\r\nHost: ${host}\r\nCookie: ${visitor.cookie}\r\nContent-Type: application/json\r\nContent-Length: ${note.length}\r\n\r\n${note.slice(0, 10)}`);
  t.after(() => held.destroy());
  await until(async () => (await locks()) > before, 'the held request to take the session\'s lock', 15_000, 50);
  // The visitor's own request waits behind the held one (lock wait 60 s), and is served once the held one is cut.
  const [cut, after] = await Promise.all([held.closed, visitor.get(`${app.url}/notes`)]);
  assert.match(cut, /^HTTP\/1\.1 408 /);
  assert.equal(after.status, 200, after.text);
  assert.deepEqual(after.json.notes, ['first'], 'the cut request saved nothing');
});

test('slow clients: an idle keep-alive connection is told, and held, HTTP_KEEP_ALIVE_TIMEOUT_MS', async (t) => {
  const app = await startTestApp((fn) => t.after(fn), limits);
  const { host } = new URL(app.url);
  const idle = connect(app.url, `GET /healthz HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
  t.after(() => idle.destroy());
  const answered = await idle.closed;
  assert.match(answered, /^HTTP\/1\.1 200 /);
  assert.match(answered, /\r\nKeep-Alive: timeout=1\b/i, "the client is told the idle limit");
});

test('slow clients: a connection kept open with empty lines (CRLF, which start no request) is closed past the keep-alive and headers limits', async (t) => {
  const app = await startTestApp((fn) => t.after(fn), limits);
  const { host } = new URL(app.url);
  const poked = connect(app.url, `GET /healthz HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
  t.after(() => poked.destroy());
  // Two bytes every 100 ms: Node's own idle timer counts them, and they start no request.
  const poke = setInterval(() => poked.write('\r\n'), 100);
  t.after(() => clearInterval(poke));
  const answered = await poked.closed;
  assert.match(answered, /^HTTP\/1\.1 200 /);
  assert.equal(answered.match(/HTTP\/1\.1 /g)?.length, 1, 'one answer, then closed');
});

test('slow clients: thousands of pipelined requests get at most 32 answers of substance, then 503 and the connection closes; the worker serves on', async (t) => {
  const app = await startTestApp((fn) => t.after(fn), limits);
  const { host } = new URL(app.url);
  // 3,000 requests for the page in one write: 100 KB asked, 6 MB of pages if each were answered at once. The client
  // reads only after 300 ms: a connection closed with a reset meanwhile would lose the answers, the 503 among them.
  const pipelined = connect(app.url, `GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`.repeat(3000), 300);
  t.after(() => pipelined.destroy());
  const answered = await pipelined.closed;
  const statuses = [...answered.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => m[1]);
  const pages = statuses.filter((status) => status === '200').length;
  t.diagnostic(`3,000 pipelined: ${pages} pages, ${statuses.length - pages} other answers`);
  assert.ok(pages >= 32 && pages < 3000, `${pages} pages`);
  assert.deepEqual([...new Set(statuses)].sort(), ['200', '503'], 'then refused with 503');
  const visitor = new CookieJar();
  assert.deepEqual((await visitor.post(`${app.url}/notes`, { note: 'served' })).json.notes, ['served'], 'the worker serves on');
});
