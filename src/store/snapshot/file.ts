// Sessions on disk, for the primary: written atomically (a temporary file, then rename) and read back at start.
// One JSON value a line: a header, then one record per session. A file that cannot be read is moved aside.
import { randomBytes } from 'node:crypto';
import { closeSync, constants, lstatSync, openSync, readFileSync, readlinkSync, renameSync, type Stats } from 'node:fs';
import { lstat, open, rename, rm, type FileHandle } from 'node:fs/promises';
import type { Sessions } from '../primary/sessions.js';

const FORMAT = 'express-cluster-sessions/snapshot';
/**
 * 3: times in ms. 2: in seconds, with the session's user. 1: in seconds, no user. Files of every version load;
 * records of 1 and 2 are converted to ms (their sessions of version 1 have no user).
 */
const VERSION = 3;
const linesPerWrite = 1000;

/**
 * Writes every live session of `table` to `file`, atomically; returns how many. Yields between chunks.
 *
 * The snapshot holds every session id, so the file is the store's alone, even in a directory others can write:
 * it is written to `<file>.<random>.tmp`, created with 'wx' (O_CREAT | O_EXCL: the file is new or the open
 * fails, and it fails on a symbolic link too, dangling or not, so nothing planted there is ever written through),
 * set to 0600, then renamed over `file` (rename replaces the entry and follows no link). On any failure the
 * temporary file is removed. A `file` that is a symbolic link is refused (see `checkPath`).
 */
export async function saveSnapshot(table: Sessions, file: string): Promise<number> {
  // Taken in one go: the table keeps serving while the file is written, and a read moves its session to the
  // end of the table's order, where a walk still under way would meet it twice.
  const records = Array.from(table.records());
  checkPath(file, await lstat(file).catch(orMissing));
  const temporary = `${file}.${randomBytes(12).toString('hex')}.tmp`;
  const handle = await open(temporary, 'wx', 0o600);
  try {
    try {
      await handle.chmod(0o600); // open()'s mode goes through the umask: exactly owner-only, whatever the umask
      await writeRecords(handle, records);
    } finally {
      await handle.close();
    }
    await rename(temporary, file);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
  return records.length;
}

export type LoadResult =
  | { outcome: 'missing' }
  | { outcome: 'loaded'; restored: number; expired: number }
  | { outcome: 'moved-aside'; reason: string; movedTo: string };

/**
 * Fills `table` from `file`. A file that cannot be parsed is renamed `<file>.corrupt-<time>` and nothing is
 * loaded. Throws when `file` is a symbolic link or not a regular file (see `checkPath`): a setting to fix.
 */
export function loadSnapshot(table: Sessions, file: string): LoadResult {
  let text: string;
  try {
    text = readSnapshotFile(file);
  } catch (error) {
    if (error instanceof SnapshotPathError) throw error;
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { outcome: 'missing' };
    return moveAside(file, `cannot be read (${(error as Error).message})`);
  }
  const lines = text.split('\n').filter((line) => line.length > 0);
  const records: unknown[] = [];
  try {
    const header = JSON.parse(lines[0] ?? 'null') as { format?: unknown; version?: unknown } | null;
    const version = header?.version;
    if (header?.format !== FORMAT || (version !== 1 && version !== 2 && version !== VERSION)) return moveAside(file, 'it is not a session snapshot of a version this store reads');
    for (const line of lines.slice(1)) records.push(version === VERSION ? JSON.parse(line) : inMs(JSON.parse(line)));
  } catch {
    return moveAside(file, 'it is not valid JSON lines');
  }
  const before = table.size;
  for (const [i, record] of records.entries()) {
    if (!table.restore(record)) {
      table.clear();
      return moveAside(file, `record ${i + 1} is malformed`);
    }
  }
  const restored = table.size - before;
  return { outcome: 'loaded', restored, expired: records.length - restored };
}

/** A record of versions 1 and 2 (times in seconds) with its times in ms; anything else as it is, for restore() to refuse. */
function inMs(record: unknown): unknown {
  if (!Array.isArray(record)) return record;
  const [sid, json, expiresS, lifetimeS, deadlineS, ...rest] = record as unknown[];
  const ms = (value: unknown) => (typeof value === 'number' ? value * 1000 : value);
  return [sid, json, ms(expiresS), ms(lifetimeS), ms(deadlineS), ...rest];
}

function moveAside(file: string, reason: string): LoadResult {
  const movedTo = `${file}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  try {
    renameSync(file, movedTo);
  } catch {
    return { outcome: 'moved-aside', reason: `${reason}; moving it aside failed too`, movedTo: file };
  }
  return { outcome: 'moved-aside', reason, movedTo };
}

async function writeRecords(handle: FileHandle, records: readonly unknown[]): Promise<void> {
  await handle.write(`${JSON.stringify({ format: FORMAT, version: VERSION, savedAt: new Date().toISOString() })}\n`);
  for (let i = 0; i < records.length; i += linesPerWrite) {
    await handle.write(`${records.slice(i, i + linesPerWrite).map((record) => JSON.stringify(record)).join('\n')}\n`);
  }
  await handle.sync();
}

/** A snapshot path that is not a regular file: a setting to fix, never a file to move aside. */
class SnapshotPathError extends Error {}

/**
 * Refuses a `file` that is a symbolic link (whoever can change the link would choose where the sessions are
 * read from and written to) or not a regular file (a directory; a pipe would block the start).
 */
function checkPath(file: string, stats: Stats | undefined): void {
  if (stats?.isSymbolicLink()) {
    throw new SnapshotPathError(`snapshots: ${file} is a symbolic link (to ${readlinkSync(file)}); give the real path of the snapshot file: the store neither reads nor writes one through a link`);
  }
  if (stats !== undefined && !stats.isFile()) throw new SnapshotPathError(`snapshots: ${file} is not a regular file; give the path of a file (it need not exist yet)`);
}

function readSnapshotFile(file: string): string {
  checkPath(file, lstatSync(file)); // ENOENT when there is no file yet
  // O_NOFOLLOW where there is one: a link put there since the check fails to open (ELOOP) instead of being read.
  const fd = openSync(file, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
  try {
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}

function orMissing(error: NodeJS.ErrnoException): undefined {
  if (error.code === 'ENOENT') return undefined;
  throw error;
}
