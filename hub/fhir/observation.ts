import { createHash } from 'node:crypto';
import type { MetricName } from '../../contract';
import type { Interpretation } from '../rules/rule';
import {
  BP_PANEL,
  categoryOf,
  codingsOf,
  GATEWAY_EXTENSION,
  INTERPRETATION,
  LOINC,
  profileOf,
  quantity,
  SYSTEM,
} from './codes';

/** A row of reading_ledger: the durable record a FHIR Observation is built from. */
export interface LedgerRow {
  readingId: string;
  patientId: string;
  gatewayId: string;
  deviceAddress: string;
  driver: string;
  metric: MetricName;
  value: number;
  measuredAt: Date;
}

export type FhirObservation = Record<string, unknown> & {
  resourceType: 'Observation';
  id: string;
  /** exactly one: the reading identifier (PHD IG) */
  identifier: [{ system: string; value: string }];
};

const interp = (code: Interpretation | undefined) =>
  code
    ? {
        interpretation: [
          {
            coding: [
              {
                system: INTERPRETATION,
                code,
                display: { H: 'High', HH: 'Critical high', L: 'Low', LL: 'Critical low' }[code],
              },
            ],
          },
        ],
      }
    : {};

function base(r: LedgerRow, id: string, identifier: string) {
  return {
    resourceType: 'Observation' as const,
    id,
    // PHD IG: identifier from patient + device + code + time + value; the reading id is exactly that
    identifier: [{ system: SYSTEM.reading, value: identifier }] as [{ system: string; value: string }],
    status: 'final',
    subject: { reference: `Patient/${r.patientId}` },
    effectiveDateTime: r.measuredAt.toISOString(),
    device: { identifier: { system: SYSTEM.device, value: `${r.driver}/${r.deviceAddress}` }, display: r.driver },
    extension: [
      { url: GATEWAY_EXTENSION, valueReference: { identifier: { system: SYSTEM.gateway, value: r.gatewayId } } },
    ],
  };
}

/** Observation id of a reading (FHIR id: up to 64 of [A-Za-z0-9-.]). */
export const observationId = (readingIds: string[]): string =>
  readingIds.length === 1 && readingIds[0] !== undefined
    ? readingIds[0]
    : createHash('sha256').update(readingIds.join('+')).digest('hex').slice(0, 32);

/**
 * FHIR R4 Observations (HL7 Vital Signs profile, PHD IG) from ledger rows. Systolic and diastolic
 * taken by one device at one instant become one blood-pressure panel (85354-9) with components.
 */
export function toObservations(
  rows: readonly LedgerRow[],
  interpretations: Record<string, Interpretation> = {},
): FhirObservation[] {
  const out: FhirObservation[] = [];
  const groups = new Map<string, LedgerRow[]>();
  for (const r of rows) {
    const k = `${r.patientId}|${r.deviceAddress}|${r.measuredAt.getTime()}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  for (const group of groups.values()) {
    const sys = group.find((r) => r.metric === 'blood_pressure_systolic');
    const dia = group.find((r) => r.metric === 'blood_pressure_diastolic');
    const rest = group.filter((r) => !(sys && dia && (r === sys || r === dia)));
    if (sys && dia) {
      const ids = [sys.readingId, dia.readingId];
      const worst = [interpretations[sys.readingId], interpretations[dia.readingId]].find((x) => x);
      out.push({
        ...base(sys, observationId(ids), ids.join('+')),
        meta: { profile: ['http://hl7.org/fhir/StructureDefinition/vitalsigns', BP_PANEL.profile] },
        category: categoryOf('blood_pressure_systolic'),
        code: { coding: [{ system: LOINC, code: BP_PANEL.code, display: BP_PANEL.display }], text: 'Blood pressure' },
        component: [sys, dia].map((c) => ({
          code: { coding: codingsOf(c.metric) },
          valueQuantity: quantity(c.metric, c.value),
          ...interp(interpretations[c.readingId]),
        })),
        ...interp(worst),
      });
    }
    for (const r of rest) {
      const profile = profileOf(r.metric);
      out.push({
        ...base(r, observationId([r.readingId]), r.readingId),
        ...(profile.length ? { meta: { profile } } : {}),
        category: categoryOf(r.metric),
        code: { coding: codingsOf(r.metric), text: r.metric },
        valueQuantity: quantity(r.metric, r.value),
        ...interp(interpretations[r.readingId]),
      });
    }
  }
  return out;
}
