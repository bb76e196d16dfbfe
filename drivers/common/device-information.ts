import { ByteReader } from '../codecs/byte-reader';
import { ResultBuilder } from '../codecs/fields';
import type { CharacteristicDecoder, DecodeResult } from '../sdk/definition';
import type { DriverExtension } from '../sdk/compose';

/** Device Information Service 0x180A (DIS 1.1): utf8s strings, System ID and PnP ID. */
const STRINGS: Record<string, string> = {
  '2a29': 'manufacturerName',
  '2a24': 'modelNumber',
  '2a25': 'serialNumber',
  '2a27': 'hardwareRevision',
  '2a26': 'firmwareRevision',
  '2a28': 'softwareRevision',
};

function stringDecoder(key: string): CharacteristicDecoder {
  return (bytes) => {
    const b = new ResultBuilder();
    b.addInfo(key, new ByteReader(bytes).utf8(key));
    return b.build();
  };
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

/** GSS 3.215 System ID 0x2A23: Manufacturer Identifier uint40, Organizationally Unique Identifier uint24. */
export function decodeSystemId(bytes: Uint8Array): DecodeResult {
  const r = new ByteReader(bytes);
  const manufacturer = r.bytesOf(5, 'Manufacturer Identifier');
  const oui = r.bytesOf(3, 'Organizationally Unique Identifier');
  const b = new ResultBuilder();
  b.addInfo('systemId', {
    manufacturerIdentifier: hex(manufacturer.slice().reverse()),
    oui: hex(oui.slice().reverse()),
  });
  return b.build();
}

/** GSS 3.170 PnP ID 0x2A50: Vendor ID Source uint8 (1 SIG, 2 USB-IF), Vendor ID, Product ID, Product Version uint16. */
export function decodePnpId(bytes: Uint8Array): DecodeResult {
  const r = new ByteReader(bytes);
  const source = r.u8('Vendor ID Source');
  const b = new ResultBuilder();
  b.addInfo('pnpId', {
    vendorIdSource: source === 1 ? 'bluetooth_sig' : source === 2 ? 'usb_if' : 'reserved',
    vendorId: r.u16('Vendor ID'),
    productId: r.u16('Product ID'),
    productVersion: r.u16('Product Version'),
  });
  return b.build();
}

export function deviceInformation(): DriverExtension {
  const decoders: Record<string, CharacteristicDecoder> = Object.fromEntries(
    Object.entries(STRINGS).map(([uuid, key]) => [uuid, stringDecoder(key)]),
  );
  decoders['2a23'] = decodeSystemId;
  decoders['2a50'] = decodePnpId;
  return {
    characteristics: Object.keys(decoders).map((characteristic) => ({
      service: '180a',
      characteristic,
      access: 'read' as const,
      required: false,
    })),
    decoders,
  };
}
