// Tribune's Raft library: a pure consensus state machine plus its storage.
//
//   import { RaftNode, LevelStorage, MemoryStorage } from './raft/index.ts';
//
//   const durable = await LevelStorage.open('data/raft');
//   let persisted = await durable.load();
//   if (persisted.snapshot.metadata.index === 0 && founding) {
//     const boot = RaftNode.bootstrapState(['n1', 'n2', 'n3']);   // same on every founder
//     await durable.save({ hardState: boot.hardState, entries: [], snapshot: boot.snapshot });
//     persisted = boot;
//   }
//   const node = RaftNode.start({ id: 'n1', prng: new SeededPrng(seed) }, persisted);
//
//   // every tick: node.tick(); on every message: node.step(message); then
//   while (node.hasReady()) {
//     const ready = node.ready();
//     send(ready.leaderMessages);            // a leader's Appends may go before its own save
//     await durable.save({ ...ready, sync: ready.mustSync });   // only then
//     send(ready.messages);                  // send,
//     apply(ready.snapshot, ready.committedEntries, ready.readStates);  // apply,
//     node.advance(ready);                   // and acknowledge
//   }
//
// agent/consensus/raft-runtime.ts is that loop with real timers, and
// sim/raft-cluster.ts is the same loop under a virtual clock.

export { RaftNode } from './raft-core.ts';
export type { Ready, ReadState, Role, SoftState, Status } from './raft-core.ts';
export { raftConfig, defaultRaftOptions, validateRaftConfig } from './config.ts';
export type { RaftConfig, RaftOptions, ReadMode } from './config.ts';
export { MemoryStorage, InMemoryDurableStorage } from './storage.ts';
export type { DurableStorage, DurableWrite, LogStorage, PersistedState } from './storage.ts';
export { LevelStorage, StorageLockedError } from './level-storage.ts';
export { SeededPrng } from './prng.ts';
export type { Prng } from './prng.ts';
export * from './errors.ts';
