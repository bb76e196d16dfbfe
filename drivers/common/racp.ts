import { ByteReader } from '../codecs/byte-reader';
import { ResultBuilder } from '../codecs/fields';
import type { DecodeResult } from '../sdk/definition';
import { DecodeError } from '../sdk/errors';

/** GSS 3.187 Record Access Control Point 0x2A52 (GLS 1.0 / PLXS / CGMS). */
export const RACP_OPCODES = {
  reportStoredRecords: 0x01,
  deleteStoredRecords: 0x02,
  abortOperation: 0x03,
  reportNumberOfStoredRecords: 0x04,
  numberOfStoredRecordsResponse: 0x05,
  responseCode: 0x06,
} as const;
export const RACP_OPERATORS = {
  null: 0x00,
  allRecords: 0x01,
  lessThanOrEqual: 0x02,
  greaterThanOrEqual: 0x03,
  withinRange: 0x04,
  firstRecord: 0x05,
  lastRecord: 0x06,
} as const;
/** Filter type of the operand: 0x01 = sequence number (uint16). */
const FILTER_SEQUENCE = 0x01;
export const RACP_RESPONSE_CODES: Record<number, string> = {
  1: 'success',
  2: 'op_code_not_supported',
  3: 'invalid_operator',
  4: 'operator_not_supported',
  5: 'invalid_operand',
  6: 'no_records_found',
  7: 'abort_unsuccessful',
  8: 'procedure_not_completed',
  9: 'operand_not_supported',
};

export type RacpRequest =
  | { op: 'report' | 'delete' | 'count'; filter: 'all' | 'first' | 'last' }
  | { op: 'report' | 'delete' | 'count'; filter: 'sequence_gte' | 'sequence_lte'; sequence: number }
  | { op: 'report' | 'delete' | 'count'; filter: 'sequence_range'; from: number; to: number }
  | { op: 'abort' };

export type RacpResponse =
  | { type: 'number_of_records'; count: number }
  | { type: 'response_code'; requestOpCode: number; code: number; status: string };

const OP_OF: Record<'report' | 'delete' | 'count', number> = { report: 0x01, delete: 0x02, count: 0x04 };
const u16 = (v: number) => [v & 0xff, (v >> 8) & 0xff];

export function encodeRacpRequest(req: RacpRequest): Uint8Array {
  if (req.op === 'abort') return Uint8Array.of(RACP_OPCODES.abortOperation, RACP_OPERATORS.null);
  const op = OP_OF[req.op];
  switch (req.filter) {
    case 'all':
      return Uint8Array.of(op, RACP_OPERATORS.allRecords);
    case 'first':
      return Uint8Array.of(op, RACP_OPERATORS.firstRecord);
    case 'last':
      return Uint8Array.of(op, RACP_OPERATORS.lastRecord);
    case 'sequence_gte':
      return Uint8Array.of(op, RACP_OPERATORS.greaterThanOrEqual, FILTER_SEQUENCE, ...u16(req.sequence));
    case 'sequence_lte':
      return Uint8Array.of(op, RACP_OPERATORS.lessThanOrEqual, FILTER_SEQUENCE, ...u16(req.sequence));
    case 'sequence_range':
      return Uint8Array.of(op, RACP_OPERATORS.withinRange, FILTER_SEQUENCE, ...u16(req.from), ...u16(req.to));
  }
}

/**
 * "Report stored records with sequence > N": RACP only has >=, so this asks for >= N+1.
 * Returns undefined when N is already the highest sequence number (0xFFFF): nothing can follow.
 */
export function racpReportRecordsAfter(sequence: number): Uint8Array | undefined {
  if (sequence >= 0xffff) return undefined;
  return encodeRacpRequest({ op: 'report', filter: 'sequence_gte', sequence: sequence + 1 });
}
export const racpReportAllRecords = () => encodeRacpRequest({ op: 'report', filter: 'all' });
export const racpReportNumberOfRecords = () => encodeRacpRequest({ op: 'count', filter: 'all' });
export const racpNumberOfRecordsAfter = (sequence: number) =>
  encodeRacpRequest({ op: 'count', filter: 'sequence_gte', sequence: sequence + 1 });
export const racpAbort = () => encodeRacpRequest({ op: 'abort' });

/** Decodes a request (simulators implement the server side with it). */
export function decodeRacpRequest(bytes: Uint8Array): RacpRequest {
  const r = new ByteReader(bytes);
  const opcode = r.u8('Op Code');
  const operator = r.u8('Operator');
  if (opcode === RACP_OPCODES.abortOperation) return { op: 'abort' };
  const op = (Object.entries(OP_OF).find(([, v]) => v === opcode)?.[0] ?? undefined) as
    'report' | 'delete' | 'count' | undefined;
  if (!op) throw new DecodeError('UNSUPPORTED', `RACP op code ${opcode} is not a request`);
  const seq = () => {
    const filter = r.u8('Filter Type');
    if (filter !== FILTER_SEQUENCE)
      throw new DecodeError('UNSUPPORTED', `RACP filter type ${filter} not supported (only sequence number)`);
  };
  switch (operator) {
    case RACP_OPERATORS.allRecords:
      return { op, filter: 'all' };
    case RACP_OPERATORS.firstRecord:
      return { op, filter: 'first' };
    case RACP_OPERATORS.lastRecord:
      return { op, filter: 'last' };
    case RACP_OPERATORS.greaterThanOrEqual:
      seq();
      return { op, filter: 'sequence_gte', sequence: r.u16('Sequence Number') };
    case RACP_OPERATORS.lessThanOrEqual:
      seq();
      return { op, filter: 'sequence_lte', sequence: r.u16('Sequence Number') };
    case RACP_OPERATORS.withinRange:
      seq();
      return { op, filter: 'sequence_range', from: r.u16('Sequence Number from'), to: r.u16('Sequence Number to') };
    default:
      throw new DecodeError('INVALID', `RACP operator ${operator} invalid for op code ${opcode}`);
  }
}

export function encodeRacpResponse(
  res: { type: 'number_of_records'; count: number } | { type: 'response_code'; requestOpCode: number; code: number },
): Uint8Array {
  if (res.type === 'number_of_records')
    return Uint8Array.of(RACP_OPCODES.numberOfStoredRecordsResponse, RACP_OPERATORS.null, ...u16(res.count));
  return Uint8Array.of(RACP_OPCODES.responseCode, RACP_OPERATORS.null, res.requestOpCode, res.code);
}

export function parseRacpResponse(bytes: Uint8Array): RacpResponse {
  const r = new ByteReader(bytes);
  const opcode = r.u8('Op Code');
  r.u8('Operator');
  if (opcode === RACP_OPCODES.numberOfStoredRecordsResponse)
    return { type: 'number_of_records', count: r.u16('Number of Records') };
  if (opcode === RACP_OPCODES.responseCode) {
    const requestOpCode = r.u8('Request Op Code');
    const code = r.u8('Response Code Value');
    return { type: 'response_code', requestOpCode, code, status: RACP_RESPONSE_CODES[code] ?? 'reserved' };
  }
  throw new DecodeError('UNSUPPORTED', `RACP op code ${opcode} is not a response`);
}

/** Characteristic decoder: the response lands in info.racp. */
export function decodeRacp(bytes: Uint8Array): DecodeResult {
  const b = new ResultBuilder();
  b.addInfo('racp', parseRacpResponse(bytes));
  return b.build();
}
