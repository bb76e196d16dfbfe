/**
 * The gateway's public entry point for the tools around it (simulators, benches): its durable
 * reading buffer, BLE capture and replay, and its uplink protocol (wire contract v1) as a library.
 * The box runs the uplink over its SQLite buffer (gateway/main.ts), the fleet simulator over an
 * in-memory one (simulators/fleet), so benches and storm tests exercise the very code the boxes
 * run. Those tools import from here and nowhere else in gateway/.
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
/** BLE capture and replay (docs/capture-and-replay.md): the trace format, the btsnoop importer */
export * from './capture/trace-format';
export { Pseudonymizer } from './capture/pseudonym';
export { TracingTransport, traceFileSink, ALWAYS_REDACTED, type TraceSink } from './capture/tracing-transport';
export { parseBtsnoop, writeBtsnoop, DATALINK, BtsnoopError, type HciPacket } from './capture/btsnoop';
export { importBtsnoop, type ImportOptions, type ImportResult } from './capture/btsnoop-import';
/** the real BLE side of the gateway, for the replay of captures on the virtual BlueZ */
export { BluezTransport } from './ble/bluez-transport';
export { DeviceManager, type DeviceManagerOptions } from './devices/device-manager';
