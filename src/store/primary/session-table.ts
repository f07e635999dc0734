// The fast table, in the primary: the sessions with expiry and a least-recently-used bound, without an object per
// session. The Map holds each id's slot number (a small integer), and a slot's JSON and times live in flat
// arrays: heap per session is the id, the JSON and little else (`npm run bench:store` measures it). Times are
// kept to the second, as cookies keep them, in 32-bit unsigned integers (good until 2106). The use order is a
// list linked through two more arrays, so a read changes numbers only, never the Map (see #markUsed). It must
// behave exactly as plain-table.ts: the template's test/store/tables.test.ts runs both through the same tests.
import { lifetimeOf, maxSecond, parseRecord, tableOptions, toSeconds } from './sessions.js';
import type { SessionRecord, Sessions, StoredSession, TableOptions, TableSettings, UserSession } from './sessions.js';
import { UserIndex } from './user-index.js';

export class SessionTable implements Sessions {
  readonly #options: TableSettings;
  /** id → slot. Changed only when a session is added or removed. */
  readonly #slots = new Map<string, number>();
  /** slot → id, for the walks in use order (eviction, sweep, snapshots). */
  #sids: string[] = [];
  #json: string[] = [];
  /** Expires at the start of this second (since the epoch). */
  #expiresS = new Uint32Array(initialSlots);
  /** How far each use moves the expiry, in s: the lifetime the session was last saved or touched with. */
  #lifetimeS = new Uint32Array(initialSlots);
  /** Only with an absolute timeout: the second the session ends whatever its use (0: none). */
  #deadlineS: Uint32Array<ArrayBuffer> | undefined;
  /**
   * The use order, least recently used first: a list doubly linked through slot numbers (none: -1). Moving a
   * session to the end on every read by deleting and re-adding its Map key, as the plain table does, leaves a
   * deleted entry in the key's hash bucket each time, which every later add of that key walks until V8 rehashes
   * the Map: with a full table and a few busy sessions, each read walks thousands (the README's "fast table"
   * gives the figures).
   */
  #prev = new Int32Array(initialSlots);
  #next = new Int32Array(initialSlots);
  #head = none;
  #tail = none;
  /** Slots of removed sessions, handed out again first. */
  #free: number[] = [];
  /** Sessions with a user only: slot → user id. Empty (and never looked at) while no session has a user. */
  readonly #userOf = new Map<number, string>();
  readonly #users = new UserIndex();

  constructor(options: TableOptions = {}) {
    this.#options = tableOptions('SessionTable', options);
  }

  get size(): number {
    return this.#slots.size;
  }

  get users(): number {
    return this.#users.size;
  }

