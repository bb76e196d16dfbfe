import * as dbus from 'dbus-next';
import { describe, expect, it } from 'vitest';
import { mapBluezError } from '../../../gateway/ble/bluez-transport';
import { NobleTransport } from '../../../gateway/ble/noble-transport';

const bluez = (name: string, text: string) => new dbus.DBusError(`org.bluez.Error.${name}`, text);

describe('BlueZ errors of bonding and of encrypted characteristics', () => {
  it.each([
    // bluetoothd gatt-client.c: ATT 0x05/0x0F/0x0C -> NotPermitted "Not paired"
    ['NotPermitted', 'Not paired', 'NOT_BONDED'],
    // older bluetoothd: the ATT code in a Failed error
    ['Failed', 'Operation failed with ATT error: 0x05', 'NOT_BONDED'],
    ['Failed', 'Operation failed with ATT error: 0x0f', 'NOT_BONDED'],
    ['NotPermitted', 'Insufficient Encryption', 'NOT_BONDED'],
    // not an authentication problem: the characteristic does not allow it
    ['NotPermitted', 'Read not permitted', 'NOT_SUPPORTED'],
    ['Failed', 'Operation failed with ATT error: 0xfe', 'FAILED'],
    // Device1.Pair (doc/org.bluez.Device.rst)
    ['AuthenticationFailed', 'Authentication Failed', 'AUTH_FAILED'],
    ['AuthenticationCanceled', 'Authentication Canceled', 'AUTH_FAILED'],
    ['AuthenticationRejected', 'Authentication Rejected', 'AUTH_FAILED'],
    ['AuthenticationTimeout', 'Authentication Timeout', 'AUTH_FAILED'],
    ['ConnectionAttemptFailed', 'Page Timeout', 'FAILED'],
    ['InProgress', 'In Progress', 'IN_PROGRESS'],
  ])('%s "%s" -> %s', (name, text, code) => {
    expect(mapBluezError(bluez(name, text)).code).toBe(code);
  });
});

describe('noble backend', () => {
  it('cannot bond: pair() is NOT_SUPPORTED and names the BlueZ backend', async () => {
    const t = new NobleTransport({ load: () => Promise.resolve({}) });
    await expect(t.pair('aa:bb:cc:dd:ee:ff')).rejects.toMatchObject({
      code: 'NOT_SUPPORTED',
      message: expect.stringMatching(/BlueZ/) as unknown,
    });
    expect(await t.isBonded('AA:BB:CC:DD:EE:FF')).toBe(false);
  });
});
