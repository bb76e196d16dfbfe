import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import { writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { z } from 'zod';
import { updateReportSchema } from '../../contract/messages';

/**
 * The box's software layout for over-the-air updates (docs/operations.md "Over-the-air updates"):
 *   <root>/versions/<version>/gateway.mjs   one directory per installed release (current + previous)
 *   <root>/current -> versions/<version>    the release the supervisor runs (a symlink, swapped by rename)
 *   <root>/node_modules                     native modules, shared (release manifests pin their versions)
 *   <root>/ota-state.json                   the update in progress or its outcome
 * The supervisor (supervisor.ts) and the gateway's agent (ota-agent.ts) both read and write the state
 * file; each write is a whole-file rename, so a power cut leaves the old or the new state, never half.
 */
export const layout = (root: string) => ({
  root,
  versions: join(root, 'versions'),
  current: join(root, 'current'),
  state: join(root, 'ota-state.json'),
  bundle: (version: string) => join(root, 'versions', version, 'gateway.mjs'),
});

export const otaStateSchema = updateReportSchema.extend({
  /** the version running before the switch: where a rollback goes */
  from: z.string().min(1).optional(),
  at: z.iso.datetime(),
  /** starts of the new version not yet found healthy (a power cut during the trial counts one) */
  attempts: z.number().int().min(0).optional(),
});
export type OtaState = z.infer<typeof otaStateSchema>;

/** the update state, or undefined when there is none or it is unreadable (then nothing is in progress) */
export function readOtaState(root: string): OtaState | undefined {
  try {
    return otaStateSchema.parse(JSON.parse(readFileSync(layout(root).state, 'utf8')));
  } catch {
    return undefined;
  }
}

export function writeOtaState(root: string, s: Omit<OtaState, 'at'>): OtaState {
  const full: OtaState = { ...s, at: new Date().toISOString() };
  const file = layout(root).state;
  writeFileSync(`${file}.tmp`, JSON.stringify(full));
  renameSync(`${file}.tmp`, file);
  return full;
}

/** the version `current` points at (undefined before the first install) */
export function currentVersion(root: string): string | undefined {
  try {
    return basename(readlinkSync(layout(root).current));
  } catch {
    return undefined;
  }
}

/** Points `current` at versions/<version>: a new symlink renamed over the old one (atomic on POSIX). */
export function switchTo(root: string, version: string): void {
  const l = layout(root);
  if (!existsSync(l.bundle(version))) throw new Error(`no bundle installed for ${version}`);
  const tmp = `${l.current}.next`;
  rmSync(tmp, { force: true });
  symlinkSync(join('versions', version), tmp);
  renameSync(tmp, l.current);
}

/** Writes a release bundle into versions/<version>/ (temporary name, then rename). */
export function stageBundle(root: string, version: string, files: Record<string, Buffer>): void {
  const dir = join(layout(root).versions, version);
  mkdirSync(dir, { recursive: true });
  for (const [name, bytes] of Object.entries(files)) {
    writeFileSync(join(dir, `.${name}.tmp`), bytes);
    renameSync(join(dir, `.${name}.tmp`), join(dir, name));
  }
}

/** Removes every installed version but those kept (the running one and the rollback target). */
export function pruneVersions(root: string, keep: readonly (string | undefined)[]): void {
  const dir = layout(root).versions;
  if (!existsSync(dir)) return;
  for (const v of readdirSync(dir)) if (!keep.includes(v)) rmSync(join(dir, v), { recursive: true, force: true });
}
