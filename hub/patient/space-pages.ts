import type { Article } from '../content/library';
import type { Review, ReviewedArticle } from '../content/reviews';
import type { MessageJson, ThreadJson } from '../messaging/store';
import type { Questionnaire } from '../questionnaires/fhir';
import type { Outcome } from '../questionnaires/service';
import type { PortalSubject } from './accounts';
import type { ConsentRow } from './consents';
import { html, Html } from './html';

const when = new Intl.DateTimeFormat('fr-FR', {
  timeZone: 'Europe/Paris',
  day: '2-digit',
  month: '2-digit',
  year: 'numeric',
  hour: '2-digit',
  minute: '2-digit',
});
const at = (iso: string) => when.format(new Date(iso));

const ROLE_FR: Record<string, string> = {
  coordinating_nurse: 'infirmier(ère) coordinateur(trice)',
  oncologist: 'oncologue',
  cardiologist: 'cardiologue',
  general_practitioner: 'médecin traitant',
  pharmacist: 'pharmacien(ne)',
  home_nurse: 'infirmier(ère) libéral(e)',
};

export function threadsPage(threads: ThreadJson[]): Html {
  return html`<a class="button" href="#nouveau">Écrire à mon équipe</a>
    ${
      threads.length
        ? html`<ul class="plain">
            ${threads.map((t) => html`<li><a class="${t.unread ? 'unread' : ''}" href="/patient/messages/${t.id}">${t.subject}</a>${t.unread ? html` — <span class="unread">${t.unread} nouveau${t.unread > 1 ? 'x' : ''}</span>` : ''}<br /><span class="muted">${at(t.lastMessageAt)}</span></li>`)}
          </ul>`
        : html`<p>Pas encore de message.</p>`
    }
    <h2 id="nouveau">Nouveau message</h2>
    <form method="post" action="/patient/messages" enctype="multipart/form-data">
      <label for="subject">Sujet</label>
      <input
        id="subject"
        name="subject"
        type="text"
        maxlength="200"
        placeholder="Par exemple : question sur mon traitement"
      />
      <label for="body">Votre message</label>
      <textarea id="body" name="body" rows="6" required maxlength="5000"></textarea>
      <label for="file">Ajouter une photo ou un document, si vous voulez</label>
      <input id="file" name="file" type="file" accept="image/jpeg,image/png,application/pdf" />
      <button type="submit">Envoyer</button>
    </form>
    <p class="muted">
      Votre équipe lit les messages en journée, du lundi au vendredi. En cas d’urgence, appelez le 15.
    </p>`;
}

export function threadPage(
  t: { thread: ThreadJson; messages: MessageJson[] },
  me: PortalSubject,
  names: Map<string, string>,
  sent?: string,
): Html {
  // a message with worrying words: say what happens and what to do now (never alarm without a next step)
  const banner =
    sent === 'urgent'
      ? html`<div class="card alert" role="alert">
          <p><strong>Votre message est envoyé et l’équipe est prévenue en priorité.</strong></p>
          <p>
            Si vous avez de la fièvre (38 °C ou plus), des frissons, un saignement, mal dans la poitrine ou du mal à
            respirer, appelez <strong>tout de suite</strong> le numéro de votre service, ou le 15.
          </p>
        </div>`
      : sent
        ? html`<p class="card ok" role="status">Votre message est envoyé.</p>`
        : '';
  return html`${banner}${t.messages.map((m) => {
      const mine = m.authorKind === me.kind && m.authorId === me.id;
      const who = mine
        ? 'Vous'
        : m.authorKind === 'professional'
          ? (names.get(m.authorId) ?? 'Votre équipe')
          : m.authorKind === 'caregiver'
            ? 'Votre proche'
            : 'Le patient';
      const seen = m.readBy.filter((r) => r.kind === 'professional');
      return html`<article class="msg${mine ? ' mine' : ''}">
        <p><strong>${who}</strong> — <span class="muted">${at(m.createdAt)}</span></p>
        <p>
          ${new Html(
            m.body
              .split('\n')
              .map((l) => html`${l}`.value)
              .join('<br>'),
          )}
        </p>
        ${m.attachments.map((a) => html`<p><a href="/patient/attachments/${a.id}">Pièce jointe : ${a.filename}</a></p>`)}${mine && m.authorKind !== 'professional' ? html`<p class="muted">${seen.length ? `Lu par l’équipe le ${at(seen[0]?.at ?? m.createdAt)}` : 'Pas encore lu par l’équipe'}</p>` : ''}
      </article>`;
    })}
    <h2>Répondre</h2>
    <form method="post" action="/patient/messages/${t.thread.id}" enctype="multipart/form-data">
      <label for="body">Votre réponse</label>
      <textarea id="body" name="body" rows="5" required maxlength="5000"></textarea>
      <label for="file">Ajouter une photo ou un document, si vous voulez</label>
      <input id="file" name="file" type="file" accept="image/jpeg,image/png,application/pdf" />
      <button type="submit">Envoyer</button>
    </form>
    <a class="button secondary" href="/patient/messages">Tous mes messages</a>`;
}

