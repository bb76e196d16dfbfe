import { describe, expect, it } from 'vitest';
import { newHeader, parseTrace, serializeTrace, TraceFormatError } from '../../../gateway/capture/trace-format';

const header = JSON.stringify(newHeader('constructed', 'test', new Date('2026-12-01T00:00:00Z')));
const read =
  '{"type":"read","device":"C0:00:00:00:00:01","t":5,"service":"0x180F","characteristic":"00002A19-0000-1000-8000-00805F9B34FB","value":"5a"}';

describe('trace format v1', () => {
  it('reads a header and records; UUIDs are normalised; it writes back what it read', () => {
    const trace = parseTrace(`${header}\n\n${read}\n`);
    expect(trace.header).toMatchObject({ format: 'vigil-ble-trace', version: 1, source: 'constructed' });
    expect(trace.records).toEqual([
      { type: 'read', device: 'C0:00:00:00:00:01', t: 5, service: '180f', characteristic: '2a19', value: '5a' },
    ]);
    expect(parseTrace(serializeTrace(trace))).toEqual(trace);
  });

  it('refuses another version, a record without its header, a bad line, with TRACE_INVALID and the line number', () => {
    const v2 = header.replace('"version":1', '"version":2');
    expect(() => parseTrace(`${v2}\n${read}`)).toThrow(/TRACE_INVALID: line 1: not a vigil-ble-trace v1 header/);
    expect(() => parseTrace(read)).toThrow(TraceFormatError);
    expect(() => parseTrace(`${header}\n${read}\n{"type":"read","device":"c0:00","t":1}`)).toThrow(/line 3/);
    expect(() => parseTrace(`${header}\n${read.replace('"5a"', '"5A"')}`)).toThrow(/lower-case even-length hex/);
    expect(() => parseTrace(`${header}\nnot json`)).toThrow(/line 2: not JSON/);
    expect(() => parseTrace('')).toThrow(/empty trace/);
    let err: unknown;
    try {
      parseTrace(`${header}\n{"type":"teleport","device":"C0:00:00:00:00:01","t":0}`);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'TRACE_INVALID', line: 2 });
  });
});
