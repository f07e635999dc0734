// How a store reaches the host: over the cluster's IPC channel in a worker, by direct call in the primary (a
// single-process app, or tests). Either way the store's calls stay asynchronous and go through the same checks.
import type { StoreHost } from '../primary/host.js';
import { isReplyBatch, TAG, type RequestBatch } from '../shared/wire.js';
import type { StoreClient, Transport } from './client.js';

/** The stores of this process by channel: several may share one process, each takes only its own replies. */
const clients = new Map<number, () => StoreClient>();

/** One listener pair for every store of the process, installed with the first store. */
function listen(): void {
  process.on('message', (message: unknown) => {
    if (isReplyBatch(message)) clients.get(message.c)?.().receive(message.r);
  });
  process.once('disconnect', () => {
    for (const client of clients.values()) client().close();
  });
}

/** In a worker: batches go to the primary with process.send, replies come back as 'message' events. */
export function ipcTransport(client: () => StoreClient): Transport {
  if (clients.size === 0) listen();
  const channel = clients.size + 1;
  clients.set(channel, client);
  return {
    get connected() {
      return process.connected === true;
    },
    send(requests, written) {
      const batch: RequestBatch = { tag: TAG, c: channel, q: requests };
      // Checked open in this same tick. A write the OS refuses anyway (the primary just died; Node emits it as
      // 'error' on process when there is no callback) ends this worker, as the primary's death does regardless.
      if (written) process.send?.(batch, undefined, {}, written);
      else process.send?.(batch);
    },
  };
}

/** In the primary itself (no worker), the store talks to the host directly, still asynchronously. */
export function localTransport(client: () => StoreClient, host: StoreHost): Transport {
  return {
    connected: true,
    send(requests, written) {
      // Round-trip through JSON like IPC would, so callers never share objects with the table; and answer on a
      // later tick, as IPC would (the host answers writes at once, and the handshake is sent from a constructor).
      host.accept(JSON.parse(JSON.stringify(requests)) as unknown[], (replies) => process.nextTick(() => client().receive(replies)));
      if (written) process.nextTick(written);
    },
  };
}
