// The DNS view of this agent's own replica of the state: no network, no
// Raft, whatever the replica holds right now (stale reads, which is what
// keeps DNS answering through a leader election).
//
//   const catalog = new LocalCatalog(agent.stateMachine);
//   catalog.serviceInstances('Web', '')   // finds the service registered as `web` (or `Web`)

import type { StateMachine } from '../state/state-machine.ts';
import { Scope } from '../state/watch-index.ts';
import type { DnsCatalog, DnsInstance, DnsNode } from './answers.ts';

type Reader = Pick<StateMachine, 'indexFor' | 'catalogView' | 'catalogServices'>;

export class LocalCatalog implements DnsCatalog {
  readonly servicesScope = Scope.services;
  readonly nodesScope = Scope.nodes;
  private readonly state: Reader;
  /** Lower-case name → the catalog's spelling, rebuilt when the list changes (names differing only in case: the first wins). */
  private serviceNames: { index: number; byLowerCase: Map<string, string> } = { index: -1, byLowerCase: new Map() };
  private nodeNames: { index: number; byLowerCase: Map<string, string>; byAddress: Map<string, DnsNode[]> } = { index: -1, byLowerCase: new Map(), byAddress: new Map() };

  constructor(state: Reader) {
    this.state = state;
  }

  indexOf(scope: Scope): number {
    return this.state.indexFor(scope);
  }

  serviceInstances(name: string, tag: string): { service: string; scope: Scope; instances: DnsInstance[] } | null {
    const view = this.state.catalogView;
    let service = name;
    if (view.instancesOf(service).length === 0) {
      const spelled = this.serviceSpelling(name);
      if (spelled === undefined) return null;
      service = spelled;
    }
    const instances = view.healthService(service, { tags: tag === '' ? [] : [tag] }).map((instance): DnsInstance => ({
      node: dnsNode(instance.node),
      address: instance.service.address,
      port: instance.service.port,
      status: instance.status,
      weights: instance.service.weights,
    }));
    return { service, scope: Scope.service(service), instances };
  }

  node(name: string): { node: DnsNode; scope: Scope } | null {
    const view = this.state.catalogView;
    let record = view.node(name);
    if (record === undefined) {
      const spelled = this.nodeIndex().byLowerCase.get(name.toLowerCase());
      record = spelled === undefined ? undefined : view.node(spelled);
    }
    return record === undefined ? null : { node: dnsNode(record), scope: Scope.node(record.node) };
  }

  nodesWithAddress(address: string): DnsNode[] {
    return this.nodeIndex().byAddress.get(address) ?? [];
  }

  private serviceSpelling(name: string): string | undefined {
    const index = this.state.indexFor(Scope.services);
    if (this.serviceNames.index !== index) {
      const byLowerCase = new Map<string, string>();
      for (const spelled of Object.keys(this.state.catalogServices().services)) {
        const lower = spelled.toLowerCase();
        if (!byLowerCase.has(lower)) byLowerCase.set(lower, spelled);
      }
      this.serviceNames = { index, byLowerCase };
    }
    return this.serviceNames.byLowerCase.get(name.toLowerCase());
  }

  private nodeIndex() {
    const index = this.state.indexFor(Scope.nodes);
    if (this.nodeNames.index !== index) {
      const byLowerCase = new Map<string, string>();
      const byAddress = new Map<string, DnsNode[]>();
      for (const record of this.state.catalogView.allNodes()) {
        const lower = record.node.toLowerCase();
        if (!byLowerCase.has(lower)) byLowerCase.set(lower, record.node);
        const list = byAddress.get(record.address) ?? [];
        list.push(dnsNode(record));
        byAddress.set(record.address, list);
      }
      this.nodeNames = { index, byLowerCase, byAddress };
    }
    return this.nodeNames;
  }
}

function dnsNode(record: { node: string; address: string; datacenter: string; meta: Readonly<Record<string, string>> }): DnsNode {
  return { name: record.node, address: record.address, datacenter: record.datacenter, meta: record.meta };
}
