import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { buildArtifacts, buildBoard, BOARDS, type BoardName } from '../../dashboards/artifacts';
import { INFLUX_DS, POSTGRES_DS } from '../../dashboards/lib/datasources';

const root = join(import.meta.dirname, '../..');

describe('dashboards build', () => {
  it('committed files are exactly what `npm run dashboards:build` writes', () => {
    const stale: string[] = [];
    for (const [rel, content] of buildArtifacts()) {
      let committed: string;
      try {
        committed = readFileSync(join(root, rel), 'utf8');
      } catch {
        committed = '<missing>';
      }
      if (committed !== content) stale.push(rel);
    }
    expect(stale, 'run npm run dashboards:build and commit the result').toEqual([]);
  });

  it('is deterministic', () => {
    expect([...buildArtifacts()]).toEqual([...buildArtifacts()]);
  });

  it('gives every board a unique uid and panel ids and refIds that Grafana accepts', () => {
    const uids = new Set<string>();
    for (const name of Object.keys(BOARDS) as BoardName[]) {
      const d = buildBoard(name) as unknown as {
        uid: string;
        tags: string[];
        panels: {
          title: string;
          gridPos: { x: number; w: number };
          targets: { refId: string; datasource: { uid: string } }[];
        }[];
      };
      expect(uids.has(d.uid)).toBe(false);
      uids.add(d.uid);
      expect(d.tags).toContain('vigil');
      for (const p of d.panels) {
        expect(p.gridPos.x + p.gridPos.w, `${name} / ${p.title} fits the 24-column grid`).toBeLessThanOrEqual(24);
        const refIds = p.targets.map((t) => t.refId);
        expect(new Set(refIds).size, `${name} / ${p.title} refIds unique`).toBe(refIds.length);
        for (const t of p.targets) expect([INFLUX_DS.uid, POSTGRES_DS.uid]).toContain(t.datasource.uid);
      }
    }
  });

  it('provisions no data source in the main organisation (fail closed) and the board folder', () => {
    const files = buildArtifacts();
    const ds = YAML.parse(files.get('dashboards/grafana/provisioning/datasources/vigil.yaml')!) as {
      datasources: unknown[];
    };
    expect(ds.datasources).toEqual([]);
    const prov = YAML.parse(files.get('dashboards/grafana/provisioning/dashboards/vigil.yaml')!) as {
      providers: { type: string; options: { path: string } }[];
    };
    expect(prov.providers[0]).toMatchObject({ type: 'file', options: { path: '/var/lib/grafana/dashboards/vigil' } });
  });
});
