/**
 * The gateway's public entry point for the tools around it (simulators, benches): its durable
 * reading buffer. Those tools import from here and nowhere else in gateway/.
 */
export { DEFAULT_LIMITS, ReadingBuffer } from './buffer/reading-buffer';
export type { BufferLimits, BufferStats, OutboundBatch } from './buffer/reading-buffer';