  read(sid: string): StoredSession | undefined {
    const now = Date.now();
    const slot = this.#live(sid, now);
    if (slot === undefined) return undefined;
    const expiresS = Math.min(toSeconds(now) + this.#lifetimeS[slot]!, this.#deadline(slot), maxSecond);
    this.#expiresS[slot] = expiresS;
    this.#markUsed(sid, slot, now);
    return [this.#json[slot]!, expiresS * 1000];
  }

  set(sid: string, json: string, expiresAt: number | null, userId: string | null = null): void {
    const now = Date.now();
    const expiry = expiresAt ?? now + this.#options.defaultTtlMs;
    if (expiry <= now) {
      // A session saved already expired is a logout in all but name.
      this.#remove(sid);
      return;
    }
    // The absolute deadline is set when a session is first saved, and kept by every later save.
    let deadlineS = Infinity;
    if (this.#options.absoluteTimeoutMs > 0) {
      const current = this.#live(sid, now);
      deadlineS = current === undefined ? toSeconds(now + this.#options.absoluteTimeoutMs) : this.#deadline(current);
    }
    this.#insert(sid, json, Math.min(toSeconds(expiry), deadlineS), lifetimeOf(expiry, now), deadlineS, userId, now);
  }

  touch(sid: string, expiresAt: number | null): void {
    const now = Date.now();
    const slot = this.#live(sid, now);
    if (slot === undefined) return;
    const expiry = expiresAt ?? now + this.#options.defaultTtlMs;
    if (expiry <= now) {
      this.#remove(sid);
      return;
    }
    const expiresS = Math.min(toSeconds(expiry), this.#deadline(slot));
    this.#expiresS[slot] = expiresS;
    this.#lifetimeS[slot] = lifetimeOf(expiry, now);
    if (expiresS * 1000 <= now) this.#remove(sid);
    else this.#markUsed(sid, slot, now);
  }

  destroy(sid: string): void {
    this.#remove(sid);
  }

  *entries(): Generator<[sid: string, json: string, expiresAt: number]> {
    const now = Date.now();
    const [sids, slots] = this.#inUseOrder();
    for (let i = 0; i < slots.length; i++) {
      const sid = sids[i]!;
      const slot = slots[i]!;
      const expiresAt = this.#expiresS[slot]! * 1000;
      if (this.#slots.get(sid) === slot && expiresAt > now) yield [sid, this.#json[slot]!, expiresAt];
    }
  }

  *records(): Generator<SessionRecord> {
    const now = Date.now();
    const [sids, slots] = this.#inUseOrder();
    for (let i = 0; i < slots.length; i++) {
      const sid = sids[i]!;
      const slot = slots[i]!;
      const expiresS = this.#expiresS[slot]!;
      const deadlineS = this.#deadline(slot);
      if (this.#slots.get(sid) === slot && expiresS * 1000 > now) {
        yield [sid, this.#json[slot]!, expiresS, this.#lifetimeS[slot]!, Number.isFinite(deadlineS) ? deadlineS : null, this.#userOf.get(slot) ?? null];
      }
    }
  }

  /**
   * The sessions as they are when a walk starts, least recently used first: their ids and slots. A walk yields
   * each once, in that order, skipping any removed meanwhile (its slot may hold another session by then), so a
   * caller may read, save or destroy sessions between two steps.
   */
  #inUseOrder(): [sids: string[], slots: Int32Array] {
    const sids: string[] = [];
    const slots = new Int32Array(this.#slots.size);
    for (let slot = this.#head, i = 0; slot !== none; slot = this.#next[slot]!, i++) {
      sids.push(this.#sids[slot]!);
      slots[i] = slot;
    }
    return [sids, slots];
  }

  restore(value: unknown): boolean {
    const record = parseRecord(value);
    if (record === undefined) return false;
    const [sid, json, expiresS, lifetime, deadlineS, userId] = record;
    // A restored session was last used, as far as the record tells, when its expiry was last rolled.
    if (expiresS * 1000 > Date.now()) this.#insert(sid, json, expiresS, lifetime, deadlineS ?? Infinity, userId, (expiresS - lifetime) * 1000);
    return true;
  }

  userSessions(userId: string, limit: number): UserSession[] {
    return this.#users.list(userId, limit, this.#found);
  }

  destroyUser(userId: string, except: string | null): number {
    return this.#users.endAll(userId, except, this.#found, (sid) => this.#remove(sid));
  }

  /** A live session's JSON and expiry, for the user index. */
  readonly #found = (sid: string): [string, number] | undefined => {
    const slot = this.#live(sid, Date.now());
    return slot === undefined ? undefined : [this.#json[slot]!, this.#expiresS[slot]! * 1000];
  };

  length(): number {
    this.sweep();
    return this.#slots.size;
  }

  clear(): void {
    this.#slots.clear();
    this.#sids = [];
    this.#json = [];
    this.#expiresS = new Uint32Array(initialSlots);
    this.#lifetimeS = new Uint32Array(initialSlots);
    this.#deadlineS = undefined;
    this.#prev = new Int32Array(initialSlots);
    this.#next = new Int32Array(initialSlots);
    this.#head = this.#tail = none;
    this.#free = [];
    this.#userOf.clear();
    this.#users.clear();
  }

  sweep(): number {
    const now = Date.now();
    let removed = 0;
    for (let slot = this.#head; slot !== none; ) {
      const next = this.#next[slot]!;
      if (this.#expiresS[slot]! * 1000 <= now) {
        this.#remove(this.#sids[slot]!);
        removed++;
      }
      slot = next;
    }
    return removed;
  }

  /** The slot of a live session; an expired one is removed on the way. */
  #live(sid: string, now: number): number | undefined {
    const slot = this.#slots.get(sid);
    if (slot === undefined || this.#expiresS[slot]! * 1000 > now) return slot;
    this.#remove(sid);
    return undefined;
  }

  #deadline(slot: number): number {
    return this.#deadlineS?.[slot] || Infinity;
  }

  #insert(sid: string, json: string, expiresS: number, lifetime: number, deadlineS: number, userId: string | null, usedAt: number): void {
    let slot = this.#slots.get(sid);
    if (slot === undefined) {
      slot = this.#allocate();
      this.#slots.set(sid, slot);
      this.#sids[slot] = sid;
      this.#append(slot);
    } else {
      this.#moveToEnd(slot);
    }
    this.#setUser(sid, slot, userId, usedAt);
    this.#json[slot] = json;
    this.#expiresS[slot] = expiresS;
    this.#lifetimeS[slot] = lifetime;
    if (Number.isFinite(deadlineS)) (this.#deadlineS ??= new Uint32Array(this.#expiresS.length))[slot] = deadlineS;
    else if (this.#deadlineS !== undefined) this.#deadlineS[slot] = 0;
    if (this.#slots.size > this.#options.maxSessions) this.#evictOldest();
  }

  /** Every path that removes a session comes here, so the use order and the user index stay exact. */
  #remove(sid: string): void {
    const slot = this.#slots.get(sid);
    if (slot === undefined) return;
    this.#slots.delete(sid);
    this.#unlink(slot);
    this.#json[slot] = ''; // let go of the JSON now
    this.#sids[slot] = '';
    this.#free.push(slot);
    if (this.#userOf.size > 0) this.#setUser(sid, slot, null, 0);
  }

  #allocate(): number {
    const reused = this.#free.pop();
    if (reused !== undefined) return reused;
    const slot = this.#json.length;
    this.#json.push('');
    this.#sids.push('');
    if (slot === this.#expiresS.length) {
      this.#expiresS = grown(this.#expiresS, Uint32Array);
      this.#lifetimeS = grown(this.#lifetimeS, Uint32Array);
      this.#prev = grown(this.#prev, Int32Array);
      this.#next = grown(this.#next, Int32Array);
      if (this.#deadlineS !== undefined) this.#deadlineS = grown(this.#deadlineS, Uint32Array);
    }
    return slot;
  }

  /** Links `slot` in as the most recently used. */
  #append(slot: number): void {
    this.#prev[slot] = this.#tail;
    this.#next[slot] = none;
    if (this.#tail === none) this.#head = slot;
    else this.#next[this.#tail] = slot;
    this.#tail = slot;
  }

  #unlink(slot: number): void {
    const prev = this.#prev[slot]!;
    const next = this.#next[slot]!;
    if (prev === none) this.#head = next;
    else this.#next[prev] = next;
    if (next === none) this.#tail = prev;
    else this.#prev[next] = prev;
  }

  #moveToEnd(slot: number): void {
    if (slot === this.#tail) return;
    this.#unlink(slot);
    this.#append(slot);
  }

  #markUsed(sid: string, slot: number, now: number): void {
    this.#moveToEnd(slot);
    if (this.#userOf.size === 0) return;
    const userId = this.#userOf.get(slot);
    if (userId !== undefined) this.#users.put(userId, sid, now);
  }

  /** Slot `slot` (session `sid`) now belongs to `userId` (null: to no user), last used at `usedAt`. */
  #setUser(sid: string, slot: number, userId: string | null, usedAt: number): void {
    const before = this.#userOf.size === 0 ? undefined : this.#userOf.get(slot);
    if (before !== undefined && before !== userId) {
      this.#userOf.delete(slot);
      this.#users.delete(before, sid);
    }
    if (userId === null) return;
    this.#userOf.set(slot, userId);
    this.#users.put(userId, sid, usedAt);
  }

  #evictOldest(): void {
    while (this.#slots.size > this.#options.maxSessions) this.#remove(this.#sids[this.#head]!);
  }
}

const initialSlots = 1024;
/** No slot: the end of the use order. */
const none = -1;

/** A copy of `array` twice as long. */
function grown<T extends Uint32Array<ArrayBuffer> | Int32Array<ArrayBuffer>>(array: T, Type: new (length: number) => T): T {
  const bigger = new Type(array.length * 2);
  bigger.set(array);
  return bigger;
}
