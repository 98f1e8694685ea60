// An ordered set of strings for the KV store: insert, delete, prefix scans and
// "skip past every key with this prefix" in O(log n), without a tree.
//
//   const keys = new SortedKeys();
//   keys.insert('web/a'); keys.insert('web/b/c');
//   keys.scanPrefix('web/', (key) => { console.log(key); });             // web/a, web/b/c
//   keys.scanPrefix('web/', (key) => key.endsWith('/') ? key : undefined); // a visitor may skip a subtree
//
// Keys live in chunks of at most CHUNK_KEYS sorted strings; a chunk splits when
// it overflows and disappears when it empties. Insert and delete move at most
// one chunk's worth of pointers (instead of the whole array of a plain sorted
// array), lookups are two binary searches.
//
// Order is Unicode code point order, which is UTF-8 byte order: the order Consul
// lists keys in (its radix tree compares bytes). JavaScript's `<` compares UTF-16
// code units and disagrees for characters above U+FFFF against U+E000..U+FFFF.

/** Most keys per chunk: trades the cost of a splice (memmove of this many pointers) against the chunk index's size. */
const CHUNK_KEYS = 512;

/** Compare two strings by Unicode code point (= UTF-8 byte order). */
export function compareKeys(left: string, right: string): number {
  if (left === right) return 0;
  const length = Math.min(left.length, right.length);
  for (let i = 0; i < length; i++) {
    const a = left.charCodeAt(i);
    const b = right.charCodeAt(i);
    if (a === b) continue;
    // Surrogates (D800-DFFF) encode code points above FFFF: they sort after E000-FFFF.
    return codePointRank(a) - codePointRank(b);
  }
  return left.length - right.length;
}

function codePointRank(unit: number): number {
  if (unit < 0xd800) return unit;
  return unit >= 0xe000 ? unit - 0x800 : unit + 0x2000;
}

/** What a prefix-scan visitor returns: a prefix to skip (every following key that starts with it), or nothing to go on. */
export type ScanStep = string | undefined | void;

export class SortedKeys {
  private chunks: string[][] = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Adds `key`; false if it was already there. */
  insert(key: string): boolean {
    if (this.chunks.length === 0) {
      this.chunks.push([key]);
      this.count = 1;
      return true;
    }
    const chunkIndex = this.chunkFor(key);
    const chunk = this.chunks[chunkIndex]!;
    const offset = lowerBound(chunk, key);
    if (offset < chunk.length && chunk[offset] === key) return false;
    chunk.splice(offset, 0, key);
    this.count++;
    if (chunk.length > CHUNK_KEYS) this.chunks.splice(chunkIndex + 1, 0, chunk.splice(CHUNK_KEYS >> 1));
    return true;
  }

  /** Removes `key`; false if it was not there. */
  delete(key: string): boolean {
    if (this.chunks.length === 0) return false;
    const chunkIndex = this.chunkFor(key);
    const chunk = this.chunks[chunkIndex]!;
    const offset = lowerBound(chunk, key);
    if (offset >= chunk.length || chunk[offset] !== key) return false;
    chunk.splice(offset, 1);
    this.count--;
    if (chunk.length === 0) this.chunks.splice(chunkIndex, 1);
    return true;
  }

  has(key: string): boolean {
    if (this.chunks.length === 0) return false;
    const chunk = this.chunks[this.chunkFor(key)]!;
    const offset = lowerBound(chunk, key);
    return offset < chunk.length && chunk[offset] === key;
  }

  clear(): void {
    this.chunks = [];
    this.count = 0;
  }

  /**
   * Visits, in order, every key that starts with `prefix`. The visitor may
   * return a prefix: the scan then jumps past every key starting with it
   * (O(log n) per jump), which is how `?keys&separator=/` lists one level of a
   * huge tree without reading the tree.
   */
  scanPrefix(prefix: string, visit: (key: string) => ScanStep): void {
    let [chunkIndex, offset] = this.seek(prefix, false);
    while (chunkIndex < this.chunks.length) {
      const chunk = this.chunks[chunkIndex]!;
      if (offset >= chunk.length) {
        chunkIndex++;
        offset = 0;
        continue;
      }
      const key = chunk[offset]!;
      if (!key.startsWith(prefix)) return;
      const skip = visit(key);
      if (typeof skip === 'string') [chunkIndex, offset] = this.seek(skip, true);
      else offset++;
    }
  }

  /** Every key, in order (snapshots). */
  *[Symbol.iterator](): IterableIterator<string> {
    for (const chunk of this.chunks) yield* chunk;
  }

  /** Every key, in order, without an iterator per key (snapshots of big stores). */
  forEach(visit: (key: string) => void): void {
    for (const chunk of this.chunks) for (let i = 0; i < chunk.length; i++) visit(chunk[i]!);
  }

  /** The chunk that holds `key` or would: the last chunk whose first key is <= key. */
  private chunkFor(key: string): number {
    let low = 0;
    let high = this.chunks.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if (compareKeys(this.chunks[middle]![0]!, key) <= 0) low = middle;
      else high = middle - 1;
    }
    return low;
  }

  /**
   * Position of the first key >= `key` or, with `pastPrefix`, of the first key
   * after every key that starts with `key` (those form one run beginning at `key`).
   */
  private seek(key: string, pastPrefix: boolean): [number, number] {
    if (this.chunks.length === 0) return [0, 0];
    const before = pastPrefix
      ? (candidate: string) => compareKeys(candidate, key) < 0 || candidate.startsWith(key)
      : (candidate: string) => compareKeys(candidate, key) < 0;
    // The first chunk whose last key is not "before": the position is in it.
    let low = 0;
    let high = this.chunks.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      const chunk = this.chunks[middle]!;
      if (before(chunk[chunk.length - 1]!)) low = middle + 1;
      else high = middle;
    }
    if (low === this.chunks.length) return [low, 0];
    const chunk = this.chunks[low]!;
    let first = 0;
    let last = chunk.length;
    while (first < last) {
      const middle = (first + last) >> 1;
      if (before(chunk[middle]!)) first = middle + 1;
      else last = middle;
    }
    return [low, first];
  }
}

function lowerBound(chunk: string[], key: string): number {
  let low = 0;
  let high = chunk.length;
  while (low < high) {
    const middle = (low + high) >> 1;
    if (compareKeys(chunk[middle]!, key) < 0) low = middle + 1;
    else high = middle;
  }
  return low;
}
