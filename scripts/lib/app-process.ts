// Starts the real app as `npm start` does (the same command, run directly so the caller holds the primary's PID),
// on a free port, and waits for its workers by reading its log (JSON lines: not a terminal). Cleanup kills
// whatever is left.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** One line of the app's log; a line that is not JSON (a crash before the logger existed) is `{ msg: line }`. */
export interface LogRecord {
  msg: string;
  level?: number;
  [field: string]: unknown;
}

/** Fields a record must have: equal values, or strings a RegExp matches. */
export type LogQuery = Record<string, RegExp | string | number | boolean | null>;

export interface AppProcess {
  child: ChildProcess;
  /** PIDs of the workers seen listening so far. */
  workerPids(): number[];
  url: string;
  /** Every line the app printed so far, stdout and stderr. */
  lines: string[];
  /** `lines`, parsed: records[i] is lines[i]. */
  records: LogRecord[];
  /** The records from index `from` on that match `query`. */
  logged(query: LogQuery, from?: number): LogRecord[];
  /** The first record from index `from` on that matches `query`, once it is logged; rejects after the deadline. */
  waitForLog(query: LogQuery, deadlineMs?: number, from?: number): Promise<LogRecord>;
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
  options: { waitForWorkers?: boolean; command?: string[]; /** Another checkout to start instead of this one. */ cwd?: string } = {},
): Promise<AppProcess> {
  const [program, ...args] = (options.command ?? startCommand()) as [string, ...string[]];
  const child = spawn(program, args, {
    cwd: options.cwd ?? root,
    env: { ...process.env, PORT: '0', METRICS_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group: cleanup can reach the workers too, by the primary's PID
  });
  const lines: string[] = [];
  const records: LogRecord[] = [];
  const waiters = new Set<() => void>();
  const collector = () => {
    let partial = '';
    return (chunk: Buffer) => {
      const text = partial + chunk.toString();
      const complete = text.split('\n');
      partial = complete.pop()!;
      for (const line of complete.filter(Boolean)) {
        lines.push(line);
        records.push(parseRecord(line));
      }
      waiters.forEach((check) => check());
    };
  };
  child.stdout?.on('data', collector());
  child.stderr?.on('data', collector());
  const exited = once(child, 'exit').then(([code, signal]) => (code ?? signal) as number | NodeJS.Signals);
  cleanup(() => {
    if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGKILL');
    else killGroup(child.pid!);
  });

  const logged = (query: LogQuery, from = 0) => records.slice(from).filter((record) => matches(record, query));
  const waitForLog = (query: LogQuery, deadlineMs = 30_000, from = 0) =>
    new Promise<LogRecord>((resolve, reject) => {
      const check = () => {
        const found = logged(query, from)[0];
        if (found) done(null, found);
      };
      const done = (error: Error | null, record?: LogRecord) => {
        waiters.delete(check);
        clearTimeout(timer);
        if (error) reject(error);
        else resolve(record!);
      };
      const timer = setTimeout(() => done(new Error(`nothing logged matching ${describe(query)} within ${deadlineMs} ms; log:\n${lines.join('\n')}`)), deadlineMs);
      waiters.add(check);
      check();
    });

  let url = '';
  if (options.waitForWorkers !== false) {
    const { workers } = await waitForLog({ role: 'primary', msg: /starting \d+ workers/ });
    for (let i = 1; i <= Number(workers); i++) {
      const listening = await waitForLog({ role: 'primary', workerId: i, msg: /listening on/ });
      url = String(listening.url).replace('localhost', '127.0.0.1');
    }
  }
  const workerPids = () => logged({ role: 'primary', msg: /listening on/ }).map((record) => Number(record.workerPid));
  return { child, url, lines, records, logged, workerPids, waitForLog, exited };
}

function parseRecord(line: string): LogRecord {
  if (line.startsWith('{')) {
    try {
      const record = JSON.parse(line) as LogRecord;
      if (typeof record.msg === 'string') return record;
    } catch {
      // not JSON after all: kept as text below
    }
  }
  return { msg: line };
}

function matches(record: LogRecord, query: LogQuery): boolean {
  return Object.entries(query).every(([field, wanted]) =>
    wanted instanceof RegExp ? typeof record[field] === 'string' && wanted.test(record[field]) : record[field] === wanted,
  );
}

function describe(query: LogQuery): string {
  return Object.entries(query).map(([field, wanted]) => `${field}=${String(wanted)}`).join(' ');
}

/** Sends SIGTERM and waits for the primary to exit; returns its exit code. */
export async function stopApp(app: AppProcess): Promise<number | NodeJS.Signals> {
  if (app.child.exitCode === null && app.child.signalCode === null) app.child.kill('SIGTERM');
  return app.exited;
}

/** The store host's counters, from the primary's answer to SIGUSR2 (its `store stats` log line). */
export async function hostStats(app: AppProcess): Promise<{ messagesIn: number; messagesOut: number; requests: number }> {
  const from = app.records.length;
  process.kill(app.child.pid!, 'SIGUSR2');
  const logged = await app.waitForLog({ msg: 'store stats' }, 5000, from);
  return logged.stats as { messagesIn: number; messagesOut: number; requests: number };
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
