// Open-loop HTTP load for `npm run bench:latency`, in the bench process: request k is sent at start + k / rate
// whatever the answers, and its latency counts from that scheduled time. A stall of the server (or of this
// client) is then the latency of every request scheduled during it, not one slow request (no coordinated
// omission). Returning visitors carry a signed cookie of a pre-filled session; a few new visitors carry none.
import http from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { cookieFor, pickLiveSession, sidOf } from './latency-sessions.js';
import { epochNow } from './latency-watch.js';

export interface OpenLoopOptions {
  url: string;
  ratePerS: number;
  warmupS: number;
  durationS: number;
  /** Sessions pre-filled: returning visitors pick one that lives through the run. */
  sessions: number;
  /** Sockets the client keeps open at most; requests beyond them wait in the client, their clock running. */
  connections: number;
  /** Share of requests with no cookie (a new session each). */
  newShare: number;
  /** Share of returning visitors' requests that change their session (GET /count: a save). */
  writeShare: number;
  /** A request unanswered this long after the last one was scheduled fails as a timeout. */
  timeoutMs: number;
  /** Called when the measured window begins (the warm-up is over), and when its last request is settled. */
  onWindow?: (edge: 'start' | 'end') => void;
}

export const outcomes = ['ok', 'http-error', 'socket-error', 'timeout', 'lost'] as const;
export type Outcome = (typeof outcomes)[number];

export interface OpenLoopResult {
  /** ms since the epoch the window began: request times below are relative to it. */
  windowStartAt: number;
  /** Each request of the window: when it was scheduled (ms from the window's start) and its latency (ms). */
  scheduledMs: Float64Array;
  latencyMs: Float64Array;
  /** Index into `outcomes`; 'lost': a returning visitor answered without their session. */
  outcome: Uint8Array;
  /** This process's longest event-loop delay in the window, ms: a stall of the client, not the server. */
  clientMaxBlockMs: number;
}

export async function runOpenLoop(o: OpenLoopOptions): Promise<OpenLoopResult> {
  const intervalMs = 1000 / o.ratePerS;
  const warmup = Math.round(o.warmupS * o.ratePerS);
  const plan: Plan = { intervalMs, warmup, total: warmup + Math.round(o.durationS * o.ratePerS), startAt: epochNow() + 20, windowStartAt: 0 };
  plan.windowStartAt = plan.startAt + warmup * intervalMs;
  const measured = plan.total - warmup;
  const result = { scheduledMs: new Float64Array(measured), latencyMs: new Float64Array(measured).fill(NaN), outcome: new Uint8Array(measured) };
  const agent = new http.Agent({ keepAlive: true, maxSockets: o.connections });
  const requests = requester(o, plan, result, agent);
  const clientDelay = monitorEventLoopDelay({ resolution: 1 });
  await schedule(plan, requests.send, () => {
    clientDelay.enable();
    o.onWindow?.('start');
  });
  const timer = setTimeout(requests.abandon, o.timeoutMs);
  await requests.settled;
  clearTimeout(timer);
  clientDelay.disable();
  o.onWindow?.('end');
  agent.destroy();
  return { windowStartAt: plan.windowStartAt, ...result, clientMaxBlockMs: clientDelay.max / 1e6 };
}

interface Plan {
  intervalMs: number;
  /** Requests of the warm-up (not measured), and of the whole run. */
  warmup: number;
  total: number;
  /** ms since the epoch request 0 is scheduled at, and the window's first. */
  startAt: number;
  windowStartAt: number;
}

/** Sends request k at its time, late ones at once: a timer every ms sends all that are due. */
function schedule(plan: Plan, send: (k: number) => void, onWindowStart: () => void): Promise<void> {
  let sent = 0;
  return new Promise<void>((resolve) => {
    const tick = () => {
      const due = Math.min(plan.total, Math.floor((epochNow() - plan.startAt) / plan.intervalMs) + 1);
      for (; sent < due; sent++) {
        if (sent === plan.warmup) onWindowStart();
        send(sent);
      }
      if (sent < plan.total) setTimeout(tick, 1);
      else resolve();
    };
    tick();
  });
}

/** Sends request k and records how it ended into `result` (requests of the window only). */
function requester(o: OpenLoopOptions, plan: Plan, result: Pick<OpenLoopResult, 'scheduledMs' | 'latencyMs' | 'outcome'>, agent: http.Agent) {
  const { hostname, port } = new URL(o.url);
  const outstanding = new Set<http.ClientRequest>();
  let count = 0;
  let allSettled: () => void = () => {};
  const settled = new Promise<void>((resolve) => (allSettled = resolve));
  const send = (k: number) => {
    const scheduled = plan.startAt + k * plan.intervalMs;
    const returning = Math.random() >= o.newShare;
    const path = returning && Math.random() < o.writeShare ? '/count' : '/hello';
    const headers = returning ? { cookie: cookieFor(sidOf(pickLiveSession(o.sessions))) } : {};
    let recorded = false;
    const record = (how: Outcome) => {
      if (recorded) return;
      recorded = true;
      outstanding.delete(request);
      if (k >= plan.warmup) {
        result.latencyMs[k - plan.warmup] = epochNow() - scheduled;
        result.outcome[k - plan.warmup] = outcomes.indexOf(how);
      }
      if (++count === plan.total) allSettled();
    };
    const request = http.get({ agent, hostname, port, path, headers }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => record(response.statusCode !== 200 ? 'http-error' : returning && !body.includes('"known":true') ? 'lost' : 'ok'));
      response.on('error', () => record('socket-error'));
    });
    request.on('error', (error) => record(error.message === 'timeout' ? 'timeout' : 'socket-error'));
    outstanding.add(request);
    if (k >= plan.warmup) result.scheduledMs[k - plan.warmup] = scheduled - plan.windowStartAt;
  };
  const abandon = () => outstanding.forEach((request) => request.destroy(new Error('timeout')));
  return { send, settled, abandon };
}
