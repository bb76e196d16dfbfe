import { encodeDateTime } from '../../../drivers/codecs/date-time';
import { AttError, type PeripheralLink, type ServiceSpec, type VirtualPeripheral } from '../peripheral';

const utf8 = (s: string) => new TextEncoder().encode(s);

/** Device Information Service 0x180A (DIS 1.1): manufacturer, model, serial, firmware strings. */
export function deviceInformationService(info: {
  manufacturer?: string;
  model?: string;
  serial?: string;
  firmware?: string;
}): ServiceSpec {
  const chars: Array<[string, string | undefined]> = [
    ['2a29', info.manufacturer],
    ['2a24', info.model],
    ['2a25', info.serial],
    ['2a26', info.firmware],
  ];
  return {
    uuid: '180a',
    characteristics: chars
      .filter((c): c is [string, string] => c[1] !== undefined)
      .map(([uuid, v]) => ({ uuid, flags: ['read'], value: utf8(v) })),
  };
}

/** Battery Service 0x180F (BAS 1.0): Battery Level 0x2A19, uint8 percent, read + notify. */
export function batteryService(p: { battery: number }): ServiceSpec {
  return {
    uuid: '180f',
    characteristics: [{ uuid: '2a19', flags: ['read', 'notify'], onRead: () => Uint8Array.of(p.battery) }],
  };
}

/** A Date's UTC fields as the GSS Date Time fields (the virtual devices keep local time that way). */
export function dateTimeFields(d: Date) {
  return {
    year: d.getUTCFullYear(),
    month: d.getUTCMonth() + 1,
    day: d.getUTCDate(),
    hours: d.getUTCHours(),
    minutes: d.getUTCMinutes(),
    seconds: d.getUTCSeconds(),
  };
}

/** GSS Date Time (0x2A08 layout) of a device-local Date. */
export function dateTimeBytes(d: Date): Uint8Array {
  return encodeDateTime(dateTimeFields(d));
}

/**
 * Current Time 0x2A2B (CTS 1.1 3.1, GSS 3.62): Exact Time 256 (Day Date Time + Fractions256)
 * + Adjust Reason, 10 bytes. Day of week 1 = Monday .. 7 = Sunday.
 */
export function currentTimeBytes(d: Date, adjustReason = 0): Uint8Array {
  const dow = ((d.getUTCDay() + 6) % 7) + 1;
  const fractions = Math.floor((d.getUTCMilliseconds() * 256) / 1000);
  return Uint8Array.from([...dateTimeBytes(d), dow, fractions, adjustReason]);
}

/** Parses a Current Time value back to a device-local Date (UTC fields), or undefined when invalid. */
export function parseCurrentTime(v: Uint8Array): Date | undefined {
  if (v.length < 7) return undefined;
  const dv = new DataView(v.buffer, v.byteOffset, v.byteLength);
  const year = dv.getUint16(0, true);
  const [month, day, h, m, s] = [2, 3, 4, 5, 6].map((i) => dv.getUint8(i)) as [number, number, number, number, number];
  if (year < 1582 || month < 1 || month > 12 || day < 1 || day > 31 || h > 23 || m > 59 || s > 59) return undefined;
  const ms = v.length >= 9 ? Math.floor((dv.getUint8(8) * 1000) / 256) : 0;
  return new Date(Date.UTC(year, month - 1, day, h, m, s, ms));
}

/**
 * Current Time Service 0x1805: 0x2A2B read/write/notify. A write sets the device clock (CTS 1.1
 * 3.1.2.1) unless the peripheral's fault `ignoreTimeWrite` is set. Wrong length: ATT 0x0D
 * (Invalid Attribute Value Length); invalid date: 0x80 (CTS "Data field ignored").
 */
export function currentTimeService(p: VirtualPeripheral): ServiceSpec {
  return {
    uuid: '1805',
    characteristics: [
      {
        uuid: '2a2b',
        flags: ['read', 'write', 'notify'],
        onRead: () => currentTimeBytes(p.deviceTime()),
        onWrite: (v: Uint8Array, _link: PeripheralLink) => {
          if (v.length !== 10) throw new AttError(0x0d, 'Invalid Attribute Value Length');
          const t = parseCurrentTime(v);
          if (!t) throw new AttError(0x80, 'Data field ignored');
          if (!p.faults.ignoreTimeWrite) p.setDeviceTime(t);
        },
      },
    ],
  };
}
