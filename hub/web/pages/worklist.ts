import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { PROGRAMS } from '../../rules/rule';
import type { WorklistRow } from '../api/routes';
import { ApiCallError, type PageRequest, type WebContext } from '../context';
import { ageFrom, describeValues, ruleWords } from '../describe';
import { html, type SafeHtml } from '../html';
import { page } from '../layout';
import { csrfField, tableHeader } from './parts';

const filtersSchema = z.object({
  program: z
    .enum(PROGRAMS as [string, ...string[]])
    .optional()
    .catch(undefined),
  severity: z.enum(['amber', 'red']).optional().catch(undefined),
  assignee: z.string().max(100).optional().catch(undefined),
  unacknowledged: z.enum(['true']).optional().catch(undefined),
});
type Filters = z.infer<typeof filtersSchema>;

export const RESOLVE_REASONS = [
  'called_patient',
  'treatment_adjusted',
  'false_reading',
  'referred',
  'hospitalised',
  'other',
] as const;

function query(fl: Filters): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(fl)) if (v) q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : '';
}

export function severityBadge(r: PageRequest, severity: 'amber' | 'red'): SafeHtml {
  const { t } = r.f;
  // never colour alone: an icon and a word too (WCAG 1.4.1)
  return severity === 'red'
    ? html`<span class="sev sev-red"><span aria-hidden="true">▲</span> ${t.red}<small>${t.redHint}</small></span>`
    : html`<span class="sev sev-amber"
        ><span aria-hidden="true">●</span> ${t.amber}<small>${t.amberHint}</small></span
      >`;
}

function row(r: PageRequest, w: WorklistRow, now: Date): SafeHtml {
  const { f } = r;
  const e = w.episode;
  const age = ageFrom(w.patient.birthYear, now);
  const last = w.triggers.at(-1);
  const devices = [...new Map(w.triggers.map((x) => [x.device, x])).values()];
  const canTriage = r.can('alerts.triage');
  const label = `${w.patient.displayName}, ${ruleWords(e.ruleId, f)}`;
  /** a button opening one of the shared action dialogs for this episode (the script fills the dialog in) */
  const dialogButton = (dialog: 'assign' | 'note' | 'silence' | 'resolve', text: string, ruleId?: string) =>
    html`<button
      type="button"
      class="${dialog === 'resolve' ? 'danger' : 'secondary'}"
      data-dialog="${dialog}"
      data-episode="${e.id}"
      data-patient="${w.patient.id}"
      ${ruleId === undefined ? '' : html`data-rule="${ruleId}"`}
      aria-label="${text} : ${label}"
    >
      ${text}
    </button>`;
  return html`<tr
    id="episode-${e.id}"
    data-episode="${e.id}"
    data-patient="${w.patient.id}"
    data-status="${e.status}"
    class="${e.severity}"
  >
    <td>${severityBadge(r, e.severity)}</td>
    <td class="patient">
      <a href="/web/patients/${encodeURIComponent(w.patient.id)}">${w.patient.displayName}</a>
      <span class="muted"
        >${age !== undefined ? `${age} ${f.t.years}` : ''} ·
        ${f.t.programs[w.patient.programId] ?? w.patient.programId}</span
      >
    </td>
    <td class="what">
      <strong>${ruleWords(e.ruleId, f, e.ruleTitle)}</strong>
      <span class="values">${describeValues(e.lastValue, f)}</span>
      ${last ? html`<span class="muted">${f.locale === 'fr' ? 'mesurée le' : 'measured'} ${f.dateTime(last.measuredAt)}</span>` : ''}
      ${e.status === 'acknowledged' ? html`<span class="tag">✓ ${f.t.acknowledged}</span>` : html`<span class="tag tag-new">${f.t.open}</span>`}
      ${e.silenced ? html`<span class="tag">${f.t.silenced}</span>` : ''}
    </td>
    <td class="device">
      ${devices.length ? devices.map((d) => html`<span>${d.driver}<small>${d.device}</small></span>`) : html`<span class="muted">—</span>`}
    </td>
    <td><time datetime="${e.openedAt}" title="${f.dateTime(e.openedAt)}">${f.age(e.openedAt, now)}</time></td>
    <td>${w.assigneeName ?? e.assignee ?? html`<span class="muted">${f.t.unassigned}</span>`}</td>
    <td class="actions">
      ${
        canTriage
          ? html`${
              e.status === 'open'
                ? html`<form method="post" action="/web/episodes/${e.id}/acknowledge" data-ajax>
                    ${csrfField(r)}
                    <button type="submit" aria-label="${f.t.acknowledge} : ${label}">${f.t.acknowledge}</button>
                  </form>`
                : ''
            }
            ${dialogButton('assign', f.t.assign)} ${dialogButton('note', f.t.note)}
            ${dialogButton('silence', f.t.silence, e.ruleId)} ${dialogButton('resolve', f.t.resolve)}`
          : ''
      }
    </td>
  </tr>`;
}

