// The membership core wired to the world: probes and push-pull over direct
// mesh requests on `/tribune/probe/1.0.0`, state changes on the datacenter's
// gossipsub topic, one timer for the core's next wake-up. The core decides;
// this file only carries messages and time.
//
//   const membership = new MembershipAdapter({ mesh, node: peerId, address: '127.0.0.11:8301', tags, config, datacenter: 'dc1' });
//   membership.on('event', (event) => …);   // joined, suspect, failed, left, …
//   await membership.start();
//   await membership.join(['127.0.0.12']);

import { EventEmitter } from 'node:events';
import { randomInt } from 'node:crypto';
import { DecodeError } from '../../protocol/errors.ts';
import { decodeMembershipMessage, encodeMembershipMessage, MemberState } from '../../protocol/membership.ts';
import type { MembershipMessage, Tags } from '../../protocol/membership.ts';
import { SeededPrng } from '../../raft/prng.ts';
import type { Mesh } from '../mesh/mesh.ts';
import type { MembershipConfig } from './config.ts';
import { MembershipCore } from './membership-core.ts';
import type { MemberEvent, MemberView, MembershipEffects, OutboundMessage } from './membership-core.ts';

export const PROBE_PROTOCOL = '/tribune/probe/1.0.0';

export type MembershipAdapterOptions = {
  mesh: Mesh;
  /** This agent's peer id: its member id. */
  node: string;
  /** host:port where others reach this agent's mesh. */
  address: string;
  tags: Tags;
  config: MembershipConfig;
  datacenter: string;
  /** Incarnation to start above (persisted by the agent across restarts). */
  incarnation?: number;
  log: (level: 'debug' | 'info' | 'warn', message: string) => void;
};

/** Messages refused by this agent, for `tribune info`. */
export type MembershipAdapterCounters = {
  messagesReceived: number;
  messagesUndecodable: number;
  messagesSent: number;
  sendsFailed: number;
  gossipPublished: number;
  gossipReceived: number;
};

export type MembershipAdapterEvents = { event: [MemberEvent] };

export class MembershipAdapter extends EventEmitter<MembershipAdapterEvents> {
  readonly core: MembershipCore;
  readonly topic: string;
  readonly counters: MembershipAdapterCounters = {
    messagesReceived: 0, messagesUndecodable: 0, messagesSent: 0, sendsFailed: 0, gossipPublished: 0, gossipReceived: 0,
  };
  private readonly options: MembershipAdapterOptions;
  private readonly mesh: Mesh;
  private timer: NodeJS.Timeout | null = null;
  private unsubscribe: (() => void) | null = null;
  private stopped = false;
  private readonly clockOrigin = performance.now();

  constructor(options: MembershipAdapterOptions) {
    super();
    this.options = options;
    this.mesh = options.mesh;
    this.topic = `tribune/${options.datacenter}/members/1`;
    this.core = new MembershipCore({
      node: options.node,
      address: options.address,
      tags: options.tags,
      config: options.config,
      prng: new SeededPrng(randomInt(2 ** 31)),
      nowMs: this.now(),
      ...(options.incarnation !== undefined ? { incarnation: options.incarnation } : {}),
    });
  }

  async start(): Promise<void> {
    await this.mesh.handle(PROBE_PROTOCOL, (request, context) => {
      this.receive(context.peerId, request);
      return new Uint8Array(0);
    }, { timeoutMs: 2_000, maxMessageBytes: 8 * 1024 * 1024 });
    this.unsubscribe = this.mesh.subscribe(this.topic, (from, data) => {
      this.counters.gossipReceived++;
      this.receive(from, data);
    });
    this.apply(this.core.takeEffects());
  }

  /**
   * Push-pull with each address (host, host:port or multiaddr). Resolves with
   * how many answered; the state they sent is merged before it resolves.
   */
  async join(addresses: readonly string[]): Promise<number> {
    let answered = 0;
    await Promise.all(addresses.map(async (address) => {
      try {
        const peerId = await this.mesh.dial(address, { timeoutMs: 3_000 });
        if (peerId === this.options.node) return;
        // The core addresses seeds by address; we now know the peer id, so address it directly.
        const effects = this.core.join([address], this.now());
        for (const send of effects.sends) if (send.to === '' && send.address === address) send.to = peerId;
        await this.apply(effects);
        answered++;
      } catch (error) {
        this.options.log('debug', `join ${address}: ${(error as Error).message}`);
      }
    }));
    return answered;
  }

