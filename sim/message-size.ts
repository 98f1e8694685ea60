// Encoded sizes of membership messages without encoding them: the same
// arithmetic as protocol/membership.ts's format (varints, length-prefixed
// UTF-8 strings, sorted tags), for the bandwidth model. The codec test in
// test/sim checks it against the real encoder byte for byte on ASCII ids.

import { MembershipMessageType } from '../protocol/membership.ts';
import type { MemberRecord, MembershipMessage, MembershipUpdate, Tags } from '../protocol/membership.ts';

const tagSizes = new WeakMap<object, number>();

export function varintBytes(value: number): number {
  let bytes = 1;
  while (value >= 128) {
    value = Math.floor(value / 128);
    bytes++;
  }
  return bytes;
}

function stringBytes(text: string): number {
  // Ids and addresses are ASCII in the simulator; the codec writes UTF-8.
  return varintBytes(text.length) + text.length;
}

export function tagsBytes(tags: Tags): number {
  const cached = tagSizes.get(tags);
  if (cached !== undefined) return cached;
  let size = 0;
  let count = 0;
  for (const key in tags) {
    size += stringBytes(key) + stringBytes(tags[key]!);
    count++;
  }
  size += varintBytes(count);
  tagSizes.set(tags, size);
  return size;
}

/** An update's size inside a message (without the version byte). */
export function updateBytes(update: MembershipUpdate): number {
  if (update.type === MembershipMessageType.Alive) {
    return 1 + stringBytes(update.node) + varintBytes(update.incarnation) + stringBytes(update.address) + tagsBytes(update.tags);
  }
  return 1 + stringBytes(update.node) + varintBytes(update.incarnation) + stringBytes(update.from);
}

function updatesBytes(updates: readonly MembershipUpdate[]): number {
  let size = varintBytes(updates.length);
  for (const update of updates) size += updateBytes(update);
  return size;
}

function recordBytes(record: MemberRecord): number {
  return stringBytes(record.node) + stringBytes(record.address) + varintBytes(record.incarnation) + 1 + tagsBytes(record.tags);
}

/** The encoded size of a whole message, version byte included. */
export function messageBytes(message: MembershipMessage): number {
  switch (message.type) {
    case MembershipMessageType.Ping:
      return 2 + varintBytes(message.seq) + stringBytes(message.target) + updatesBytes(message.updates);
    case MembershipMessageType.Ack:
      return 3 + varintBytes(message.seq) + updatesBytes(message.updates);
    case MembershipMessageType.PingReq:
      return 3 + varintBytes(message.seq) + stringBytes(message.target) + stringBytes(message.targetAddress) +
        stringBytes(message.requester) + varintBytes(message.timeoutMs) + updatesBytes(message.updates);
    case MembershipMessageType.Alive:
    case MembershipMessageType.Suspect:
    case MembershipMessageType.Dead:
      return 1 + updateBytes(message);
    case MembershipMessageType.PushPull: {
      let size = 3 + varintBytes(message.members.length);
      for (const record of message.members) size += recordBytes(record);
      return size;
    }
  }
}