function rowsHtml(r: PageRequest, rows: WorklistRow[], now: Date): SafeHtml {
  if (!rows.length)
    return html`<tr class="empty">
      <td colspan="7">${r.f.t.noEpisodes}</td>
    </tr>`;
  return html`${rows.map((x) => row(r, x, now))}`;
}

/** The action dialogs, shared by all rows: the script fills in the episode. */
function dialogs(r: PageRequest): SafeHtml {
  const { t } = r.f;
  const csrf = csrfField(r);
  const buttons = (ok: string, cls = '') =>
    html`<div class="dialog-buttons">
      <button type="button" class="secondary" data-close>${t.cancel}</button
      ><button type="submit" class="${cls}">${ok}</button>
    </div>`;
  return html` <dialog id="dlg-assign" aria-labelledby="dlg-assign-h">
      <form method="post" data-action="assign" data-ajax>
        <h2 id="dlg-assign-h">${t.assign}</h2>
        ${csrf}
        <label for="assignee">${t.assignee}</label>
        <select id="assignee" name="assignee" required></select>
        ${buttons(t.assign)}
      </form>
    </dialog>
    <dialog id="dlg-note" aria-labelledby="dlg-note-h">
      <form method="post" data-action="note" data-ajax>
        <h2 id="dlg-note-h">${t.note}</h2>
        ${csrf}
        <label for="note-body">${t.note}</label>
        <textarea id="note-body" name="body" rows="5" required maxlength="4000"></textarea>
        ${buttons(t.save)}
      </form>
    </dialog>
    <dialog id="dlg-silence" aria-labelledby="dlg-silence-h">
      <form method="post" data-action="silence" data-ajax>
        <h2 id="dlg-silence-h">${t.silence}</h2>
        ${csrf}
        <input type="hidden" name="ruleId" />
        <label for="silence-until">${t.until}</label>
        <input id="silence-until" name="until" type="datetime-local" required />
        <label for="silence-reason">${t.reason}</label>
        <input id="silence-reason" name="reason" required minlength="3" maxlength="500" />
        ${buttons(t.silence)}
      </form>
    </dialog>
    <dialog id="dlg-resolve" aria-labelledby="dlg-resolve-h" aria-describedby="dlg-resolve-warn">
      <form method="post" data-action="resolve" data-ajax>
        <h2 id="dlg-resolve-h">${t.resolve}</h2>
        ${csrf}
        <p id="dlg-resolve-warn" class="warn">${t.resolveIrreversible}</p>
        <fieldset>
          <legend>${t.reason}</legend>
          ${RESOLVE_REASONS.map(
            (k, i) =>
              html`<label class="radio"
                ><input type="radio" name="reason" value="${k}" ${i === 0 ? 'required' : ''} />
                ${t.resolveReasons[k]}</label
              >`,
          )}
        </fieldset>
        <label for="resolve-details">${t.details}</label>
        <textarea id="resolve-details" name="details" rows="3" maxlength="400"></textarea>
        ${buttons(t.confirm, 'danger')}
      </form>
    </dialog>`;
}

async function loadRows(r: PageRequest, fl: Filters): Promise<WorklistRow[]> {
  return (await r.call<{ rows: WorklistRow[] }>('GET', `/api/worklist${query(fl)}`)).rows;
}

export function titleFor(r: PageRequest, rows: WorklistRow[]): string {
  // counts only: no patient data in the title (shared workstations, other people's screens)
  const red = rows.filter((x) => x.episode.severity === 'red').length;
  return `(${rows.length}${red ? ` · ${red} ▲` : ''}) ${r.f.t.worklist}`;
}

