import type pg from 'pg';
import { inTransaction } from '../alerts/audit';
import { countBreachesOnOpenEpisodes, type OpenEpisodeBreach } from '../alerts/open-episode-breaches';

interface Deferred {
  breach: OpenEpisodeBreach;
  /** the breach raised on its own, as without deferral (with the engine's bookkeeping) */
  raise: () => Promise<void>;
}

/**
 * Breaches of one rule pass that only count on an open episode, held back and written together
 * (hub/alerts/open-episode-breaches.ts). Only inside ingest's shared transaction, whose patients
 * are locked for the whole pass: nothing else changes their episodes meanwhile. An episode's held
 * breaches are written before any other statement on it (a breach that escalates it or is raised
 * on its own, a normal step) and at the end of the pass, so every statement that reads it sees it
 * as raising breach after breach would have left it. Other statements of the pass do not read
 * what a held breach changes (an opening breach reads the other episodes' opening time, rule and
 * severity, which a counted breach leaves as they are).
 */
export class DeferredBreaches {
  /** patient|rule of the episode -> its held breaches, in order */
  private readonly byEpisode = new Map<string, Deferred[]>();

  constructor(
    private readonly pool: pg.Pool,
    private readonly now: Date,
  ) {}

  add(breach: OpenEpisodeBreach, raise: () => Promise<void>): void {
    const key = `${breach.patientId}|${breach.ruleId}`;
    const list = this.byEpisode.get(key);
    if (list) list.push({ breach, raise });
    else this.byEpisode.set(key, [{ breach, raise }]);
  }

  /** Writes the held breaches of one episode (patient|rule), or of all. */
  async flush(episodeKey?: string): Promise<void> {
    let entries: Deferred[];
    if (episodeKey === undefined) {
      entries = [...this.byEpisode.values()].flat();
      this.byEpisode.clear();
    } else {
      entries = this.byEpisode.get(episodeKey) ?? [];
      this.byEpisode.delete(episodeKey);
    }
    if (entries.length === 0) return;
    // inTransaction: the pass's own transaction; a failure fails it (the shard is filed again)
    const left = await inTransaction(this.pool, (c) =>
      countBreachesOnOpenEpisodes(
        c,
        entries.map((e) => e.breach),
        this.now,
      ),
    );
    // episodes whose stored state the run could not be folded onto: breach after breach, as before
    for (const e of entries) if (left.has(`${e.breach.patientId}|${e.breach.ruleId}`)) await e.raise();
  }
}
