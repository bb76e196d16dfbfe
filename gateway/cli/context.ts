import type { Command } from 'commander';
import type { GatewayConfig } from '../config/schema';

/** What every gateway command group gets: the config source and the loaded configuration, on demand. */
export interface GatewayCliContext {
  /** --config file, if given */
  source(): { file?: string };
  /** the validated configuration: file < enrollment credentials < remote config < VIGIL_* environment */
  config(): Promise<GatewayConfig>;
}

export type RegisterCommands = (program: Command, ctx: GatewayCliContext) => void;

export function gatewayCliContext(program: Command): GatewayCliContext {
  const source = () => {
    const file = program.opts<{ config?: string }>().config;
    return file ? { file } : {};
  };
  return {
    source,
    config: async () => (await import('../config/load')).loadGatewayConfig(source()),
  };
}

export const printJson = (value: unknown): void => console.log(JSON.stringify(value));
