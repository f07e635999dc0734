// The fast table, in the primary: the sessions with expiry and their bounds, without an object per session. The
// Map holds each id's slot number (a small integer), and a slot's JSON and times live in flat arrays: heap per
// session is the id, the JSON and little else (`npm run bench:store` measures it). Times are ms since the epoch,
// in Float64Arrays. The use order is two lists linked through two more arrays (sessions without a user, sessions
// with one), so a read changes numbers only, never the Map (see #markUsed), and eviction takes the least recently
// used session without a user before any with one, in one step. It must behave exactly as plain-table.ts: the
// folder's test/sessions-suite.ts runs both through the same tests.
import { costOf, expiryOf, maxTime, parseRecord, tableOptions, walkRecords } from './sessions.js';
import type { Bounds, Evictions, SessionRecord, Sessions, SessionWalk, StoredSession, TableOptions, TableSettings, UserSession } from './sessions.js';
import { UserLists } from './user-index.js';

/** The two use orders: sessions without a user are evicted first. */
const anonymous = 0;
const signedIn = 1;
type Order = typeof anonymous | typeof signedIn;
const orders = [anonymous, signedIn] as const;

/**
 * Where a walk is: slots below `cursor` are visited; slots from `end` on were handed out after it began, and so
 * were the slots in `fresh` (freed slots given to new sessions during the walk): neither is visited, nor listed
 * as ended.
 */
interface WalkState {
  /**
   * The use order when it began: a copy of the lists' links (without a user, then with one), which later reads and
   * saves do not move; `cursor` is the next slot to visit in it (none: the walk is done).
   */
  readonly next: Int32Array;
  readonly heads: readonly number[];
  list: number;
  cursor: number;
  readonly end: number;
  readonly fresh: Set<number>;
  /** Ids of visited sessions removed since, and the slots visited; undefined when the walk does not ask. */
  readonly ended: string[] | undefined;
  readonly visited: Uint8Array | undefined;
}

export class SessionTable implements Sessions {
  readonly #options: TableSettings;
  /** id → slot. Changed only when a session is added or removed. */
  readonly #slots = new Map<string, number>();
  /** slot → id, for the walks in use order (eviction, sweep, snapshots). */
  #sids: string[] = [];
  #json: string[] = [];
  #expiresAt = new Float64Array(initialSlots);
  /** How far each use moves the expiry, in ms: the lifetime the session was last saved or touched with. */
  #lifetime = new Float64Array(initialSlots);
  /** Only with an absolute timeout: when the session ends whatever its use (0: none). */
  #deadline: Float64Array<ArrayBuffer> | undefined;
  /**
   * The use orders, least recently used first: lists doubly linked through slot numbers (none: -1), one per
   * Order. Moving a session to the end on every read by deleting and re-adding its Map key, as the plain table
   * does, leaves a deleted entry in the key's hash bucket each time, which every later add of that key walks until
   * V8 rehashes the Map: with a full table and a few busy sessions, each read walks thousands (the README's "fast
   * table" gives the figures).
   */
  #prev = new Int32Array(initialSlots);
  #next = new Int32Array(initialSlots);
  readonly #head: [number, number] = [none, none];
  readonly #tail: [number, number] = [none, none];
  /** Slots of removed sessions, handed out again first. */
  #free: number[] = [];
  #bytes = 0;
  readonly #evictions: Evictions = { count: 0, bytes: 0, perUser: 0 };
  /** Sessions with a user only; never looked at while no session has one. */
  readonly #users = new UserLists();
  /** Walks under way (see walk()). */
  readonly #walks = new Set<WalkState>();

  constructor(options: TableOptions = {}) {
    this.#options = tableOptions('SessionTable', options);
  }

  get size(): number {
    return this.#slots.size;
  }

  get users(): number {
    return this.#users.users;
  }

  get bytes(): number {
    return this.#bytes;
  }

  get evictions(): Readonly<Evictions> {
    return this.#evictions;
  }

  get bounds(): Readonly<Bounds> {
    return this.#options;
  }

