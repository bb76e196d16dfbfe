import PDFDocument from 'pdfkit';
import type { CohortReport } from './cohort-report';

const PROGRAM_FR: Record<string, string> = {
  oral_chemotherapy: 'Chimiothérapie orale',
  cardiovascular_prevention: 'Prévention cardiovasculaire',
  heart_failure: 'Insuffisance cardiaque',
};
const METRIC_FR: Record<string, string> = {
  blood_pressure_systolic: 'Pression artérielle systolique',
  body_weight: 'Poids',
  steps: 'Pas par jour',
};
const HORIZON_FR: Record<string, string> = { '3m': '3 mois', '6m': '6 mois', '12m': '12 mois' };

/** French number writing: decimal comma, thin spaces as thousands separators. */
const fr = (x: number | null | undefined, digits = 1): string =>
  x === null || x === undefined
    ? '—'
    : x.toLocaleString('fr-FR', { minimumFractionDigits: 0, maximumFractionDigits: digits });
const signed = (x: number, digits = 1) => `${x > 0 ? '+' : ''}${fr(x, digits)}`;

/** The report as a printable A4 PDF in French (pdfkit), for program steering committees. */
export function reportPdf(r: CohortReport): Promise<Buffer> {
  const doc = new PDFDocument({ size: 'A4', margin: 50, info: { Title: `Vigil — rapport ${r.programId}` } });
  const chunks: Buffer[] = [];
  doc.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise<Buffer>((resolve) => doc.on('end', () => resolve(Buffer.concat(chunks))));

  const asOf = new Date(r.asOf).toLocaleDateString('fr-FR', { timeZone: 'Europe/Paris' });
  doc.fontSize(18).text(`Rapport du programme : ${PROGRAM_FR[r.programId] ?? r.programId}`);
  doc
    .moveDown(0.3)
    .fontSize(10)
    .fillColor('#444')
    .text(
      `${r.careTeamId ? `Équipe ${r.careTeamId}` : 'Toutes les équipes'} — arrêté au ${asOf}. Données agrégées et pseudonymisées ; ` +
        `toute case décrivant moins de ${r.minCell} patients est masquée.`,
    )
    .fillColor('black');

  const table = (title: string, rows: [string, string][]) => {
    doc.moveDown(1).fontSize(13).text(title).moveDown(0.3).fontSize(10);
    for (const [k, v] of rows) {
      const y = doc.y;
      doc.text(k, 60, y, { width: 300 });
      doc.text(v, 370, y, { width: 170, align: 'right' });
      doc.moveDown(0.2);
    }
    doc.x = 50;
  };

  const p = r.participation;
  table('Participation', [
    ['Patients inclus', fr(p.enrolled, 0)],
    ['Actifs (une mesure dans les 7 derniers jours)', fr(p.active, 0)],
    [
      'Observance moyenne (jours avec mesure / jours suivis)',
      p.adherencePercent ? `${fr(p.adherencePercent.mean)} %` : '—',
    ],
    ['Observance médiane', p.adherencePercent ? `${fr(p.adherencePercent.median)} %` : '—'],
    ['Suivi cumulé', `${fr(p.patientMonths)} patients-mois`],
  ]);
  const a = r.alerts;
  table('Alertes', [
    ['Épisodes ouverts (rouges / orange)', `${fr(a.episodes, 0)} (${fr(a.red, 0)} / ${fr(a.amber, 0)})`],
    ['Épisodes par patient-mois', fr(a.perPatientMonth, 2)],
    ['Délai de prise en compte, médiane', a.minutesToAcknowledge ? `${fr(a.minutesToAcknowledge.median)} min` : '—'],
    ['Délai de prise en compte, 90e centile', a.minutesToAcknowledge ? `${fr(a.minutesToAcknowledge.p90)} min` : '—'],
  ]);
  const q = r.questionnaires;
  const qLine = (c: { due: number | null; answered: number | null; adherencePercent: number | null }) =>
    c.adherencePercent === null
      ? c.due === null
        ? 'masqué (effectif < seuil)'
        : '—'
      : `${fr(c.adherencePercent)} % (${fr(c.answered, 0)} / ${fr(c.due, 0)})`;
  table('Questionnaires (remplis / attendus)', [
    [`Tous questionnaires (${fr(q.patients, 0)} patients)`, q.patients ? qLine(q) : 'aucun questionnaire attribué'],
    ...q.byQuestionnaire.map((b): [string, string] => [
      `${b.questionnaireId} (${fr(b.patients, 0)} patients)`,
      qLine(b),
    ]),
  ]);
  for (const o of r.outcomes) {
    table(`${METRIC_FR[o.metric] ?? o.metric} (${o.unit}) — évolution depuis l'inclusion`, [
      ['Valeur moyenne à l’inclusion (30 premiers jours)', fr(o.baselineMean)],
      ...o.changes.map((c): [string, string] => [
        `À ${HORIZON_FR[c.horizon] ?? c.horizon}`,
        c.change
          ? `${signed(c.change.mean)} [IC 95 % ${signed(c.change.ciLow)} ; ${signed(c.change.ciHigh)}], n = ${c.change.n}`
          : c.suppressed
            ? 'masqué (effectif < seuil)'
            : 'pas encore de données',
      ]),
    ]);
  }
  doc
    .moveDown(1.5)
    .fontSize(8)
    .fillColor('#666')
    .text(
      'Méthode : moyenne de la variation individuelle entre la période d’inclusion (30 premiers jours) et une fenêtre de ±15 jours ' +
        'autour de chaque échéance ; intervalle de confiance à 95 % par la loi de Student. Produit par Vigil.',
    );
  doc.end();
  return done;
}
