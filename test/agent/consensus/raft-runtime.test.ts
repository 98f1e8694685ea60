// The Raft runtime: proposals resolve after commit and apply, and reads that
// arrive together share one ReadIndex round instead of one round each.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MessageType } from '../../../protocol/raft.ts';
import type { Message } from '../../../protocol/raft.ts';
import { RaftNode } from '../../../raft/raft-core.ts';
import { InMemoryDurableStorage } from '../../../raft/storage.ts';
import { RaftRuntime } from '../../../agent/consensus/raft-runtime.ts';
import type { RaftTransport } from '../../../agent/consensus/raft-runtime.ts';

async function cluster(ids: string[]) {
  const handlers = new Map<string, (message: Message) => void>();
  const sent: Message[] = [];
  const transport = (id: string): RaftTransport => ({
    send: (messages) => {
      for (const message of messages) {
        sent.push(message);
        setImmediate(() => handlers.get(message.to)?.(message));
      }
    },
    setHandler: (handler) => handlers.set(id, handler),
  });
  const boot = RaftNode.bootstrapState(ids);
  const runtimes: RaftRuntime[] = [];
  for (const [i, id] of ids.entries()) {
    const durable = new InMemoryDurableStorage();
    durable.saveSync({ hardState: boot.hardState, entries: [], snapshot: boot.snapshot });
    let applied = 0;
    runtimes.push(await RaftRuntime.start({
      id, durable, transport: transport(id), tickMs: 20, seed: i + 1,
      stateMachine: { apply: () => ++applied, snapshot: () => new Uint8Array(0), restore: () => { applied = 0; } },
    }));
  }
  runtimes[0]!.campaign();
  for (let i = 0; i < 200 && !runtimes[0]!.isLeader(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  return { runtimes, sent, leader: runtimes[0]! };
}

test('a proposal resolves with the state machine result once committed', async () => {
  const { runtimes, leader } = await cluster(['a', 'b', 'c']);
  assert.ok(leader.isLeader());
  const result = await leader.propose(new Uint8Array([1]));
  assert.type(result, 'number');
  for (const runtime of runtimes) await runtime.stop();
});

test('100 concurrent safe reads share a handful of heartbeat rounds, and each sees every earlier write', async () => {
  const { runtimes, sent, leader } = await cluster(['a', 'b', 'c']);
  await leader.propose(new Uint8Array([1]));
  const committed = leader.status().commit;
  const heartbeatsBefore = sent.filter((m) => m.type === MessageType.Heartbeat && m.context.length > 0).length;
  const indexes = await Promise.all(Array.from({ length: 100 }, () => leader.read('safe')));
  for (const index of indexes) assert.ok(index >= committed);
  const rounds = (sent.filter((m) => m.type === MessageType.Heartbeat && m.context.length > 0).length - heartbeatsBefore) / 2;
  assert.ok(rounds <= 5, `${rounds} ReadIndex rounds for 100 reads`);
  for (const runtime of runtimes) await runtime.stop();
});

test.run();
