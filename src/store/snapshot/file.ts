// Sessions on disk, for the primary: written atomically (a temporary file, then rename) and read back at start.
// One JSON value a line: a header, then one record per session. A file that cannot be read is moved aside.
import { readFileSync, renameSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import type { Sessions } from '../primary/sessions.js';

const FORMAT = 'express-cluster-sessions/snapshot';
/**
 * 3: times in ms. 2: in seconds, with the session's user. 1: in seconds, no user. Files of every version load;
 * records of 1 and 2 are converted to ms (their sessions of version 1 have no user).
 */
const VERSION = 3;
const linesPerWrite = 1000;

/** Writes every live session of `table` to `file`, atomically; returns how many. Yields between chunks. */
export async function saveSnapshot(table: Sessions, file: string): Promise<number> {
  // Taken in one go: the table keeps serving while the file is written, and a read moves its session to the
  // end of the table's order, where a walk still under way would meet it twice.
  const records = Array.from(table.records());
  const temporary = `${file}.${process.pid}.tmp`;
  const handle = await open(temporary, 'w', 0o600);
  try {
    await handle.write(`${JSON.stringify({ format: FORMAT, version: VERSION, savedAt: new Date().toISOString() })}\n`);
    for (let i = 0; i < records.length; i += linesPerWrite) {
      await handle.write(`${records.slice(i, i + linesPerWrite).map((record) => JSON.stringify(record)).join('\n')}\n`);
    }
    await handle.sync();
  } catch (error) {
    await handle.close();
    await rm(temporary, { force: true });
    throw error;
  }
  await handle.close();
  await rename(temporary, file);
  return records.length;
}

export type LoadResult =
  | { outcome: 'missing' }
  | { outcome: 'loaded'; restored: number; expired: number }
  | { outcome: 'moved-aside'; reason: string; movedTo: string };

/** Fills `table` from `file`. A file that cannot be parsed is renamed `<file>.corrupt-<time>` and nothing is loaded. */
export function loadSnapshot(table: Sessions, file: string): LoadResult {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
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
