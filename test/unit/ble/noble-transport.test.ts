import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { NobleTransport } from '../../../gateway/ble/noble-transport';
import { BleError } from '../../../gateway/ble/transport';

describe('noble transport without an HCI socket', () => {
  it('start() reports ADAPTER_UNAVAILABLE cleanly (real module: no HCI socket in this environment)', async () => {
    const t = new NobleTransport({ startTimeoutMs: 1000 });
    const e = await t.start().then(
      () => undefined,
      (err: unknown) => err,
    );
    if (e === undefined) {
      // a machine with a usable adapter: nothing to check here
      expect(t.adapterState()).toBe('powered');
      await t.stop();
      return;
    }
    expect(e).toBeInstanceOf(BleError);
    expect((e as BleError).code).toBe('ADAPTER_UNAVAILABLE');
    expect(t.adapterState()).toBe('absent');
    await expect(t.startScan(() => undefined)).rejects.toMatchObject({ code: 'ADAPTER_UNAVAILABLE' });
    await expect(t.connect('AA:BB:CC:DD:EE:FF')).rejects.toMatchObject({ code: 'ADAPTER_UNAVAILABLE' });
    await t.stop();
  });

  it('a loader that throws EAFNOSUPPORT is ADAPTER_UNAVAILABLE', async () => {
    const t = new NobleTransport({
      load: () =>
        Promise.reject(
          Object.assign(new Error('EAFNOSUPPORT, Address family not supported by protocol'), { code: 'EAFNOSUPPORT' }),
        ),
    });
    await expect(t.start()).rejects.toMatchObject({ code: 'ADAPTER_UNAVAILABLE' });
  });

  it('an adapter that never powers on times out as ADAPTER_UNAVAILABLE', async () => {
    const fake = Object.assign(new EventEmitter(), { _state: 'unknown' });
    const t = new NobleTransport({ load: () => Promise.resolve(fake), startTimeoutMs: 100 });
    await expect(t.start()).rejects.toMatchObject({ code: 'ADAPTER_UNAVAILABLE' });
    fake.emit('stateChange', 'poweredOff');
    expect(t.adapterState()).toBe('absent');
  });
});
