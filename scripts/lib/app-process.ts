// Starts the real app as `npm start` does (the same command, run directly so the caller holds the primary's PID),
// on a free port, and waits for its workers by reading its log. Cleanup kills whatever is left.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

export interface AppProcess {
  child: ChildProcess;
  /** PIDs of the workers seen online so far. */
  workerPids(): number[];
  url: string;
  /** Every line the app printed so far, stdout and stderr. */
  lines: string[];
  waitForLine(pattern: RegExp, deadlineMs?: number, from?: number): Promise<RegExpExecArray>;
  /** Resolves with the exit code (or signal) once the primary has exited. */
  exited: Promise<number | NodeJS.Signals>;
}

/** `npm start`'s command, from package.json: what the README tells people to run is what the tests run. */
export function startCommand(): string[] {
  const pkg = JSON.parse(readFileSync(`${root}/package.json`, 'utf8')) as { scripts: { start: string } };
  const [program, ...args] = pkg.scripts.start.split(' ');
  if (program !== 'node') throw new Error(`the start script should run node directly, got ${pkg.scripts.start}`);
  return [process.execPath, ...args];
}

export async function startApp(
  cleanup: (fn: () => unknown) => void,
  env: Record<string, string> = {},
  options: { waitForWorkers?: boolean; command?: string[] } = {},
): Promise<AppProcess> {
  const [program, ...args] = (options.command ?? startCommand()) as [string, ...string[]];
  const child = spawn(program, args, {
    cwd: root,
    env: { ...process.env, PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group: cleanup can reach the workers too, by the primary's PID
  });
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  const collect = (chunk: Buffer) => {
    lines.push(...chunk.toString().split('\n').filter(Boolean));
    waiters.forEach((check) => check());
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = once(child, 'exit').then(([code, signal]) => (code ?? signal) as number | NodeJS.Signals);
  cleanup(() => {
    if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGKILL');
    else killGroup(child.pid!);
  });

  const waitForLine = (pattern: RegExp, deadlineMs = 30_000, from = 0) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const check = () => {
        for (const line of lines.slice(from)) {
          const match = pattern.exec(line);
          if (match) return done(null, match);
        }
      };
      const done = (error: Error | null, match?: RegExpExecArray) => {
        waiters.delete(check);
        clearTimeout(timer);
        void exited.then(() => {}); // keep the promise handled
        if (error) reject(error);
        else resolve(match!);
      };
      const timer = setTimeout(() => done(new Error(`no line matching ${pattern} within ${deadlineMs} ms; log:\n${lines.join('\n')}`)), deadlineMs);
      waiters.add(check);
      check();
    });

  let url = '';
  if (options.waitForWorkers !== false) {
    const count = Number((await waitForLine(/starting (\d+) workers/))[1]);
    for (let i = 1; i <= count; i++) {
      const match = await waitForLine(new RegExp(`worker ${i} \\(pid \\d+\\) listening on (http://\\S+)`));
      url = match[1]!.replace('localhost', '127.0.0.1');
    }
  }
  const workerPids = () => lines.flatMap((line) => /\(pid (\d+)\) online/.exec(line)?.[1] ?? []).map(Number);
  return { child, url, lines, workerPids, waitForLine, exited };
}

/** Sends SIGTERM and waits for the primary to exit; returns its exit code. */
export async function stopApp(app: AppProcess): Promise<number | NodeJS.Signals> {
  if (app.child.exitCode === null && app.child.signalCode === null) app.child.kill('SIGTERM');
  return app.exited;
}

/** True while a process with this PID exists. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function killGroup(pgid: number): void {
  try {
    process.kill(-pgid, 'SIGKILL'); // workers the test left behind, if any
  } catch {
    // the group is gone: nothing left to stop
  }
}
