// The test-only fault switch: the mesh asks it before every send and after every receive,
// and drops all traffic to and from the peers it names, silently, as a cut cable would.
// Requests to such a peer time out, frames on its streams vanish, and gossip RPCs (messages
// and control alike) are neither sent to it nor accepted from it. Connections, identify and
// the muxer's keep-alive are left alone: the switch models lost application traffic, not a
// closed socket (iptables rules in the cluster tests do the latter).
//
//   const faults = new FaultSwitch();
//   const mesh = await createMesh({ bind: '127.0.0.21', port: 0, faults });
//   faults.block(otherPeerId);   // partition
//   faults.clear();              // heal

/** What the mesh consults; anything with this method will do. */
export interface MeshFaults {
  /** True when all traffic to and from this peer must be dropped. */
  dropsTrafficWith(peerId: string): boolean;
}

/** A set of blocked peer ids. */
export class FaultSwitch implements MeshFaults {
  private readonly blocked = new Set<string>();

  block(...peerIds: string[]): void {
    for (const peerId of peerIds) this.blocked.add(peerId);
  }

  unblock(...peerIds: string[]): void {
    for (const peerId of peerIds) this.blocked.delete(peerId);
  }

  clear(): void {
    this.blocked.clear();
  }

  dropsTrafficWith(peerId: string): boolean {
    return this.blocked.has(peerId);
  }
}
