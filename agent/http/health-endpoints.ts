// Health endpoints in Consul's paths and JSON shapes:
//
//   GET /v1/health/service/:name   [{Node, Service, Checks}]   ?passing, ?tag (repeatable), ?node-meta
//   GET /v1/health/checks/:service [HealthCheck]               the service's own checks
//   GET /v1/health/node/:node      [HealthCheck]               node and service checks of the node
//   GET /v1/health/state/:state    [HealthCheck]               any, passing, warning or critical
//
// `?passing` keeps only instances whose every check (the node's serfHealth
// included) passes: a warning is not passing. Each is a blocking query on
// the scope its answer depends on (a service's instances and their nodes'
// checks, one node, all checks for /state) with the consistency modes of
// catalog-endpoints.ts.

import type { HealthState } from '../state/catalog.ts';
import { Scope } from '../state/state-machine.ts';
import { blockingRead, nodeMetaFilter, requiredParam } from './catalog-endpoints.ts';
import { HttpError } from './router.ts';
import type { ApiRequest, Router } from './router.ts';
import type { StateApi } from './state-api.ts';

const HEALTH_STATES: readonly HealthState[] = ['any', 'passing', 'warning', 'critical'];

export function registerHealthEndpoints(router: Router, api: StateApi, datacenter: string): void {
  router.get('/v1/health/service/:name', (request) => {
    const name = requiredParam(request, 'name', 'Missing service name');
    const passing = passingParameter(request);
    const tags = request.query.getAll('tag');
    return blockingRead(request, api, datacenter, Scope.service(name), () => {
      const { index, entries } = api.state.healthService(name, { passing, tags });
      const filter = nodeMetaFilter(request);
      return { index, value: filter ? entries.filter((entry) => filter(entry.Node.Meta)) : entries };
    });
  });

  router.get('/v1/health/checks/:service', (request) => {
    const service = requiredParam(request, 'service', 'Missing service name');
    return blockingRead(request, api, datacenter, Scope.service(service), () => {
      const { index, checks } = api.state.healthChecks(service);
      return { index, value: checks };
    });
  });

  router.get('/v1/health/node/:node', (request) => {
    const node = requiredParam(request, 'node', 'Missing node name');
    return blockingRead(request, api, datacenter, Scope.node(node), () => {
      const { index, checks } = api.state.healthNode(node);
      return { index, value: checks };
    });
  });

  router.get('/v1/health/state/:state', (request) => {
    const state = requiredParam(request, 'state', 'Missing check state') as HealthState;
    if (!HEALTH_STATES.includes(state)) throw new HttpError(400, `Invalid check state ${JSON.stringify(state.slice(0, 32))}: use any, passing, warning or critical`);
    return blockingRead(request, api, datacenter, Scope.checks, () => {
      const { index, checks } = api.state.healthState(state);
      return { index, value: checks };
    });
  });
}

/** Consul's `?passing`: bare means true, otherwise a Go boolean (`true`, `false`, `1`, `0`, …). */
function passingParameter(request: ApiRequest): boolean {
  const value = request.query.get('passing');
  if (value === null) return false;
  if (value === '') return true;
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(value)) return false;
  throw new HttpError(400, `Invalid value for ?passing: ${JSON.stringify(value.slice(0, 32))}`);
}
