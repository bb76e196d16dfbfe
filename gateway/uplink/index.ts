/**
 * The gateway's uplink protocol (wire contract v1) as a library: the box runs it over its SQLite
 * buffer (gateway/main.ts), the fleet simulator over an in-memory one (simulators/fleet), so
 * benches and storm tests exercise the very code the boxes run.
 */
export { MqttUplink, type UplinkBuffer, type UplinkConfig, type UplinkEvents, type UplinkOptions } from './mqtt-uplink';
export type { BufferAlarm, BufferStats, OutboundBatch } from '../buffer/reading-buffer';
