// Messages the primary sends its workers about their life (not the store's: those carry the store's own tag).
export const CONTROL_TAG = 'express-cluster-sessions:control';

export interface ControlMessage {
  tag: typeof CONTROL_TAG;
  cmd: 'drain';
}

/** A worker exits with this code (sysexits' EX_CONFIG) when it cannot start as configured: replacing it would not help. */
export const EXIT_CONFIG = 78;

export const drainMessage: ControlMessage = { tag: CONTROL_TAG, cmd: 'drain' };

export function isDrainMessage(message: unknown): boolean {
  const candidate = message as Partial<ControlMessage> | null;
  return typeof candidate === 'object' && candidate?.tag === CONTROL_TAG && candidate.cmd === 'drain';
}
