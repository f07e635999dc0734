// Which sessions belong to which user, for the fast table in the primary: per user, a list of that user's
// sessions in use order, linked through slot numbers, so that listing the most recent `limit` costs `limit`
// steps, ending the least recently used (the per-user cap) costs one, and ending them all costs that user's
// sessions, never the table's. Only sessions with a user are in it: one small object each, none for the others.

/** A session with a user: whose, its neighbours in that user's use order (slots; none: -1), when it was last used. */
interface Member {
  user: string;
  prev: number;
  next: number;
  usedAt: number;
}

/** One user's sessions: least recently used at `head`, most recently used at `tail`. */
interface List {
  head: number;
  tail: number;
  size: number;
}

const none = -1;

export class UserLists {
  readonly #bySlot = new Map<number, Member>();
  readonly #byUser = new Map<string, List>();

  /** Users with at least one session. */
  get users(): number {
    return this.#byUser.size;
  }

  /** Whether any session has a user: while none does, a table can skip every lookup here. */
  get empty(): boolean {
    return this.#bySlot.size === 0;
  }

  userOf(slot: number): string | undefined {
    return this.#bySlot.get(slot)?.user;
  }

  usedAt(slot: number): number {
    return this.#bySlot.get(slot)?.usedAt ?? 0;
  }

  /** How many sessions `user` has. */
  count(user: string): number {
    return this.#byUser.get(user)?.size ?? 0;
  }

  /** The slot of `user`'s least recently used session (none: -1). */
  oldest(user: string): number {
    return this.#byUser.get(user)?.head ?? none;
  }

  /** Slot `slot` now belongs to `user` (null: to no one), used at `usedAt`: it becomes that user's most recent. */
  assign(slot: number, user: string | null, usedAt: number): void {
    const member = this.#bySlot.get(slot);
    if (member !== undefined && member.user === user) {
      this.used(slot, usedAt);
      return;
    }
    if (member !== undefined) this.remove(slot);
    if (user === null) return;
    let list = this.#byUser.get(user);
    if (list === undefined) this.#byUser.set(user, (list = { head: none, tail: none, size: 0 }));
    this.#bySlot.set(slot, { user, prev: none, next: none, usedAt });
    this.#append(list, slot);
  }

  /** The session in `slot` was used at `at`: the most recent of its user's (nothing when it has no user). */
  used(slot: number, at: number): void {
    const member = this.#bySlot.get(slot);
    if (member === undefined) return;
    member.usedAt = at;
    const list = this.#byUser.get(member.user)!;
    if (list.tail === slot) return;
    this.#unlink(list, member);
    this.#append(list, slot);
  }

  remove(slot: number): void {
    const member = this.#bySlot.get(slot);
    if (member === undefined) return;
    const list = this.#byUser.get(member.user)!;
    this.#unlink(list, member);
    this.#bySlot.delete(slot);
    if (list.size === 0) this.#byUser.delete(member.user);
  }

  /**
   * `user`'s slots, most recently used first. Each next slot is taken before the current one is yielded, so the
   * caller may remove the yielded session (an expired one, or one it ends) and walk on.
   */
  *newestFirst(user: string): Generator<number> {
    for (let slot = this.#byUser.get(user)?.tail ?? none; slot !== none; ) {
      const prev = this.#bySlot.get(slot)!.prev;
      yield slot;
      slot = prev;
    }
  }

  clear(): void {
    this.#bySlot.clear();
    this.#byUser.clear();
  }

  #append(list: List, slot: number): void {
    const member = this.#bySlot.get(slot)!;
    member.prev = list.tail;
    member.next = none;
    if (list.tail === none) list.head = slot;
    else this.#bySlot.get(list.tail)!.next = slot;
    list.tail = slot;
    list.size++;
  }

  #unlink(list: List, member: Member): void {
    if (member.prev === none) list.head = member.next;
    else this.#bySlot.get(member.prev)!.next = member.next;
    if (member.next === none) list.tail = member.prev;
    else this.#bySlot.get(member.next)!.prev = member.prev;
    list.size--;
  }
}
