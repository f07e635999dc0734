// Sessions on disk, for the primary: written atomically (a temporary file, then rename) and read back at start,
// both in slices of a few milliseconds, so the primary serves the workers throughout. One JSON value a line: a
// header, one record per session, then the ids of sessions written above that ended while the file was written.
// A file that cannot be read is moved aside.
import { randomBytes } from 'node:crypto';
import { constants, lstatSync, readlinkSync, realpathSync, renameSync, statSync, type Stats } from 'node:fs';
import { lstat, open, rename, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Filling } from '../primary/host.js';
import type { Sessions, SessionWalk } from '../primary/sessions.js';
import { inSlices, stepSessions } from '../primary/slices.js';

const FORMAT = 'express-cluster-sessions/snapshot';
/**
 * 4: as 3, and after the records, `[sid]` lines: sessions written above that ended before the file was complete.
 * 3: times in ms. 2: in seconds, with the session's user. 1: in seconds, no user. Files of every version load;
 * records of 1 and 2 are converted to ms (their sessions of version 1 have no user).
 */
const VERSION = 4;
const linesPerWrite = 1000;
/** Lines restored between two looks at the clock while loading. */
const linesPerStep = 64;

/**
 * Writes the sessions of `table` to `file`, atomically, in slices; returns how many it wrote.
 *
 * What the file holds: every session the table held when the write began and still held when the walk reached
 * it, as it was then (see SessionWalk); not the sessions created during the write (the next snapshot has them);
 * and, after them, the ids of those written that ended (signed out, expired, evicted) before the file was
 * complete, so that loading it does not bring them back.
 *
 * The snapshot holds every session id, so the file is the store's alone, even in a directory others can write:
 * it is written to `<file>.<random>.tmp`, created with 'wx' (O_CREAT | O_EXCL: the file is new or the open
 * fails, and it fails on a symbolic link too, dangling or not, so nothing planted there is ever written through),
 * set to 0600, then renamed over `file` (rename replaces the entry and follows no link). On any failure the
 * temporary file is removed. A `file` that is a symbolic link is refused (see `checkPath`).
 */
