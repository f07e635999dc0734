// The primary's process manager: forks the workers, replaces those that die (with a backoff), replaces them
// all one at a time on reload, and drains them all on shutdown. Runs in the primary; knows no Express.
import cluster, { type Worker } from 'node:cluster';
import { once } from 'node:events';
import { RestartBackoff } from './backoff.js';
import { drainMessage, EXIT_CONFIG } from '../control.js';
import type { Logger } from '../log.js';

export interface SupervisorOptions {
  workers: number;
  /** Environment every worker gets on top of the primary's. */
  env: Record<string, string>;
  /** On shutdown, workers still running after this are killed, in ms. */
  shutdownTimeoutMs: number;
  log: Logger;
  /** Called once every worker is gone after shutdown: 0 when they all drained, 1 when some were killed. */
  onStopped: (code: number) => void;
}

export class Supervisor {
  readonly #options: SupervisorOptions;
  readonly #startedAt = new Map<Worker, number>();
  /** Workers leaving on purpose (reload): their exit is not a death to replace. */
  readonly #retiring = new Set<Worker>();
  readonly #backoff = new RestartBackoff();
  #stopping = false;
  #forced = false;
  #reloading = false;

  constructor(options: SupervisorOptions) {
    this.#options = options;
  }

  get workerCount(): number {
    return this.#startedAt.size;
  }

  start(): void {
    const log = this.#options.log;
    // At info level one line per start (listening: ready to serve) and one per exit; `online` only for debugging.
    cluster.on('online', (worker) => log.debug(about(worker), `worker ${worker.id} (pid ${worker.process.pid}) online`));
    cluster.on('listening', (worker, address) => {
      const url = `http://localhost:${address.port}`;
      log.info({ ...about(worker), url }, `worker ${worker.id} (pid ${worker.process.pid}) listening on ${url}`);
    });
    cluster.on('exit', (worker, code, signal) => this.#onExit(worker, code, signal));
    for (let i = 0; i < this.#options.workers; i++) this.#fork();
  }

  /** Replaces the workers one at a time, each new one listening before the old one drains: no request refused. */
  async reload(): Promise<void> {
    if (this.#stopping || this.#reloading) return;
    this.#reloading = true;
    const old = [...this.#startedAt.keys()];
    this.#options.log.info({ workers: old.length }, `reload: replacing ${plural(old.length, 'worker')} one at a time`);
    try {
      for (const worker of old) {
        if (this.#stopping) return;
        // One that died meanwhile has been replaced already: nothing to swap.
        if (worker.isDead()) continue;
        const fresh = this.#fork();
        if (fresh === undefined || !(await listeningOrExit(fresh))) {
          this.#options.log.error('reload: a new worker failed to start; keeping the remaining old workers');
          return;
        }
        if (worker.isDead()) {
          // It died while the new one started, and was replaced too: one worker too many now.
          this.#retiring.add(fresh);
          const extra = once(fresh, 'exit');
          fresh.send(drainMessage);
          await extra;
          continue;
        }
        this.#retiring.add(worker);
        const exited = once(worker, 'exit');
        if (worker.isConnected()) worker.send(drainMessage);
        await exited;
      }
      this.#options.log.info('reload: done');
    } finally {
      this.#reloading = false;
    }
  }

  /** Drains every worker; kills those still running after shutdownTimeoutMs. A second call kills at once. */
  shutdown(reason: string): void {
    const log = this.#options.log;
    if (this.#stopping) {
      log.warn({ signal: reason }, `${reason} again: killing ${plural(this.#startedAt.size, 'worker')} now`);
      this.#killAll();
      return;
    }
    this.#stopping = true;
    log.info({ signal: reason }, `${reason}: draining ${plural(this.#startedAt.size, 'worker')} (at most ${this.#options.shutdownTimeoutMs} ms)`);
    if (this.#startedAt.size === 0) {
      this.#options.onStopped(0);
      return;
    }
    for (const worker of this.#startedAt.keys()) if (worker.isConnected()) worker.send(drainMessage);
    setTimeout(() => {
      log.error(`shutdown timeout (${this.#options.shutdownTimeoutMs} ms, SHUTDOWN_TIMEOUT_MS): killing ${plural(this.#startedAt.size, 'worker')}`);
      this.#killAll();
    }, this.#options.shutdownTimeoutMs).unref();
  }

  #fork(): Worker | undefined {
    if (this.#stopping) return undefined;
    const worker = cluster.fork(this.#options.env);
    this.#startedAt.set(worker, Date.now());
    return worker;
  }

  #onExit(worker: Worker, code: number, signal: string | null): void {
    const log = this.#options.log;
    const uptimeMs = Date.now() - (this.#startedAt.get(worker) ?? Date.now());
    this.#startedAt.delete(worker);
    const expected = this.#stopping || this.#retiring.has(worker);
    log[expected ? 'info' : 'error'](
      { ...about(worker), code, signal, uptimeMs },
      `worker ${worker.id} (pid ${worker.process.pid}) exited (${signal ?? `code ${code}`}) after ${uptimeMs} ms`,
    );
    if (this.#stopping) {
      if (this.#startedAt.size === 0) this.#options.onStopped(this.#forced ? 1 : 0);
      return;
    }
    if (this.#retiring.delete(worker)) return;
    if (code === EXIT_CONFIG) {
      log.fatal('a worker cannot start as configured (see its message above): stopping');
      this.#stopping = true;
      this.#killAll();
      if (this.#startedAt.size === 0) this.#options.onStopped(1);
      return;
    }
    const delayMs = this.#backoff.next(uptimeMs);
    if (this.#backoff.quickDeaths >= 3) log.error(`workers keep dying soon after start (${this.#backoff.quickDeaths} in a row): check the errors above`);
    log.info({ workerId: worker.id, delayMs }, `replacing worker ${worker.id}${delayMs > 0 ? ` in ${delayMs} ms` : ''}`);
    setTimeout(() => this.#fork(), delayMs);
  }

  #killAll(): void {
    this.#forced = true;
    for (const worker of this.#startedAt.keys()) worker.process.kill('SIGKILL');
  }
}

/** True once the worker listens; false if it exits first. */
function listeningOrExit(worker: Worker): Promise<boolean> {
  return new Promise((resolve) => {
    const onListening = () => settle(true);
    const onExit = () => settle(false);
    const settle = (listening: boolean) => {
      worker.off('listening', onListening);
      worker.off('exit', onExit);
      resolve(listening);
    };
    worker.once('listening', onListening);
    worker.once('exit', onExit);
  });
}

/** The fields that name a worker in the primary's log lines. */
function about(worker: Worker): { workerId: number; workerPid: number | undefined } {
  return { workerId: worker.id, workerPid: worker.process.pid };
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}
