import type pg from 'pg';
import { fileTypeFromBuffer } from 'file-type';
import { audit, inTransaction } from '../alerts/audit';
import type { EpisodeStore } from '../alerts/episode-store';
import { can, patientScopeSql, ROLES, type Professional } from '../api/authz';
import type { Clock } from '../rules/clock';
import type { Keyring } from './kms';
import { redFlags } from './red-flags';
import { one } from '../patient/rows';

export type AuthorKind = 'patient' | 'caregiver' | 'professional';
export type ThreadKind = 'patient' | 'team';

/** Who is reading or writing: a professional (role, consent apply) or the patient's side. */
export type Reader =
  | { kind: 'professional'; professional: Professional }
  | { kind: 'patient' | 'caregiver'; id: string; patientId: string };

export class MessagingError extends Error {
  constructor(
    readonly code: 'NOT_FOUND' | 'FORBIDDEN' | 'ATTACHMENT_TOO_LARGE' | 'ATTACHMENT_TYPE' | 'INVALID_REQUEST',
    message: string,
  ) {
    super(message);
  }
}

/** Attachments: photos and PDF letters. 5 MiB each, 3 per message (a phone photo fits; a scan too). */
export const MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024;
export const MAX_ATTACHMENTS = 3;
/** Types are checked on the bytes (magic numbers), never on the name or the declared type. */
export const ALLOWED_MEDIA_TYPES: ReadonlySet<string> = new Set(['image/jpeg', 'image/png', 'application/pdf']);

/** Roles that take part in messaging, the cardiovascular coaching team included (admins run the system, they do not read patients' messages). */
const MESSAGING_ROLES: ReadonlySet<string> = new Set(ROLES.filter((r) => r !== 'admin'));
/** Roles whose "urgent" flag on a message puts the patient on the worklist. */
const URGENT_ROLES: ReadonlySet<string> = new Set([
  'coordinating_nurse',
  'home_nurse',
  'oncologist',
  'cardiologist',
  'general_practitioner',
]);

export interface AttachmentInput {
  filename: string;
  bytes: Buffer;
}

export interface MessageJson {
  id: number;
  authorKind: AuthorKind;
  authorId: string;
  body: string;
  urgent: boolean;
  createdAt: string;
  attachments: { id: number; mediaType: string; sizeBytes: number; filename: string }[];
  readBy: { kind: AuthorKind; id: string; at: string }[];
}

export interface ThreadJson {
  id: number;
  patientId: string;
  kind: ThreadKind;
  subject: string;
  createdAt: string;
  lastMessageAt: string;
  unread: number;
}

const aadThread = (patientId: string) => `vigil:thread:${patientId}`;
const aadMessage = (threadId: number) => `vigil:message:${threadId}`;

/**
 * Secure messaging. Threads are between the patient (or her caregiver) and the care team, or
 * internal to the care team about a patient. A professional reads a patient's threads only with
 * the patient in scope and her consent (hub/api/authz.ts patientScopeSql, clinical), and only if
 * the consent's patient_scope (set by the patient) includes 'messages'. The patient's side never
 * sees team threads. Subjects, bodies, file names and files are sealed with AES-256-GCM.
 */
export class MessageStore {
  constructor(
    private readonly pool: pg.Pool,
    private readonly keys: Keyring,
    private readonly episodes: EpisodeStore,
    private readonly clock: Clock,
  ) {}

