// Leaving without failing a request: an HTTP server that, once told to drain, stops accepting, answers what is in
// flight with `Connection: close`, and closes each keep-alive connection with a lingering close. Runs in a worker.
import http from 'node:http';
import net, { type Socket } from 'node:net';

export interface DrainableServer {
  server: http.Server;
  /** Stops accepting and closes every connection once its requests are answered; resolves when all are gone. */
  drain: () => Promise<void>;
}

const inFlight = Symbol('requests in flight');
const stall = Symbol('answers waiting since');
const idleSince = Symbol('no request since');
/**
 * Requests one connection may have unanswered at once; past it, 503. Node parses every request a client pipelined
 * in one write at once, and holds each answer until the ones before it are sent: without a bound, thousands of
 * small requests cost thousands of pages held for a client that may never read them. Browsers do not pipeline.
 */
const maxPipelined = 32;
type TrackedSocket = Socket & { [inFlight]?: number; [idleSince]?: number; [stall]?: { length: number; queue: number; since: number } | undefined };

/** How long a client may take: what a slow (or deliberately dribbling) client can hold a connection for. */
export interface ClientTimeouts {
  /** The request's headers, from the connection's start or the previous response (Node: headersTimeout). */
  headersMs: number;
  /**
   * The whole request, body included (Node: requestTimeout): then 408 and the connection closes. Also how long an
   * answer may wait for the client to read it, nothing of it taken, before the connection closes.
   */
  requestMs: number;
  /** An idle keep-alive connection between requests (Node: keepAliveTimeout). */
  keepAliveMs: number;
}

export interface DrainOptions {
  /** How long an idle keep-alive connection may still bring a request before it is closed. @default 1000 */
  graceMs?: number;
  /** How long a closed connection keeps reading (and ignoring) what the client sent meanwhile. @default 2000 */
  lingerMs?: number;
  /** @default Node's: 60 s for headers, 300 s for the request, 5 s keep-alive */
  timeouts?: ClientTimeouts;
}

export function createDrainableServer(handler: http.RequestListener, { graceMs = 1000, lingerMs = 2000, timeouts }: DrainOptions = {}): DrainableServer {
  let draining = false;
  const sockets = new Set<TrackedSocket>();
  const limits: http.ServerOptions = timeouts === undefined
    ? {}
    : {
        headersTimeout: timeouts.headersMs,
        requestTimeout: timeouts.requestMs,
        // Node checks the two request timeouts every 30 s by default, so a limit of 10 s could hold a connection for 40.
        connectionsCheckingInterval: checkEveryMs(timeouts),
      };
  const server = http.createServer(limits, (req, res) => {
    const socket = req.socket as TrackedSocket;
    // A request that came in on a connection already closing is dropped: the client saw our FIN and retries.
    if (draining && socket.writableEnded) return;
    if ((socket[inFlight] ?? 0) >= maxPipelined) {
      res.shouldKeepAlive = false;
      closeUnread(socket, lingerMs);
      res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '1' }).end('too many requests pipelined on one connection\n');
      return;
    }
    socket[inFlight] = (socket[inFlight] ?? 0) + 1;
    res.once('close', () => {
      socket[inFlight] = (socket[inFlight] ?? 1) - 1;
      if (socket[inFlight] === 0) socket[idleSince] = performance.now();
    });
    if (draining) res.setHeader('Connection', 'close');
    handler(req, res);
  });
  if (timeouts !== undefined) {
    server.keepAliveTimeout = timeouts.keepAliveMs;
    cutStalledConnections(server, sockets, timeouts);
  }
  server.on('connection', (socket: TrackedSocket) => {
    socket[idleSince] = performance.now();
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    if (draining) lingerOnClose(socket, lingerMs);
  });

  const drain = () =>
    new Promise<void>((resolve) => {
      draining = true;
      // http.Server#close (Node >= 19) also destroys idle keep-alive connections at once, and a request a client
      // is sending at that moment meets a reset: stop listening the plain net.Server way, close them ourselves.
      net.Server.prototype.close.call(server, () => resolve());
      for (const socket of sockets) lingerOnClose(socket, lingerMs);
      // Idle connections get a moment to bring one more request (answered with Connection: close), then close.
      setTimeout(() => {
        for (const socket of sockets) if (!socket[inFlight]) socket.destroySoon();
      }, graceMs).unref();
    });
  return { server, drain };
}

