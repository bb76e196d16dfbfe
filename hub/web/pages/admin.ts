import type { FastifyReply, FastifyRequest } from 'fastify';
import QRCode from 'qrcode';
import { z } from 'zod';
import { PROGRAMS } from '../../rules/rule';
import { ApiCallError, type PageRequest, type WebContext } from '../context';
import { html, raw, type SafeHtml } from '../html';
import { page, shell } from '../layout';

interface Team {
  id: string;
  name: string;
  programId: string;
  members: { id: string; displayName: string; role: string }[];
}
interface Patient {
  id: string;
  displayName: string;
  programId: string;
}
interface EffectiveRule {
  ruleId: string;
  title?: string;
  enabled: boolean;
  params: Record<string, unknown>;
  override?: unknown;
}

const str = (b: unknown, k: string): string => {
  const v = (b as Record<string, unknown> | undefined)?.[k];
  return typeof v === 'string' ? v.trim() : '';
};

/**
 * Team administration (coordinating nurses, admins): enroll a patient, contact details, box
 * enrollment code with a printable QR sheet, device binding, consents, per-patient rule overrides.
 * Each form posts to /web/admin/..., which calls the matching API endpoint; the API decides.
 */
export function registerAdminPages(
  w: WebContext,
  requirePage: (req: FastifyRequest, reply: FastifyReply) => PageRequest | undefined,
): void {
  const { app } = w;

  const render = async (r: PageRequest, o: { ok?: string; error?: string; patientId?: string }) => {
    const { f } = r;
    const [{ teams }, { patients }] = await Promise.all([
      r.call<{ teams: Team[] }>('GET', '/api/my-care-teams'),
      r.call<{ patients: Patient[] }>('GET', '/api/patients'),
    ]);
    const selected = o.patientId ?? patients[0]?.id;
    const rules =
      selected && r.can('rules.read')
        ? await r.tryGet<{ rules: EffectiveRule[] }>(`/api/patients/${encodeURIComponent(selected)}/rules`)
        : undefined;
    const csrf = html`<input type="hidden" name="_csrf" value="${r.csrf}" />`;
    const patientSelect = (id: string) =>
      html`<label for="${id}">${f.t.patient}</label
        ><select id="${id}" name="patientId" required>
          ${patients.map((p) => html`<option value="${p.id}" ${p.id === selected ? 'selected' : ''}>${p.displayName} (${p.id})</option>`)}
        </select>`;
    const professionals = teams.flatMap((t) => t.members);
    const body = html`<h1>${f.t.administration}</h1>
      ${o.ok ? html`<p class="notice" role="status">${o.ok}</p>` : ''}
      ${o.error ? html`<p class="error" role="alert">${f.t.errorPrefix} : ${o.error}</p>` : ''}
      <div class="grid">
        <section class="card" aria-labelledby="enroll-h">
          <h2 id="enroll-h">${f.t.enroll}</h2>
          <form method="post" action="/web/admin/patients" class="stack">
            ${csrf} <label for="e-id">${f.t.patientId}</label
            ><input id="e-id" name="id" required pattern="[A-Za-z0-9][A-Za-z0-9_-]{0,63}" />
            <label for="e-name">${f.t.displayName}</label
            ><input id="e-name" name="displayName" required maxlength="200" />
            <label for="e-birth">${f.t.birthYear}</label
            ><input id="e-birth" name="birthYear" inputmode="numeric" pattern="(19|20)[0-9]{2}" />
            <label for="e-team">${f.t.team}</label
            ><select id="e-team" name="careTeamId" required>
              ${teams.map((t) => html`<option value="${t.id}">${t.name} — ${f.t.programs[t.programId] ?? t.programId}</option>`)}
            </select>
            <label for="e-phone">${f.t.phone}</label><input id="e-phone" name="phone" type="tel" />
            <button type="submit">${f.t.enroll}</button>
          </form>
        </section>

        <section class="card" aria-labelledby="code-h">
          <h2 id="code-h">${f.t.enrollmentCode}</h2>
          <form method="post" action="/web/admin/enrollment-code" class="stack">
            ${csrf} ${patientSelect('c-patient')} <label for="c-gw">${f.t.gatewayId}</label
            ><input id="c-gw" name="gatewayId" required pattern="gw-[a-z0-9-]+" placeholder="gw-0001" />
            <button type="submit">${f.t.issueCode}</button>
          </form>
        </section>

        <section class="card" aria-labelledby="bind-h">
          <h2 id="bind-h">${f.t.bindDevice}</h2>
          <form method="post" action="/web/admin/devices" class="stack">
            ${csrf} ${patientSelect('b-patient')} <label for="b-gw">${f.t.gatewayId}</label
            ><input id="b-gw" name="gatewayId" required /> <label for="b-addr">${f.t.bleAddress}</label
            ><input id="b-addr" name="address" required pattern="([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}" />
            <button type="submit">${f.t.bindDevice}</button>
          </form>
        </section>

        <section class="card" aria-labelledby="consent-h">
          <h2 id="consent-h">${f.t.consents}</h2>
          <form method="post" action="/web/admin/consents" class="stack">
            ${csrf} ${patientSelect('k-patient')} <label for="k-pro">${f.t.careTeam}</label
            ><select id="k-pro" name="professionalId" required>
              ${professionals.map((m) => html`<option value="${m.id}">${m.displayName} — ${f.t.roles[m.role] ?? m.role}</option>`)}
            </select>
            <fieldset class="inline">
              <legend class="visually-hidden">${f.t.actions}</legend>
              <label class="radio"><input type="radio" name="op" value="grant" checked /> ${f.t.grantConsent}</label>
              <label class="radio"><input type="radio" name="op" value="revoke" /> ${f.t.revokeConsent}</label>
            </fieldset>
            <button type="submit">${f.t.save}</button>
          </form>
        </section>

        <section class="card" aria-labelledby="rule-h">
          <h2 id="rule-h">${f.t.ruleOverride}</h2>
          ${
            r.can('rules.override')
              ? html`<form method="post" action="/web/admin/rule-override" class="stack">
                  ${csrf} ${patientSelect('r-patient')} <label for="r-rule">${f.t.rule}</label
                  ><select id="r-rule" name="ruleId" required>
                    ${(rules?.rules ?? []).map((x) => html`<option value="${x.ruleId}">${x.ruleId}</option>`)}
                  </select>
                  <label for="r-params">${f.t.parameters}</label
                  ><textarea id="r-params" name="params" rows="3">{}</textarea>
                  <label class="radio"
                    ><input type="checkbox" name="enabled" value="true" checked /> ${f.t.enabled}</label
                  >
                  <label for="r-reason">${f.t.reason}</label
                  ><input id="r-reason" name="reason" required minlength="3" maxlength="500" />
                  <button type="submit">${f.t.save}</button>
                </form>`
              : html`<p class="muted">${f.t.notAllowed}</p>
                  ${
                    rules
                      ? html`<ul class="members">
                          ${rules.rules.map((x) => html`<li><code>${x.ruleId}</code> ${x.enabled ? '' : '(off)'}</li>`)}
                        </ul>`
                      : ''
                  }`
          }
        </section>

        <section class="card wide" aria-labelledby="members-h">
          <h2 id="members-h">${f.t.members}</h2>
          ${teams.map(
            (t) =>
              html`<h3>${t.name} <span class="muted">${f.t.programs[t.programId] ?? t.programId}</span></h3>
                <ul class="members">
                  ${t.members.map((m) => html`<li>${m.displayName} <span class="muted">${f.t.roles[m.role] ?? m.role}</span></li>`)}
                </ul>`,
          )}
          ${
            r.can('careteams.admin')
              ? html`<form method="post" action="/web/admin/members" class="inline-form">
                  ${csrf} <label for="m-team">${f.t.team}</label
                  ><select id="m-team" name="careTeamId">
                    ${teams.map((t) => html`<option value="${t.id}">${t.name}</option>`)}
                  </select>
                  <label for="m-pro">${f.t.login}</label><input id="m-pro" name="professionalId" required />
                  <button type="submit" class="secondary">${f.t.save}</button>
                </form>`
              : ''
          }
        </section>
      </div>`;
    return page(r, { title: f.t.administration, section: 'admin', body });
  };

  app.get('/web/admin', async (req, reply) => {
    const r = requirePage(req, reply);
    if (!r) return reply;
    return reply
      .type('text/html')
      .send(await render(r, str(req.query, 'patient') ? { patientId: str(req.query, 'patient') } : {}));
  });

  const action = (path: string, run: (r: PageRequest, b: unknown) => Promise<string | SafeHtml | undefined>) =>
    app.post(`/web/admin/${path}`, { preHandler: w.csrf }, async (req, reply) => {
      const r = requirePage(req, reply);
      if (!r) return reply;
      try {
        const out = await run(r, req.body);
        if (out instanceof Object) return await reply.type('text/html').send(out.toString());
        return await reply.type('text/html').send(await render(r, { ok: out ?? r.f.t.done }));
      } catch (e) {
        if (!(e instanceof ApiCallError)) throw e;
        return reply
          .status(e.status)
          .type('text/html')
          .send(await render(r, { error: `${e.code} — ${e.message}` }));
      }
    });

  action('patients', async (r, b) => {
    const id = str(b, 'id');
    const birth = str(b, 'birthYear');
    const teams = (await r.call<{ teams: Team[] }>('GET', '/api/my-care-teams')).teams;
    const team = teams.find((t) => t.id === str(b, 'careTeamId'));
    await r.call('POST', '/api/patients', {
      id,
      displayName: str(b, 'displayName'),
      programId: team?.programId ?? PROGRAMS[0],
      careTeamId: str(b, 'careTeamId'),
      ...(birth ? { birthYear: Number(birth) } : {}),
    });
    if (str(b, 'phone'))
      await r.call('PUT', `/api/patients/${encodeURIComponent(id)}/contact`, { phone: str(b, 'phone') });
    return undefined;
  });

  action('enrollment-code', async (r, b) => {
    const patientId = str(b, 'patientId');
    const gatewayId = str(b, 'gatewayId');
    const { code, expiresAt } = await r.call<{ code: string; expiresAt: string }>('POST', '/api/enrollment-codes', {
      patientId,
      gatewayId,
    });
    const p = await r.call<{ displayName: string }>('GET', `/api/patients/${encodeURIComponent(patientId)}`);
    // the box reads the same code the patient could type: the QR code holds the code only
    const svg = await QRCode.toString(code, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
    const { f } = r;
    return raw(
      shell(f, {
        title: f.t.enrollmentCode,
        body: html`<article class="sheet">
          <h1>Vigil — ${f.t.enrollmentCode}</h1>
          <p><strong>${p.displayName}</strong> · Box <code>${gatewayId}</code></p>
          <div class="qr" role="img" aria-label="QR code ${code}">${raw(svg)}</div>
          <p class="code">${code}</p>
          <p>${f.locale === 'fr' ? 'Valable jusqu’au' : 'Valid until'} ${f.dateTime(expiresAt)}</p>
          <p class="no-print">
            <button type="button" data-print>${f.t.printSheet}</button> <a href="/web/admin">${f.t.administration}</a>
          </p>
        </article>`,
        scripts: ['/web/static/app.js'],
      }),
    );
  });

  action('devices', async (r, b) => {
    await r.call('POST', `/api/patients/${encodeURIComponent(str(b, 'patientId'))}/devices`, {
      gatewayId: str(b, 'gatewayId'),
      address: str(b, 'address').toUpperCase(),
    });
    return undefined;
  });

  action('consents', async (r, b) => {
    const pid = encodeURIComponent(str(b, 'patientId'));
    const pro = str(b, 'professionalId');
    if (str(b, 'op') === 'revoke') await r.call('DELETE', `/api/patients/${pid}/consents/${encodeURIComponent(pro)}`);
    else await r.call('POST', `/api/patients/${pid}/consents`, { professionalId: pro });
    return undefined;
  });

  action('rule-override', async (r, b) => {
    const params = z.record(z.string(), z.unknown()).safeParse(JSON.parse(str(b, 'params') || '{}'));
    if (!params.success) throw new ApiCallError(400, 'INVALID_REQUEST', 'parameters must be a JSON object');
    await r.call(
      'PUT',
      `/api/patients/${encodeURIComponent(str(b, 'patientId'))}/rules/${encodeURIComponent(str(b, 'ruleId'))}`,
      {
        enabled: str(b, 'enabled') === 'true',
        params: params.data,
        reason: str(b, 'reason'),
      },
    );
    return undefined;
  });

  action('members', async (r, b) => {
    await r.call('POST', `/api/care-teams/${encodeURIComponent(str(b, 'careTeamId'))}/members`, {
      professionalId: str(b, 'professionalId'),
    });
    return undefined;
  });
}
