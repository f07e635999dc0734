// Messages between the primary and its workers about their life and the app's metrics (not the store's: those
// carry the store's own tag).
export const CONTROL_TAG = 'express-cluster-sessions:control';

export type ControlMessage =
  | { tag: typeof CONTROL_TAG; cmd: 'drain' }
  /** Worker → primary: render the metrics of the whole cluster. */
  | { tag: typeof CONTROL_TAG; cmd: 'metrics'; id: number }
  /** Primary → worker: the answer to `metrics` (Prometheus text, or an error). */
  | { tag: typeof CONTROL_TAG; cmd: 'metrics-result'; id: number; contentType: string; body: string; error?: string };

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