/** How often the slow-client limits are checked: often enough that each is kept within a quarter of itself, at most each second. */
function checkEveryMs(timeouts: ClientTimeouts): number {
  return Math.min(1000, Math.ceil(timeouts.headersMs / 4));
}

/**
 * What Node's own timers miss, checked every `checkEveryMs`:
 * - A connection with no request and nothing to send for longer than keep-alive plus headers allow: Node's idle timer counts every
 *   byte the client sends, and the empty lines it may send between requests (CRLF) start no request, so a client
 *   sending two bytes now and then would hold a connection for ever.
 * - A client that sends requests and never reads the answers: Node's request timers stop once a request is in, and
 *   the answers wait in memory. Closed once they have waited `requestMs` with none of them taken (see `waiting`).
 */
function cutStalledConnections(server: http.Server, sockets: Set<TrackedSocket>, timeouts: ClientTimeouts): void {
  const idleMs = timeouts.keepAliveMs + timeouts.headersMs;
  const timer = setInterval(() => {
    const now = performance.now();
    for (const socket of sockets) {
      // Idle: no request, and nothing left to send (an answer still being read is not idleness).
      if (!socket[inFlight] && socket.writableLength === 0 && now - (socket[idleSince] ?? now) > idleMs) {
        socket.destroy();
        continue;
      }
      // Unread answers: the time since the client last took any of them.
      const unread = waiting(socket);
      const last = socket[stall];
      const took = last === undefined || unread.length < last.length || unread.queue < last.queue;
      socket[stall] = unread.length === 0 ? undefined : { ...unread, since: took ? now : last.since };
      if (socket[stall] !== undefined && now - socket[stall].since >= timeouts.requestMs) socket.destroy();
    }
  }, checkEveryMs(timeouts)).unref();
  server.once('close', () => clearInterval(timer));
}

/**
 * What waits for the client to take it: the stream's `writableLength`, which drops once a whole write is taken,
 * and libuv's `writeQueueSize` (not in Node's typings), which drops as the kernel takes each part of one. One large
 * answer sits whole in the first until its last byte is taken: the second shows a slow reader still reading.
 */
function waiting(socket: Socket): { length: number; queue: number } {
  const length = socket.writableLength;
  return { length, queue: (socket as Socket & { _handle?: { writeQueueSize?: number } | null })._handle?.writeQueueSize ?? length };
}

/**
 * Node closes a `Connection: close` connection as soon as the response is out; a request the client already sent
 * then meets a reset. Instead (RFC 9112, 9.6): send FIN, keep reading and ignoring, close when the client does.
 */
/**
 * How a connection refused for pipelining too much closes once its 503 is out: a FIN after the answers, nothing
 * more read (so none of the client's remaining requests is parsed), and gone `lingerMs` later. Node would destroy it
 * at once, and closing with the client's unread requests still in our buffer sends a reset, which can make the
 * client lose the answers it had not read yet, the 503 among them: it would never learn why.
 */
function closeUnread(socket: Socket, lingerMs: number): void {
  socket.destroySoon = () => {
    if (socket.destroyed) return;
    socket.pause();
    socket.end();
    setTimeout(() => socket.destroy(), lingerMs).unref();
  };
}

function lingerOnClose(socket: Socket, lingerMs: number): void {
  socket.destroySoon = () => {
    if (socket.destroyed) return;
    socket.end();
    socket.once('end', () => socket.destroy());
    setTimeout(() => socket.destroy(), lingerMs).unref();
  };
}
