import { describe, expect, it } from 'vitest';
import { pseudonymProblem } from '../../../hub/security/pseudonym';
import { isPublicAddress } from '../../../hub/security/egress';
import { safeEqual } from '../../../hub/security/secrets';

describe('pseudonymous patient ids are enforced', () => {
  it.each([
    ['1 84 12 75 123 456 78', 'NIR'],
    ['184127512345678', 'NIR'],
    ['jeanne.dupont@example.org', 'e-mail'],
    ['pat-0612345678', 'phone'],
    ['p-+33612345678', 'phone'],
    ['dupont-1952-03-14', 'date'],
    ['p-14031952', 'date'],
  ])('refuses %s (%s)', (id) => expect(pseudonymProblem(id)).toBeDefined());
  it.each(['P-7Q4KX2', 'pat-a', 'WD-1', 'p-mi8x2k1a-0', 'gw-th-3', 'TH-12'])('accepts %s', (id) =>
    expect(pseudonymProblem(id)).toBeUndefined(),
  );
});

describe('small security helpers', () => {
  it('tells public unicast addresses from loopback, private, link-local, CGNAT and mapped ones', () => {
    for (const a of [
      '127.0.0.1',
      '10.0.0.1',
      '172.16.3.4',
      '192.168.0.1',
      '169.254.169.254',
      '100.64.0.1',
      '::1',
      'fe80::1',
      'fc00::1',
      '::ffff:10.0.0.1',
      '0.0.0.0',
    ])
      expect(isPublicAddress(a), a).toBe(false);
    for (const a of ['93.184.216.34', '2606:4700::1111']) expect(isPublicAddress(a), a).toBe(true);
  });
  it('compares secrets of any length in constant time', () => {
    expect(safeEqual('a', 'a')).toBe(true);
    expect(safeEqual('a', 'ab')).toBe(false);
  });
});
