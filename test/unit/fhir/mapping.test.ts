import { describe, expect, it } from 'vitest';
import { codingsOf, urnUuid } from '../../../hub/fhir/codes';
import { toObservations, type LedgerRow } from '../../../hub/fhir/observation';
import { taskStatus, toTask, type EpisodeRow } from '../../../hub/fhir/task';

interface Coding {
  code: string;
  system?: string;
}
/** the parts of an Observation these assertions read */
interface ObservationView {
  code: { coding: Coding[] };
  identifier: unknown;
  component: { interpretation: { coding: Coding[] }[] }[];
  interpretation?: { coding: Coding[] }[];
  category: { coding: Coding[] }[];
  effectiveDateTime: string;
  meta?: { profile: string[] };
  valueQuantity: unknown;
}

const at = new Date('2026-01-11T18:42:00Z');
const row = (
  metric: LedgerRow['metric'],
  value: number,
  readingId: string,
  device = 'AA:BB:CC:DD:EE:01',
): LedgerRow => ({
  readingId,
  patientId: 'P-1',
  gatewayId: 'gw-1',
  deviceAddress: device,
  driver: 'sig-blood-pressure',
  metric,
  value,
  measuredAt: at,
});

describe('FHIR R4 Observation mapping (Vital Signs profile, PHD IG)', () => {
  it('systolic and diastolic of one cuff measurement become one 85354-9 panel; the pulse its own 8867-4 Observation', () => {
    const obs = toObservations(
      [
        row('blood_pressure_systolic', 188, 'a'.repeat(32)),
        row('blood_pressure_diastolic', 123, 'b'.repeat(32)),
        row('heart_rate', 95, 'c'.repeat(32)),
      ],
      {
        ['b'.repeat(32)]: 'HH',
      },
    );
    expect(obs).toHaveLength(2);
    const [panel, pulse] = obs as unknown as [ObservationView, ObservationView];
    expect(panel.code.coding[0]).toMatchObject({ system: 'http://loinc.org', code: '85354-9' });
    expect(panel.identifier).toEqual([{ system: 'urn:vigil:reading', value: `${'a'.repeat(32)}+${'b'.repeat(32)}` }]);
    expect(panel.component[1]).toMatchObject({
      code: { coding: [{ code: '8462-4' }] },
      valueQuantity: { value: 123, unit: 'mm[Hg]', system: 'http://unitsofmeasure.org', code: 'mm[Hg]' },
    });
    expect(panel.component[1]!.interpretation[0]!.coding[0]!.code).toBe('HH');
    expect(panel.interpretation![0]!.coding[0]!.code).toBe('HH');
    expect(panel.effectiveDateTime).toBe(at.toISOString());
    expect(pulse.code.coding[0]!.code).toBe('8867-4');
    expect(pulse.meta!.profile).toContain('http://hl7.org/fhir/StructureDefinition/heartrate');
    expect(pulse.valueQuantity).toEqual({ value: 95, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' });
    expect(pulse.interpretation).toBeUndefined();
  });

  it('SpO2 carries both LOINC codes (US Core); a metric without LOINC gets the hub code system and no vital-signs category', () => {
    expect(codingsOf('spo2').map((c) => c.code)).toEqual(['59408-5', '2708-6']);
    const [battery] = toObservations([row('battery_level', 80, 'd'.repeat(32))]) as unknown as [ObservationView];
    expect(battery.code.coding[0]!.system).toBe('urn:vigil:metric');
    expect(battery.category[0]!.coding[0]!.code).not.toBe('vital-signs');
    expect(battery.meta).toBeUndefined();
  });

  it('readings of different devices at the same instant are not merged', () => {
    const obs = toObservations([
      row('blood_pressure_systolic', 120, 'e'.repeat(32), 'AA:BB:CC:DD:EE:01'),
      row('blood_pressure_diastolic', 80, 'f'.repeat(32), 'AA:BB:CC:DD:EE:02'),
    ]);
    expect(obs.map((o) => (o.code as { coding: { code: string }[] }).coding[0]!.code)).toEqual(['8480-6', '8462-4']);
  });

  it('urnUuid is a deterministic UUID urn', () => {
    expect(urnUuid('0123456789abcdef0123456789abcdef')).toBe('urn:uuid:01234567-89ab-cdef-0123-456789abcdef');
  });
});

describe('FHIR R4 Task mapping of an episode', () => {
  const ep: EpisodeRow = {
    id: 7,
    patientId: 'P-1',
    ruleId: 'chemo-fever',
    ruleTitle: 'Fever',
    severity: 'red',
    status: 'open',
    priority: 'stat',
    assignee: null,
    openedAt: at,
    updatedAt: at,
    summary: 'temperature >= 38.3 C',
  };
  it('maps status (open/acknowledged/resolved x assignee) to requested/accepted/in-progress/completed', () => {
    expect(taskStatus({ status: 'open', assignee: null })).toBe('requested');
    expect(taskStatus({ status: 'open', assignee: 'n1' })).toBe('accepted');
    expect(taskStatus({ status: 'acknowledged', assignee: null })).toBe('accepted');
    expect(taskStatus({ status: 'acknowledged', assignee: 'n1' })).toBe('in-progress');
    expect(taskStatus({ status: 'resolved', assignee: 'n1' })).toBe('completed');
  });
  it('owner is the assignee or else the care team; focus the last triggering Observation, the others in input', () => {
    const t = toTask(ep, ['Observation/a', 'Observation/b'], 'team-1');
    expect(t).toMatchObject({
      resourceType: 'Task',
      status: 'requested',
      priority: 'stat',
      owner: { reference: 'CareTeam/team-1' },
      focus: { reference: 'Observation/b' },
      for: { reference: 'Patient/P-1' },
    });
    expect(t.input).toEqual([
      { type: { text: 'triggering-observation' }, valueReference: { reference: 'Observation/a' } },
    ]);
    expect(toTask({ ...ep, assignee: 'nurse-2' }, [], null).owner).toEqual({
      reference: 'Practitioner/nurse-2',
    });
  });
});
