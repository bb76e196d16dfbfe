import { SYSTEM } from './codes';

/** A device bound to a patient on a box (device_bindings joined with the box). */
export interface DeviceRow {
  bindingId: string;
  gatewayId: string;
  address: string;
  driver: string | null;
  userIndex: number | null;
  patientId: string;
}

/**
 * A personal health device as a FHIR R4 Device (http://hl7.org/fhir/R4/device.html), following the
 * Personal Health Device IG's habit of identifying a device by its transport address; the box it
 * reports through is `parent`-like context in a Vigil extension-free form: a second identifier.
 * Observation.device points at the same identifier (hub/fhir/observation.ts).
 */
export function toDevice(d: DeviceRow): Record<string, unknown> & { resourceType: 'Device'; id: string } {
  const driver = d.driver ?? 'unknown';
  return {
    resourceType: 'Device',
    id: `binding-${d.bindingId}`,
    identifier: [
      { system: SYSTEM.device, value: `${driver}/${d.address}` },
      { system: SYSTEM.gateway, value: d.gatewayId },
    ],
    status: 'active',
    deviceName: [{ name: driver, type: 'model-name' }],
    ...(d.userIndex !== null ? { note: [{ text: `user slot ${d.userIndex}` }] } : {}),
    patient: { reference: `Patient/${d.patientId}` },
  };
}
