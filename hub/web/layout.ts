import { html, type SafeHtml } from './html';
import type { Fmt } from './i18n';
import type { PageRequest } from './context';

export type Section = 'worklist' | 'patients' | 'admin' | 'programs' | 'none';

/** Page shell: landmarks, skip link, language, no patient data in the title (shared workstations). */
export function shell(
  f: Fmt,
  o: { title: string; body: SafeHtml; head?: SafeHtml; scripts?: string[]; header?: SafeHtml },
): string {
  return (
    '<!doctype html>' +
    html`<html lang="${f.locale}">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${o.title} — Vigil</title>
        <link rel="stylesheet" href="/web/static/app.css" />
        ${o.head}
      </head>
      <body>
        <a class="skip" href="#main">${f.t.skip}</a>
        ${o.header}
        <main id="main" tabindex="-1">${o.body}</main>
        ${(o.scripts ?? []).map((s) => html`<script src="${s}" defer></script>`)}
      </body>
    </html>`.value
  );
}

export function page(
  r: PageRequest,
  o: { title: string; section: Section; body: SafeHtml; head?: SafeHtml; scripts?: string[] },
): string {
  const { f, me } = r;
  const link = (href: string, label: string, s: Section) =>
    html`<a href="${href}" ${o.section === s ? html`aria-current="page"` : ''}>${label}</a>`;
  const header = html`<header class="top">
    <div class="brand"><span class="logo" aria-hidden="true">◆</span> Vigil</div>
    <nav aria-label="${f.locale === 'fr' ? 'Navigation principale' : 'Main navigation'}">
      ${link('/web/worklist', f.t.worklist, 'worklist')} ${link('/web/patients', f.t.patients, 'patients')}
      ${r.can('enrollment.write') ? link('/web/admin', f.t.administration, 'admin') : ''}
      ${r.can('programs.read') ? link('/web/admin/programs', f.locale === 'fr' ? 'Programmes' : 'Programs', 'programs') : ''}
    </nav>
    <div class="me">
      <span>${me.displayName}<small>${f.t.roles[me.role] ?? me.role}</small></span>
      <form method="post" action="/web/logout">
        <input type="hidden" name="_csrf" value="${r.csrf}" />
        <button type="submit" class="secondary">${f.t.signOut}</button>
      </form>
    </div>
  </header>`;
  return shell(f, {
    title: o.title,
    body: o.body,
    header,
    scripts: ['/web/static/app.js', ...(o.scripts ?? [])],
    ...(o.head ? { head: o.head } : {}),
  });
}
