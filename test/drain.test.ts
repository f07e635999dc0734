// createDrainableServer's slow-client limits on a bare server: an answer the client never reads is not held.
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { test } from 'node:test';
import { createDrainableServer } from '../src/drain.js';

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