export function registerWorklistPages(
  w: WebContext,
  requirePage: (req: FastifyRequest, reply: FastifyReply) => PageRequest | undefined,
): void {
  const { app } = w;

  app.get('/web/worklist', async (req, reply) => {
    const r = requirePage(req, reply);
    if (!r) return reply;
    const { f } = r;
    const fl = filtersSchema.parse(req.query);
    const rows = r.can('alerts.read') ? await loadRows(r, fl) : [];
    const now = new Date();
    const body = html` <div class="page-head">
        <h1>
          ${f.t.worklist} <span class="count" id="count">${rows.length}</span
          ><span class="visually-hidden"> ${f.t.openEpisodes}</span>
        </h1>
        <p class="live" id="live" role="status" aria-live="polite">${f.t.live}</p>
      </div>
      <form class="filters" method="get" action="/web/worklist">
        <div>
          <label for="f-program">${f.t.program}</label>
          <select id="f-program" name="program">
            <option value="">${f.t.all}</option>
            ${PROGRAMS.map((p) => html`<option value="${p}" ${fl.program === p ? 'selected' : ''}>${f.t.programs[p] ?? p}</option>`)}
          </select>
        </div>
        <div>
          <label for="f-severity">${f.t.severity}</label>
          <select id="f-severity" name="severity">
            <option value="">${f.t.all}</option>
            <option value="red" ${fl.severity === 'red' ? 'selected' : ''}>${f.t.red}</option>
            <option value="amber" ${fl.severity === 'amber' ? 'selected' : ''}>${f.t.amber}</option>
          </select>
        </div>
        <div>
          <label for="f-assignee">${f.t.assignee}</label>
          <select id="f-assignee" name="assignee">
            <option value="">${f.t.all}</option>
            <option value="me" ${fl.assignee === 'me' ? 'selected' : ''}>${f.t.assignedToMe}</option>
            <option value="none" ${fl.assignee === 'none' ? 'selected' : ''}>${f.t.unassigned}</option>
          </select>
        </div>
        <div class="check">
          <input
            type="checkbox"
            id="f-unack"
            name="unacknowledged"
            value="true"
            ${fl.unacknowledged ? 'checked' : ''}
          />
          <label for="f-unack">${f.t.onlyUnacknowledged}</label>
        </div>
        <button type="submit" class="secondary">${f.t.filter}</button>
      </form>
      <table class="worklist" id="worklist" data-rows-url="/web/worklist/rows${query(fl)}">
        ${tableHeader(f.t.worklist, [
          f.t.severity,
          f.t.patient,
          f.t.what,
          f.t.device,
          f.t.since,
          f.t.assignee,
          { hidden: f.t.actions },
        ])}
        <tbody id="rows">
          ${rowsHtml(r, rows, now)}
        </tbody>
      </table>
      ${dialogs(r)}`;
    return reply.type('text/html').send(page(r, { title: titleFor(r, rows), section: 'worklist', body }));
  });

  /** The rows alone, for live refreshes (the script swaps the table body in place). */
  app.get('/web/worklist/rows', async (req, reply) => {
    const r = requirePage(req, reply);
    if (!r) return reply;
    const rows = r.can('alerts.read') ? await loadRows(r, filtersSchema.parse(req.query)) : [];
    return reply
      .header('cache-control', 'no-store')
      .header('x-vigil-title', encodeURIComponent(titleFor(r, rows)))
      .header('x-vigil-count', String(rows.length))
      .type('text/html')
      .send(rowsHtml(r, rows, new Date()).value);
  });

  const idParams = z.object({ id: z.coerce.number().int().positive() });
  const act = (
    path: string,
    run: (r: PageRequest, id: number, body: Record<string, string | undefined>) => Promise<unknown>,
  ) =>
    app.post(`/web/episodes/:id/${path}`, { preHandler: w.csrf }, async (req, reply) => {
      const r = requirePage(req, reply);
      if (!r) return reply;
      const id = idParams.parse(req.params).id;
      try {
        await run(r, id, (req.body ?? {}) as Record<string, string | undefined>);
      } catch (e) {
        if (!(e instanceof ApiCallError)) throw e;
        return reply.status(e.status).send({ code: e.code, message: e.message });
      }
      if (req.headers['x-requested-with'] === 'fetch') return reply.status(204).send();
      return reply.redirect('/web/worklist', 303);
    });

  act('acknowledge', (r, id) => r.call('POST', `/api/alerts/${id}/acknowledge`));
  act('assign', (r, id, b) => r.call('POST', `/api/alerts/${id}/assign`, { assignee: b.assignee ?? '' }));
  act('resolve', (r, id, b) => {
    const key = RESOLVE_REASONS.find((k) => k === b.reason) ?? 'other';
    // the reason as stored: the list's key (stable, language-free) plus the nurse's words
    const reason = `${key}${b.details?.trim() ? `: ${b.details.trim()}` : ''}`;
    return r.call('POST', `/api/alerts/${id}/resolve`, { reason });
  });
  act('note', async (r, id, b) => {
    const ep = await r.call<{ patientId: string }>('GET', `/api/alerts/${id}`);
    return r.call('POST', `/api/patients/${encodeURIComponent(ep.patientId)}/notes`, {
      body: b.body ?? '',
      episodeId: id,
    });
  });
  act('silence', async (r, id, b) => {
    const ep = await r.call<{ patientId: string; ruleId: string }>('GET', `/api/alerts/${id}`);
    const until = b.until ? localInputToIso(b.until) : '';
    return r.call('POST', `/api/patients/${encodeURIComponent(ep.patientId)}/silences`, {
      until,
      ruleId: ep.ruleId,
      reason: b.reason ?? '',
    });
  });
}

/** <input type="datetime-local"> gives wall-clock time in Paris; the API wants an instant. */
export function localInputToIso(v: string): string {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})$/.exec(v);
  if (!m) return v;
  const [y, mo, d, h, mi] = m.slice(1).map(Number) as [number, number, number, number, number];
  const asUtc = Date.UTC(y, mo - 1, d, h, mi);
  // offset of Europe/Paris at that instant (CET/CEST)
  const paris = new Date(new Date(asUtc).toLocaleString('en-US', { timeZone: 'Europe/Paris' }));
  const utc = new Date(new Date(asUtc).toLocaleString('en-US', { timeZone: 'UTC' }));
  return new Date(asUtc - (paris.getTime() - utc.getTime())).toISOString();
}