  read(sid: string): StoredSession | undefined {
    const now = Date.now();
    const slot = this.#live(sid, now);
    if (slot === undefined) return undefined;
    const expiresAt = Math.min(now + this.#lifetime[slot]!, this.#deadlineOf(slot), maxTime);
    this.#expiresAt[slot] = expiresAt;
    this.#markUsed(slot, now);
    return [this.#json[slot]!, expiresAt];
  }

  set(sid: string, json: string, expiresAt: number | null, userId: string | null = null, lifetimeMs?: number | null): void {
    const now = Date.now();
    const [expiry, lifetime] = expiryOf(expiresAt, lifetimeMs, now, this.#options.defaultTtlMs);
    if (expiry <= now) {
      // A session saved already expired is a logout in all but name.
      this.#remove(sid);
      return;
    }
    // The absolute deadline is set when a session is first saved, and kept by every later save.
    let deadline = Infinity;
    if (this.#options.absoluteTimeoutMs > 0) {
      const current = this.#live(sid, now);
      deadline = current === undefined ? now + this.#options.absoluteTimeoutMs : this.#deadlineOf(current);
    }
    this.#insert(sid, json, Math.min(expiry, deadline), lifetime, deadline, userId, now);
  }

  update(sid: string, json: string, expiresAt: number | null, userId: string | null = null, lifetimeMs?: number | null): boolean {
    if (this.#live(sid, Date.now()) === undefined) return false;
    this.set(sid, json, expiresAt, userId, lifetimeMs);
    return true;
  }

  touch(sid: string, expiresAt: number | null, lifetimeMs?: number | null): void {
    const now = Date.now();
    const slot = this.#live(sid, now);
    if (slot === undefined) return;
    const [expiry, lifetime] = expiryOf(expiresAt, lifetimeMs, now, this.#options.defaultTtlMs);
    const capped = Math.min(expiry, this.#deadlineOf(slot));
    if (capped <= now) {
      this.#remove(sid);
      return;
    }
    this.#expiresAt[slot] = capped;
    this.#lifetime[slot] = lifetime;
    this.#markUsed(slot, now);
  }

  destroy(sid: string): void {
    this.#remove(sid);
  }

  has(sid: string): boolean {
    return this.#live(sid, Date.now()) !== undefined;
  }

  /**
   * Walks the sessions in the use order they had when it began (without a user, then with one: so a snapshot
   * written from it restores that order), `max` at a time. That order is a copy of the lists' links, one typed
   * array copied in one go (4 bytes a slot: about a millisecond for a million), which later reads do not move; and a
   * slot keeps its session for as long as it is held. A new session takes a slot past the walk's end, or a freed
   * one, which the walk then notes in `fresh` (see #allocate): so a slot it reaches holds the session that was there
   * when it began, or none it visits. The cost of a walk under way: that copy, a byte a slot when it lists what
   * ended, and the set of freed slots handed out again meanwhile.
   */
  walk(options: { ended?: boolean } = {}): SessionWalk {
    const end = this.#json.length;
    const heads = [...this.#head];
    const state: WalkState = {
      next: this.#next.slice(0, end),
      heads,
      list: 0,
      cursor: heads[0]!,
      end,
      fresh: new Set(),
      ended: options.ended ? [] : undefined,
      visited: options.ended ? new Uint8Array(end) : undefined,
    };
    this.#walks.add(state);
    return {
      step: (max, visit) => this.#step(state, max, visit),
      ended: state.ended ?? [],
      close: () => void this.#walks.delete(state),
    };
  }

  #step(state: WalkState, max: number, visit: ((record: SessionRecord) => void) | undefined): boolean {
    const now = Date.now();
    for (let visits = 0; visits < max; visits++) {
      while (state.cursor === none && state.list < state.heads.length - 1) state.cursor = state.heads[++state.list]!;
      const slot = state.cursor;
      if (slot === none) break;
      state.cursor = state.next[slot]!;
      const sid = this.#sids[slot];
      if (sid === undefined || this.#slots.get(sid) !== slot || state.fresh.has(slot)) continue; // ended, or new since
      if (this.#expiresAt[slot]! <= now) {
        this.#remove(sid); // not marked visited yet: an expired session is not one the walk visited
        continue;
      }
      visit?.(this.#record(slot));
      if (state.visited !== undefined) state.visited[slot] = 1; // from now on, its removal is listed (see #remove)
    }
    while (state.cursor === none && state.list < state.heads.length - 1) state.cursor = state.heads[++state.list]!;
    if (state.cursor !== none) return true;
    // A walk that lists what ended keeps listing until it is closed (the snapshot writes the list after its last line).
    if (state.ended === undefined) this.#walks.delete(state);
    return false;
  }

  #record(slot: number): SessionRecord {
    const deadline = this.#deadlineOf(slot);
    const user = this.#users.empty ? undefined : this.#users.userOf(slot);
    return [this.#sids[slot]!, this.#json[slot]!, this.#expiresAt[slot]!, this.#lifetime[slot]!, Number.isFinite(deadline) ? deadline : null, user ?? null];
  }

  *entries(): Generator<[sid: string, json: string, expiresAt: number]> {
    for (const [sid, json, expiresAt] of walkRecords(this.walk())) yield [sid, json, expiresAt];
  }

  restore(value: unknown): boolean {
    const record = parseRecord(value);
    if (record === undefined) return false;
    const [sid, json, expiresAt, lifetime, deadline, userId] = record;
    // A restored session was last used, as far as the record tells, when its expiry was last rolled.
    if (expiresAt > Date.now()) this.#insert(sid, json, expiresAt, lifetime, deadline ?? Infinity, userId, expiresAt - lifetime);
    return true;
  }

  userSessions(userId: string, limit: number): UserSession[] {
    const found: UserSession[] = [];
    const now = Date.now();
    for (const slot of this.#users.newestFirst(userId)) {
      if (found.length >= limit) break;
      const sid = this.#sids[slot]!;
      if (this.#live(sid, now) !== undefined) found.push([sid, this.#json[slot]!, this.#expiresAt[slot]!, this.#users.usedAt(slot)]);
    }
    return found;
  }

  destroyUser(userId: string, except: string | null): number {
    let ended = 0;
    const now = Date.now();
    for (const slot of this.#users.newestFirst(userId)) {
      const sid = this.#sids[slot]!;
      if (sid === except || this.#live(sid, now) === undefined) continue;
      this.#remove(sid);
      ended++;
    }
    return ended;
  }

  length(): number {
    this.sweep();
    return this.#slots.size;
  }

  clear(): void {
    // Every walk is done: nothing it was to visit is held any more; what it visited has ended.
    for (const walk of this.#walks) {
      for (let slot = 0; walk.visited !== undefined && slot < walk.visited.length; slot++) {
        const sid = this.#sids[slot];
        if (walk.visited[slot] && sid !== undefined && this.#slots.get(sid) === slot && !walk.fresh.has(slot)) walk.ended!.push(sid);
      }
      walk.cursor = none;
      walk.list = walk.heads.length - 1;
    }
    this.#walks.clear();
    this.#slots.clear();
    this.#sids = [];
    this.#json = [];
    this.#expiresAt = new Float64Array(initialSlots);
    this.#lifetime = new Float64Array(initialSlots);
    this.#deadline = undefined;
    this.#prev = new Int32Array(initialSlots);
    this.#next = new Int32Array(initialSlots);
    this.#head.fill(none);
    this.#tail.fill(none);
    this.#free = [];
    this.#bytes = 0;
    this.#users.clear();
  }

  sweep(): number {
    const now = Date.now();
    let removed = 0;
    for (const order of orders) {
      for (let slot = this.#head[order]; slot !== none; ) {
        const next = this.#next[slot]!;
        if (this.#expiresAt[slot]! <= now) {
          this.#remove(this.#sids[slot]!);
          removed++;
        }
        slot = next;
      }
    }
    return removed;
  }

  /** The slot of a live session; an expired one is removed on the way. */
  #live(sid: string, now: number): number | undefined {
    const slot = this.#slots.get(sid);
    if (slot === undefined || this.#expiresAt[slot]! > now) return slot;
    this.#remove(sid);
    return undefined;
  }

  #deadlineOf(slot: number): number {
    return this.#deadline?.[slot] || Infinity;
  }

  #insert(sid: string, json: string, expiresAt: number, lifetime: number, deadline: number, userId: string | null, usedAt: number): void {
    let slot = this.#slots.get(sid);
    const order: Order = userId === null ? anonymous : signedIn;
    if (slot === undefined) {
      slot = this.#allocate();
      this.#slots.set(sid, slot);
      this.#sids[slot] = sid;
      this.#bytes += costOf(sid, json);
    } else {
      this.#unlink(slot);
      this.#bytes += 2 * (json.length - this.#json[slot]!.length);
    }
    this.#append(slot, order);
    if (userId !== null || !this.#users.empty) this.#users.assign(slot, userId, usedAt);
    this.#json[slot] = json;
    this.#expiresAt[slot] = expiresAt;
    this.#lifetime[slot] = lifetime;
    if (Number.isFinite(deadline)) (this.#deadline ??= new Float64Array(this.#expiresAt.length))[slot] = deadline;
    else if (this.#deadline !== undefined) this.#deadline[slot] = 0;
    if (userId !== null && this.#users.count(userId) > this.#options.maxSessionsPerUser) this.#endOldestOf(userId);
    if (this.#slots.size > this.#options.maxSessions || this.#bytes > this.#options.maxTotalBytes) this.#evict(slot);
  }

  /**
   * The user is over maxSessionsPerUser: their expired sessions go first (they should not count), then their least
   * recently used (never the one just saved: it is the most recent). A walk of that user's sessions, at most the cap.
   */
  #endOldestOf(userId: string): void {
    const now = Date.now();
    for (const slot of this.#users.newestFirst(userId)) this.#live(this.#sids[slot]!, now);
    while (this.#users.count(userId) > this.#options.maxSessionsPerUser) {
      this.#remove(this.#sids[this.#users.oldest(userId)]!);
      this.#evictions.perUser++;
    }
  }

  /**
   * Over a bound: the least recently used session without a user goes, then (none left) the least recently used
   * with one. Never `kept`, the session just saved: its save would be a lie. So a flood of new sessions without a
   * user evicts none with a user while another without one remains.
   */
  #evict(kept: number): void {
    while (this.#slots.size > this.#options.maxSessions || this.#bytes > this.#options.maxTotalBytes) {
      let victim = this.#head[anonymous];
      if (victim === kept) victim = this.#next[victim]!;
      if (victim === none) victim = this.#head[signedIn] === kept ? this.#next[kept]! : this.#head[signedIn];
      if (victim === none) return;
      if (this.#slots.size > this.#options.maxSessions) this.#evictions.count++;
      else this.#evictions.bytes++;
      this.#remove(this.#sids[victim]!);
    }
  }

  /** Every path that removes a session comes here, so the use orders, the byte count and the user lists stay exact. */
  #remove(sid: string): void {
    const slot = this.#slots.get(sid);
    if (slot === undefined) return;
    this.#slots.delete(sid);
    this.#unlink(slot);
    this.#bytes -= costOf(sid, this.#json[slot]!);
    this.#json[slot] = ''; // let go of the JSON now
    this.#sids[slot] = '';
    this.#free.push(slot);
    if (!this.#users.empty) this.#users.remove(slot);
    if (this.#walks.size > 0) for (const walk of this.#walks) if (walk.visited?.[slot] && !walk.fresh.has(slot)) walk.ended!.push(sid);
  }

  #allocate(): number {
    const reused = this.#free.pop();
    if (reused !== undefined) {
      if (this.#walks.size > 0) for (const walk of this.#walks) if (reused < walk.end) walk.fresh.add(reused);
      return reused;
    }
    const slot = this.#json.length;
    this.#json.push('');
    this.#sids.push('');
    if (slot === this.#expiresAt.length) {
      this.#expiresAt = grown(this.#expiresAt, Float64Array);
      this.#lifetime = grown(this.#lifetime, Float64Array);
      this.#prev = grown(this.#prev, Int32Array);
      this.#next = grown(this.#next, Int32Array);
      if (this.#deadline !== undefined) this.#deadline = grown(this.#deadline, Float64Array);
    }
    return slot;
  }

  /** Links `slot` in as the most recently used of `order`; #orderOf tells later which list it is in. */
  #append(slot: number, order: Order): void {
    const tail = this.#tail[order];
    this.#prev[slot] = tail;
    this.#next[slot] = none;
    if (tail === none) this.#head[order] = slot;
    else this.#next[tail] = slot;
    this.#tail[order] = slot;
  }

  #unlink(slot: number): void {
    const order = this.#orderOf(slot);
    const prev = this.#prev[slot]!;
    const next = this.#next[slot]!;
    if (prev === none) this.#head[order] = next;
    else this.#next[prev] = next;
    if (next === none) this.#tail[order] = prev;
    else this.#prev[next] = prev;
  }

  /** Which list `slot` is in: a session is in the signed-in order exactly when the user lists know it. */
  #orderOf(slot: number): Order {
    return this.#users.empty || this.#users.userOf(slot) === undefined ? anonymous : signedIn;
  }

  #markUsed(slot: number, now: number): void {
    const order = this.#orderOf(slot);
    if (slot !== this.#tail[order]) {
      this.#unlink(slot);
      this.#append(slot, order);
    }
    if (order === signedIn) this.#users.used(slot, now);
  }
}

const initialSlots = 1024;
/** No slot: the end of a use order. */
const none = -1;

/** A copy of `array` twice as long. */
function grown<T extends Float64Array<ArrayBuffer> | Int32Array<ArrayBuffer>>(array: T, Type: new (length: number) => T): T {
  const bigger = new Type(array.length * 2);
  bigger.set(array);
  return bigger;
}
