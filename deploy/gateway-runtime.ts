/**
 * How the box runs the gateway: V8 flags of deploy/vigil-gateway.service (a unit test keeps the
 * two equal), used as well by the benches and the end-to-end tests that run the bundle.
 * - --lite-mode: no optimising compiler and no JIT-compiled code (implies --jitless; -10 MiB RSS
 *   on six devices, bench/gateway-memory.ts). The gateway waits on BLE and the network; its hot
 *   path (decode, SQLite, JSON) stays well above a household's rate (bench/gateway-drain.ts).
 *   Lite mode also leaves WebAssembly out (Node 24 no longer accepts --no-expose-wasm, and no
 *   longer needs it to stay quiet); nothing in the gateway needs it (enrollment uses node:http).
 * - a small young generation and old space for a 1 GB Raspberry Pi.
 */
export const GATEWAY_NODE_FLAGS = [
  '--lite-mode',
  '--max-semi-space-size=1',
  '--max-old-space-size=64',
] as const;
