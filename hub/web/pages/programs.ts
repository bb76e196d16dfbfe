import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { ProgramDefinition } from '../../programs/definition';
import { ruleById } from '../../rules/catalog';
import { ApiCallError, type PageRequest, type WebContext } from '../context';
import { html, type SafeHtml } from '../html';
import { page } from '../layout';

interface ProgramRow {
  id: string;
  name: string;
  currentVersion: number;
  retiredAt: string | null;
  patients: number;
}
interface ProgramVersion {
  programId: string;
  version: number;
  current: number;
  retiredAt: string | null;
  definition: ProgramDefinition;
  createdBy: string;
  createdAt: string;
  reason: string;
}
interface VersionRow {
  version: number;
  createdBy: string;
  createdAt: string;
  reason: string;
}

const WORDS = {
  fr: {
    programs: 'Programmes',
    program: 'Programme',
    version: 'Version',
    current: 'en vigueur',
    patients: 'Patients',
    retired: 'Retiré',
    active: 'Actif',
    metrics: 'Mesures suivies',
    devices: 'Appareils',
    rules: 'Règles et seuils',
    rule: 'Règle',
    onOff: 'Active',
    thresholds: 'Paramètres (défaut du catalogue entre parenthèses)',
    roles: 'Rôles et ce que chacun voit',
    questionnaires: 'Questionnaires',
    every: 'tous les',
    days: 'jours',
    once: 'une fois',
    content: 'Contenus d’éducation',
    enrollment: 'Critères d’inclusion',
    duration: 'Durée',
    none: 'aucun',
    history: 'Historique des versions',
    by: 'par',
    edit: 'Modifier les seuils (nouvelle version)',
    reason: 'Motif du changement',
    save: 'Enregistrer une nouvelle version',
    saved: (v: number) => `Version ${String(v)} enregistrée ; elle s’applique dès maintenant.`,
    error: 'Refusé',
    viewing: (v: number, c: number) => `Version ${String(v)} (la version ${String(c)} est en vigueur)`,
    readOnly: 'Lecture seule : seuls les administrateurs modifient un programme.',
  },
  en: {
    programs: 'Programs',
    program: 'Program',
    version: 'Version',
    current: 'current',
    patients: 'Patients',
    retired: 'Retired',
    active: 'Active',
    metrics: 'Metrics followed',
    devices: 'Devices',
    rules: 'Rules and thresholds',
    rule: 'Rule',
    onOff: 'On',
    thresholds: 'Parameters (catalog default in brackets)',
    roles: 'Roles and what each sees',
    questionnaires: 'Questionnaires',
    every: 'every',
    days: 'days',
    once: 'once',
    content: 'Education content',
    enrollment: 'Enrollment criteria',
    duration: 'Duration',
    none: 'none',
    history: 'Version history',
    by: 'by',
    edit: 'Edit thresholds (new version)',
    reason: 'Reason for the change',
    save: 'Save a new version',
    saved: (v: number) => `Version ${String(v)} saved; it applies now.`,
    error: 'Refused',
    viewing: (v: number, c: number) => `Version ${String(v)} (version ${String(c)} is current)`,
    readOnly: 'Read only: only administrators change a program.',
  },
};

const idParams = z.object({ id: z.string().regex(/^[a-z][a-z0-9_]{2,62}$/) });

/** A parameter's field name in the threshold form: p.<rule>.<param> (ids are [a-z0-9-] and camelCase). */
const field = (ruleId: string, param: string) => `p.${ruleId}.${param}`;

/**
 * The programs page of the workspace (docs/programs.md): the list, one version with its rules,
 * roles, questionnaires and content, its history, and for admins a form that changes the
 * thresholds as a new version. The API validates (THRESHOLD_OUT_OF_RANGE...) and audits.
 */
