// Snapshots, an optional feature of the primary: the sessions survive a restart of the primary. Loaded in slices
// while the host already serves, written every `intervalMs` (in slices too) and by `await host.close()` once the
// workers have exited. The core never imports this folder.
import type { Feature } from '../primary/host.js';
import { checkOptions, integer, text } from '../shared/options.js';
import { checkSnapshotFile, loadSnapshot, saveSnapshot, type LoadResult } from './file.js';

export type { LoadResult } from './file.js';

export interface SnapshotOptions {
  /**
   * The file (JSON lines, mode 0600): written to `<file>.<random>.tmp`, created anew (never a file or link found
   * there), then renamed over it. Its real path: a symbolic link is refused.
   */
  file: string;
  /** How often the snapshot is written, in ms. @default 60_000 */
  intervalMs?: number | undefined;
}

/**
 * For ClusterStore.setup({ features: [snapshots({ file })] }). The host emits `snapshot-loaded` (LoadResult) once
 * the file is loaded, `snapshot-saved` (count) and `snapshot-failed` (error); a failed write is never thrown. While
 * the file loads, the host serves: a request for a session not loaded yet waits for the load (StoreHost.fill),
 * and no snapshot is written. A `file` that is a symbolic link or not a regular file is a setting to fix: setup()
 * throws, naming it, and writes refused for that reason later (the file replaced by a link) are `snapshot-failed`.
 */
export function snapshots(options: SnapshotOptions): Feature<undefined> {
  checkOptions('snapshots()', options, { file: text, intervalMs: integer(1) });
  if (options.file === undefined) throw new TypeError('snapshots(): `file` is required, the path of the snapshot file');
  const { file, intervalMs = 60_000 } = options;
  return {
    name: 'snapshots',
    settings: { file, intervalMs },
    attach(host) {
      if (typeof host.sessions.restore !== 'function') {
        throw new TypeError('snapshots(): the `sessions` table passed to ClusterStore.setup() has no restore(record): a table needs it to load a snapshot (see primary/sessions.ts)');
      }
      checkSnapshotFile(file); // throws for a link: starting empty would hide it
      let loaded = false;
      // Always after this tick: setup() attaches before its caller can listen.
      const loading = host.fill((filling) => loadSnapshot(host.sessions, file, filling)).then((result: LoadResult) => {
        loaded = true;
        host.emit('snapshot-loaded', result);
      });
      let saving: Promise<void> | undefined;
      const save = (): Promise<void> =>
        (saving ??= saveSnapshot(host.sessions, file).then(
          (count) => void host.emit('snapshot-saved', count),
          (error: unknown) => void host.emit('snapshot-failed', error),
        ).finally(() => (saving = undefined)));
      // Not while loading: a file written then would hold part of the sessions, and replace the whole one.
      const timer = setInterval(() => void (loaded && save()), intervalMs).unref();
      return {
        state: undefined,
        async close() {
          clearInterval(timer);
          await loading;
          await saving; // one write at a time: wait for a periodic one, then write the last
          await save();
        },
      };
    },
  };
}
