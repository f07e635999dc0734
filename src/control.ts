// Messages between the primary and its workers about their life (not the store's: those carry the store's own
// tag; nor the metrics': prom-client's aggregator has its own). Shared: the primary sends them, each worker reads them.
export const CONTROL_TAG = 'express-cluster-sessions:control';

export type ControlMessage =
  /** Primary → worker: finish what you serve, then leave. */
  { tag: typeof CONTROL_TAG; cmd: 'drain' };

/** A worker exits with this code (sysexits' EX_CONFIG) when it cannot start as configured: replacing it would not help. */
export const EXIT_CONFIG = 78;

export const drainMessage: ControlMessage = { tag: CONTROL_TAG, cmd: 'drain' };

/** The control message `message` is, or undefined when it is someone else's. */
export function asControl(message: unknown): ControlMessage | undefined {
  const candidate = message as { tag?: unknown; cmd?: unknown } | null;
  return typeof candidate === 'object' && candidate?.tag === CONTROL_TAG && typeof candidate.cmd === 'string'
    ? (candidate as ControlMessage)
    : undefined;
}

export function isDrainMessage(message: unknown): boolean {
  return asControl(message)?.cmd === 'drain';
}