export function registerProgramPages(
  w: WebContext,
  requirePage: (req: FastifyRequest, reply: FastifyReply) => PageRequest | undefined,
): void {
  const { app } = w;

  app.get('/web/admin/programs', async (req, reply) => {
    const r = requirePage(req, reply);
    if (!r) return reply;
    const t = WORDS[r.f.locale];
    const programs = await r.call<ProgramRow[]>('GET', '/api/programs');
    const body = html`<h1>${t.programs}</h1>
      <table>
        <caption class="visually-hidden">
          ${t.programs}
        </caption>
        <thead>
          <tr>
            <th scope="col">${t.program}</th>
            <th scope="col">${t.version}</th>
            <th scope="col">${t.patients}</th>
            <th scope="col">${t.active}</th>
          </tr>
        </thead>
        <tbody>
          ${programs.map(
            (p) =>
              html`<tr>
                <td><a href="/web/admin/programs/${p.id}">${p.name}</a> <code>${p.id}</code></td>
                <td>${p.currentVersion}</td>
                <td>${p.patients}</td>
                <td>${p.retiredAt ? `${t.retired} ${r.f.dateTime(p.retiredAt)}` : t.active}</td>
              </tr>`,
          )}
        </tbody>
      </table>`;
    return reply.type('text/html').send(page(r, { title: t.programs, section: 'programs', body }));
  });

  const render = async (r: PageRequest, id: string, o: { version?: number; ok?: string; error?: string }) => {
    const t = WORDS[r.f.locale];
    const [v, versions] = await Promise.all([
      r.call<ProgramVersion>(
        'GET',
        `/api/programs/${encodeURIComponent(id)}${o.version ? `?version=${String(o.version)}` : ''}`,
      ),
      r.call<VersionRow[]>('GET', `/api/programs/${encodeURIComponent(id)}/versions`),
    ]);
    const d = v.definition;
    const editable = r.can('programs.admin') && v.version === v.current && !v.retiredAt;
    const csrf = html`<input type="hidden" name="_csrf" value="${r.csrf}" />`;
    const ruleRows = Object.entries(d.rules).map(([ruleId, s]) => {
      const rule = ruleById(ruleId);
      const defaults: Record<string, unknown> = rule?.params.parse({}) ?? {};
      const params = { ...defaults, ...s.params };
      const cells = Object.entries(params).map(([name, value]): SafeHtml => {
        const fid = `${ruleId}-${name}`;
        const dflt = defaults[name];
        const label = html`<label for="${fid}">${name}</label>`;
        if (editable && typeof value === 'number')
          return html`<div class="param">
            ${label}
            <input id="${fid}" name="${field(ruleId, name)}" type="number" step="any" value="${String(value)}" />
            <span class="muted">(${String(dflt)})</span>
          </div>`;
        return html`<div class="param">
          <span>${name}</span> <strong>${String(value)}</strong> <span class="muted">(${String(dflt)})</span>
        </div>`;
      });
      return html`<tr>
        <th scope="row"><code>${ruleId}</code><br /><span class="muted">${rule?.title ?? ''}</span></th>
        <td>
          ${
            editable
              ? html`<input
                  type="checkbox"
                  name="${`on.${ruleId}`}"
                  value="true"
                  aria-label="${t.onOff} ${ruleId}"
                  ${s.enabled ? 'checked' : ''}
                />`
              : s.enabled
                ? '✓'
                : '—'
          }
        </td>
        <td>${cells}</td>
      </tr>`;
    });
    const rulesTable = html`<table>
      <caption>
        ${t.rules}
      </caption>
      <thead>
        <tr>
          <th scope="col">${t.rule}</th>
          <th scope="col">${t.onOff}</th>
          <th scope="col">${t.thresholds}</th>
        </tr>
      </thead>
      <tbody>
        ${ruleRows}
      </tbody>
    </table>`;
    const body = html`<h1>${d.name} <code>${d.id}</code></h1>
      <p>
        ${v.version === v.current ? `${t.version} ${String(v.version)} (${t.current})` : t.viewing(v.version, v.current)}
      </p>
      ${o.ok ? html`<p class="notice" role="status">${o.ok}</p>` : ''}
      ${o.error ? html`<p class="error" role="alert">${t.error} : ${o.error}</p>` : ''}
      ${d.description ? html`<p>${d.description}</p>` : ''}
      <div class="grid">
        <section class="card" aria-labelledby="pm-h">
          <h2 id="pm-h">${t.metrics}</h2>
          <p>${d.metrics.join(', ')}</p>
          <h3>${t.devices}</h3>
          <p>${d.deviceKinds.length ? d.deviceKinds.join(', ') : t.none}</p>
          <h3>${t.duration}</h3>
          <p>${d.durationDays ? `${String(d.durationDays)} ${t.days}` : '—'}</p>
        </section>
        <section class="card" aria-labelledby="pr-h">
          <h2 id="pr-h">${t.roles}</h2>
          <ul class="members">
            ${d.roles.map(
              (x) => html`<li><strong>${x.label}</strong> <code>${x.id}</code> (${x.kind}) — ${x.sees.join(', ')}</li>`,
            )}
          </ul>
        </section>
        <section class="card" aria-labelledby="pq-h">
          <h2 id="pq-h">${t.questionnaires}</h2>
          <ul class="members">
            ${
              d.questionnaires.length
                ? d.questionnaires.map(
                    (q) =>
                      html`<li>
                        <code>${q.id}</code> — ${q.everyDays ? `${t.every} ${String(q.everyDays)} ${t.days}` : t.once}
                      </li>`,
                  )
                : html`<li>${t.none}</li>`
            }
          </ul>
          <h3>${t.content}</h3>
          <p>${[...d.content.articles, ...d.content.tags.map((x) => `#${x}`)].join(', ') || t.none}</p>
          <h3>${t.enrollment}</h3>
          <ul class="members">
            ${d.enrollment.criteria.map((c) => html`<li>${c}</li>`)}
          </ul>
        </section>
        <section class="card wide" aria-labelledby="pt-h">
          <h2 id="pt-h">${editable ? t.edit : t.rules}</h2>
          ${
            editable
              ? html`<form method="post" action="/web/admin/programs/${d.id}" class="stack">
                  ${csrf}
                  <input type="hidden" name="basedOn" value="${String(v.version)}" />
                  ${rulesTable}
                  <label for="pt-reason">${t.reason}</label>
                  <input id="pt-reason" name="reason" required minlength="3" maxlength="500" />
                  <button type="submit">${t.save}</button>
                </form>`
              : html`${r.can('programs.admin') ? '' : html`<p class="muted">${t.readOnly}</p>`} ${rulesTable}`
          }
        </section>
        <section class="card wide" aria-labelledby="ph-h">
          <h2 id="ph-h">${t.history}</h2>
          <ol reversed>
            ${versions.map(
              (x) =>
                html`<li>
                  <a href="/web/admin/programs/${d.id}?version=${String(x.version)}"
                    >${t.version} ${String(x.version)}</a
                  >
                  — ${r.f.dateTime(x.createdAt)} ${t.by} ${x.createdBy} : ${x.reason}
                </li>`,
            )}
          </ol>
        </section>
      </div>`;
    return page(r, { title: `${t.program} ${d.name}`, section: 'programs', body });
  };

  app.get('/web/admin/programs/:id', async (req, reply) => {
    const r = requirePage(req, reply);
    if (!r) return reply;
    const { id } = idParams.parse(req.params);
    const version = Number((req.query as Record<string, unknown>).version);
    return reply
      .type('text/html')
      .send(await render(r, id, Number.isInteger(version) && version > 0 ? { version } : {}));
  });

  app.post('/web/admin/programs/:id', { preHandler: w.csrf }, async (req, reply) => {
    const r = requirePage(req, reply);
    if (!r) return reply;
    const { id } = idParams.parse(req.params);
    const b = (req.body ?? {}) as Record<string, unknown>;
    const text = (k: string) => (typeof b[k] === 'string' ? b[k].trim() : '');
    try {
      const cur = await r.call<ProgramVersion>('GET', `/api/programs/${encodeURIComponent(id)}`);
      const rules = Object.fromEntries(
        Object.entries(cur.definition.rules).map(([ruleId, s]) => {
          const params = new Map(Object.entries(s.params));
          const defaults: Record<string, unknown> = ruleById(ruleId)?.params.parse({}) ?? {};
          for (const [k, raw] of Object.entries(b)) {
            const prefix = `p.${ruleId}.`;
            if (!k.startsWith(prefix) || typeof raw !== 'string' || raw.trim() === '') continue;
            const name = k.slice(prefix.length);
            const value = Number(raw.replace(',', '.'));
            // a value equal to the catalog default is not an override: the definition keeps only departures
            if (value === defaults[name]) params.delete(name);
            else params.set(name, Number.isFinite(value) ? value : raw);
          }
          return [ruleId, { ...s, enabled: b[`on.${ruleId}`] === 'true', params: Object.fromEntries(params) }];
        }),
      );
      const next = await r.call<{ version: number }>('PUT', `/api/programs/${encodeURIComponent(id)}`, {
        definition: { ...cur.definition, rules },
        reason: text('reason'),
        basedOn: Number(text('basedOn')) || undefined,
      });
      return await reply.type('text/html').send(await render(r, id, { ok: WORDS[r.f.locale].saved(next.version) }));
    } catch (e) {
      if (!(e instanceof ApiCallError)) throw e;
      return reply
        .status(e.status)
        .type('text/html')
        .send(await render(r, id, { error: `${e.code} — ${e.message}` }));
    }
  });
}
