// The agent's own endpoints (issue 3), in Consul's paths and JSON shapes,
// over the AgentApi contract (agent-api.ts):
//
//   GET /v1/agent/members                 [ConsulMember]   ?wan, ?segment accepted (one datacenter: same answer)
//   GET /v1/agent/self                    AgentSelf
//   GET /v1/status/leader                 "127.0.0.11:8301", or "" with no leader
//   GET /v1/status/peers                  ["127.0.0.11:8301", …]
//   PUT /v1/agent/join/:address           ?wan accepted; address is host, host:port or a multiaddr (slashes allowed)
//   PUT /v1/agent/leave
//   PUT /v1/agent/force-leave/:node       ?prune, ?wan accepted
//   GET /v1/operator/raft/configuration   RaftConfiguration; ?stale answers without a leader
//
// PUT endpoints answer 200 with an empty body, GET on them is 405, as Consul.
// None of these is a blocking query, so none sends X-Consul-Index: a client's
// watch on them would otherwise poll in a tight loop (the `consul` npm
// client's watch stops with "Watch not supported" instead, as against Consul).

import type { AgentApi } from './agent-api.ts';
import { parseConsistencyMode } from './blocking.ts';
import { emptyReply, HttpError, jsonReply } from './router.ts';
import type { Router } from './router.ts';

export function registerAgentEndpoints(router: Router, api: AgentApi): void {
  router.get('/v1/agent/members', () => jsonReply(api.members()));
  router.get('/v1/agent/self', () => jsonReply(api.self()));
  router.get('/v1/status/leader', () => jsonReply(api.leader()));
  router.get('/v1/status/peers', () => jsonReply(api.peers()));

  // A rest pattern: Consul takes everything after the prefix, so both
  // `/v1/agent/join/%2Fip4%2F…` and `/v1/agent/join//ip4/…` name a multiaddr.
  router.put('/v1/agent/join/*address', async (request) => {
    const address = request.params.address!;
    if (address.trim() === '') throw new HttpError(400, 'Missing address to join');
    await api.join(address);
    return emptyReply();
  });

  router.put('/v1/agent/leave', async () => {
    await api.leave();
    return emptyReply();
  });

  router.put('/v1/agent/force-leave/:node', async (request) => {
    const node = request.params.node!;
    if (node === '') throw new HttpError(400, 'Missing node name');
    await api.forceLeave(node, request.query.has('prune'));
    return emptyReply();
  });

  router.get('/v1/operator/raft/configuration', async (request) => {
    // Default mode is served by the leader; with none known, Consul answers
    // 500 "No cluster leader" unless the client accepts a stale answer.
    const mode = parseConsistencyMode(request.query);
    if (mode !== 'stale' && !api.knownLeader()) throw new HttpError(500, 'No cluster leader');
    return jsonReply(await api.raftConfiguration());
  });
}
