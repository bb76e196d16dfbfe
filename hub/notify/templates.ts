import type pg from 'pg';
import { z } from 'zod';

export type Locale = 'fr' | 'en';

export interface Template {
  subject: string;
  body: string;
}

/**
 * Default texts, plain words for patients (ui-notes: "vous", no jargon, never an alarming message
 * without what to do and whom to call). A nurse edits them (PUT /api/notify/templates/:key/:locale);
 * the edited text wins. Placeholders are {{name}}; messages to patients carry no measured value
 * by e-mail or SMS (the value is shown in the patient space, behind sign-in).
 */
export const DEFAULT_TEMPLATES: Record<string, Record<Locale, Template>> = {
  signin_code: {
    fr: {
      subject: 'Votre code pour entrer dans votre espace Vigil',
      body: 'Bonjour,\n\nVotre code est : {{code}}\n\nTapez ce code dans votre espace. Il marche une seule fois, pendant {{minutes}} minutes.\nSi vous n’avez rien demandé, ne faites rien.\n\nVotre équipe de suivi',
    },
    en: {
      subject: 'Your code to open your Vigil space',
      body: 'Hello,\n\nYour code is: {{code}}\n\nType this code in your space. It works once, for {{minutes}} minutes.\nIf you did not ask for it, do nothing.\n\nYour care team',
    },
  },
  remeasure_blood_pressure: {
    fr: {
      subject: 'Merci de reprendre votre tension',
      body: 'Bonjour,\n\nVotre dernière tension est plus haute que d’habitude.\nAsseyez-vous au calme et reprenez votre tension dans 2 minutes.\n\nSi vous avez mal dans la poitrine, du mal à respirer ou à parler, appelez le 15.\n\nVotre équipe de suivi',
    },
    en: {
      subject: 'Please take your blood pressure again',
      body: 'Hello,\n\nYour last blood pressure is higher than usual.\nSit quietly and take your blood pressure again in 2 minutes.\n\nIf you have chest pain, trouble breathing or speaking, call 15 (or 112).\n\nYour care team',
    },
  },
  remeasure_temperature: {
    fr: {
      subject: 'Merci de reprendre votre température',
      body: 'Bonjour,\n\nVotre dernière température est plus haute que d’habitude.\nReprenez votre température dans une heure, dans la bouche.\n\nSi vous frissonnez ou vous sentez très mal, appelez tout de suite le numéro de votre service.\n\nVotre équipe de suivi',
    },
    en: {
      subject: 'Please take your temperature again',
      body: 'Hello,\n\nYour last temperature is higher than usual.\nTake your temperature again in one hour, by mouth.\n\nIf you shiver or feel very unwell, call your unit right away.\n\nYour care team',
    },
  },
  remeasure_other: {
    fr: {
      subject: 'Merci de refaire votre mesure',
      body: 'Bonjour,\n\nVotre dernière mesure est inhabituelle. Refaites-la dans quelques minutes, au calme.\n\nSi vous vous sentez mal, appelez le 15.\n\nVotre équipe de suivi',
    },
    en: {
      subject: 'Please measure again',
      body: 'Hello,\n\nYour last measurement is unusual. Measure again in a few minutes, sitting quietly.\n\nIf you feel unwell, call 15 (or 112).\n\nYour care team',
    },
  },
  new_message: {
    fr: {
      subject: 'Vous avez un nouveau message de votre équipe',
      body: 'Bonjour,\n\nVotre équipe de suivi vous a écrit. Ouvrez votre espace pour lire le message.\n\nVotre équipe de suivi',
    },
    en: {
      subject: 'You have a new message from your care team',
      body: 'Hello,\n\nYour care team wrote to you. Open your space to read the message.\n\nYour care team',
    },
  },
  questionnaire_due: {
    fr: {
      subject: 'Un questionnaire à remplir dans votre espace',
      body: 'Bonjour,\n\nC’est le moment de remplir votre questionnaire « {{title}} ». Cela prend 3 minutes, dans votre espace.\n\nVotre équipe de suivi',
    },
    en: {
      subject: 'A questionnaire to fill in, in your space',
      body: 'Hello,\n\nIt is time to fill in your questionnaire "{{title}}". It takes 3 minutes, in your space.\n\nYour care team',
    },
  },
  red_episode: {
    fr: {
      subject: 'Vigil : alerte rouge à traiter',
      body: 'Alerte rouge pour le patient {{patientId}} : {{summary}}.\nOuvrez la liste de travail Vigil (épisode {{episodeId}}).',
    },
    en: {
      subject: 'Vigil: red alert to handle',
      body: 'Red alert for patient {{patientId}}: {{summary}}.\nOpen the Vigil worklist (episode {{episodeId}}).',
    },
  },
};

export const templateKeySchema = z.enum(Object.keys(DEFAULT_TEMPLATES) as [string, ...string[]]);
export const templateSchema = z.object({
  subject: z.string().min(1).max(200),
  body: z.string().min(1).max(4000),
});

export function render(t: Template, params: Record<string, string | number>): Template {
  const fill = (s: string) => s.replace(/\{\{(\w+)\}\}/g, (_m, k: string) => String(params[k] ?? ''));
  return { subject: fill(t.subject), body: fill(t.body) };
}

/** The nurse's edited text when there is one, else the default. */
export async function loadTemplate(pool: Pick<pg.Pool, 'query'>, key: string, locale: Locale): Promise<Template> {
  const { rows } = await pool.query<Template>(
    'SELECT subject, body FROM notify_templates WHERE key = $1 AND locale = $2',
    [key, locale],
  );
  const t = rows[0] ?? DEFAULT_TEMPLATES[key]?.[locale];
  if (!t) throw new Error(`no template ${key}/${locale}`);
  return t;
}
