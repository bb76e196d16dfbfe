import type { AuthorKind, ThreadKind } from '../messaging/store';

export const MESSAGE_SYSTEM = 'urn:vigil:message';
export const THREAD_SYSTEM = 'urn:vigil:message-thread';
const THREAD_KIND = 'urn:vigil:thread-kind';

/** One secure message, opened (hub/messaging/store.ts), with what FHIR needs around it. */
export interface OpenedMessage {
  id: number;
  threadId: number;
  threadKind: ThreadKind;
  subject: string;
  patientId: string;
  authorKind: AuthorKind;
  authorId: string;
  body: string;
  urgent: boolean;
  createdAt: Date;
  /** the message before it in the thread */
  previousId: number | null;
  episodeId: number | null;
  attachments: { id: number; mediaType: string; sizeBytes: number; filename: string }[];
}

/**
 * A secure message as a FHIR R4 Communication (http://hl7.org/fhir/R4/communication.html): sent
 * and done (`completed`), about the patient (`subject`), the thread's subject as `topic`, the
 * thread told by `inResponseTo` (the previous message) and a thread identifier; an urgent message
 * is `urgent`; an episode it opened is `about`. Attachments are listed by reference to the API
 * route that serves them under the same access rules, not inlined.
 */
export function toCommunication(
  m: OpenedMessage,
  apiBase: string,
): Record<string, unknown> & { resourceType: 'Communication'; id: string } {
  const sender =
    m.authorKind === 'professional'
      ? { reference: `Practitioner/${m.authorId}` }
      : m.authorKind === 'patient'
        ? { reference: `Patient/${m.patientId}` }
        : { type: 'RelatedPerson', identifier: { system: 'urn:vigil:caregiver', value: m.authorId } };
  return {
    resourceType: 'Communication',
    id: String(m.id),
    identifier: [
      { use: 'official', system: MESSAGE_SYSTEM, value: String(m.id) },
      { use: 'secondary', system: THREAD_SYSTEM, value: String(m.threadId) },
    ],
    ...(m.previousId !== null ? { inResponseTo: [{ reference: `Communication/${m.previousId}` }] } : {}),
    status: 'completed',
    category: [
      {
        coding: [{ system: THREAD_KIND, code: m.threadKind }],
        text: m.threadKind === 'team' ? 'care team internal, about the patient' : 'patient and care team',
      },
    ],
    priority: m.urgent ? 'urgent' : 'routine',
    subject: { reference: `Patient/${m.patientId}` },
    topic: { text: m.subject },
    ...(m.episodeId !== null ? { about: [{ reference: `Flag/${m.episodeId}` }] } : {}),
    sent: m.createdAt.toISOString(),
    sender,
    payload: [
      { contentString: m.body },
      ...m.attachments.map((a) => ({
        contentAttachment: {
          contentType: a.mediaType,
          size: a.sizeBytes,
          title: a.filename,
          url: `${apiBase}/api/attachments/${a.id}`,
        },
      })),
    ],
  };
}
