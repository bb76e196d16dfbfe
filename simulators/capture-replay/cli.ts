#!/usr/bin/env node
/**
 * Capture tools for integrators (docs/capture-and-replay.md):
 *   npm run -s capture -- import <btsnoop file> --out <trace.jsonl> [--android] [--note <text>]
 *   npm run -s capture -- replay <case.yaml>
 * Exit status: 0 done (replay: the case passed), 1 the case failed or the input is bad, 2 usage.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { cliProgram, runCli } from '../../contract/cli';
import { importBtsnoop, Pseudonymizer, serializeTrace } from '../../gateway';
import { loadReplayCase, runReplay } from './replay';

const program = cliProgram('vigil-capture', 'BLE captures: import btmon/Android HCI logs, replay traces as tests');

program
  .command('import')
  .description('turn a btsnoop file (btmon -w, Android btsnoop_hci.log) into a Vigil trace')
  .argument('<btsnoop>', 'the capture')
  .requiredOption('--out <file>', 'the trace to write (an existing file is never overwritten)')
  .option('--android', "label the trace as an Android phone's HCI log")
  .option('--key-file <file>', 'pseudonym key (created if absent): the same devices get the same pseudonyms')
  .option('--note <text>', 'what the capture shows: device model, firmware, app, what was done (no personal data)')
  .action((file: string, opts: { out: string; android?: boolean; keyFile?: string; note?: string }) => {
    const { trace, stats } = importBtsnoop(readFileSync(file), {
      pseudonyms: opts.keyFile ? Pseudonymizer.fromKeyFile(opts.keyFile) : Pseudonymizer.ephemeral(),
      source: opts.android ? 'android-hci' : 'btsnoop',
      ...(opts.note ? { note: opts.note } : {}),
    });
    writeFileSync(opts.out, serializeTrace(trace), { flag: 'wx', mode: 0o600 });
    console.log(JSON.stringify({ event: 'capture.imported', file: opts.out, records: trace.records.length, ...stats }));
  });

program
  .command('replay')
  .description('play a trace on the virtual BlueZ, run the gateway on it, check the expected readings')
  .argument('<case>', 'replay case (YAML or JSON) naming the trace and the expected readings')
  .action(async (file: string) => {
    const { replayCase, trace, dir } = await loadReplayCase(file);
    const report = await runReplay(replayCase, trace, { dir });
    console.log(JSON.stringify(report, null, 2));
    if (!report.ok) process.exitCode = 1;
  });

await runCli(program, { fallbackCode: 'CAPTURE_FAILED' });
