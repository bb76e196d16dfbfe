import * as dbus from 'dbus-next';
import type { ClientInterface, MessageBus } from 'dbus-next';

/**
 * The gateway's BlueZ pairing agent (org.bluez.Agent1, doc/org.bluez.Agent.rst). Without a
 * registered agent bluetoothd has nobody to answer the confirmation it asks for even in Just Works
 * pairing ("No agent available for request", Pair then fails with AuthenticationFailed; reported
 * with BlueZ 5.72+ in eigger/hass-omron#73). Policy, deny by default:
 * - Just Works (RequestConfirmation / RequestAuthorization): accepted only while the device may
 *   be paired (a pairing window is open, or the device is being paired explicitly);
 * - Passkey entry (RequestPasskey: the device displays six digits, we type them): the passkey is
 *   relayed from the hub (the nurse reads it from the cuff screen with the patient, or the patient
 *   reads it to her) and answered when it arrives, within the SMP pairing time-out;
 * - anything else, and everything outside a window: org.bluez.Error.Rejected.
 */
export interface AgentPolicy {
  /** may this device be paired now */
  mayPair(address: string): boolean;
  /** the six-digit passkey relayed for this device, waited for up to timeoutMs */
  passkey(address: string, timeoutMs: number): Promise<number | undefined>;
  /** operator log: PAIRING_CONFIRMED, PAIRING_REFUSED, PASSKEY_ENTERED, PASSKEY_MISSING, ... */
  event(code: string, address: string, detail?: Record<string, unknown>): void;
}

export const AGENT_PATH = '/org/vigil/gateway/agent';
/** KeyboardDisplay: lets bluetoothd choose passkey entry for devices that display a code (Core Vol 3 Part H 2.3.5.1) */
export const AGENT_CAPABILITY = 'KeyboardDisplay';

const { Interface } = dbus.interface;

function rejected(text: string): Error {
  return new dbus.DBusError('org.bluez.Error.Rejected', text);
}

/** AA:BB:.. from /org/bluez/hciN/dev_AA_BB_.. */
export function addressOfPath(path: string): string {
  const m = /dev_((?:[0-9A-Fa-f]{2}_){5}[0-9A-Fa-f]{2})$/.exec(path);
  return m?.[1] ? m[1].replace(/_/g, ':').toUpperCase() : path;
}

class Agent1 extends Interface {
  constructor(
    private readonly policy: AgentPolicy,
    private readonly passkeyTimeoutMs: number,
  ) {
    super('org.bluez.Agent1');
  }
  private allowed(path: string): string {
    const address = addressOfPath(path);
    if (!this.policy.mayPair(address)) {
      this.policy.event('PAIRING_REFUSED', address, { reason: 'no pairing window' });
      throw rejected('pairing is only accepted during a pairing window');
    }
    return address;
  }
  Release(): void {}
  RequestPinCode(device: string): string {
    // BR/EDR legacy PIN: health LE devices do not use it
    this.policy.event('PAIRING_REFUSED', addressOfPath(device), { reason: 'PIN code pairing not supported' });
    throw rejected('PIN code pairing is not supported');
  }
  DisplayPinCode(device: string): void {
    this.RequestPinCode(device);
  }
  async RequestPasskey(device: string): Promise<number> {
    const address = this.allowed(device);
    this.policy.event('PASSKEY_REQUESTED', address);
    const key = await this.policy.passkey(address, this.passkeyTimeoutMs);
    if (key === undefined) {
      this.policy.event('PASSKEY_MISSING', address, { waitedMs: this.passkeyTimeoutMs });
      throw rejected('no passkey relayed in time');
    }
    this.policy.event('PASSKEY_ENTERED', address);
    return key;
  }
  DisplayPasskey(device: string): void {
    // the device types what we display: nobody reads the box's screen, there is none
    this.policy.event('PASSKEY_DISPLAY_IGNORED', addressOfPath(device));
  }
  RequestConfirmation(device: string): void {
    // LE Secure Connections Just Works asks for a confirmation too (no display to compare on a cuff)
    const address = this.allowed(device);
    this.policy.event('PAIRING_CONFIRMED', address, { method: 'just-works' });
  }
  RequestAuthorization(device: string): void {
    const address = this.allowed(device);
    this.policy.event('PAIRING_CONFIRMED', address, { method: 'just-works' });
  }
  AuthorizeService(device: string): void {
    this.allowed(device);
  }
  Cancel(): void {}
}
(Agent1 as unknown as { configureMembers: (m: unknown) => void }).configureMembers({
  methods: {
    Release: {},
    RequestPinCode: { inSignature: 'o', outSignature: 's' },
    DisplayPinCode: { inSignature: 'os' },
    RequestPasskey: { inSignature: 'o', outSignature: 'u' },
    DisplayPasskey: { inSignature: 'ouq' },
    RequestConfirmation: { inSignature: 'ou' },
    RequestAuthorization: { inSignature: 'o' },
    AuthorizeService: { inSignature: 'os' },
    Cancel: {},
  },
});

interface AgentManager extends ClientInterface {
  RegisterAgent(path: string, capability: string): Promise<void>;
  RequestDefaultAgent(path: string): Promise<void>;
  UnregisterAgent(path: string): Promise<void>;
}

/**
 * Exports the agent on `bus` and registers it as bluetoothd's default agent
 * (AgentManager1.RegisterAgent + RequestDefaultAgent). Called again after bluetoothd restarts:
 * a new bluetoothd knows no agent.
 */
export async function registerPairingAgent(
  bus: MessageBus,
  policy: AgentPolicy,
  opts: { passkeyTimeoutMs?: number } = {},
): Promise<() => Promise<void>> {
  const agent = new Agent1(policy, opts.passkeyTimeoutMs ?? 25_000);
  try {
    bus.export(AGENT_PATH, agent);
  } catch {
    /* already exported on this connection */
  }
  const obj = await bus.getProxyObject('org.bluez', '/org/bluez');
  const manager = obj.getInterface<AgentManager>('org.bluez.AgentManager1');
  try {
    await manager.RegisterAgent(AGENT_PATH, AGENT_CAPABILITY);
  } catch (e) {
    // AlreadyExists: this connection registered it before (idempotent re-registration)
    if (!(e instanceof dbus.DBusError && e.type === 'org.bluez.Error.AlreadyExists')) throw e;
  }
  await manager.RequestDefaultAgent(AGENT_PATH);
  return async () => {
    await manager.UnregisterAgent(AGENT_PATH).catch(() => undefined);
    (bus.unexport as (path: string) => void).call(bus, AGENT_PATH);
  };
}