  /** Throws unless the reader may use threads of this kind for this patient. */
  async authorize(r: Reader, patientId: string, kind: ThreadKind): Promise<void> {
    if (r.kind !== 'professional') {
      if (r.patientId !== patientId || kind !== 'patient') throw new MessagingError('NOT_FOUND', 'no such thread');
      return;
    }
    const p = r.professional;
    if (!MESSAGING_ROLES.has(p.role) && !can(p, 'messages.use'))
      throw new MessagingError('FORBIDDEN', `role ${p.role} takes no part in messaging`);
    const { rows } = await this.pool.query<{ ok: boolean; scoped: boolean }>(
      `SELECT ${patientScopeSql(p, 'patients.id', '$2', true, 'messages.use')} AS ok,
              coalesce((SELECT pc.patient_scope IS NULL OR 'messages' = ANY(pc.patient_scope) FROM patient_consents pc
                        WHERE pc.patient_id = patients.id AND pc.professional_id = $2), false) AS scoped
         FROM patients WHERE id = $1`,
      [patientId, p.id],
    );
    if (!rows[0]) throw new MessagingError('NOT_FOUND', 'no such patient');
    if (!rows[0].ok || !rows[0].scoped)
      throw new MessagingError('FORBIDDEN', 'patient not in scope for messaging (care team, consent)');
  }

  async createThread(
    r: Reader,
    patientId: string,
    kind: ThreadKind,
    subject: string,
    first: { body: string; urgent?: boolean; attachments?: AttachmentInput[] },
  ): Promise<{ threadId: number; messageId: number; episodeId: number | null }> {
    await this.authorize(r, patientId, kind);
    const now = this.clock.now();
    const { rows } = await this.pool.query<{ id: string }>(
      `INSERT INTO message_threads (patient_id, kind, subject_enc, key_id, created_by, created_at, last_message_at)
       VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id`,
      [
        patientId,
        kind,
        this.keys.seal(Buffer.from(subject, 'utf8'), aadThread(patientId)),
        this.keys.currentKeyId,
        authorOf(r),
        now,
      ],
    );
    const threadId = Number(one(rows).id);
    const m = await this.post(r, threadId, first);
    return { threadId, ...m };
  }

  private async thread(threadId: number): Promise<{ patientId: string; kind: ThreadKind } | null> {
    const { rows } = await this.pool.query<{ patient_id: string; kind: ThreadKind }>(
      'SELECT patient_id, kind FROM message_threads WHERE id = $1',
      [threadId],
    );
    return rows[0] ? { patientId: rows[0].patient_id, kind: rows[0].kind } : null;
  }

  private async authorizeThread(r: Reader, threadId: number): Promise<{ patientId: string; kind: ThreadKind }> {
    const t = await this.thread(threadId);
    if (!t) throw new MessagingError('NOT_FOUND', 'no such thread');
    await this.authorize(r, t.patientId, t.kind);
    return t;
  }

