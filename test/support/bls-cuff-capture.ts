import {
  ad,
  advertisingReport,
  att,
  connectionComplete,
  disconnectionComplete,
  l2cap,
  type HciRecord,
} from './hci-capture';

/**
 * A blood pressure cuff session as a phone app's HCI log would show it: CONSTRUCTED from the
 * specifications, not recorded from a device (no public capture of a Blood Pressure Service
 * cuff could be found to cite). Per Blood Pressure Service 1.1 and Profile 1.1: the app
 * discovers the services and characteristics, reads the battery level and BP Feature, reads then
 * writes Current Time (CTS 1.1), enables indications on Blood Pressure Measurement; the cuff
 * indicates its two stored measurements (the second split over three ACL fragments) and ends the
 * link. Packet layouts: Core 5.4 Vol 4 Part E (HCI), Vol 3 Part A (L2CAP), Vol 3 Part F (ATT),
 * GATT Specification Supplement (0x2A35, 0x2A2B).
 * test/captures/bls-cuff-constructed/ holds the btsnoop file these records make.
 */
/** the pseudonym key the committed trace was imported with (a test key, not a box's) */
export const TEST_KEY = Buffer.from('vigil-capture-test-key-not-secret');

export const CUFF_ADDRESS = 'A4:C1:38:5E:00:01';
const H = 0x0040;

export const FIRST_MEASUREMENT = '167c0056006100e807060f11111b33000000';
export const SECOND_MEASUREMENT = '1676004f005c00e807060f1113024000' + '0000';
export const CTS_READ = 'e807060f111400060000';
export const CTS_WRITE = 'e807060f111405060001';

export function blsCuffSession(): HciRecord[] {
  const tx = (pdu: string, fragment?: number) => att(H, true, pdu, fragment);
  const rx = (pdu: string, fragment?: number) => att(H, false, pdu, fragment);
  return [
    // ADV_IND: flags, complete list of 16-bit UUIDs (0x1810), complete local name; RSSI -58 dBm
    advertisingReport(
      CUFF_ADDRESS,
      [...ad(0x01, [0x06]), ...ad(0x03, [0x10, 0x18]), ...ad(0x09, [...Buffer.from('BP Cuff')])],
      -58,
    ),
    connectionComplete(H, CUFF_ADDRESS),
    ...tx('02f700'), // Exchange MTU Request 247
    ...rx('031700'), // Exchange MTU Response 23
    // primary services (Read By Group Type, 0x2800): GAP, BPS 0x10-0x16, CTS 0x20-0x23, Battery 0x30-0x32
    ...tx('100100ffff0028'),
    ...rx('1106' + '010007000018' + '100016001018' + '200023000518'),
    ...tx('102400ffff0028'),
    ...rx('1106' + '300032000f18'),
    ...tx('103300ffff0028'),
    ...rx('011033000a'), // Attribute Not Found: the end of the services
    // characteristic declarations (Read By Type, 0x2803): properties, value handle, UUID
    ...tx('08100016000328'),
    ...rx('0907' + '110020120035' + '2a' + '140002150049' + '2a'),
    ...tx('08200023000328'),
    ...rx('0907' + '2100' + '1a' + '2200' + '2b2a'),
    ...tx('08300032000328'),
    ...rx('0907' + '3100' + '02' + '3200' + '192a'),
    // descriptors (Find Information): the CCCDs of 0x2A35 and 0x2A2B
    ...tx('0413001300'),
    ...rx('0501' + '1300' + '0229'),
    ...tx('0423002300'),
    ...rx('0501' + '2300' + '0229'),
    ...tx('0a3200'),
    ...rx('0b5a'), // battery 90 %
    ...tx('0a1500'),
    ...rx('0b0000'), // BP Feature: none
    ...tx('0a2200'),
    ...rx('0b' + CTS_READ), // the cuff's clock: 2024-06-15 17:20:00, Saturday
    ...tx('122200' + CTS_WRITE), // the app sets it: 17:20:05, adjust reason manual
    ...rx('13'),
    // pairing starts (SMP, channel 0x0006: never read by the importer)
    ...l2cap(H, true, 0x0006, [0x01, 0x04, 0x00, 0x2d, 0x10, 0x0f, 0x0f]),
    ...tx('1213000200'), // CCCD of 0x2A35: indications on
    ...rx('13'),
    ...rx('1d1200' + FIRST_MEASUREMENT),
    ...tx('1e'),
    ...rx('1d1200' + SECOND_MEASUREMENT, 10),
    ...tx('1e'),
    disconnectionComplete(H),
  ];
}
