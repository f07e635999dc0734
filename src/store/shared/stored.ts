// Which session objects exist in a store, and under which id: the mark that makes revocation stick. A save of a
// session the store loaded (or saved once) is an update, which never re-creates a session that ended meanwhile;
// a session without the mark is new (no cookie came, or regenerate() made it) and its save creates it. Used by
// ClusterStore in the workers, and by any other store that keeps the same promise (the template's Redis store).

/**
 * A WeakMap rather than a property on the session: a copy (`{ ...req.session }`, as a sign-in that keeps the
 * visitor's data makes) is a new object and carries nothing over to the session regenerate() made, and the
 * session keeps the shape JSON.parse gave it (a hidden property set with defineProperty turned it into a slow
 * dictionary object: 7 % of the returning visitors' requests/s in `npm run bench`).
 */
export class StoredSessions {
  /** session → the id it exists under (a Set in the rare case of one object saved under several ids). */
  readonly #ids = new WeakMap<object, string | Set<string>>();

  /** Whether `session` exists in the store under `sid`: its saves there are updates. */
  has(session: object, sid: string): boolean {
    const ids = this.#ids.get(session);
    return ids === sid || (ids instanceof Set && ids.has(sid));
  }

  add(session: object, sid: string): void {
    const ids = this.#ids.get(session);
    if (ids === undefined || ids === sid) this.#ids.set(session, sid);
    else if (ids instanceof Set) ids.add(sid);
    else this.#ids.set(session, new Set([ids, sid]));
  }

  /** A create that failed: the session does not exist under `sid` after all. */
  delete(session: object, sid: string): void {
    const ids = this.#ids.get(session);
    if (ids === sid) this.#ids.delete(session);
    else if (ids instanceof Set) ids.delete(sid);
  }

  /** express-session copies a loaded session into a new object (createSession): the copy exists as the original does. */
  copy(from: object, to: object): void {
    const ids = this.#ids.get(from);
    if (ids !== undefined) this.#ids.set(to, ids instanceof Set ? new Set(ids) : ids);
  }
}