  /** Posts a message; a nurse's urgent message or a patient's red-flag words open an episode. */
  async post(
    r: Reader,
    threadId: number,
    m: { body: string; urgent?: boolean; attachments?: AttachmentInput[] },
  ): Promise<{ messageId: number; episodeId: number | null }> {
    const t = await this.authorizeThread(r, threadId);
    const files = m.attachments ?? [];
    if (files.length > MAX_ATTACHMENTS)
      throw new MessagingError('INVALID_REQUEST', `at most ${MAX_ATTACHMENTS} attachments per message`);
    const checked: { filename: string; bytes: Buffer; mediaType: string }[] = [];
    for (const f of files) {
      if (f.bytes.length > MAX_ATTACHMENT_BYTES)
        throw new MessagingError(
          'ATTACHMENT_TOO_LARGE',
          `an attachment may not exceed ${MAX_ATTACHMENT_BYTES / 1024 / 1024} MiB`,
        );
      const type = await fileTypeFromBuffer(f.bytes);
      if (!type || !ALLOWED_MEDIA_TYPES.has(type.mime))
        throw new MessagingError('ATTACHMENT_TYPE', 'only photos (JPEG, PNG) and PDF documents can be attached');
      checked.push({ filename: f.filename.slice(0, 200), bytes: f.bytes, mediaType: type.mime });
    }
    const urgent = r.kind === 'professional' && !!m.urgent && URGENT_ROLES.has(r.professional.role);
    const now = this.clock.now();
    const author = authorOf(r);
    const messageId = await inTransaction(this.pool, async (c) => {
      const { rows } = await c.query<{ id: string }>(
        `INSERT INTO messages (thread_id, author_kind, author_id, body_enc, key_id, urgent, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
        [
          threadId,
          r.kind,
          author,
          this.keys.seal(Buffer.from(m.body, 'utf8'), aadMessage(threadId)),
          this.keys.currentKeyId,
          urgent,
          now,
        ],
      );
      const id = Number(one(rows).id);
      for (const f of checked)
        await c.query(
          `INSERT INTO message_attachments (message_id, media_type, size_bytes, filename_enc, content_enc, key_id) VALUES ($1, $2, $3, $4, $5, $6)`,
          [
            id,
            f.mediaType,
            f.bytes.length,
            this.keys.seal(Buffer.from(f.filename, 'utf8'), aadMessage(threadId)),
            this.keys.seal(f.bytes, `${aadMessage(threadId)}:${id}`),
            this.keys.currentKeyId,
          ],
        );
      await c.query('UPDATE message_threads SET last_message_at = $2 WHERE id = $1', [threadId, now]);
      // the author has read her own message
      await c.query('INSERT INTO message_reads (message_id, reader_kind, reader_id, read_at) VALUES ($1, $2, $3, $4)', [
        id,
        r.kind,
        author,
        now,
      ]);
      if (r.kind === 'professional' && t.kind === 'patient')
        await c.query(`INSERT INTO notify_events (kind, patient_id, ref_id) VALUES ('new_message', $1, $2)`, [
          t.patientId,
          id,
        ]);
      await audit(c, {
        actor: `${r.kind}:${author}`,
        action: 'message.posted',
        entity: 'patient',
        entityId: t.patientId,
        detail: { threadId, messageId: id, urgent, attachments: checked.length },
        at: now,
      });
      return id;
    });
    let episodeId: number | null = null;
    const flags = r.kind === 'professional' ? [] : redFlags(m.body);
    if (urgent || flags.length) {
      const res = await this.episodes.raise(
        {
          patientId: t.patientId,
          ruleId: urgent ? 'message-urgent' : 'message-red-flag',
          severity: 'red',
          readingIds: [],
          value: { threadId, messageId, flags },
          summary: urgent
            ? 'urgent message from the care team'
            : `patient message with red-flag words: ${flags.join(', ')}`,
          priority: 'urgent',
          notify: ['coordinating_nurse'],
          evalKey: `message:${messageId}`,
        },
        now,
      );
      episodeId = res.episodeId;
      await this.pool.query('UPDATE messages SET episode_id = $2 WHERE id = $1', [messageId, episodeId]);
    }
    return { messageId, episodeId };
  }

  async threads(r: Reader, patientId: string): Promise<ThreadJson[]> {
    const kinds: ThreadKind[] = r.kind === 'professional' ? ['patient', 'team'] : ['patient'];
    await this.authorize(r, patientId, 'patient');
    const reader = authorOf(r);
    const { rows } = await this.pool.query<{
      id: string;
      kind: ThreadKind;
      subject_enc: Buffer;
      key_id: string;
      created_at: Date;
      last_message_at: Date;
      unread: number;
    }>(
      `SELECT t.id, t.kind, t.subject_enc, t.key_id, t.created_at, t.last_message_at,
              (SELECT count(*)::int FROM messages m WHERE m.thread_id = t.id
                 AND NOT EXISTS (SELECT 1 FROM message_reads x WHERE x.message_id = m.id AND x.reader_kind = $3 AND x.reader_id = $4)) AS unread
         FROM message_threads t WHERE t.patient_id = $1 AND t.kind = ANY($2::text[]) ORDER BY t.last_message_at DESC`,
      [patientId, kinds, r.kind, reader],
    );
    return rows.map((t) => ({
      id: Number(t.id),
      patientId,
      kind: t.kind,
      subject: this.keys.open(t.subject_enc, t.key_id, aadThread(patientId)).toString('utf8'),
      createdAt: t.created_at.toISOString(),
      lastMessageAt: t.last_message_at.toISOString(),
      unread: t.unread,
    }));
  }

  /**
   * Opens one sealed message body and its thread's subject, for a reader the caller has already
   * passed through authorize() (the FHIR Communication search, hub/fhir/communication.ts). No
   * receipt is recorded: an export is not the professional reading the thread.
   */
  openSealed(
    patientId: string,
    threadId: number,
    subject: { sealed: Buffer; keyId: string },
    body: { sealed: Buffer; keyId: string },
  ): { subject: string; body: string } {
    return {
      subject: this.keys.open(subject.sealed, subject.keyId, aadThread(patientId)).toString('utf8'),
      body: this.keys.open(body.sealed, body.keyId, aadMessage(threadId)).toString('utf8'),
    };
  }

  /** Opens an attachment's file name (same precondition as openSealed). */
  openFilename(threadId: number, sealed: Buffer, keyId: string): string {
    return this.keys.open(sealed, keyId, aadMessage(threadId)).toString('utf8');
  }

  /** The thread's messages, opened; reading records the receipts. */
  async read(r: Reader, threadId: number): Promise<{ thread: ThreadJson; messages: MessageJson[] }> {
    const t = await this.authorizeThread(r, threadId);
    const reader = authorOf(r);
    const now = this.clock.now();
    await this.pool.query(
      `INSERT INTO message_reads (message_id, reader_kind, reader_id, read_at)
       SELECT id, $2, $3, $4 FROM messages WHERE thread_id = $1 ON CONFLICT DO NOTHING`,
      [threadId, r.kind, reader, now],
    );
    await audit(this.pool, {
      actor: `${r.kind}:${reader}`,
      action: 'thread.read',
      entity: 'patient',
      entityId: t.patientId,
      detail: { threadId },
      at: now,
    });
    const thread = one((await this.threads(r, t.patientId)).filter((x) => x.id === threadId));
    const rows = await threadMessages(this.pool, threadId);
    const ids = rows.map((m) => m.id);
    const [att, reads] = await Promise.all([
      this.pool.query<{
        id: string;
        message_id: string;
        media_type: string;
        size_bytes: number;
        filename_enc: Buffer;
        key_id: string;
      }>(
        'SELECT id, message_id, media_type, size_bytes, filename_enc, key_id FROM message_attachments WHERE message_id = ANY($1::bigint[]) ORDER BY id',
        [ids],
      ),
      this.pool.query<{ message_id: string; reader_kind: AuthorKind; reader_id: string; read_at: Date }>(
        'SELECT message_id, reader_kind, reader_id, read_at FROM message_reads WHERE message_id = ANY($1::bigint[]) ORDER BY read_at',
        [ids],
      ),
    ]);
    const messages = rows.map((m) => ({
      id: Number(m.id),
      authorKind: m.author_kind,
      authorId: m.author_id,
      body: this.keys.open(m.body_enc, m.key_id, aadMessage(threadId)).toString('utf8'),
      urgent: m.urgent,
      createdAt: m.created_at.toISOString(),
      attachments: att.rows
        .filter((a) => a.message_id === m.id)
        .map((a) => ({
          id: Number(a.id),
          mediaType: a.media_type,
          sizeBytes: a.size_bytes,
          filename: this.keys.open(a.filename_enc, a.key_id, aadMessage(threadId)).toString('utf8'),
        })),
      readBy: reads.rows
        .filter((x) => x.message_id === m.id && !(x.reader_kind === m.author_kind && x.reader_id === m.author_id))
        .map((x) => ({ kind: x.reader_kind, id: x.reader_id, at: x.read_at.toISOString() })),
    }));
    return { thread, messages };
  }

  async attachment(r: Reader, attachmentId: number): Promise<{ mediaType: string; filename: string; bytes: Buffer }> {
    const { rows } = await this.pool.query<{
      thread_id: string;
      message_id: string;
      media_type: string;
      filename_enc: Buffer;
      content_enc: Buffer;
      key_id: string;
    }>(
      `SELECT m.thread_id, a.message_id, a.media_type, a.filename_enc, a.content_enc, a.key_id FROM message_attachments a JOIN messages m ON m.id = a.message_id WHERE a.id = $1`,
      [attachmentId],
    );
    const a = rows[0];
    if (!a) throw new MessagingError('NOT_FOUND', 'no such attachment');
    const threadId = Number(a.thread_id);
    await this.authorizeThread(r, threadId);
    return {
      mediaType: a.media_type,
      filename: this.keys.open(a.filename_enc, a.key_id, aadMessage(threadId)).toString('utf8'),
      bytes: this.keys.open(a.content_enc, a.key_id, `${aadMessage(threadId)}:${a.message_id}`),
    };
  }

  /**
   * Everything about the patient in messaging, decrypted, for her GDPR access and portability
   * request (the trust layer's export calls exportPatientMessages): patient and team threads,
   * messages, files.
   */
  exportForPatient(patientId: string): Promise<ExportedThread[]> {
    return exportPatientMessages(this.pool, this.keys, patientId);
  }
}

export interface ExportedThread {
  threadId: number;
  kind: ThreadKind;
  subject: string;
  createdAt: string;
  messages: {
    id: number;
    authorKind: AuthorKind;
    authorId: string;
    body: string;
    urgent: boolean;
    createdAt: string;
    attachments: { mediaType: string; filename: string; base64: string }[];
  }[];
}

/** The patient's threads and messages, decrypted with the keyring (GDPR art. 15 and 20 export). */
export async function exportPatientMessages(
  pool: pg.Pool,
  keys: Keyring,
  patientId: string,
): Promise<ExportedThread[]> {
  const threads = await pool.query<{
    id: string;
    kind: ThreadKind;
    subject_enc: Buffer;
    key_id: string;
    created_at: Date;
  }>(
    'SELECT id, kind, subject_enc, key_id, created_at FROM message_threads WHERE patient_id = $1 ORDER BY created_at, id',
    [patientId],
  );
  const out: ExportedThread[] = [];
  for (const t of threads.rows) {
    const threadId = Number(t.id);
    const msgs = await threadMessages(pool, threadId);
    const files = await pool.query<{
      message_id: string;
      media_type: string;
      filename_enc: Buffer;
      content_enc: Buffer;
      key_id: string;
    }>(
      'SELECT a.message_id, a.media_type, a.filename_enc, a.content_enc, a.key_id FROM message_attachments a JOIN messages m ON m.id = a.message_id WHERE m.thread_id = $1 ORDER BY a.id',
      [threadId],
    );
    out.push({
      threadId,
      kind: t.kind,
      subject: keys.open(t.subject_enc, t.key_id, aadThread(patientId)).toString('utf8'),
      createdAt: t.created_at.toISOString(),
      messages: msgs.map((m) => ({
        id: Number(m.id),
        authorKind: m.author_kind,
        authorId: m.author_id,
        body: keys.open(m.body_enc, m.key_id, aadMessage(threadId)).toString('utf8'),
        urgent: m.urgent,
        createdAt: m.created_at.toISOString(),
        attachments: files.rows
          .filter((f) => f.message_id === m.id)
          .map((f) => ({
            mediaType: f.media_type,
            filename: keys.open(f.filename_enc, f.key_id, aadMessage(threadId)).toString('utf8'),
            base64: keys.open(f.content_enc, f.key_id, `${aadMessage(threadId)}:${m.id}`).toString('base64'),
          })),
      })),
    });
  }
  return out;
}

interface MessageRow {
  id: string;
  author_kind: AuthorKind;
  author_id: string;
  body_enc: Buffer;
  key_id: string;
  urgent: boolean;
  created_at: Date;
}

/** A thread's messages, oldest first, bodies still sealed (the thread view and the export). */
async function threadMessages(pool: pg.Pool, threadId: number): Promise<MessageRow[]> {
  const { rows } = await pool.query<MessageRow>(
    'SELECT id, author_kind, author_id, body_enc, key_id, urgent, created_at FROM messages WHERE thread_id = $1 ORDER BY created_at, id',
    [threadId],
  );
  return rows;
}

function authorOf(r: Reader): string {
  return r.kind === 'professional' ? r.professional.id : r.id;
}
