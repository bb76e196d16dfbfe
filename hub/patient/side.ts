import type pg from 'pg';
import type { EpisodeStore } from '../alerts/episode-store';
import { loadLibrary, type Article } from '../content/library';
import { ContentReviews } from '../content/reviews';
import type { Keyring } from '../messaging/kms';
import { MessageStore } from '../messaging/store';
import type { NotifyService } from '../notify/service';
import { QuestionnaireService } from '../questionnaires/service';
import type { Clock } from '../rules/clock';
import { PatientAccounts } from './accounts';

export interface PatientSideOptions {
  pool: pg.Pool;
  clock: Clock;
  episodes: EpisodeStore;
  notify: NotifyService;
  /** absent: messaging answers MESSAGING_UNAVAILABLE (no key, no storing of messages) */
  keyring?: Keyring;
  /** base URL the patient's phone reaches, for printed QR codes (e.g. https://vigil.example.org) */
  publicUrl: string;
  /** Secure cookies (true behind HTTPS, which production requires) */
  secureCookies: boolean;
}

/** The patient's side of the hub, assembled once and handed to the routes. */
export interface PatientSide {
  pool: pg.Pool;
  clock: Clock;
  accounts: PatientAccounts;
  messages: MessageStore | null;
  questionnaires: QuestionnaireService;
  library: Article[];
  /** reviews of the education content (migration 220): patients see reviewed versions only */
  reviews: ContentReviews;
  notify: NotifyService;
  publicUrl: string;
  secureCookies: boolean;
}

export function createPatientSide(o: PatientSideOptions): PatientSide {
  return {
    pool: o.pool,
    clock: o.clock,
    accounts: new PatientAccounts(o.pool, o.notify, o.clock),
    messages: o.keyring ? new MessageStore(o.pool, o.keyring, o.episodes, o.clock) : null,
    questionnaires: new QuestionnaireService(o.pool, o.episodes, o.clock),
    library: loadLibrary(),
    reviews: new ContentReviews(o.pool, o.clock),
    notify: o.notify,
    publicUrl: o.publicUrl,
    secureCookies: o.secureCookies,
  };
}
