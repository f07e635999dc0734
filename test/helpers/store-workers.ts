// Forks cluster workers running test/fixtures/store-worker.ts and drives their ClusterStore from the test
// process, which is their primary. Every worker is killed in t.after, even when the test fails.
import cluster, { type Worker } from 'node:cluster';
import { fileURLToPath } from 'node:url';

export type FixtureCommand = { fixture: 'command'; id: number } & (
  | { cmd: 'call'; op: string; args: unknown[]; timeoutMs?: number }
  | { cmd: 'many'; count: number; prefix: string }
  | { cmd: 'lock'; waitMs: number; holdMs: number; maxWaiters: number; timeoutMs: number }
  | { cmd: 'send-foreign'; messages: unknown[] }
  | { cmd: 'foreign-seen' | 'events' | 'disconnect-then-get' | 'two-stores' }
);

export type FixtureReply =
  | { fixture: 'ready' }
  | { fixture: 'result'; id: number; value?: unknown; error?: { message: string; code: string }; elapsedMs: number };

export type Result = Extract<FixtureReply, { fixture: 'result' }>;

type CommandBody = FixtureCommand extends infer C ? (C extends unknown ? Omit<C, 'fixture' | 'id'> : never) : never;

const fixture = fileURLToPath(new URL('../fixtures/store-worker.ts', import.meta.url));
let nextId = 1;

/** Forks `count` fixture workers; `cleanup` (t.after, or node:test's after) registers their killing. */
export async function forkStoreWorkers(
  cleanup: (fn: () => void) => void,
  count: number,
  options: { silent?: boolean; serialization?: 'json' | 'advanced' } = {},
): Promise<Worker[]> {
  cluster.setupPrimary({ exec: fixture, execArgv: ['--import', 'tsx'], silent: options.silent ?? false, serialization: options.serialization ?? 'json' });
  const workers = Array.from({ length: count }, () => cluster.fork());
  cleanup(() => {
    for (const worker of workers) if (!worker.isDead()) worker.process.kill('SIGKILL');
  });
  await Promise.all(workers.map((worker) => once(worker, (message) => (message as FixtureReply).fixture === 'ready', 20_000)));
  return workers;
}

/** Sends a command to a fixture worker and resolves with its result (an error is a result too). */
export function command(worker: Worker, body: CommandBody, deadlineMs = 20_000): Promise<Result> {
  const id = nextId++;
  worker.send({ fixture: 'command', id, ...body });
  return once(worker, (message) => (message as Result).fixture === 'result' && (message as Result).id === id, deadlineMs) as Promise<Result>;
}

/** The value of a successful call; throws with the worker's error otherwise. */
export async function call(worker: Worker, op: string, ...args: unknown[]): Promise<unknown> {
  const result = await command(worker, { cmd: 'call', op, args });
  if (result.error) throw Object.assign(new Error(result.error.message), { code: result.error.code });
  return result.value;
}

/** The store events a fixture worker recorded. */
export async function eventsOf(worker: Worker): Promise<string[]> {
  return (await command(worker, { cmd: 'events' })).value as string[];
}

/** Polls the fixture's recorded store events until `event` is among them (or 10 s pass); returns them. */
export async function eventually(worker: Worker, event: string): Promise<string[]> {
  const deadline = Date.now() + 10_000;
  let events = await eventsOf(worker);
  while (!events.includes(event) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    events = await eventsOf(worker);
  }
  return events;
}

/** A session as express-session hands it to a store: data plus a cookie whose expiry the store follows. */
export function session(data: Record<string, unknown>, expires = new Date(Date.now() + 60_000)): Record<string, unknown> {
  return { cookie: { originalMaxAge: 60_000, expires, httpOnly: true, path: '/' }, ...data };
}

function once(worker: Worker, match: (message: unknown) => boolean, deadlineMs: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const finish = (error: Error | null, message?: unknown) => {
      clearTimeout(timer);
      worker.off('message', onMessage);
      worker.off('exit', onExit);
      if (error) reject(error);
      else resolve(message);
    };
    const timer = setTimeout(() => finish(new Error(`fixture worker ${worker.id} did not answer within ${deadlineMs} ms`)), deadlineMs);
    const onMessage = (message: unknown) => {
      if (match(message)) finish(null, message);
    };
    const onExit = () => finish(new Error(`fixture worker ${worker.id} exited before answering`));
    worker.on('message', onMessage);
    worker.on('exit', onExit);
  });
}
