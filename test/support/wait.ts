/**
 * The one polling helper of the test suite: wait for an observable outcome instead of sleeping a
 * fixed time. A throw from `fn` counts as "not yet"; on timeout the last one is reported.
 */
export async function until<T>(
  what: string,
  fn: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 30_000,
  intervalMs = 250,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() > end) {
      const last = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last}`, { cause: lastError });
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Polls a condition until it holds. */
export async function waitFor(
  what: string,
  ok: () => boolean | Promise<boolean>,
  timeoutMs = 30_000,
  intervalMs = 100,
): Promise<void> {
  await until(what, async () => ((await ok()) ? true : undefined), timeoutMs, intervalMs);
}
