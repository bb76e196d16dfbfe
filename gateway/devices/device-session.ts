import { errorMessage } from '../../contract/errors';
import type { LoadedDriver } from '../../drivers';
import { DEFAULT_SESSION, STOP, StepError, type SessionStep } from '../../drivers/sdk/session';
import { BleError, type BleConnection } from '../ble/transport';
import { SessionCore, type SessionDeps, type SessionResult } from './session-core';
import { standardStep } from './steps/standard-steps';

export { cursorKey, type CommitFn, type DeviceStateStore, type SessionDeps, type SessionResult } from './session-core';

const DEFAULT_STEP_TIMEOUT_MS = 10_000;

/**
 * Runs one connection to a paired device as the driver's dialogue: its steps in order (default:
 * the standard profiles' DEFAULT_SESSION: read Current Time for the clock offset, write Current
 * Time, read, subscribe, start commands, RACP stored records), each with its timeout and
 * retries; then waits until the device has been silent for idleDisconnectMs (or a step said it
 * is finished, or the device left) and disconnects. Readings are committed as they arrive.
 */
export async function runDeviceSession(
  conn: BleConnection,
  driver: LoadedDriver,
  d: SessionDeps,
): Promise<SessionResult> {
  const core = new SessionCore(conn, driver, d);
  const steps = (driver.driver.session?.steps ?? DEFAULT_SESSION).map((s) =>
    typeof s === 'string' ? standardStep(s, core) : s,
  );
  try {
    let failure: Error | undefined;
    for (const step of steps) {
      if (core.disconnected || core.commitError) break;
      if (step.when && !step.when(core)) continue;
      try {
        if ((await runStep(core, step)) === STOP) break;
      } catch (e) {
        if (step.optional && !(e instanceof BleError && e.code === 'DISCONNECTED')) {
          core.log('debug', stepCode(e), { step: step.name, err: (e as Error).message });
          continue;
        }
        failure = e as Error;
        break;
      }
    }
    if (!failure) await core.idle();
    core.flush();
    if (core.commitError) throw core.commitError;
    // many cuffs hang up as soon as their measurement is out: a link lost once readings came in
    // is the device ending the session, not a failure to back off from
    const hungUp = failure instanceof BleError && failure.code === 'DISCONNECTED' && core.result.readings > 0;
    if (failure && !hungUp) throw failure;
    if (!core.disconnected)
      await conn.disconnect().catch((e: unknown) => {
        core.log('debug', 'DISCONNECT_FAILED', { err: errorMessage(e) });
      });
    return core.result;
  } finally {
    core.close();
  }
}

function stepCode(e: unknown): string {
  if (e instanceof StepError || e instanceof BleError) return e.code;
  return (e as { code?: string }).code ?? 'STEP_FAILED';
}

/** one step with its timeout and command resends; a lost link is never retried here */
async function runStep(core: SessionCore, step: SessionStep): Promise<unknown> {
  const timeoutMs = step.timeoutMs ?? DEFAULT_STEP_TIMEOUT_MS;
  core.stepTimeoutMs = timeoutMs > 0 ? timeoutMs : DEFAULT_STEP_TIMEOUT_MS;
  const attempts = 1 + Math.max(0, step.retries ?? 0);
  for (let attempt = 1; ; attempt++) {
    try {
      return await withStepTimeout(step.run(core), timeoutMs, step.name);
    } catch (e) {
      const linkLost = core.disconnected || (e instanceof BleError && e.code === 'DISCONNECTED');
      if (linkLost || attempt >= attempts) throw e;
      core.log('info', 'STEP_RETRY', { step: step.name, attempt, err: (e as Error).message });
    }
  }
}

function withStepTimeout<T>(p: Promise<T>, ms: number, name: string): Promise<T> {
  if (!(ms > 0)) return p;
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new StepError('STEP_TIMEOUT', `step ${name} took over ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
