/**
 * What the hub and gateway command lines share: commander set up so that every failure prints one
 * line `CODE: message` on stderr and exits with a status a supervisor can act on:
 *   0  done (including --help)
 *   1  a failure worth retrying (a store or peer unreachable, an unexpected error)
 *   2  usage or configuration error: restarting will not fix it (systemd RestartPreventExitStatus=2)
 */
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import type { z } from 'zod';
import { errorCode, errorMessage } from './errors';

export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** An error the command line reports with its own code and exit status. */
export class CliError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly exitCode: number = EXIT_FAILURE,
  ) {
    super(message);
  }
}

export const usageError = (message: string): CliError => new CliError('USAGE', message, EXIT_USAGE);

/** A commander argument parser validating with a zod schema (before anything connects). */
export function schemaArg<T>(schema: z.ZodType<T>, what: string): (value: string) => T {
  return (value) => {
    const parsed = schema.safeParse(value);
    if (!parsed.success) throw new InvalidArgumentError(`not a valid ${what}`);
    return parsed.data;
  };
}

/** A commander argument parser accepting one of a fixed list. */
export function choiceArg<T extends string>(choices: readonly T[], what: string): (value: string) => T {
  return (value) => {
    if (!(choices as readonly string[]).includes(value))
      throw new InvalidArgumentError(`unknown ${what} "${value}" (one of: ${choices.join(', ')})`);
    return value as T;
  };
}

/** A commander argument parser for an integer in [min, max]. */
export function intArg(min: number, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^-?\d+$/.test(value) || n < min || n > max)
      throw new InvalidArgumentError(`an integer from ${min} to ${max}`);
    return n;
  };
}

/**
 * argv with `command` appended when it names no command, so that `vigil-hub` runs the hub while
 * `vigil-hub frobnicate` is still an unknown command (commander's isDefault would take it as an
 * argument of the default command).
 */
function withDefaultCommand(program: Command, argv: string[], command: string): string[] {
  const takesValue = new Set(
    program.options.filter((o) => o.required || o.optional).flatMap((o) => [o.short, o.long].filter(Boolean)),
  );
  for (let i = 2; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--') break;
    if (arg === '-h' || arg === '--help') return argv;
    if (!arg.startsWith('-')) return argv; // a command is named
    if (takesValue.has(arg)) i++; // `--config file`: skip the value
  }
  return [...argv, command];
}

/** How an error thrown by a command maps to a code and an exit status (undefined: not recognised). */
export type ErrorClassifier = (e: unknown) => { code: string; exitCode: number; message?: string } | undefined;

/** A root command whose parse errors print `USAGE: ...` and exit 2 instead of commander's default. */
export function cliProgram(name: string, description: string): Command {
  return new Command(name)
    .description(description)
    .exitOverride()
    .showHelpAfterError(`(${name} --help for usage)`)
    .configureOutput({
      outputError: (text, write) => write(`USAGE: ${text.replace(/^error: /, '')}`),
    });
}

/**
 * Parses argv and runs the chosen command; on failure prints `CODE: message` once and exits.
 * Codes come from CliError, from `classify`, from an error's own `code`, or `fallbackCode`.
 */
export async function runCli(
  program: Command,
  opts: { argv?: string[]; classify?: ErrorClassifier; fallbackCode: string; defaultCommand?: string },
): Promise<void> {
  try {
    const argv = opts.argv ?? process.argv;
    await program.parseAsync(opts.defaultCommand ? withDefaultCommand(program, argv, opts.defaultCommand) : argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // commander already printed help or the `USAGE: ...` line (configureOutput above)
      process.exit(e.exitCode === 0 ? 0 : EXIT_USAGE);
    }
    const known: ReturnType<ErrorClassifier> =
      e instanceof CliError ? { code: e.code, exitCode: e.exitCode } : opts.classify?.(e);
    const code = known?.code ?? errorCode(e) ?? opts.fallbackCode;
    const message = known?.message ?? errorMessage(e);
    // one code per line: a message that already starts with its code is not prefixed twice
    console.error(message.startsWith(`${code}: `) ? message : `${code}: ${message}`);
    process.exit(known?.exitCode ?? EXIT_FAILURE);
  }
}
