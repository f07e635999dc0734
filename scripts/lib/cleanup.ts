// What a script starts, it stops: when it ends, when it fails, when it is interrupted (SIGINT, SIGTERM, SIGHUP), and
// when the process that started it goes away. The clusters and redis-servers it starts may not get its signals (a
// cluster runs in a process group of its own, so a Ctrl-C does not reach it): this stops them.
//
// Why the parent is watched: `npm run X` runs the script under `sh -c`. npm 11 passes a SIGTERM sent to it alone (by a
// CI runner, `kill <npm pid>`, `timeout --foreground`) to that sh, which dies of it; npm then exits 143 at once and the
// script, never signalled, runs on, orphaned, its clusters with it. A new process.ppid is the only sign it gets, so it
// counts as a hang-up. (A SIGINT sent to npm alone reaches sh too, but sh waits for the script: nothing is orphaned.)
// Whoever read the script's stdout and stderr may have gone with npm: a write to the closed pipe (EPIPE) is ignored,
// not thrown, so it cannot end the cleanup halfway.
export interface Cleanups {
  add: (fn: () => unknown) => void;
  /** Starts every cleanup once, the last added first, and waits for them; later calls wait for the same run. */
  run: () => Promise<void>;
}

const exitCodes: [NodeJS.Signals, number][] = [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]];
const parentCheckMs = 200;

/** Call once, from the script's main(): installs the signal handlers, the parent watch and the EPIPE guard. */
export function cleanupOnExit(): Cleanups {
  const fns: (() => unknown)[] = [];
  let running: Promise<void> | undefined;
  // Each cleanup's synchronous part (a kill) runs here and now: no exit elsewhere in the script can come between two.
  const run = () => (running ??= Promise.all(fns.splice(0).reverse().map(attempt)).then(() => undefined));
  let stopping = false;
  const stop = (why: string, code: number) => {
    if (stopping) return;
    stopping = true;
    clearInterval(parentWatch);
    console.error(`${why}: stopping what this script started`);
    void run().finally(() => process.exit(code));
  };
  for (const [signal, code] of exitCodes) process.once(signal, () => stop(signal, code));
  const parent = process.ppid;
  const parentWatch = setInterval(() => {
    if (process.ppid !== parent) stop(`parent process ${parent} gone`, 129); // as for SIGHUP
  }, parentCheckMs).unref();
  process.stdout.on('error', ignoreClosedPipe);
  process.stderr.on('error', ignoreClosedPipe);
  // Something started while the cleanup already runs (a cluster that came up meanwhile) is stopped at once.
  const add = (fn: () => unknown) => (running === undefined ? void fns.push(fn) : void running.then(() => attempt(fn)));
  return { add, run };
}

/** Runs `fn`; a failure is reported, not thrown, so the other cleanups still run. */
async function attempt(fn: () => unknown): Promise<void> {
  try {
    await fn();
  } catch (error) {
    console.error('cleanup failed:', error);
  }
}

function ignoreClosedPipe(error: NodeJS.ErrnoException): void {
  if (error.code !== 'EPIPE') throw error;
}
