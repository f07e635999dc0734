// Long work in the primary, a slice at a time: a sweep, a snapshot or a listing of a million sessions runs in
// turns of a few milliseconds, and the workers' calls are served in between. One place for the budget.
import { setImmediate as nextTurn } from 'node:timers/promises';

/** Most time one slice of background work takes before the event loop gets a turn, in ms. */
export const sliceMs = 2;
/** Sessions a walk visits between two looks at the clock: a few hundred µs of the cheapest work. */
export const stepSessions = 256;

/**
 * Runs `step` (true while there is more) until it is done, for at most `budgetMs` a turn of the event loop (one
 * step may overrun it: keep steps small); resolves with the turns it took, so a test can see it yielded.
 */
export async function inSlices(step: () => boolean, budgetMs = sliceMs): Promise<number> {
  for (let turns = 1; ; turns++) {
    const until = performance.now() + budgetMs;
    let more: boolean;
    do more = step();
    while (more && performance.now() < until);
    if (!more) return turns;
    await nextTurn();
  }
}
