// createDrainableServer's slow-client limits on a bare server: an answer the client never reads is not held.
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { test } from 'node:test';
import { createDrainableServer } from '../src/worker/drain.js';
import { until } from './helpers/poll.js';

test('createDrainableServer: a client that never reads a large answer is cut once it has waited requestMs with nothing taken', async (t) => {
  const answerBytes = 32 * 1024 * 1024;
  const { server } = createDrainableServer((_req, res) => res.end(Buffer.alloc(answerBytes)), { timeouts: { headersMs: 400, requestMs: 800, keepAliveMs: 5000 } });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const closed = new Promise<void>((resolve) => server.once('connection', (socket: net.Socket) => socket.once('close', () => resolve())));
  const client = net.connect((server.address() as AddressInfo).port, '127.0.0.1');
  t.after(() => client.destroy());
  client.pause(); // never reads: the 32 MB answer fills the kernel's buffers and waits in the server's memory
  client.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  await closed;
  // Now read what reached this side before the cut: the kernel's buffers, far from the whole answer.
  let received = 0;
  client.on('data', (chunk: Buffer) => (received += chunk.length));
  client.on('error', () => {});
  client.resume();
  await new Promise((resolve) => client.once('close', resolve));
  assert.ok(received < answerBytes / 2, `the server cut the connection: ${received} of ${answerBytes} bytes ever left it`);
});

test('createDrainableServer: a slow client still reading one large answer is not cut, however long it takes past requestMs', async (t) => {
  const answerBytes = 24 * 1024 * 1024; // more than the kernel's buffers take at once: most of it waits in the server
  const { server } = createDrainableServer((_req, res) => res.end(Buffer.alloc(answerBytes)), { timeouts: { headersMs: 400, requestMs: 800, keepAliveMs: 5000 } });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const client = net.connect({ port: (server.address() as AddressInfo).port, host: '127.0.0.1' });
  t.after(() => client.destroy());
  let received = 0;
  let cut = false;
  client.once('close', () => (cut = true));
  // Takes at most 64 KB every 10 ms (about 6 MB/s): the answer takes several times requestMs to arrive.
  const reading = setInterval(() => {
    for (let taken = 0, chunk: Buffer | null; taken < 65_536 && (chunk = client.read() as Buffer | null) !== null; taken += chunk.length) received += chunk.length;
  }, 10);
  t.after(() => clearInterval(reading));
  const started = performance.now();
  client.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  await until(() => received > answerBytes || cut, 'the answer, or the cut', 60_000);
  clearInterval(reading);
  const tookMs = performance.now() - started;
  t.diagnostic(`24 MB read in ${Math.round(tookMs)} ms with requestMs 800`);
  assert.equal(cut, false, `cut after ${received} bytes`);
  assert.ok(tookMs > 800, `the client read for longer than requestMs (${Math.round(tookMs)} ms)`);
});