export async function saveSnapshot(table: Sessions, file: string): Promise<number> {
  // The write begins now: the sessions held at this moment are the ones it may hold.
  const walk = table.walk({ ended: true });
  try {
    checkPath(file, await lstat(file).catch(orMissing));
    const temporary = `${file}.${randomBytes(12).toString('hex')}.tmp`;
    const handle = await open(temporary, 'wx', 0o600);
    let written: number;
    try {
      try {
        await handle.chmod(0o600); // open()'s mode goes through the umask: exactly owner-only, whatever the umask
        written = await writeRecords(handle, walk);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temporary, file);
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
    return written;
  } finally {
    walk.close();
  }
}

/** The header, the walk's sessions a slice at a time, then those of them that ended meanwhile; returns how many sessions. */
async function writeRecords(handle: FileHandle, walk: SessionWalk): Promise<number> {
  await handle.write(`${JSON.stringify({ format: FORMAT, version: VERSION, savedAt: new Date().toISOString() })}\n`);
  let written = 0;
  let lines: string[] = [];
  const take = (record: unknown) => void lines.push(JSON.stringify(record));
  for (let more = true; more; ) {
    await inSlices(() => (more = walk.step(stepSessions, take)) && lines.length < linesPerWrite);
    written += lines.length;
    if (lines.length > 0) await handle.write(`${lines.join('\n')}\n`);
    lines = [];
  }
  // The list grows while these lines are written: read its length each time round.
  for (let i = 0; i < walk.ended.length; i += linesPerWrite) {
    await handle.write(`${walk.ended.slice(i, i + linesPerWrite).map((sid) => JSON.stringify([sid])).join('\n')}\n`);
  }
  return written;
}

export type LoadResult =
  | { outcome: 'missing' }
  | { outcome: 'loaded'; restored: number; expired: number }
  | { outcome: 'moved-aside'; reason: string; movedTo: string }
  /** Not loaded and left in place: the file is not this user's alone (found since setup() checked it). */
  | { outcome: 'refused'; reason: string };

/**
 * Throws when `file` is a symbolic link or not a regular file, is not this user's alone, or lies in a directory
 * another user could replace it in (see `checkPath`, `checkDirectory`): a setting to fix, said at setup().
 */
export function checkSnapshotFile(file: string): void {
  checkDirectory(file);
  try {
    checkPath(file, lstatSync(file));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

/**
 * Fills `table` from `file`, in slices, while the host serves (StoreHost.fill): a record whose id the table holds
 * already (saved since the host started) or that `filling` says ended meanwhile is skipped. A file that cannot be
 * parsed is renamed `<file>.corrupt-<time>`, and what it had restored is removed again.
 */
export async function loadSnapshot(table: Sessions, file: string, filling: Filling): Promise<LoadResult> {
  let handle: FileHandle;
  try {
    // O_NOFOLLOW where there is one: a link put there since setup() checked fails to open (ELOOP), never read.
    handle = await open(file, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { outcome: 'missing' };
    return moveAside(file, `cannot be read (${(error as Error).message})`);
  }
  const loader = new Loader(table, filling);
  try {
    checkPath(file, await handle.stat()); // the file opened is the one checked: its owner and mode, again
  } catch (error) {
    await handle.close();
    return { outcome: 'refused', reason: (error as Error).message };
  }
  try {
    let rest = '';
    for await (const chunk of handle.createReadStream({ encoding: 'utf8', highWaterMark: 1 << 20, autoClose: false })) {
      const lines = (rest + (chunk as string)).split('\n');
      rest = lines.pop()!;
      if (!(await loader.restore(lines))) break;
    }
    if (loader.problem === undefined) await loader.restore([rest, '']);
  } catch (error) {
    loader.problem ??= `cannot be read (${(error as Error).message})`;
  } finally {
    await handle.close();
  }
  loader.problem ??= loader.version === undefined ? 'it is not a session snapshot of a version this store reads' : undefined;
  if (loader.problem === undefined) return { outcome: 'loaded', restored: loader.restored.length, expired: loader.expired };
  for (const sid of loader.restored) table.destroy(sid);
  return moveAside(file, loader.problem);
}

/** Restores lines of a snapshot, a slice at a time; stops at the first problem. */
class Loader {
  version: number | undefined;
  problem: string | undefined;
  /** Ids restored from the file: removed again if a later line is malformed. */
  readonly restored: string[] = [];
  expired = 0;
  #line = 0;

  constructor(
    readonly table: Sessions,
    readonly filling: Filling,
  ) {}

  /** Restores `lines` in slices; false once a problem was found. */
  async restore(lines: readonly string[]): Promise<boolean> {
    let i = 0;
    await inSlices(() => {
      for (const stop = Math.min(lines.length, i + linesPerStep); i < stop && this.problem === undefined; i++) this.#restoreLine(lines[i]!);
      return i < lines.length && this.problem === undefined;
    });
    return this.problem === undefined;
  }

  #restoreLine(line: string): void {
    if (line === '') return;
    this.#line++;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      this.problem = 'it is not valid JSON lines';
      return;
    }
    if (this.version === undefined) {
      const { format, version } = (value ?? {}) as { format?: unknown; version?: unknown };
      if (format !== FORMAT || typeof version !== 'number' || ![1, 2, 3, VERSION].includes(version)) this.problem = 'it is not a session snapshot of a version this store reads';
      else this.version = version;
      return;
    }
    if (!Array.isArray(value)) return void (this.problem = `record ${this.#line - 1} is malformed`);
    const [sid] = value as unknown[];
    // `[sid]`: a session written above that ended while the file was written.
    if (value.length === 1 && typeof sid === 'string' && this.version >= 4) return this.table.destroy(sid);
    if (typeof sid === 'string' && (this.table.has(sid) || this.filling.ended(sid))) return; // newer, or ended since
    const record = this.version >= 3 ? value : inMs(value);
    if (!this.table.restore!(record)) return void (this.problem = `record ${this.#line - 1} is malformed`);
    if ((record as number[])[2]! > Date.now()) this.restored.push(sid as string);
    else this.expired++;
  }
}

/** A record of versions 1 and 2 (times in seconds) with its times in ms; anything else as it is, for restore() to refuse. */
function inMs(record: unknown[]): unknown[] {
  const [sid, json, expiresS, lifetimeS, deadlineS, ...rest] = record;
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

/** A snapshot path that is not a regular file: a setting to fix, never a file to move aside. */
class SnapshotPathError extends Error {}

/**
 * Refuses a `file` that is a symbolic link (whoever can change the link would choose where the sessions are read
 * from and written to), not a regular file (a directory; a pipe would block the start), or not this user's alone:
 * owned by another user, or writable by others. A snapshot is trusted as it is read: a session in it is a signed-in
 * user to the app, so a file another user wrote (created first in a shared directory, say) would sign its author
 * in as anyone.
 */
function checkPath(file: string, stats: Stats | undefined): void {
  if (stats?.isSymbolicLink()) {
    throw new SnapshotPathError(`snapshots: ${file} is a symbolic link (to ${readlinkSync(file)}); give the real path of the snapshot file: the store neither reads nor writes one through a link`);
  }
  if (stats !== undefined && !stats.isFile()) throw new SnapshotPathError(`snapshots: ${file} is not a regular file; give the path of a file (it need not exist yet)`);
  const user = process.geteuid?.();
  if (stats === undefined || user === undefined) return; // Windows: no owners to compare
  if (stats.uid !== user) {
    throw new SnapshotPathError(
      `snapshots: ${file} belongs to user ${stats.uid}, not to this process's user (${user}): another user could have written the sessions in it; ` +
        'remove it (the store writes a new one) or give a path in a directory only this user can write',
    );
  }
  if ((stats.mode & 0o022) !== 0) {
    throw new SnapshotPathError(`snapshots: ${file} can be written by other users (mode ${(stats.mode & 0o777).toString(8)}): chmod 600 it, or remove it (the store writes a new one at 600)`);
  }
}

/**
 * Refuses a snapshot whose directory (its real path: a link on the way is followed) another user could replace the
 * file in: owned by someone else than this user or root, or writable by others without the sticky bit (with it, as
 * in /tmp, others cannot replace a file that is not theirs, and `checkPath` refuses one that is).
 */
function checkDirectory(file: string): void {
  const user = process.geteuid?.();
  if (user === undefined) return;
  let directory: string;
  try {
    directory = realpathSync(path.dirname(path.resolve(file)));
  } catch {
    return; // no such directory: the first write says so (snapshot-failed)
  }
  const stats = statSync(directory);
  if (stats.uid !== user && stats.uid !== 0) {
    throw new SnapshotPathError(`snapshots: the directory of ${file} (${directory}) belongs to user ${stats.uid}, who could replace the file: give a path in a directory of this user (${user}) or root`);
  }
  if ((stats.mode & 0o002) !== 0 && (stats.mode & 0o1000) === 0) {
    throw new SnapshotPathError(`snapshots: the directory of ${file} (${directory}) can be written by every user and has no sticky bit, so anyone could replace the file: give a path in a directory only this user can write`);
  }
}

function orMissing(error: NodeJS.ErrnoException): undefined {
  if (error.code === 'ENOENT') return undefined;
  throw error;
}
