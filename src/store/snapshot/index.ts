// Snapshots, an optional feature of the primary: the sessions survive a restart of the primary. Loaded when the
// host starts, written every `intervalMs` and by `await host.close()` once the workers have exited. The core
// never imports this folder.
import type { Feature } from '../primary/host.js';
import { checkOptions, integer, text } from '../shared/options.js';
import { loadSnapshot, saveSnapshot, type LoadResult } from './file.js';

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
 * For ClusterStore.setup({ features: [snapshots({ file })] }). The host emits `snapshot-loaded` (LoadResult) on
 * the next tick, `snapshot-saved` (count) and `snapshot-failed` (error); a failed write is never thrown. A `file`
 * that is a symbolic link or not a regular file is a setting to fix: setup() throws, naming it, and writes
 * refused for that reason later (the file replaced by a link) are `snapshot-failed`.
 */
export function snapshots(options: SnapshotOptions): Feature<undefined> {
  checkOptions('snapshots()', options, { file: text, intervalMs: integer(1) });
  if (options.file === undefined) throw new TypeError('snapshots(): `file` is required, the path of the snapshot file');
  const { file, intervalMs = 60_000 } = options;
  return {
    name: 'snapshots',
    settings: { file, intervalMs },
    attach(host) {
      const loaded: LoadResult = loadSnapshot(host.sessions, file); // throws for a link: starting empty would hide it
      // setup() attaches before its caller can listen: tell on the next tick.
      process.nextTick(() => host.emit('snapshot-loaded', loaded));
      let saving: Promise<void> | undefined;
      const save = (): Promise<void> =>
        (saving ??= saveSnapshot(host.sessions, file).then(
          (count) => void host.emit('snapshot-saved', count),
          (error: unknown) => void host.emit('snapshot-failed', error),
        ).finally(() => (saving = undefined)));
      const timer = setInterval(() => void save(), intervalMs).unref();
      return {
        state: undefined,
        async close() {
          clearInterval(timer);
          await saving; // one write at a time: wait for a periodic one, then write the last
          await save();
        },
      };
    },
  };
}