  /** Announce `left` and give gossip a moment to carry it. */
  async leave(propagationMs = 1_000): Promise<void> {
    await this.apply(this.core.leave(this.now()));
    await new Promise((resolve) => setTimeout(resolve, propagationMs));
  }

  /** Mark a failed member left everywhere. False if it is not failed. */
  forceLeave(node: string): boolean {
    const { accepted, effects } = this.core.forceLeave(node, this.now());
    void this.apply(effects);
    return accepted;
  }

  updateTags(tags: Tags): void {
    void this.apply(this.core.updateTags(tags, this.now()));
  }

  members(): MemberView[] {
    return this.core.memberList();
  }

  member(node: string): MemberView | undefined {
    return this.core.member(node);
  }

  aliveMembers(): MemberView[] {
    return this.core.memberList().filter((member) => member.state === MemberState.Alive || member.state === MemberState.Suspect);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.unsubscribe?.();
    try {
      await this.mesh.unhandle(PROBE_PROTOCOL);
    } catch { /* the mesh may already be stopped */ }
  }

  /** The adapter's monotonic clock, in the core's time base (MemberView.stateChangedMs). */
  now(): number {
    // Whole milliseconds: the core's times go on the wire as integers.
    return Math.floor(performance.now() - this.clockOrigin);
  }

  private receive(from: string, data: Uint8Array): void {
    if (this.stopped) return;
    let message: MembershipMessage;
    try {
      message = decodeMembershipMessage(data);
    } catch (error) {
      if (!(error instanceof DecodeError)) throw error;
      this.counters.messagesUndecodable++;
      this.options.log('debug', `dropped an undecodable membership message from ${from}: ${error.message}`);
      return;
    }
    this.counters.messagesReceived++;
    void this.apply(this.core.handleMessage(from, message, this.now()));
  }

  private async apply(effects: MembershipEffects): Promise<void> {
    if (this.stopped) return;
    for (const event of effects.events) this.emit('event', event);
    for (const update of effects.broadcasts) {
      this.counters.gossipPublished++;
      let bytes: Uint8Array;
      try {
        bytes = encodeMembershipMessage(update);
      } catch (error) {
        this.options.log('warn', `cannot encode a membership update: ${(error as Error).message}`);
        continue;
      }
      this.mesh.publish(this.topic, bytes).catch((error) => {
        this.options.log('debug', `gossip publish failed: ${(error as Error).message}`);
      });
    }
    const sends = effects.sends.map((send) => this.send(send));
    if (effects.wakeAtMs !== null) this.arm(effects.wakeAtMs);
    await Promise.all(sends);
  }

  private arm(wakeAtMs: number): void {
    if (this.timer) clearTimeout(this.timer);
    const delay = Math.max(0, Math.ceil(wakeAtMs - this.now()));
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.apply(this.core.tick(this.now()));
    }, delay);
    this.timer.unref?.();
  }

  private async send(outbound: OutboundMessage): Promise<void> {
    let bytes: Uint8Array;
    try {
      bytes = encodeMembershipMessage(outbound.message);
    } catch (error) {
      this.options.log('warn', `cannot encode a membership message for ${outbound.to || outbound.address}: ${(error as Error).message}`);
      return;
    }
    try {
      let peerId = outbound.to;
      if (peerId === '' || (!this.mesh.connectedPeers().includes(peerId) && outbound.address !== '')) {
        const dialed = await this.mesh.dial(outbound.address, { timeoutMs: this.options.config.probeTimeoutMs * 2 });
        if (peerId === '') peerId = dialed;
      }
      this.counters.messagesSent++;
      await this.mesh.request(peerId, PROBE_PROTOCOL, bytes, { timeoutMs: Math.max(this.options.config.probeTimeoutMs, 500) });
    } catch (error) {
      // A failed send counts as a failed probe (the core decides what that means for this message).
      this.counters.sendsFailed++;
      if (outbound.to !== '' && !this.stopped) void this.apply(this.core.sendFailed(outbound.to, outbound.message, this.now()));
      this.options.log('debug', `membership send to ${outbound.to || outbound.address} failed: ${(error as Error).message}`);
    }
  }
}
