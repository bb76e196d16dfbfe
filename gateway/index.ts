/**
 * The gateway's public entry point for the tools around it (simulators, benches): its durable
 * reading buffer and its uplink protocol (wire contract v1) as a library. The box runs the uplink
 * over its SQLite buffer (gateway/main.ts), the fleet simulator over an in-memory one
 * (simulators/fleet), so benches and storm tests exercise the very code the boxes run. Those tools
 * import from here and nowhere else in gateway/.
 */
export { DEFAULT_LIMITS, ReadingBuffer } from './buffer/reading-buffer';
export type { BufferAlarm, BufferLimits, BufferStats, OutboundBatch } from './buffer/reading-buffer';
export {
  MqttUplink,
  type UplinkBuffer,
  type UplinkConfig,
  type UplinkEvents,
  type UplinkOptions,
} from './uplink/mqtt-uplink';
