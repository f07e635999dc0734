// How a store reaches the host: over the cluster's IPC channel in a worker, by direct call in the primary (a
// single-process app, or tests). Either way the store's calls stay asynchronous and go through the same checks.
import type { StoreHost } from '../primary/host.js';
import { isReplyBatch, TAG, type RequestBatch } from '../shared/wire.js';
import type { StoreClient, Transport } from './client.js';

let channels = 0;

/** In a worker: batches go to the primary with process.send, replies come back as 'message' events. */
export function ipcTransport(client: () => StoreClient): Transport {
  // Several stores may share one process: each marks its batches, and takes only the replies marked for it.
  const channel = ++channels;
  process.on('message', (message: unknown) => {
    if (isReplyBatch(message) && message.c === channel) client().receive(message.r);
  });
  process.once('disconnect', () => client().close());
  return {
    get connected() {
      return process.connected === true;
    },
    send(requests, written) {
      const batch: RequestBatch = { tag: TAG, c: channel, q: requests };
      // The channel was checked open in this same tick; a write that fails anyway means the primary is gone,
      // and 'disconnect' closes the client.
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
      // Round-trip through JSON like IPC would, so callers never share objects with the table.
      host.accept(JSON.parse(JSON.stringify(requests)) as unknown[], (replies) => client().receive(replies));
      if (written) process.nextTick(written);
    },
  };
}
