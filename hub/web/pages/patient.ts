import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { EpisodeJson } from '../../api/context';
import type { PageRequest, WebContext } from '../context';
import { ageFrom, describeValues, ruleWords } from '../describe';
import { html, type SafeHtml } from '../html';
import { page } from '../layout';
import { csrfField, tableHeader } from './parts';
import { severityBadge } from './worklist';

interface Patient {
  id: string;
  programId: string;
  displayName: string;
  birthYear: number | null;
  careTeamIds: string[];
  createdAt: string;
}
interface Contact {
  phone: string | null;
  phoneAlt: string | null;
  address: string | null;
  caregiverName: string | null;
  caregiverPhone: string | null;
}
interface CareTeam {
  teams: { id: string; name: string; programId: string }[];
  members: {
    id: string;
    displayName: string;
    role: string;
    careTeamId: string;
    consentGrantedAt: string | null;
    consentRevokedAt: string | null;
  }[];
}
interface Note {
  id: number;
  episodeId: number | null;
  author: string;
  authorName: string | null;
  at: string;
  body: string;
}
interface Devices {
  gateways: { id: string; online: boolean; lastSeenAt: string | null; revoked: boolean }[];
  devices: {
    gatewayId: string;
    address: string;
    driver: string | null;
    userIndex: number | null;
    lastReadingAt: string | null;
  }[];
}
interface Health {
  devices: { address: string; battery: number | null }[];
  gateways: { id: string; queueDepth: number | null; heartbeatAt: string | null }[];
}
interface LogRow {
  readingId: string;
  metric: string;
  value: number;
  unit: string;
  measuredAt: string;
  receivedAt: string;
  device: string;
  driver: string;
  gatewayId: string;
  timeTrust: 'device_synced' | 'device_corrected' | 'device_unchecked' | 'receipt' | null;
}

/** a reading filed more than an hour after it was measured came through the box's buffer */
const LATE_MS = 3_600_000;
const UNITS: Record<string, string> = {
  blood_pressure_systolic: 'mmHg',
  blood_pressure_diastolic: 'mmHg',
  heart_rate: '/min',
  body_weight: 'kg',
  body_temperature: '°C',
  spo2: '%',
  glucose: 'mmol/L',
  steps: '',
  battery_level: '%',
};
const METRIC_SHORT: Record<string, { fr: string; en: string }> = {
  blood_pressure_systolic: { fr: 'TA systolique', en: 'Systolic BP' },
  blood_pressure_diastolic: { fr: 'TA diastolique', en: 'Diastolic BP' },
  heart_rate: { fr: 'FC', en: 'HR' },
  body_weight: { fr: 'Poids', en: 'Weight' },
  body_temperature: { fr: 'Température', en: 'Temperature' },
  spo2: { fr: 'SpO2', en: 'SpO2' },
  glucose: { fr: 'Glycémie', en: 'Glucose' },
  steps: { fr: 'Pas', en: 'Steps' },
  battery_level: { fr: 'Batterie', en: 'Battery' },
};

function section(id: string, title: string, content: SafeHtml | string, cls = ''): SafeHtml {
  return html`<section class="card ${cls}" aria-labelledby="${id}-h">
    <h2 id="${id}-h">${title}</h2>
    ${content}
  </section>`;
}

const notAllowed = (r: PageRequest) => html`<p class="muted">${r.f.t.notAllowed}</p>`;

function telLink(n: string | null): SafeHtml | string {
  if (!n) return '—';
  return html`<a href="tel:${n.replace(/[^\d+]/g, '')}">${n}</a>`;
}

