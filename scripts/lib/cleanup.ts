// What a script starts, it stops: when it ends, when it fails, and when it is interrupted (SIGINT, SIGTERM). The
// clusters and redis-servers it starts run in process groups of their own, so a Ctrl-C does not reach them.
export interface Cleanups {
  add: (fn: () => unknown) => void;
  /** Runs every cleanup once, the last added first; later calls wait for the same run. */
  run: () => Promise<void>;
}

export function cleanupOnExit(): Cleanups {
  const fns: (() => unknown)[] = [];
  let running: Promise<void> | undefined;
  const run = () =>
    (running ??= (async () => {
      for (const fn of fns.splice(0).reverse()) {
        try {
          await fn();
        } catch (error) {
          console.error('cleanup failed:', error);
        }
      }
    })());
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    process.once(signal, () => {
      console.error(`${signal}: stopping what this script started`);
      void run().finally(() => process.exit(code));
    });
  }
  // Something started while the cleanup already runs (a cluster that came up meanwhile) is stopped at once.
  const add = (fn: () => unknown) => (running === undefined ? void fns.push(fn) : void running.then(fn));
  return { add, run };
}
