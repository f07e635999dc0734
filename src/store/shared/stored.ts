// Which session objects exist in a store, and under which id: the mark that makes revocation stick. A save of a
// session the store loaded (or saved once) is an update, which never re-creates a session that ended meanwhile;
// a session without the mark is new (no cookie came, or regenerate() made it) and its save creates it. Used by
// ClusterStore in the workers, and by any other store that keeps the same promise (the template's Redis store).

/** The mark: which object it was put on, and the id that object was loaded (or first saved) under. */
interface Mark {
  owner: object;
  sid: string;
}

/**
 * Kept in a symbol property of the session: never saved (JSON skips symbols), and cheap, as plain property
 * assignment keeps the object's fast shape (a hidden property made with defineProperty turned sessions into slow
 * dictionary objects: 7 % of the returning visitors' requests/s in `npm run bench`). The mark names its owner, so a
 * copy (`{ ...req.session }`, as a sign-in that keeps the visitor's data makes, copies symbols too) is not marked:
 * it carries nothing over to the session regenerate() made. One id per object, the first: the id it came from
 * the store under is the one whose revocation must stick; saving that object under another id as well (only code
 * of your own does: express-session makes a new object for a new id) creates that one.
 */
export class StoredSessions {
  readonly #key = Symbol('express-cluster-sessions.stored');

  /** Whether `session` exists in the store under `sid`: its saves there are updates. */
  has(session: object, sid: string): boolean {
    return this.#mark(session)?.sid === sid;
  }

  /** `session` exists under `sid` now, unless it already exists under another id. */
  add(session: object, sid: string): void {
    if (this.#mark(session) === undefined) (session as Record<symbol, Mark>)[this.#key] = { owner: session, sid };
  }

  /** A create that failed: the session does not exist under `sid` after all. */
  delete(session: object, sid: string): void {
    if (this.has(session, sid)) (session as Record<symbol, unknown>)[this.#key] = undefined;
  }

  /** express-session copies a loaded session into a new object (createSession): the copy exists as the original does. */
  copy(from: object, to: object): void {
    const mark = this.#mark(from);
    if (mark !== undefined) this.add(to, mark.sid);
  }

  #mark(session: object): Mark | undefined {
    const mark = (session as Record<symbol, Mark | undefined>)[this.#key];
    return mark?.owner === session ? mark : undefined;
  }
}
