// The simulator's event queue: a calendar queue keyed by whole virtual
// milliseconds, with a binary heap for events beyond the calendar's horizon.
//
//   const queue = new EventQueue();
//   queue.push(15, KIND_DELIVER, target, source, 0, message);
//   const slot = queue.pop(untilMs);          // -1 when nothing is due by untilMs
//   queue.kind[slot], queue.target[slot], queue.refOf(slot) ... queue.release(slot);
//
// Why a calendar: a simulated cluster schedules almost everything a few
// milliseconds to a few seconds ahead (message deliveries, probe timers), so
// one bucket per millisecond over a 65-second ring makes push and pop O(1),
// where a heap costs O(log n) comparisons of pointer-chasing objects. Events
// are slots in typed arrays (struct of arrays, recycled through a free list),
// so a million queued events cost tens of megabytes and no garbage.
//
// Order. Events run in (time, scheduling order): two events due in the same
// millisecond run in the order they were pushed. This is what makes a run a
// pure function of its seed. Each bucket is a FIFO linked list. An event due
// beyond the ring waits in the overflow heap (ordered by time, then sequence
// number) and moves into its bucket the moment the clock comes within one
// ring of it, which is before any event for that millisecond can be pushed
// straight into the bucket: so the move keeps the FIFO order too.

/** Calendar width in milliseconds: events due within this of the clock go straight into a bucket. A power of two. */
export const RING_MS = 1 << 16;
const RING_MASK = RING_MS - 1;
const NONE = -1;

export class EventQueue {
  /** Per slot: due time (ms), kind, target node, source node, a number and an object argument. */
  time: Float64Array;
  kind: Uint8Array;
  target: Int32Array;
  source: Int32Array;
  aux: Float64Array;
  private refs: unknown[] = [];
  /** Per slot: next slot in its bucket, or in the free list. */
  private next: Int32Array;
  /** Per slot: push order, for the overflow heap's ties. */
  private sequence: Float64Array;
  private freeHead = NONE;
  private capacity: number;
  private used = 0;
  private readonly bucketHead = new Int32Array(RING_MS).fill(NONE);
  private readonly bucketTail = new Int32Array(RING_MS).fill(NONE);
  /** Events in the ring. */
  private ringCount = 0;
  /** Overflow heap of slots. */
  private heap: Int32Array;
  private heapSize = 0;
  private pushes = 0;
  /** The calendar's clock: no event earlier than this remains; buckets cover [cursorMs, cursorMs + RING_MS). */
  private cursorMs = 0;
  /** Most events ever queued at once, for the memory report. */
  peakSize = 0;

  constructor(initialCapacity = 1 << 12) {
    this.capacity = initialCapacity;
    this.time = new Float64Array(initialCapacity);
    this.kind = new Uint8Array(initialCapacity);
    this.target = new Int32Array(initialCapacity);
    this.source = new Int32Array(initialCapacity);
    this.aux = new Float64Array(initialCapacity);
    this.next = new Int32Array(initialCapacity);
    this.sequence = new Float64Array(initialCapacity);
    this.heap = new Int32Array(1 << 10);
    // Filled by push, never by setting length: a JS array grown by `length` turns into a dictionary.
    for (let i = 0; i < initialCapacity; i++) this.refs.push(undefined);
  }

  /** Events queued. */
  get size(): number {
    return this.ringCount + this.heapSize;
  }

  /** The clock of the last pop (or the start). */
  get nowMs(): number {
    return this.cursorMs;
  }

  /** Queues an event at whole millisecond `atMs` (at least the time of the last pop). */
  push(atMs: number, kind: number, target: number, source: number, aux: number, ref: unknown): void {
    if (!(atMs >= this.cursorMs) || !Number.isInteger(atMs)) throw new RangeError(`event time ${atMs} is not a whole millisecond at or after ${this.cursorMs}`);
    const slot = this.allocate();
    this.time[slot] = atMs;
    this.kind[slot] = kind;
    this.target[slot] = target;
    this.source[slot] = source;
    this.aux[slot] = aux;
    this.refs[slot] = ref;
    this.sequence[slot] = this.pushes++;
    if (atMs - this.cursorMs < RING_MS) this.append(slot);
    else this.heapPush(slot);
    const size = this.ringCount + this.heapSize;
    if (size > this.peakSize) this.peakSize = size;
  }

