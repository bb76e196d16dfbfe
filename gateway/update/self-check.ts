import type { RunningGateway } from '../main';
import { GATEWAY_VERSION } from '../version';
import { gatewayMessageSchema, type SupervisorMessage } from './supervisor';

/**
 * The self-check of a release on trial (docs/operations.md "Over-the-air updates"): the buffer
 * opens and reads, the hub's broker accepted the box's credential, and a heartbeat carrying the
 * new version went out. Then the supervisor hears {type:'healthy'}; it answers {type:'promoted'}
 * once it recorded the release as healthy, and the next heartbeat reports it. The supervisor's
 * deadline covers a release that never gets there (no broker, a hang, a crash).
 */
export function reportHealthWhenReady(gw: RunningGateway): void {
  process.on('message', (m) => {
    if (gatewayMessageSchema.safeParse(m).success) gw.ota.promoted();
  });
  const check = setInterval(() => {
    if (!gw.uplink.connected) return;
    clearInterval(check);
    try {
      gw.buffer.stats();
    } catch (e) {
      gw.log.error({ code: 'SELF_CHECK_FAILED', err: (e as Error).message }, 'buffer unreadable');
      return;
    }
    gw.uplink.heartbeat();
    process.send?.({ type: 'healthy', version: GATEWAY_VERSION } satisfies SupervisorMessage);
  }, 200);
  check.unref();
}