export function questionnairePage(q: Questionnaire): Html {
  return html`<p>Répondez pour les 7 derniers jours. Il n’y a pas de bonne ou de mauvaise réponse.</p>
    <form method="post" action="/patient/questionnaires/${q.id}">
      ${q.item.map((it) => {
        if (it.type === 'choice' || it.type === 'boolean') {
          const options =
            it.type === 'boolean'
              ? [
                  { code: 'true', display: 'Oui' },
                  { code: 'false', display: 'Non' },
                ]
              : (it.answerOption ?? []).map((o) => ({
                  code: o.valueCoding.code,
                  display: o.valueCoding.display ?? o.valueCoding.code,
                }));
          return html`<fieldset>
            <legend>${it.text}</legend>
            ${options.map((o) => html`<label><input type="radio" name="${it.linkId}" value="${o.code}" ${it.required ? new Html(' required') : ''} /> ${o.display}</label>`)}
          </fieldset>`;
        }
        return html`<label for="${it.linkId}">${it.text}</label
          ><input
            id="${it.linkId}"
            name="${it.linkId}"
            type="text"
            inputmode="decimal"
            ${it.required ? new Html(' required') : ''}
            maxlength="10"
          />`;
      })}
      <button type="submit">Envoyer mes réponses</button>
    </form>`;
}

export function questionnaireResultPage(o: Outcome): Html {
  if (o.kind === 'toxicity') {
    if (o.result.triage === 'red')
      return html`<div class="card alert" role="alert">
          <p><strong>Vos réponses montrent un effet qui doit être vu rapidement.</strong></p>
          <p>L’infirmière de votre équipe est prévenue et va vous appeler aujourd’hui.</p>
          <p>
            Si vous avez de la fièvre (38 °C ou plus) ou des frissons, ou si vous vous sentez très mal, appelez
            <strong>tout de suite</strong> le numéro de votre service, ou le 15.
          </p>
        </div>
        <a class="button" href="/patient">Revenir à mon espace</a>`;
    if (o.result.triage === 'amber')
      return html`<div class="card request">
          <p>Merci. L’infirmière va regarder vos réponses aujourd’hui et vous appellera si besoin.</p>
        </div>
        <a class="button" href="/patient/documents">Conseils pour les effets du traitement</a
        ><a class="button secondary" href="/patient">Revenir à mon espace</a>`;
    return html`<p class="ok">Merci, vos réponses sont bien arrivées. Le prochain questionnaire sera dans 7 jours.</p>
      <a class="button" href="/patient">Revenir à mon espace</a>`;
  }
  if (o.kind === 'score2') {
    if (!o.result)
      return html`<p>Merci. Votre médecin calculera votre risque avec vous lors de votre prochain rendez-vous.</p>
        <a class="button" href="/patient">Revenir à mon espace</a>`;
    const word = { low: 'faible', moderate: 'modéré', high: 'élevé' }[o.result.band];
    return html`<div class="card">
        <p>
          Votre risque d’avoir un problème au cœur ou aux vaisseaux dans les 10 ans est
          <strong>${word}</strong> (environ ${o.result.riskPercent.toLocaleString('fr-FR')} sur 100).
        </p>
        <p>Votre équipe de prévention en parlera avec vous et vous proposera un accompagnement adapté.</p>
      </div>
      <a class="button" href="/patient">Revenir à mon espace</a>`;
  }
  return html`<p class="ok">Merci, vos réponses sont bien arrivées.</p>
    <a class="button" href="/patient">Revenir à mon espace</a>`;
}

