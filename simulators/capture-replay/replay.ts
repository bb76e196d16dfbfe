import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import pino, { type Logger } from 'pino';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { Reading } from '../../contract';
import { builtinRegistry, loadDriversFromFolder, type DriverRegistry } from '../../drivers';
import { uuidSchema } from '../../drivers/sdk/uuid';
import { BluezTransport, DeviceManager, parseTrace, type Trace, type TraceRecord } from '../../gateway';
import { startVirtualBluez } from '../virtual-bluez';
import { TracePeripheral, type CentralAction } from './trace-peripheral';

/**
 * A replay case (docs/capture-and-replay.md): a trace, the device in it, the readings the
 * gateway must produce from it. YAML or JSON, next to its trace.
 */
export const replayCaseSchema = z
  .object({
    /** the trace file, relative to the case file */
    trace: z.string().min(1),
    /** the device's pseudonym in the trace; default: the only device that connected (or advertised) */
    device: z
      .string()
      .regex(/^([0-9A-F]{2}:){5}[0-9A-F]{2}$/)
      .optional(),
    /** what the capture is, where it comes from (a real device and app, or constructed per a spec section) */
    source: z.string().min(1),
    /** the household time zone the gateway assumes (device clocks keep local time) */
    timeZone: z.string().default('UTC'),
    /** an imported capture without GATT discovery: name its handles */
    handles: z
      .record(
        z.string().regex(/^(0x)?[0-9a-fA-F]{1,4}$/),
        z.object({ service: uuidSchema, characteristic: uuidSchema }).strict(),
      )
      .default({}),
    /** integrator drivers (a folder, relative to the case file), on top of the built-in ones */
    driversFolder: z.string().optional(),
    expected: z
      .object({
        driver: z.string().optional(),
        /** exactly these readings, in any order; a value matches within ±tolerance */
        readings: z
          .array(
            z
              .object({
                metric: z.string(),
                value: z.number(),
                unit: z.string().optional(),
                deviceTime: z.string().optional(),
                sequence: z.number().int().optional(),
              })
              .strict(),
          )
          .min(1),
        tolerance: z.number().min(0).default(1e-6),
      })
      .strict(),
    /** 'report' (default): differences between Vigil's writes and the app's are reported; 'strict': they fail the case */
    writes: z.enum(['report', 'strict']).default('report'),
    timeoutMs: z.number().int().min(1000).default(20_000),
  })
  .strict();
export type ReplayCase = z.infer<typeof replayCaseSchema>;
export type ReplayCaseInput = z.input<typeof replayCaseSchema>;

export interface WriteDifference {
  /** missing: the app did it, Vigil did not; extra: Vigil did, the app did not; value: both, other bytes */
  kind: 'missing' | 'extra' | 'value';
  action: 'write' | 'subscribe';
  service: string;
  characteristic: string;
  captured?: string;
  vigil?: string;
}

export interface ReplayReport {
  device: string;
  driver: string | undefined;
  readings: Pick<Reading, 'metric' | 'value' | 'unit' | 'deviceTime' | 'sequence' | 'flags'>[];
  /** expected readings not produced, and produced readings not expected */
  missing: ReplayCase['expected']['readings'];
  unexpected: ReplayReport['readings'];
  writes: WriteDifference[];
  /** captured notifications never sent, because Vigil did not do what prompted them */
  unsentNotifications: number;
  ok: boolean;
}

export class ReplayError extends Error {
  constructor(
    readonly code: 'REPLAY_CASE_INVALID' | 'REPLAY_NO_DEVICE' | 'REPLAY_UNNAMED_HANDLES' | 'REPLAY_NO_SESSION',
    message: string,
  ) {
    super(`${code}: ${message}`);
    this.name = 'ReplayError';
  }
}

export async function loadReplayCase(path: string): Promise<{ replayCase: ReplayCase; trace: Trace; dir: string }> {
  const text = await readFile(path, 'utf8');
  const parsed = replayCaseSchema.safeParse(path.endsWith('.json') ? JSON.parse(text) : parseYaml(text));
  if (!parsed.success) throw new ReplayError('REPLAY_CASE_INVALID', z.prettifyError(parsed.error));
  const dir = dirname(resolve(path));
  const trace = parseTrace(await readFile(resolve(dir, parsed.data.trace), 'utf8'));
  return { replayCase: parsed.data, trace, dir };
}

