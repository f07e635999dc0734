// Starts the cluster of one `npm run bench:latency` run (latency-primary.ts, in a process group of its own) and
// talks to its primary over IPC; cleanup kills the whole group, whatever happens to the bench.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { BenchCommand, PrimaryConfig, PrimaryMessage } from './latency-protocol.js';
import { epochNow } from './latency-watch.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const primaryScript = fileURLToPath(new URL('./latency-primary.ts', import.meta.url));
const stderrLines = 40;

type Kind = PrimaryMessage['kind'];
type MessageOf<K extends Kind> = Extract<PrimaryMessage, { kind: K }>;

export interface LatencyCluster {
  child: ChildProcess;
  /** ms since the epoch just before the primary was spawned. */
  spawnedAt: number;
  /** The first message of `kind` (already received or still to come); rejects if the primary fails or exits first. */
  next<K extends Kind>(kind: K, deadlineMs?: number): Promise<MessageOf<K>>;
  send(command: BenchCommand): void;
  /** Kills the primary's process group (its workers with it) and waits for the primary to exit. */
  stop(): Promise<void>;
}

export function startCluster(cleanup: (fn: () => unknown) => void, config: PrimaryConfig, extraNodeArgs: string[] = []): LatencyCluster {
  const spawnedAt = epochNow();
  const child = spawn(process.execPath, ['--import', 'tsx', '--expose-gc', ...extraNodeArgs, primaryScript, JSON.stringify(config)], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    detached: true, // its own process group: the workers can be reached through the primary's PID
  });
  const exited = once(child, 'exit').then(([code, signal]) => (code ?? signal) as number | NodeJS.Signals);
  cleanup(() => killGroup(child.pid!));
  const tail: string[] = [];
  child.stderr!.on('data', (chunk: Buffer) => tail.push(...chunk.toString().split('\n').filter(Boolean)) && tail.splice(0, Math.max(0, tail.length - stderrLines)));
  const received: PrimaryMessage[] = [];
  const waiters = new Set<() => void>();
  child.on('message', (message: PrimaryMessage) => {
    received.push(message);
    waiters.forEach((check) => check());
  });
  let gone: string | undefined;
  void exited.then((how) => {
    gone = `the primary (pid ${child.pid}) exited (${how})`;
    waiters.forEach((check) => check());
  });

  const next = <K extends Kind>(kind: K, deadlineMs = 600_000) =>
    new Promise<MessageOf<K>>((resolve, reject) => {
      const check = () => {
        const failed = received.find((m): m is MessageOf<'failed'> => m.kind === 'failed');
        const index = received.findIndex((m) => m.kind === kind);
        if (index >= 0) finish(null, received.splice(index, 1)[0] as MessageOf<K>);
        else if (failed || gone) finish(new Error(`waiting for "${kind}": ${failed?.message ?? gone}\n${tail.join('\n')}`));
      };
      const finish = (error: Error | null, message?: MessageOf<K>) => {
        waiters.delete(check);
        clearTimeout(timer);
        if (error) reject(error);
        else resolve(message!);
      };
      const timer = setTimeout(() => finish(new Error(`no "${kind}" from the primary within ${deadlineMs} ms\n${tail.join('\n')}`)), deadlineMs);
      waiters.add(check);
      check();
    });

  const stop = async () => {
    killGroup(child.pid!);
    await exited;
  };
  return { child, spawnedAt, next, send: (command) => child.send(command), stop };
}

function killGroup(pgid: number): void {
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    // the group is gone: nothing left to stop
  }
}
