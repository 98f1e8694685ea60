// The bandwidth model sizes membership messages without encoding them: the
// arithmetic must match the real codec byte for byte.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeMembershipMessage, MembershipMessageType, MemberState } from '../../protocol/membership.ts';
import type { MembershipMessage, MembershipUpdate, Tags } from '../../protocol/membership.ts';
import { SeededPrng } from '../../raft/prng.ts';
import { messageBytes } from '../../sim/message-size.ts';

test('messageBytes equals the encoded length of every kind of membership message', () => {
  const prng = new SeededPrng(9);
  const id = () => `n${prng.nextInt(200_000)}`;
  const big = () => (prng.nextFloat() < 0.5 ? prng.nextInt(100) : prng.nextInt(2 ** 40));
  const tags = (): Tags => (prng.nextFloat() < 0.5 ? {} : { role: 'node', dc: `dc${prng.nextInt(3)}` });
  const update = (): MembershipUpdate => {
    const kind = prng.nextInt(3);
    if (kind === 0) return { type: MembershipMessageType.Alive, node: id(), incarnation: big(), address: `10.0.${prng.nextInt(256)}.${prng.nextInt(256)}:8301`, tags: tags() };
    return { type: kind === 1 ? MembershipMessageType.Suspect : MembershipMessageType.Dead, node: id(), incarnation: big(), from: id() };
  };
  const updates = () => Array.from({ length: prng.nextInt(30) }, update);
  for (let i = 0; i < 500; i++) {
    const messages: MembershipMessage[] = [
      { type: MembershipMessageType.Ping, seq: big(), target: id(), updates: updates() },
      { type: MembershipMessageType.Ack, seq: big(), nack: prng.nextFloat() < 0.5, updates: updates() },
      { type: MembershipMessageType.PingReq, seq: big(), target: id(), targetAddress: '10.1.2.3:8301', requester: id(), nack: true, timeoutMs: prng.nextInt(600_000), updates: updates() },
      update(),
      {
        type: MembershipMessageType.PushPull, join: prng.nextFloat() < 0.5, reply: prng.nextFloat() < 0.5,
        members: Array.from({ length: prng.nextInt(300) }, (_, k) => ({ node: `m${k}`, address: `10.0.0.${k % 256}:8301`, incarnation: big(), state: MemberState.Suspect, tags: tags() })),
      },
    ];
    for (const message of messages) assert.is(messageBytes(message), encodeMembershipMessage(message).length, `type ${message.type}`);
  }
});

test.run();