/**
 * Plays a trace's device on a private virtual BlueZ and runs the gateway's own BLE side on it:
 * the BlueZ transport, the device manager, the drivers' sessions, exactly as on a box. The
 * readings it commits are compared with the case's expected readings; what Vigil wrote and
 * subscribed to with what the captured app did.
 */
export async function runReplay(
  replayCase: ReplayCase,
  trace: Trace,
  opts: { dir?: string; log?: Logger } = {},
): Promise<ReplayReport> {
  const named = nameHandles(trace, replayCase.handles);
  const device = replayCase.device ?? pickDevice(named);
  const unnamed = named.records.filter(
    (r) =>
      r.device === device &&
      (r.type === 'read' || r.type === 'write' || r.type === 'notify' || r.type === 'subscribe') &&
      (!r.service || !r.characteristic),
  );
  if (unnamed.length)
    throw new ReplayError(
      'REPLAY_UNNAMED_HANDLES',
      `handles ${[...new Set(unnamed.map((r) => ('handle' in r ? r.handle : undefined)))].join(', ')} have no service/characteristic: the capture has no GATT discovery; name them under "handles:"`,
    );
  const log = opts.log ?? pino({ level: 'silent' });
  let registry: DriverRegistry = builtinRegistry();
  if (replayCase.driversFolder) {
    const loaded = await loadDriversFromFolder(resolve(opts.dir ?? '.', replayCase.driversFolder), registry);
    if (loaded.errors.length)
      throw new ReplayError('REPLAY_CASE_INVALID', loaded.errors.map((e) => e.message).join('; '));
    registry = loaded.registry;
  }
  const peripheral = new TracePeripheral(named, device);
  const vb = await startVirtualBluez({ peripherals: [peripheral], adapter: { advertiseIntervalMs: 100 } });
  const committed: Reading[] = [];
  const dm = new DeviceManager(
    new BluezTransport({ busAddress: vb.address, connectTimeoutMs: 5_000, settleMs: 20 }),
    registry,
    (readings) => void committed.push(...readings),
    {
      gatewayId: 'replay',
      timeZone: replayCase.timeZone,
      allow: [device],
      connectTimeoutMs: 5_000,
      idleDisconnectMs: 500,
      backoffInitialMs: 200,
      backoffMaxMs: 1_000,
      // one session is the replay: no second connection once it went well
      cooldownMs: 3_600_000,
    },
    log,
  );
  try {
    await dm.start();
    const deadline = Date.now() + replayCase.timeoutMs;
    const broadcast = !peripheral.connectable;
    const played = broadcast ? peripheral.playAdvertisements(150) : Promise.resolve();
    const want = replayCase.expected.readings.length;
    // done: a session ended (connect devices), or every advertisement played (broadcast ones)
    for (;;) {
      const state = dm.devices.get(device);
      const sessionOver = dm.counters.sessions > 0 && state !== undefined && !state.busy;
      if (!broadcast && sessionOver && committed.length >= want) break;
      if (broadcast && committed.length >= want) break;
      if (Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    await Promise.race([played, new Promise((r) => setTimeout(r, 10))]);
    if (!broadcast && dm.counters.sessions === 0)
      throw new ReplayError('REPLAY_NO_SESSION', `the gateway never completed a session with ${device}`);
  } finally {
    await dm.stop();
    await vb.stop();
  }
  const readings = committed.map((r) => ({
    metric: r.metric,
    value: r.value,
    unit: r.unit,
    ...(r.deviceTime !== undefined ? { deviceTime: r.deviceTime } : {}),
    ...(r.sequence !== undefined ? { sequence: r.sequence } : {}),
    flags: r.flags,
  }));
  const { missing, unexpected } = compareReadings(
    replayCase.expected.readings,
    readings,
    replayCase.expected.tolerance,
  );
  const driver = committed[0]?.device.driver;
  const writes = compareWrites(capturedActions(named, device), peripheral.centralActions);
  const driverOk = !replayCase.expected.driver || driver === replayCase.expected.driver;
  return {
    device,
    driver,
    readings,
    missing,
    unexpected,
    writes,
    unsentNotifications: peripheral.unsent().length,
    ok: driverOk && !missing.length && !unexpected.length && (replayCase.writes === 'report' || !writes.length),
  };
}

function pickDevice(trace: Trace): string {
  const connected = [...new Set(trace.records.filter((r) => r.type === 'connect').map((r) => r.device))];
  const candidates = connected.length ? connected : [...new Set(trace.records.map((r) => r.device))];
  if (candidates.length !== 1)
    throw new ReplayError(
      'REPLAY_NO_DEVICE',
      `the trace has ${candidates.length} candidate devices: name one in "device:"`,
    );
  return candidates[0] ?? '';
}

/** the case's handle names applied to imported records that lack UUIDs */
function nameHandles(trace: Trace, handles: ReplayCase['handles']): Trace {
  const map = new Map(Object.entries(handles).map(([h, v]) => [parseInt(h.replace(/^0x/i, ''), 16), v]));
  if (!map.size) return trace;
  return {
    header: trace.header,
    records: trace.records.map((r): TraceRecord => {
      if (!('handle' in r) || r.handle === undefined || ('characteristic' in r && r.characteristic)) return r;
      const n = map.get(r.handle);
      return n ? { ...r, ...n } : r;
    }),
  };
}

function capturedActions(trace: Trace, device: string): CentralAction[] {
  const out: CentralAction[] = [];
  let sessions = 0;
  for (const r of trace.records) {
    if (r.device !== device) continue;
    if (r.type === 'connect' && !r.error && ++sessions > 1) break; // the first session is compared
    if (r.type === 'write' && r.service && r.characteristic)
      out.push({
        type: 'write',
        service: r.service,
        characteristic: r.characteristic,
        value: r.redacted ? `<${r.redacted} bytes redacted>` : r.value,
      });
    else if (r.type === 'subscribe' && !r.error && r.service && r.characteristic)
      out.push({ type: 'subscribe', service: r.service, characteristic: r.characteristic });
  }
  return out;
}

/**
 * Per characteristic and action, in order: the n-th captured write against Vigil's n-th. A
 * Current Time write differs in its time by nature: only its length and adjust reason count.
 */
export function compareWrites(captured: CentralAction[], vigil: CentralAction[]): WriteDifference[] {
  const group = (list: CentralAction[]) => {
    const m = new Map<string, CentralAction[]>();
    for (const a of list) {
      const k = `${a.type} ${a.service}/${a.characteristic}`;
      m.set(k, [...(m.get(k) ?? []), a]);
    }
    return m;
  };
  const c = group(captured);
  const v = group(vigil);
  const out: WriteDifference[] = [];
  for (const k of new Set([...c.keys(), ...v.keys()])) {
    const cs = c.get(k) ?? [];
    const vs = v.get(k) ?? [];
    for (let i = 0; i < Math.max(cs.length, vs.length); i++) {
      const a = cs[i];
      const b = vs[i];
      const any = a ?? b;
      if (!any) continue;
      const base = { action: any.type, service: any.service, characteristic: any.characteristic };
      if (a && !b) out.push({ kind: 'missing', ...base, ...(a.value !== undefined ? { captured: a.value } : {}) });
      else if (!a && b) out.push({ kind: 'extra', ...base, ...(b.value !== undefined ? { vigil: b.value } : {}) });
      else if (a?.value !== undefined && b?.value !== undefined && !sameWrite(any.characteristic, a.value, b.value))
        out.push({ kind: 'value', ...base, captured: a.value, vigil: b.value });
    }
  }
  return out;
}

function sameWrite(characteristic: string, a: string, b: string): boolean {
  // Current Time (0x2A2B): 10 bytes, the last one the adjust reason (GATT Specification Supplement)
  if (characteristic === '2a2b') return a.length === b.length && a.slice(-2) === b.slice(-2);
  return a === b;
}

function compareReadings(
  expected: ReplayCase['expected']['readings'],
  produced: ReplayReport['readings'],
  tolerance: number,
): { missing: ReplayCase['expected']['readings']; unexpected: ReplayReport['readings'] } {
  const left = [...produced];
  const missing: ReplayCase['expected']['readings'] = [];
  for (const e of expected) {
    const i = left.findIndex(
      (r) =>
        r.metric === e.metric &&
        Math.abs(r.value - e.value) <= tolerance &&
        (e.unit === undefined || r.unit === e.unit) &&
        (e.deviceTime === undefined || r.deviceTime === e.deviceTime) &&
        (e.sequence === undefined || r.sequence === e.sequence),
    );
    if (i < 0) missing.push(e);
    else left.splice(i, 1);
  }
  return { missing, unexpected: left };
}
