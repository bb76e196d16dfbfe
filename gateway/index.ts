/**
 * The gateway's public entry point for the tools around it (simulators, benches): its durable
 * reading buffer, BLE capture and replay. Those tools import from here and nowhere else in gateway/.
 */
export { DEFAULT_LIMITS, ReadingBuffer } from './buffer/reading-buffer';
export type { BufferLimits, BufferStats, OutboundBatch } from './buffer/reading-buffer';
/** BLE capture and replay (docs/capture-and-replay.md): the trace format, the btsnoop importer */
export * from './capture/trace-format';
export { Pseudonymizer } from './capture/pseudonym';
export { TracingTransport, traceFileSink, ALWAYS_REDACTED, type TraceSink } from './capture/tracing-transport';
export { parseBtsnoop, writeBtsnoop, DATALINK, BtsnoopError, type HciPacket } from './capture/btsnoop';
export { importBtsnoop, type ImportOptions, type ImportResult } from './capture/btsnoop-import';
/** the real BLE side of the gateway, for the replay of captures on the virtual BlueZ */
export { BluezTransport } from './ble/bluez-transport';
export { DeviceManager, type DeviceManagerOptions } from './devices/device-manager';
