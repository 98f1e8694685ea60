// Typed errors of the wire and disk codecs. A decoder that meets bytes it
// cannot accept throws DecodeError and nothing else, whatever the input: the
// receiver drops the message (or, for storage, refuses to start) and can log
// exactly what was wrong and where.

/** Why a decoder refused its input. Stable strings: tests, metrics and logs match on them. */
export type DecodeReason =
  /** The input ended in the middle of a field. */
  | 'truncated'
  /** A complete value was decoded and bytes were left over. */
  | 'trailing-bytes'
  /** The leading codec version byte is not one this build understands. */
  | 'unknown-version'
  /** A message type that is unknown or local-only (never on the wire). */
  | 'unknown-message-type'
  /** An enumeration, boolean or flags byte outside its defined values. */
  | 'invalid-value'
  /** A length prefix pointing past the end of the input. */
  | 'length-out-of-bounds'
  /** A count (entries, members) larger than the remaining input could hold or than the configured limit. */
  | 'count-out-of-bounds'
  /** A varint whose value exceeds Number.MAX_SAFE_INTEGER (2^53 - 1). */
  | 'unsafe-integer'
  /** A varint with redundant trailing zero groups: every value has exactly one encoding. */
  | 'non-canonical'
  /** The input, or a field, is larger than the configured limit. */
  | 'too-large'
  /** A string field (node id) that is not well-formed UTF-8. */
  | 'invalid-utf8'
  /** A membership list with an empty or duplicated node id, or a node both voter and learner. */
  | 'invalid-conf-state';

export class DecodeError extends Error {
  override name = 'DecodeError';
  readonly reason: DecodeReason;
  /** Byte offset in the input where the problem was found. */
  readonly offset: number;
  constructor(reason: DecodeReason, what: string, detail: string, offset: number) {
    super(`cannot decode ${what}: ${detail} (${reason}) at byte offset ${offset}`);
    this.reason = reason;
    this.offset = offset;
  }
}

/** Why an encoder refused a value: it would not decode back to the same value. */
export type EncodeReason =
  /** A number field that is negative, fractional, NaN or above Number.MAX_SAFE_INTEGER. */
  | 'invalid-number'
  /** An enumeration field outside its defined values (or a local-only message type). */
  | 'invalid-value'
  /** A string with a lone UTF-16 surrogate, which has no UTF-8 encoding. */
  | 'invalid-string'
  /** The encoding, or a field, would exceed the configured limit. */
  | 'too-large'
  /** A membership list with an empty or duplicated node id, or a node both voter and learner. */
  | 'invalid-conf-state';

export class EncodeError extends Error {
  override name = 'EncodeError';
  readonly reason: EncodeReason;
  /** The field that was refused, e.g. `entries[].term`. */
  readonly field: string;
  constructor(reason: EncodeReason, field: string, detail: string) {
    super(`cannot encode ${field}: ${detail} (${reason})`);
    this.reason = reason;
    this.field = field;
  }
}
