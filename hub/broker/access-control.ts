import { GATEWAY_PUBLISH_KINDS, GATEWAY_SUBSCRIBE_KINDS, TOPIC_ROOT, parseTopic } from '../../contract';

/**
 * Broker ACL (wire contract v1): a gateway publishes only under its own topic, subscribes only to
 * its own receipts and config. The hub service account reads every gateway's uplink and writes
 * receipts and config. Pure functions, shared by the embedded broker and the Mosquitto ACL file.
 */
export type Principal = { kind: 'gateway'; gatewayId: string } | { kind: 'hub' };

export function mayPublish(p: Principal, topic: string): boolean {
  const t = parseTopic(topic);
  if (!t) return false;
  if (p.kind === 'hub') return t.kind === 'receipts' || t.kind === 'config';
  return t.gatewayId === p.gatewayId && GATEWAY_PUBLISH_KINDS.includes(t.kind);
}

export function maySubscribe(p: Principal, filter: string): boolean {
  if (p.kind === 'hub') {
    const unshared = filter.replace(/^\$share\/[^/]+\//, '');
    return new RegExp(`^${TOPIC_ROOT}/\\+/(readings|status|heartbeat)$`).test(unshared);
  }
  const t = parseTopic(filter);
  return t !== null && t.gatewayId === p.gatewayId && GATEWAY_SUBSCRIBE_KINDS.includes(t.kind);
}

/** Mosquitto ACL file equivalent (external broker mode), with the `%u` username pattern. */
export function mosquittoAcl(hubUser: string): string {
  return [
    `user ${hubUser}`,
    `topic read ${TOPIC_ROOT}/+/readings`,
    `topic read ${TOPIC_ROOT}/+/status`,
    `topic read ${TOPIC_ROOT}/+/heartbeat`,
    `topic write ${TOPIC_ROOT}/+/receipts`,
    `topic write ${TOPIC_ROOT}/+/config`,
    '',
    `pattern write ${TOPIC_ROOT}/%u/readings`,
    `pattern write ${TOPIC_ROOT}/%u/status`,
    `pattern write ${TOPIC_ROOT}/%u/heartbeat`,
    `pattern read ${TOPIC_ROOT}/%u/receipts`,
    `pattern read ${TOPIC_ROOT}/%u/config`,
    '',
  ].join('\n');
}
