// Waiting for something to become true, by polling with a deadline (never a fixed sleep).

/** Resolves once `check()` is true; rejects with `what` after `deadlineMs`. */
export async function until(check: () => boolean | Promise<boolean>, what: string, deadlineMs = 10_000, everyMs = 10): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within ${deadlineMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
