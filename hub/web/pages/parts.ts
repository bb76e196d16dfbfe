import { html, type SafeHtml } from '../html';

/** The hidden anti-CSRF field every form of the workspace posts (checked by the routes' csrf pre-handler). */
export const csrfField = (r: { csrf: string }): SafeHtml =>
  html`<input type="hidden" name="_csrf" value="${r.csrf}" />`;

/**
 * A table's caption (for screen readers) and column headers. A column given as `{ hidden }` has a
 * header only screen readers hear (an actions column, for instance).
 */
export function tableHeader(caption: string, columns: readonly (string | { hidden: string })[]): SafeHtml {
  return html`<caption class="visually-hidden">
      ${caption}
    </caption>
    <thead>
      <tr>
        ${columns.map((c) =>
          typeof c === 'string'
            ? html`<th scope="col">${c}</th>`
            : html`<th scope="col"><span class="visually-hidden">${c.hidden}</span></th>`,
        )}
      </tr>
    </thead>`;
}