export function documentsPage(articles: Article[]): Html {
  return articles.length
    ? html`<ul class="plain">
        ${articles.map((a) => html`<li><a href="/patient/documents/${a.id}">${a.title}</a></li>`)}
      </ul>`
    : html`<p>Pas encore de document pour vous.</p>`;
}

export function documentPage(a: ReviewedArticle & { review: Review }): Html {
  return html`<div>${new Html(a.html)}</div>
    <h2>Sources</h2>
    <ul>
      ${a.sources.map((s) => html`<li>${s.publisher}, ${s.title} (${s.year})</li>`)}
    </ul>
    <p class="muted">
      Relu par ${a.review.reviewerName}, ${ROLE_FR[a.review.reviewerRole] ?? ''}, le
      ${a.review.reviewedAt.toLocaleDateString('fr-FR', { timeZone: 'Europe/Paris' })}.
    </p>
    <a class="button secondary" href="/patient/documents">Tous mes documents</a>`;
}

export function caregiversPage(
  list: { id: string; displayName: string; grantedAt: string; revokedAt: string | null }[],
): Html {
  const active = list.filter((c) => !c.revokedAt);
  return html`<p>
      Un proche (aidant) peut voir votre espace, lire et écrire vos messages, et remplir vos questionnaires avec vous.
      Vous pouvez arrêter à tout moment.
    </p>
    ${
      active.length
        ? html`<ul class="plain">
            ${active.map(
              (c) =>
                html`<li>
                  ${c.displayName}<br /><span class="muted">depuis le ${at(c.grantedAt)}</span>
                  <form method="post" action="/patient/caregivers/${c.id}/revoke">
                    <button class="secondary" type="submit">Retirer l’accès de ${c.displayName}</button>
                  </form>
                </li>`,
            )}
          </ul>`
        : html`<p>Aucun proche n’a accès à votre espace.</p>`
    }
    <h2>Donner l’accès à un proche</h2>
    <form method="post" action="/patient/caregivers">
      <label for="displayName">Son prénom et son nom</label>
      <input id="displayName" name="displayName" type="text" required maxlength="100" autocomplete="off" />
      <label for="address">Son adresse e-mail ou son numéro de portable</label>
      <input id="address" name="address" type="text" required maxlength="200" autocomplete="off" />
      <button type="submit">Donner l’accès</button>
    </form>`;
}

export function consentsPage(rows: ConsentRow[]): Html {
  const labels: Record<string, string> = {
    readings: 'mes mesures',
    messages: 'mes messages',
    questionnaires: 'mes questionnaires',
  };
  return html`<p>
      Vous choisissez ce que chaque professionnel de votre équipe peut voir. Sans case cochée, il ne voit rien de vos
      informations de santé.
    </p>
    <form method="post" action="/patient/sharing">
      ${rows.map(
        (r) =>
          html`<fieldset>
            <legend>${r.displayName}, ${ROLE_FR[r.role] ?? r.role}</legend>
            ${(['readings', 'messages', 'questionnaires'] as const).map((s) => html`<label><input type="checkbox" name="${r.professionalId}:${s}" ${r.scope.includes(s) ? new Html(' checked') : ''} /> Peut voir ${labels[s]}</label>`)}
          </fieldset>`,
      )}
      <button type="submit">Enregistrer mes choix</button>
    </form>`;
}

/** My answers: the last questionnaires, with what came out of them in plain words. */
export function answeredList(rows: { title: string; authoredAt: string; outcome: Outcome }[]): Html {
  if (!rows.length) return html``;
  const said = (o: Outcome): string => {
    if (o.kind === 'toxicity')
      return o.result.triage === 'green'
        ? 'rien d’inquiétant'
        : o.result.triage === 'amber'
          ? 'regardé par l’infirmière'
          : 'l’équipe vous a appelé(e) ou va le faire';
    if (o.kind === 'score2')
      return o.result
        ? `risque ${{ low: 'faible', moderate: 'modéré', high: 'élevé' }[o.result.band]}`
        : 'à voir avec votre médecin';
    return 'bien reçu';
  };
  return html`<h2>Mes réponses</h2>
    <ul class="plain">
      ${rows.map((r) => html`<li>${r.title} — ${said(r.outcome)}<br /><span class="muted">${at(r.authoredAt)}</span></li>`)}
    </ul>`;
}
