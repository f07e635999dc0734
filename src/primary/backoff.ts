// How long the primary waits before replacing a worker that died: at once after a healthy run, doubling
// delays for workers that keep dying young (a crash at boot must not spin the CPU).

export interface BackoffOptions {
  /** Delay after the second quick death in a row, in ms; doubles for each one after. @default 100 */
  initialMs?: number;
  /** Longest delay, in ms. @default 30_000 */
  maxMs?: number;
  /** A worker that lived this long was healthy: the count of quick deaths starts over, in ms. @default 10_000 */
  healthyAfterMs?: number;
}

export class RestartBackoff {
  readonly #initialMs: number;
  readonly #maxMs: number;
  readonly #healthyAfterMs: number;
  #quickDeaths = 0;

  constructor(options: BackoffOptions = {}) {
    this.#initialMs = options.initialMs ?? 100;
    this.#maxMs = options.maxMs ?? 30_000;
    this.#healthyAfterMs = options.healthyAfterMs ?? 10_000;
  }

  /** Quick deaths in a row, the one just recorded included. */
  get quickDeaths(): number {
    return this.#quickDeaths;
  }

  /** Records the death of a worker that lived `uptimeMs`; returns the delay before its replacement, in ms. */
  next(uptimeMs: number): number {
    if (uptimeMs >= this.#healthyAfterMs) this.#quickDeaths = 0;
    const delayMs = this.#quickDeaths === 0 ? 0 : Math.min(this.#maxMs, this.#initialMs * 2 ** (this.#quickDeaths - 1));
    this.#quickDeaths++;
    return delayMs;
  }
}
