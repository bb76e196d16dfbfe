import { WIRE_VERSION } from './messages';

/** MQTT topic tree, wire contract v1: vigil/v1/<gatewayId>/<kind>. */
const TOPIC_KINDS = ['readings', 'status', 'heartbeat', 'receipts', 'config'] as const;
export type TopicKind = (typeof TOPIC_KINDS)[number];

function isTopicKind(s: string): s is TopicKind {
  return (TOPIC_KINDS as readonly string[]).includes(s);
}

export const TOPIC_ROOT = `vigil/v${WIRE_VERSION}`;

export function topicFor(gatewayId: string, kind: TopicKind): string {
  return `${TOPIC_ROOT}/${gatewayId}/${kind}`;
}

/** Topics a gateway may publish to (everything else is refused by the broker ACL). */
export const GATEWAY_PUBLISH_KINDS: readonly TopicKind[] = ['readings', 'status', 'heartbeat'];
/** Topics a gateway may subscribe to. */
export const GATEWAY_SUBSCRIBE_KINDS: readonly TopicKind[] = ['receipts', 'config'];

/** Splits vigil/v1/<gatewayId>/<kind>; null when the topic is not in the tree. */
export function parseTopic(topic: string): { gatewayId: string; kind: TopicKind } | null {
  const parts = topic.split('/');
  if (parts.length !== 4) return null;
  const [root, version, gatewayId, kind] = parts as [string, string, string, string];
  if (`${root}/${version}` !== TOPIC_ROOT) return null;
  if (!isTopicKind(kind)) return null;
  return { gatewayId, kind };
}

/** Subscription filter for the hub; `group` makes it an MQTT 5 shared subscription ($share/<group>/...). */
export function hubReadingsFilter(group?: string): string {
  const filter = `${TOPIC_ROOT}/+/readings`;
  return group ? `$share/${group}/${filter}` : filter;
}
