import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';
import { encodeEntry, encodeHardState } from '../../protocol/raft-codec.ts';
import { EntryType, emptySnapshot } from '../../protocol/raft.ts';
import type { Entry, HardState, Snapshot } from '../../protocol/raft.ts';
import { crc32, crc32Table } from '../../raft/crc32.ts';
import { CorruptStorageError, RaftError, UnavailableError } from '../../raft/errors.ts';
import { LevelStorage, LEVEL_STORAGE_FORMAT_VERSION, StorageLockedError } from '../../raft/level-storage.ts';
import type { LevelStorageOptions } from '../../raft/level-storage.ts';
import { SeededPrng } from '../../raft/prng.ts';
import { InMemoryDurableStorage, MemoryStorage } from '../../raft/storage.ts';
import type { PersistedState } from '../../raft/storage.ts';

type RawDb = Level<Uint8Array, Uint8Array>;

async function withTempDir(body: (path: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'tribune-level-storage-'));
  try {
    await body(join(dir, 'raft'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function withStorage(path: string, body: (storage: LevelStorage) => Promise<void>, options?: LevelStorageOptions): Promise<void> {
  const storage = await LevelStorage.open(path, options);
  try {
    await body(storage);
  } finally {
    await storage.close();
  }
}

async function reload(path: string): Promise<PersistedState> {
  const storage = await LevelStorage.open(path);
  try {
    return await storage.load();
  } finally {
    await storage.close();
  }
}

async function withRawDb(path: string, body: (db: RawDb) => Promise<void>): Promise<void> {
  const db: RawDb = new Level<Uint8Array, Uint8Array>(path, { keyEncoding: 'view', valueEncoding: 'view' });
  await db.open();
  try {
    await body(db);
  } finally {
    await db.close();
  }
}

async function expectCorrupt(path: string, pattern: RegExp): Promise<CorruptStorageError> {
  try {
    const storage = await LevelStorage.open(path);
    await storage.close();
  } catch (error) {
    assert.instance(error, CorruptStorageError, `expected CorruptStorageError, got ${String(error)}`);
    const corrupt = error as CorruptStorageError;
    assert.is(corrupt.location, path);
    assert.ok(corrupt.message.includes(path), 'the message names the path');
    assert.match(corrupt.message, pattern);
    return corrupt;
  }
  assert.unreachable(`opening ${path} succeeded; expected CorruptStorageError matching ${pattern}`);
  throw new Error('unreachable');
}

function entryKey(index: number): Uint8Array {
  const key = new Uint8Array(9);
  key[0] = 0x10;
  new DataView(key.buffer).setUint32(1, Math.floor(index / 2 ** 32));
  new DataView(key.buffer).setUint32(5, index >>> 0);
  return key;
}

/** A value with a correct checksum, as the storage writes it: crc32(key, payload) big-endian, then the payload. */
function sealedValue(key: Uint8Array, payload: Uint8Array): Uint8Array {
  const value = new Uint8Array(4 + payload.length);
  value.set(payload, 4);
  new DataView(value.buffer).setUint32(0, crc32(payload, crc32(key)));
  return value;
}

function entries(first: number, last: number, term: number, tag = 0): Entry[] {
  const result: Entry[] = [];
  for (let index = first; index <= last; index++) {
    result.push({ term, index, type: EntryType.Normal, data: Uint8Array.of(tag, index & 0xff, (index >> 8) & 0xff) });
  }
  return result;
}

function snapshotAt(index: number, term: number, data = Uint8Array.of(1, 2, 3)): Snapshot {
  return { metadata: { index, term, conf: { voters: ['n1', 'n2', 'n3'], learners: ['n4'] } }, data };
}

function indexes(state: PersistedState): number[] {
  return state.entries.map((entry) => entry.index);
}

// ---------------------------------------------------------------- behaviour

test('a fresh store loads empty, and what was saved survives close and reopen', async () => {
  await withTempDir(async (path) => {
    const hardState: HardState = { term: 3, vote: 'n2', commit: 4 };
    await withStorage(path, async (storage) => {
      assert.equal(await storage.load(), { hardState: { term: 0, vote: '', commit: 0 }, snapshot: emptySnapshot(), entries: [] });
      await storage.save({ hardState, entries: entries(1, 5, 3), snapshot: null });
      assert.is(storage.lastIndex(), 5);
    });
    const state = await reload(path);
    assert.equal(state.hardState, hardState);
    assert.equal(state.entries, entries(1, 5, 3));
    assert.equal(state.snapshot, emptySnapshot());
  });
});

test('load after writes in the same session reads them back from disk', async () => {
  await withTempDir(async (path) => {
    await withStorage(path, async (storage) => {
      await storage.load();
      await storage.save({ hardState: { term: 1, vote: 'n1', commit: 0 }, entries: entries(1, 3, 1), snapshot: null });
      assert.equal(indexes(await storage.load()), [1, 2, 3]);
    });
  });
});

test('a save right after open, before any load, is what the first load returns (bootstrap writes, then the node starts)', async () => {
  await withTempDir(async (path) => {
    await withStorage(path, async (storage) => {
      await storage.save({ hardState: { term: 1, vote: '', commit: 0 }, entries: entries(1, 2, 1), snapshot: null });
      const state = await storage.load();
      assert.equal(indexes(state), [1, 2]);
      assert.is(state.hardState.term, 1);
    });
  });
});

test('a conflicting suffix is replaced: entries from the first new index on are the new ones, the old tail is gone', async () => {
  await withTempDir(async (path) => {
    await withStorage(path, async (storage) => {
      await storage.save({ hardState: { term: 1, vote: 'n1', commit: 3 }, entries: entries(1, 10, 1), snapshot: null });
      await storage.save({ hardState: { term: 2, vote: 'n2', commit: 3 }, entries: entries(6, 7, 2, 9), snapshot: null });
      assert.is(storage.lastIndex(), 7);
    });
    const state = await reload(path);
    assert.equal(state.entries, [...entries(1, 5, 1), ...entries(6, 7, 2, 9)]);
    // And the replaced tail is really deleted, not just shadowed.
    await withRawDb(path, async (db) => {
      for (const index of [8, 9, 10]) assert.is(await db.get(entryKey(index)), undefined, `entry ${index} deleted`);
    });
  });
});

test('appending past the last index (a gap) is refused and writes nothing', async () => {
  await withTempDir(async (path) => {
    await withStorage(path, async (storage) => {
      await storage.save({ hardState: null, entries: entries(1, 3, 1), snapshot: null });
      try {
        await storage.save({ hardState: { term: 1, vote: '', commit: 1 }, entries: entries(5, 6, 1), snapshot: null });
        assert.unreachable('a gap was written');
      } catch (error) {
        assert.instance(error, UnavailableError);
      }
      // The storage is still usable: the refused write never reached the disk.
      await storage.save({ hardState: null, entries: entries(4, 4, 1), snapshot: null });
    });
    const state = await reload(path);
    assert.equal(indexes(state), [1, 2, 3, 4]);
    assert.is(state.hardState.term, 0);
  });
});

test('a commit index beyond the log is refused at save rather than discovered at load', async () => {
  await withTempDir(async (path) => {
    await withStorage(path, async (storage) => {
      await storage.save({ hardState: null, entries: entries(1, 3, 1), snapshot: null });
      try {
        await storage.save({ hardState: { term: 1, vote: '', commit: 4 }, entries: [], snapshot: null });
        assert.unreachable('commit 4 persisted with last index 3');
      } catch (error) {
        assert.instance(error, RaftError);
        assert.match((error as Error).message, /commit index 4 beyond the last log index 3/);
      }
    });
  });
});

test('installing a snapshot in save drops the entries it covers and keeps the ones after it', async () => {
  await withTempDir(async (path) => {
    await withStorage(path, async (storage) => {
      await storage.save({ hardState: { term: 2, vote: 'n1', commit: 10 }, entries: entries(1, 10, 2), snapshot: null });
      await storage.save({ hardState: { term: 2, vote: 'n1', commit: 10 }, entries: [], snapshot: snapshotAt(7, 2) });
    });
    let state = await reload(path);
    assert.equal(state.snapshot, snapshotAt(7, 2));
    assert.equal(indexes(state), [8, 9, 10]);
    await withRawDb(path, async (db) => {
      for (let index = 1; index <= 7; index++) assert.is(await db.get(entryKey(index)), undefined);
    });
    // A snapshot beyond the whole log (a follower far behind) replaces it entirely; appending continues after it.
    await withStorage(path, async (storage) => {
      await storage.load();
      await storage.save({ hardState: { term: 5, vote: '', commit: 50 }, entries: entries(51, 52, 5), snapshot: snapshotAt(50, 4, new Uint8Array(300_000).fill(7)) });
    });
    state = await reload(path);
    assert.is(state.snapshot.metadata.index, 50);
    assert.is(state.snapshot.data.length, 300_000);
    assert.equal(indexes(state), [51, 52]);
    // An older snapshot is ignored.
    await withStorage(path, async (storage) => {
      await storage.save({ hardState: null, entries: [], snapshot: snapshotAt(40, 4) });
    });
    assert.is((await reload(path)).snapshot.metadata.index, 50);
  });
});

test('saveSnapshot compacts the log up to the snapshot index minus the retained entries', async () => {
  await withTempDir(async (path) => {
    await withStorage(path, async (storage) => {
      await storage.save({ hardState: { term: 1, vote: 'n1', commit: 100 }, entries: entries(1, 100, 1), snapshot: null });
      await storage.saveSnapshot(snapshotAt(80, 1), 10);
    });
    const state = await reload(path);
    assert.is(state.snapshot.metadata.index, 80);
    assert.equal(indexes(state), Array.from({ length: 30 }, (_, i) => 71 + i));
    // The runtime's in-memory log skips the retained entries the snapshot covers.
    const memory = MemoryStorage.from(state);
    assert.is(memory.firstIndex(), 81);
    assert.is(memory.lastIndex(), 100);
    assert.is(memory.term(80), 1);
    // Compacting further, with nothing retained, leaves only what follows the snapshot.
    await withStorage(path, async (storage) => storage.saveSnapshot(snapshotAt(95, 1), 0));
    assert.equal(indexes(await reload(path)), [96, 97, 98, 99, 100]);
  });
});

test('saves issued without waiting land in call order', async () => {
  await withTempDir(async (path) => {
    await withStorage(path, async (storage) => {
      const pending: Promise<void>[] = [];
      for (let batch = 0; batch < 50; batch++) {
        pending.push(storage.save({ hardState: { term: 1, vote: 'n1', commit: batch * 2 }, entries: entries(batch * 2 + 1, batch * 2 + 2, 1), snapshot: null }));
      }
      await Promise.all(pending);
    });
    const state = await reload(path);
    assert.is(state.entries.length, 100);
    assert.is(state.hardState.commit, 98);
  });
});

test('a store opened twice reports that it is locked, naming the path', async () => {
  await withTempDir(async (path) => {
    await withStorage(path, async () => {
      try {
        await LevelStorage.open(path);
        assert.unreachable('opened twice');
      } catch (error) {
        assert.instance(error, StorageLockedError);
        assert.ok((error as Error).message.includes(path));
        assert.match((error as Error).message, /locked by another process/);
      }
    });
  });
});

test('matches InMemoryDurableStorage over a random sequence of appends, truncations, snapshots and reopens', async () => {
  await withTempDir(async (path) => {
    const prng = new SeededPrng(0x1e7e1);
    const model = new InMemoryDurableStorage();
    let storage = await LevelStorage.open(path, { sync: false });
    let term = 1;
    try {
      for (let step = 0; step < 300; step++) {
        const current = model.loadSync();
        const snapshotIndex = current.snapshot.metadata.index;
        const lastIndex = current.entries.length > 0 ? current.entries[current.entries.length - 1]!.index : snapshotIndex;
        const termAt = (index: number) => current.entries.find((entry) => entry.index === index)?.term ?? current.snapshot.metadata.term;
        const action = prng.nextInt(10);
        if (action < 6) {
          if (prng.nextInt(4) === 0) term++;
          const first = snapshotIndex + 1 + prng.nextInt(lastIndex - snapshotIndex + 1);
          const write = { hardState: { term, vote: 'n1', commit: Math.min(lastIndex, first - 1) }, entries: entries(first, first + prng.nextInt(5), term, step & 0xff), snapshot: null };
          model.saveSync(write);
          await storage.save(write);
        } else if (action < 8 && lastIndex > snapshotIndex) {
          const index = snapshotIndex + 1 + prng.nextInt(lastIndex - snapshotIndex);
          const snapshot = snapshotAt(index, termAt(index));
          const retain = prng.nextInt(5);
          model.saveSnapshotSync(snapshot, retain);
          await storage.saveSnapshot(snapshot, retain);
        } else if (action < 9) {
          const snapshot = snapshotAt(lastIndex + prng.nextInt(3), term);
          const write = { hardState: { term, vote: 'n2', commit: snapshot.metadata.index }, entries: [], snapshot };
          model.saveSync(write);
          await storage.save(write);
        } else {
          await storage.close();
          storage = await LevelStorage.open(path, { sync: false });
          assert.equal(await storage.load(), model.loadSync(), `after reopen at step ${step}`);
        }
      }
      assert.equal(await storage.load(), model.loadSync());
    } finally {
      await storage.close();
    }
  });
});

// ---------------------------------------------------------------- corruption: reported, never repaired

test('a flipped byte in a stored entry is reported with its index, and reopening does not repair it', async () => {
  await withTempDir(async (path) => {
    await withStorage(path, (storage) => storage.save({ hardState: { term: 1, vote: 'n1', commit: 2 }, entries: entries(1, 5, 1), snapshot: null }));
    let damaged: Uint8Array | undefined;
    await withRawDb(path, async (db) => {
      const value = (await db.get(entryKey(3)))!;
      value[value.length - 1]! ^= 0x01;
      await db.put(entryKey(3), value);
      damaged = value;
    });
    await expectCorrupt(path, /log entry 3 fails its checksum/);
    await expectCorrupt(path, /log entry 3 fails its checksum/);
    await withRawDb(path, async (db) => {
      assert.equal(await db.get(entryKey(3)), damaged, 'the damaged value is left as it was');
      assert.ok((await db.get(entryKey(5))) !== undefined, 'no entry was dropped');
    });
  });
});

test('a flipped byte in the hard state or the snapshot is reported', async () => {
  await withTempDir(async (path) => {
    await withStorage(path, (storage) => storage.save({ hardState: { term: 1, vote: 'n1', commit: 0 }, entries: [], snapshot: snapshotAt(4, 1) }));
    await withRawDb(path, async (db) => {
      const value = (await db.get(Uint8Array.of(0x02)))!;
      value[10]! ^= 0x40;
      await db.put(Uint8Array.of(0x02), value);
    });
    await expectCorrupt(path, /the snapshot fails its checksum/);
  });
  await withTempDir(async (path) => {
    await withStorage(path, (storage) => storage.save({ hardState: { term: 1, vote: 'n1', commit: 0 }, entries: [], snapshot: null }));
    await withRawDb(path, (db) => db.put(Uint8Array.of(0x01), Uint8Array.of(1, 2)));
    await expectCorrupt(path, /the hard state is 2 bytes, too short to hold its checksum/);
  });
});

test('a value moved under another key fails its checksum, because the checksum covers the key', async () => {
  await withTempDir(async (path) => {
    await withStorage(path, (storage) => storage.save({ hardState: null, entries: entries(1, 4, 1), snapshot: null }));
    await withRawDb(path, async (db) => db.put(entryKey(4), (await db.get(entryKey(3)))!));
    await expectCorrupt(path, /log entry 4 fails its checksum/);
  });
});

test('an entry deleted from the middle of the log is reported as a gap', async () => {
  await withTempDir(async (path) => {
    await withStorage(path, (storage) => storage.save({ hardState: { term: 1, vote: 'n1', commit: 5 }, entries: entries(1, 8, 1), snapshot: null }));
    await withRawDb(path, (db) => db.del(entryKey(5)));
    await expectCorrupt(path, /gap: entry 4 is followed by entry 6 \(entries 5\.\.5 are missing\)/);
  });
});

test('a log that starts after the snapshot, or a missing head entry, is reported', async () => {
  await withTempDir(async (path) => {
    await withStorage(path, (storage) => storage.save({ hardState: null, entries: entries(1, 3, 1), snapshot: null }));
    await withRawDb(path, (db) => db.del(entryKey(1)));
    await expectCorrupt(path, /the log starts at entry 2 but the snapshot covers only up to 0/);
  });
});

test('garbage in the format record is reported', async () => {
  await withTempDir(async (path) => {
    await withStorage(path, (storage) => storage.save({ hardState: null, entries: entries(1, 2, 1), snapshot: null }));
    await withRawDb(path, (db) => db.put(Uint8Array.of(0x00), new TextEncoder().encode('garbage!')));
    await expectCorrupt(path, /the format record fails its checksum/);
  });
});

test('an unknown format version, even with a valid checksum, is reported', async () => {
  await withTempDir(async (path) => {
    await withStorage(path, async () => {});
    await withRawDb(path, (db) => db.put(Uint8Array.of(0x00), sealedValue(Uint8Array.of(0x00), Uint8Array.of(LEVEL_STORAGE_FORMAT_VERSION + 1))));
    await expectCorrupt(path, new RegExp(`format version ${LEVEL_STORAGE_FORMAT_VERSION + 1} is unknown`));
  });
});

test('records without a format record are reported, not adopted', async () => {
  await withTempDir(async (path) => {
    await withStorage(path, (storage) => storage.save({ hardState: null, entries: entries(1, 2, 1), snapshot: null }));
    await withRawDb(path, (db) => db.del(Uint8Array.of(0x00)));
    await expectCorrupt(path, /the format record is missing/);
    await withRawDb(path, async (db) => assert.is(await db.get(Uint8Array.of(0x00)), undefined, 'no format record was written'));
  });
});

test('well-checksummed records that do not fit together are reported: decreasing terms, commit past the log, an unknown key, bad payload', async () => {
  await withTempDir(async (path) => {
    await withStorage(path, (storage) => storage.save({ hardState: null, entries: entries(1, 3, 2), snapshot: null }));
    await withRawDb(path, (db) => db.put(entryKey(3), sealedValue(entryKey(3), encodeEntry({ term: 1, index: 3, type: EntryType.Normal, data: new Uint8Array(0) }))));
    await expectCorrupt(path, /log terms decrease: entry 2 has term 2, entry 3 has term 1/);
  });
  await withTempDir(async (path) => {
    await withStorage(path, (storage) => storage.save({ hardState: null, entries: entries(1, 3, 2), snapshot: null }));
    await withRawDb(path, (db) => db.put(Uint8Array.of(0x01), sealedValue(Uint8Array.of(0x01), encodeHardState({ term: 2, vote: 'n1', commit: 9 }))));
    await expectCorrupt(path, /commit index 9 is beyond the last log index 3/);
  });
  await withTempDir(async (path) => {
    await withStorage(path, (storage) => storage.save({ hardState: null, entries: entries(1, 3, 2), snapshot: null }));
    await withRawDb(path, (db) => db.put(entryKey(2), sealedValue(entryKey(2), encodeEntry({ term: 2, index: 7, type: EntryType.Normal, data: new Uint8Array(0) }))));
    await expectCorrupt(path, /log entry 2 holds an entry with index 7/);
  });
  await withTempDir(async (path) => {
    await withStorage(path, async () => {});
    await withRawDb(path, (db) => db.put(Uint8Array.of(0x07), sealedValue(Uint8Array.of(0x07), Uint8Array.of(1))));
    await expectCorrupt(path, /unknown key 0x07/);
  });
  await withTempDir(async (path) => {
    await withStorage(path, async () => {});
    await withRawDb(path, (db) => db.put(Uint8Array.of(0x01), sealedValue(Uint8Array.of(0x01), Uint8Array.of(0x80))));
    await expectCorrupt(path, /the hard state passes its checksum but does not decode: cannot decode raft HardState/);
  });
});

test('the table-driven crc32 agrees with zlib, in one piece and continued', () => {
  const prng = new SeededPrng(32);
  assert.is(crc32(new TextEncoder().encode('123456789')), 0xcbf43926);
  for (let i = 0; i < 200; i++) {
    const data = Uint8Array.from({ length: prng.nextInt(300) }, () => prng.nextInt(256));
    const split = prng.nextInt(data.length + 1);
    assert.is(crc32Table(data), crc32(data));
    assert.is(crc32Table(data.subarray(split), crc32Table(data.subarray(0, split))), crc32(data));
  }
});

test.run();
