import { describe, expect, it } from 'vitest';
import { runDecode } from '../../../drivers/cli/decode';

/** `npm run -s decode -- --advert ...`: advertisements matched and decoded as the gateway does. */
describe('decode CLI, advertisement mode', () => {
  it('decodes a Mi Smart Scale service-data advertisement (0x181D)', () => {
    const r = runDecode(['--advert', '--service-data', '181d=223e30e607020e10293a']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout ?? '') as { driver: string; measurements: { metric: string; value: number }[] };
    expect(out.driver).toBe('xiaomi-mi-scale');
    expect(out.measurements).toEqual([expect.objectContaining({ metric: 'body_weight', value: 61.75 })]);
  });

  it('names the connect driver of a device that needs a connection, and refuses what nothing matches', () => {
    expect(JSON.parse(runDecode(['--advert', '--uuid', '1810']).stdout ?? '')).toMatchObject({
      driver: 'sig-blood-pressure',
      linkMode: 'connect',
    });
    expect(runDecode(['--advert', '--name', 'nothing'])).toMatchObject({ code: 1 });
    expect(runDecode(['--advert', '--service-data', '181d=abc'])).toMatchObject({ code: 2 });
    expect(runDecode(['--advert', '--bogus', 'x'])).toMatchObject({ code: 2 });
  });
});
