const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for HTML element content and attribute values. */
export function esc(s: string | number): string {
  return String(s).replace(/[&<>"']/g, (c) => ENTITIES[c] ?? c);
}

/** Marks a string as already-safe HTML (built from escaped parts). */
export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

/** Tagged template: interpolated values are escaped unless they are Html (or arrays of Html). */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0] ?? '';
  values.forEach((v, i) => {
    const part = (x: unknown): string =>
      x instanceof Html
        ? x.value
        : Array.isArray(x)
          ? x.map(part).join('')
          : x === null || x === undefined || x === false
            ? ''
            : typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean'
              ? esc(String(x))
              : '';
    out += part(v) + (strings[i + 1] ?? '');
  });
  return new Html(out);
}

/**
 * Patient space style (ui-notes, RGAA 4.1 / WCAG 2.1 AA): body 20 px, line height 1.5, text
 * #111 on white (contrast > 15:1), buttons with words, 56 px high, full width on a phone, a
 * visible focus ring, nothing that depends on colour alone, sizes in rem so the phone's text zoom
 * at 200 % reflows the page.
 */
const CSS = `
*{box-sizing:border-box}
html{font-size:125%;-webkit-text-size-adjust:100%}
body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;font-size:1rem;line-height:1.5;color:#111;background:#fff}
header{background:#0b3d91;color:#fff;padding:.75rem 1rem}
header a{color:#fff}
header p{margin:0;font-size:1.1rem;font-weight:700}
main{max-width:40rem;margin:0 auto;padding:1rem}
h1{font-size:1.5rem;line-height:1.25;margin:.5rem 0 1rem}
h2{font-size:1.2rem;margin:1.5rem 0 .5rem}
a{color:#0b3d91}
.button,button{display:block;width:100%;min-height:2.8rem;margin:.75rem 0;padding:.6rem 1rem;border:2px solid #0b3d91;border-radius:.4rem;background:#0b3d91;color:#fff;font:inherit;font-weight:700;text-align:center;text-decoration:none;cursor:pointer}
.button.secondary,button.secondary{background:#fff;color:#0b3d91}
a:focus,button:focus,input:focus,textarea:focus,select:focus{outline:3px solid #c45500;outline-offset:2px}
label{display:block;font-weight:700;margin:1rem 0 .25rem}
input,textarea,select{display:block;width:100%;font:inherit;padding:.5rem;border:2px solid #444;border-radius:.3rem;color:#111;background:#fff}
fieldset{border:2px solid #444;border-radius:.4rem;margin:1rem 0;padding:.5rem 1rem}
legend{font-weight:700;padding:0 .25rem}
fieldset label{font-weight:400;display:flex;gap:.6rem;align-items:center;margin:.5rem 0}
fieldset input{width:1.4rem;height:1.4rem;flex:none}
ul.plain{list-style:none;padding:0;margin:0}
ul.plain li{border-bottom:1px solid #bbb;padding:.6rem 0}
.card{border:2px solid #444;border-radius:.4rem;padding:.75rem 1rem;margin:.75rem 0}
.request{border:3px solid #8a4b00;background:#fff4e5}
.alert{border:3px solid #a50e0e;background:#fdecea}
.ok::before{content:"✓ ";font-weight:700}
.high::before,.low::before{content:"! ";font-weight:700}
.muted{color:#444}
.unread{font-weight:700}
.msg{border-left:4px solid #0b3d91;padding:.25rem .75rem;margin:.75rem 0}
.msg.mine{border-left-color:#444}
.notice{border:2px dashed #444;padding:.5rem .75rem}
.skip{position:absolute;left:-999px}.skip:focus{left:1rem;top:1rem;background:#fff;color:#0b3d91;padding:.5rem}
`;

export function page(title: string, body: Html, opts: { signedIn?: boolean; lang?: 'fr' | 'en' } = {}): string {
  return html`<!doctype html>
    <html lang="${opts.lang ?? 'fr'}">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="referrer" content="no-referrer" />
        <title>Mon espace Vigil</title>
        <style>
          ${new Html(CSS)}
        </style>
      </head>
      <body>
        <a class="skip" href="#contenu">Aller au contenu</a>
        <header><p>${opts.signedIn ? html`<a href="/patient">Mon espace Vigil</a>` : 'Mon espace Vigil'}</p></header>
        <main id="contenu">
          <h1>${title}</h1>
          ${body}
        </main>
      </body>
    </html>`.value;
}