export function registerPatientPages(
  w: WebContext,
  requirePage: (req: FastifyRequest, reply: FastifyReply) => PageRequest | undefined,
): void {
  const { app } = w;
  const params = z.object({ id: z.string().min(1).max(64) });

  app.get('/web/patients', async (req, reply) => {
    const r = requirePage(req, reply);
    if (!r) return reply;
    const { f } = r;
    const { patients } = await r.call<{ patients: Patient[] }>('GET', '/api/patients');
    const now = new Date();
    const body = html`<h1>${f.t.patients}</h1>
      <table class="list">
        <thead>
          <tr>
            <th scope="col">${f.t.patient}</th>
            <th scope="col">${f.t.program}</th>
            <th scope="col">${f.t.patientId}</th>
          </tr>
        </thead>
        <tbody>
          ${patients.map((p) => {
            const age = ageFrom(p.birthYear, now);
            return html`<tr>
              <td>
                <a href="/web/patients/${encodeURIComponent(p.id)}">${p.displayName}</a>
                <span class="muted">${age !== undefined ? `${age} ${f.t.years}` : ''}</span>
              </td>
              <td>${f.t.programs[p.programId] ?? p.programId}</td>
              <td><code>${p.id}</code></td>
            </tr>`;
          })}
        </tbody>
      </table>`;
    return reply.type('text/html').send(page(r, { title: f.t.patients, section: 'patients', body }));
  });

  app.get('/web/patients/:id', async (req, reply) => {
    const r = requirePage(req, reply);
    if (!r) return reply;
    const { f } = r;
    const id = encodeURIComponent(params.parse(req.params).id);
    const p = await r.call<Patient>('GET', `/api/patients/${id}`);
    const [contact, team, episodes, notes, devices, health, log, dry] = await Promise.all([
      r.tryGet<Contact>(`/api/patients/${id}/contact`),
      r.tryGet<CareTeam>(`/api/patients/${id}/care-team`),
      r.tryGet<{ episodes: EpisodeJson[] }>(`/api/patients/${id}/episodes`),
      r.tryGet<{ notes: Note[] }>(`/api/patients/${id}/notes`),
      r.tryGet<Devices>(`/api/patients/${id}/devices`),
      r.tryGet<Health>(`/api/patients/${id}/device-health`),
      r.tryGet<{ readings: LogRow[] }>(`/api/patients/${id}/reading-log?days=30&limit=60`),
      r.tryGet<{ dryWeightKg: number | null }>(`/api/patients/${id}/dry-weight`),
    ]);
    const now = new Date();
    const age = ageFrom(p.birthYear, now);
    const names = new Map((team?.members ?? []).map((m) => [m.id, m.displayName]));
    const canTrends = r.can('trends.read') && episodes !== undefined;
    const canReadings = r.can('readings.read') && log !== undefined;

    const identity = html`<div class="identity">
      <div>
        <h1>${p.displayName}</h1>
        <p class="muted">
          ${age !== undefined ? `${age} ${f.t.years}` : ''} · ${f.t.programs[p.programId] ?? p.programId} ·
          <code>${p.id}</code>
        </p>
      </div>
      ${contact?.phone ? html`<a class="button call" href="tel:${contact.phone.replace(/[^\d+]/g, '')}"><span aria-hidden="true">✆</span> ${contact.phone}</a>` : ''}
    </div>`;

    const contactCard = section(
      'contact',
      f.t.contact,
      contact
        ? html`<dl class="kv">
            <dt>${f.t.phone}</dt>
            <dd>${telLink(contact.phone)}</dd>
            <dt>${f.t.phoneAlt}</dt>
            <dd>${telLink(contact.phoneAlt)}</dd>
            <dt>${f.t.address}</dt>
            <dd>${contact.address ?? '—'}</dd>
            <dt>${f.t.caregiver}</dt>
            <dd>
              ${contact.caregiverName ?? '—'}
              ${contact.caregiverPhone ? html`· ${telLink(contact.caregiverPhone)}` : ''}
            </dd>
          </dl>`
        : notAllowed(r),
    );

    const teamCard = section(
      'team',
      `${f.t.careTeam} · ${f.t.consents}`,
      team
        ? html`${team.teams.map((t) => html`<p><strong>${t.name}</strong></p>`)}
            <ul class="members">
              ${team.members.map(
                (m) =>
                  html`<li>
                    <span>${m.displayName}</span> <span class="muted">${f.t.roles[m.role] ?? m.role}</span> ${
                      m.consentGrantedAt && !m.consentRevokedAt
                        ? html`<span class="tag tag-ok"
                            >✓ ${f.t.consents.toLowerCase().replace(/s$/, '')} ${f.t.granted}
                            ${f.date(m.consentGrantedAt)}</span
                          >`
                        : html`<span class="tag tag-warn">✗ ${m.consentRevokedAt ? f.t.revoked : f.t.none}</span>`
                    }
                  </li>`,
              )}
            </ul>`
        : notAllowed(r),
    );

    const periods = [7, 30, 90, 365];
    const trendsCard = section(
      'trends',
      f.t.trends,
      canTrends
        ? html`<div class="period" role="group" aria-label="${f.locale === 'fr' ? 'Période' : 'Period'}">
              ${periods.map((d) => html`<button type="button" class="secondary" data-days="${d}" aria-pressed="${d === 30 ? 'true' : 'false'}">${d} ${f.t.days}</button>`)}
            </div>
            ${
              dry
                ? html`<form method="post" action="/web/patients/${p.id}/dry-weight" class="inline-form dry">
                    ${csrfField(r)}
                    <label for="dry">${f.t.dryWeight} (kg)</label>
                    <input
                      id="dry"
                      name="dryWeightKg"
                      inputmode="decimal"
                      size="6"
                      pattern="[0-9]{2,3}([,.][0-9])?"
                      value="${dry.dryWeightKg !== null ? f.num(dry.dryWeightKg, 1) : ''}"
                      ${r.can('alerts.triage') ? '' : 'readonly'}
                    />
                    ${r.can('alerts.triage') ? html`<button type="submit" class="secondary">${f.t.save}</button>` : ''}
                  </form>`
                : ''
            }
            <p class="muted" id="chart-status" role="status" aria-live="polite"></p>
            <div
              id="charts"
              class="charts"
              data-patient="${p.id}"
              data-locale="${f.locale}"
              data-readings="${canReadings ? '1' : '0'}"
              data-program="${p.programId}"
              data-role="${r.me.role}"
            ></div>`
        : notAllowed(r),
      'wide',
    );

    const epCard = section(
      'episodes',
      f.t.episodes,
      episodes
        ? episodes.episodes.length
          ? html`<ol class="timeline" tabindex="0" aria-label="${f.t.episodes}">
              ${episodes.episodes.map(
                (e) =>
                  html`<li class="${e.severity}">
                    ${severityBadge(r, e.severity)}
                    <div>
                      <strong>${ruleWords(e.ruleId, f, e.ruleTitle)}</strong>
                      <span>${describeValues(e.lastValue, f)}</span>
                      <span class="muted"
                        >${f.dateTime(e.openedAt)} ·
                        ${e.status === 'resolved' ? `${f.t.resolved} ${e.resolvedAt ? f.dateTime(e.resolvedAt) : ''} ${f.t.by} ${names.get(e.resolvedBy ?? '') ?? e.resolvedBy ?? ''}` : e.status === 'acknowledged' ? f.t.acknowledged : f.t.open}
                        ${e.assignee ? ` · ${f.t.assignee} ${names.get(e.assignee) ?? e.assignee}` : ''}</span
                      >
                    </div>
                  </li>`,
              )}
            </ol>`
          : html`<p class="muted">${f.t.none}</p>`
        : notAllowed(r),
    );

    const notesCard = section(
      'notes',
      f.t.callNotes,
      notes
        ? html`${
              r.can('alerts.triage')
                ? html`<form method="post" action="/web/patients/${p.id}/notes" class="stack">
                    ${csrfField(r)}
                    <label for="note">${f.t.addNote}</label
                    ><textarea id="note" name="body" rows="2" required maxlength="4000"></textarea>
                    <button type="submit" class="secondary">${f.t.save}</button>
                  </form>`
                : ''
            }
            <ul class="notes">
              ${notes.notes.map(
                (n) =>
                  html`<li>
                    <span class="muted">${f.dateTime(n.at)} · ${n.authorName ?? names.get(n.author) ?? n.author}</span>
                    <p>${n.body}</p>
                  </li>`,
              )}
            </ul>`
        : notAllowed(r),
    );

    const battery = new Map((health?.devices ?? []).map((d) => [d.address, d.battery]));
    const depth = new Map((health?.gateways ?? []).map((g) => [g.id, g.queueDepth]));
    const devicesCard = section(
      'devices',
      f.t.devices,
      devices
        ? html`${devices.gateways.map(
            (g) =>
              html`<div class="box">
                <p>
                  <strong>Box <code>${g.id}</code></strong>
                  <span class="tag ${g.online ? 'tag-ok' : 'tag-warn'}"
                    >${g.online ? '● ' + f.t.online : '○ ' + f.t.offline}</span
                  >
                </p>
                <p class="muted">
                  ${f.t.lastSeen} : ${g.lastSeenAt ? f.dateTime(g.lastSeenAt) : '—'} · ${f.t.bufferDepth} :
                  ${depth.get(g.id) ?? '—'}
                </p>
                <ul class="devices">
                  ${devices.devices
                    .filter((d) => d.gatewayId === g.id)
                    .map(
                      (d) =>
                        html`<li>
                          ${d.driver ?? '—'} <code>${d.address}</code>
                          <span class="muted"
                            >${f.t.battery} :
                            ${battery.get(d.address) != null ? `${f.num(battery.get(d.address) ?? 0)} %` : '—'} ·
                            ${f.t.lastSeen} : ${d.lastReadingAt ? f.dateTime(d.lastReadingAt) : '—'}</span
                          >
                        </li>`,
                    )}
                </ul>
                ${
                  r.can('devices.pair') && !g.revoked
                    ? html`<form
                        method="post"
                        action="/web/patients/${p.id}/gateways/${g.id}/pairing"
                        data-ajax
                        data-done="${f.t.pairingOpen}"
                      >
                        ${csrfField(r)}<button type="submit" class="secondary">${f.t.openPairing}</button>
                        <span class="muted" role="status" aria-live="polite"></span>
                      </form>`
                    : ''
                }
              </div>`,
          )}`
        : notAllowed(r),
    );

    const logCard = section(
      'readings',
      f.t.readings,
      log
        ? html`<div class="scroll" tabindex="0" role="region" aria-label="${f.t.readings}">
            <table class="list compact">
              ${tableHeader(f.t.readings, [f.t.time, f.t.metric, f.t.value, f.t.device, f.t.provenance])}
              <tbody>
                ${log.readings.map((x) => {
                  const late = new Date(x.receivedAt).getTime() - new Date(x.measuredAt).getTime() > LATE_MS;
                  const digits =
                    x.metric === 'body_temperature' || x.metric === 'body_weight' || x.metric === 'glucose' ? 1 : 0;
                  return html`<tr>
                    <td>${f.dateTime(x.measuredAt)}</td>
                    <td>${METRIC_SHORT[x.metric]?.[f.locale] ?? x.metric}</td>
                    <td class="num">${f.num(x.value, digits)} ${UNITS[x.metric] ?? x.unit}</td>
                    <td>${x.driver} <code>${x.device}</code></td>
                    <td>
                      ${late ? html`<span class="tag tag-warn">${f.t.receivedLate} (${f.dateTime(x.receivedAt)})</span>` : html`<span class="muted">${f.t.onTime}</span>`}
                      ·
                      ${
                        x.timeTrust === 'device_unchecked' || x.timeTrust === 'receipt'
                          ? html`<span class="tag tag-warn">${f.t.clock[x.timeTrust]}</span>`
                          : html`<span class="muted">${x.timeTrust ? f.t.clock[x.timeTrust] : f.t.clock.unknown}</span>`
                      }
                      · box <code>${x.gatewayId}</code>
                    </td>
                  </tr>`;
                })}
              </tbody>
            </table>
          </div>`
        : notAllowed(r),
      'wide',
    );

    const grafana = w.options.grafanaUrl
      ? html`<p>
          <a
            href="${w.options.grafanaUrl.replace(/\/$/, '')}/d/vigil-patient?var-patient=${encodeURIComponent(p.id)}"
            rel="noopener"
            >${f.t.grafana} ↗</a
          >
        </p>`
      : '';

    const body = html`${identity}${grafana}
      <div class="grid">${trendsCard}${epCard}${notesCard}${contactCard}${teamCard}${devicesCard}${logCard}</div>`;
    return reply.type('text/html').send(
      page(r, {
        title: f.t.patient,
        section: 'patients',
        body,
        head: html`<link rel="stylesheet" href="/web/static/vendor/uPlot.min.css" />`,
        scripts: ['/web/static/vendor/uPlot.iife.min.js', '/web/static/patient.js'],
      }),
    );
  });

  const back = (reply: FastifyReply, id: string) => reply.redirect(`/web/patients/${encodeURIComponent(id)}`, 303);

  app.post('/web/patients/:id/notes', { preHandler: w.csrf }, async (req, reply) => {
    const r = requirePage(req, reply);
    if (!r) return reply;
    const { id } = params.parse(req.params);
    await r.call('POST', `/api/patients/${encodeURIComponent(id)}/notes`, {
      body: (req.body as { body?: string }).body ?? '',
    });
    return back(reply, id);
  });

  app.post('/web/patients/:id/dry-weight', { preHandler: w.csrf }, async (req, reply) => {
    const r = requirePage(req, reply);
    if (!r) return reply;
    const { id } = params.parse(req.params);
    const v = ((req.body as { dryWeightKg?: string }).dryWeightKg ?? '').trim().replace(',', '.');
    await r.call('PUT', `/api/patients/${encodeURIComponent(id)}/dry-weight`, { dryWeightKg: v ? Number(v) : null });
    return back(reply, id);
  });

  app.post('/web/patients/:id/gateways/:gw/pairing', { preHandler: w.csrf }, async (req, reply) => {
    const r = requirePage(req, reply);
    if (!r) return reply;
    const { id, gw } = z.object({ id: z.string(), gw: z.string() }).parse(req.params);
    const out = await r.call<{ openUntil: string }>(
      'POST',
      `/api/patients/${encodeURIComponent(id)}/gateways/${encodeURIComponent(gw)}/pairing-window`,
      { seconds: 300 },
    );
    if (req.headers['x-requested-with'] === 'fetch')
      return reply.send({ openUntil: out.openUntil, label: r.f.time(out.openUntil) });
    return back(reply, id);
  });
}