  /**
   * Removes and returns the slot of the next event due at or before `untilMs`,
   * or -1 (leaving the clock at `untilMs` if nothing is due). Read the slot's
   * fields, then `release` it.
   */
  pop(untilMs: number): number {
    for (;;) {
      if (this.ringCount === 0) {
        if (this.heapSize === 0 || this.time[this.heap[0]!]! > untilMs) {
          if (untilMs > this.cursorMs) this.advanceTo(Math.floor(untilMs));
          return NONE;
        }
        // Nothing in the ring: jump straight to the earliest overflow event.
        this.advanceTo(this.time[this.heap[0]!]!);
        continue;
      }
      const bucket = this.cursorMs & RING_MASK;
      const head = this.bucketHead[bucket]!;
      if (head !== NONE) {
        if (this.cursorMs > untilMs) return NONE;
        const after = this.next[head]!;
        this.bucketHead[bucket] = after;
        if (after === NONE) this.bucketTail[bucket] = NONE;
        this.ringCount--;
        return head;
      }
      if (this.cursorMs >= untilMs) return NONE;
      this.advanceTo(this.cursorMs + 1);
    }
  }

  refOf(slot: number): unknown {
    return this.refs[slot];
  }

  /** Returns a popped slot to the free list. */
  release(slot: number): void {
    this.refs[slot] = undefined;
    this.next[slot] = this.freeHead;
    this.freeHead = slot;
  }

  /** Moves the clock to `atMs`, pulling overflow events that now fall inside the ring into their buckets. */
  private advanceTo(atMs: number): void {
    this.cursorMs = atMs;
    const horizon = atMs + RING_MS;
    while (this.heapSize > 0 && this.time[this.heap[0]!]! < horizon) this.append(this.heapPop());
  }

  private append(slot: number): void {
    const bucket = this.time[slot]! & RING_MASK;
    this.next[slot] = NONE;
    const tail = this.bucketTail[bucket]!;
    if (tail === NONE) this.bucketHead[bucket] = slot;
    else this.next[tail] = slot;
    this.bucketTail[bucket] = slot;
    this.ringCount++;
  }

  private allocate(): number {
    if (this.freeHead !== NONE) {
      const slot = this.freeHead;
      this.freeHead = this.next[slot]!;
      return slot;
    }
    if (this.used === this.capacity) this.grow();
    return this.used++;
  }

  private grow(): void {
    const capacity = this.capacity * 2;
    const widen = <T extends Float64Array | Int32Array | Uint8Array>(old: T, make: (n: number) => T): T => {
      const bigger = make(capacity);
      bigger.set(old as never);
      return bigger;
    };
    this.time = widen(this.time, (n) => new Float64Array(n));
    this.kind = widen(this.kind, (n) => new Uint8Array(n));
    this.target = widen(this.target, (n) => new Int32Array(n));
    this.source = widen(this.source, (n) => new Int32Array(n));
    this.aux = widen(this.aux, (n) => new Float64Array(n));
    this.next = widen(this.next, (n) => new Int32Array(n));
    this.sequence = widen(this.sequence, (n) => new Float64Array(n));
    for (let i = this.capacity; i < capacity; i++) this.refs.push(undefined);
    this.capacity = capacity;
  }

  // ---------------------------------------------------------------- overflow heap on (time, sequence)

  private before(a: number, b: number): boolean {
    const ta = this.time[a]!;
    const tb = this.time[b]!;
    return ta < tb || (ta === tb && this.sequence[a]! < this.sequence[b]!);
  }

  private heapPush(slot: number): void {
    if (this.heapSize === this.heap.length) {
      const bigger = new Int32Array(this.heap.length * 2);
      bigger.set(this.heap);
      this.heap = bigger;
    }
    const heap = this.heap;
    let i = this.heapSize++;
    heap[i] = slot;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(heap[i]!, heap[parent]!)) break;
      const swap = heap[i]!;
      heap[i] = heap[parent]!;
      heap[parent] = swap;
      i = parent;
    }
  }

  private heapPop(): number {
    const heap = this.heap;
    const top = heap[0]!;
    const last = heap[--this.heapSize]!;
    if (this.heapSize > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let smallest = i;
        if (left < this.heapSize && this.before(heap[left]!, heap[smallest]!)) smallest = left;
        if (right < this.heapSize && this.before(heap[right]!, heap[smallest]!)) smallest = right;
        if (smallest === i) break;
        const swap = heap[i]!;
        heap[i] = heap[smallest]!;
        heap[smallest] = swap;
        i = smallest;
      }
    }
    return top;
  }
}
