// The local agent's services and checks, in Consul's paths and JSON shapes.
// These are this agent's own (agent/local/), never forwarded: anti-entropy
// carries them into the catalog.
//
//   GET /v1/agent/services                     {ID: AgentService}
//   GET /v1/agent/service/:id                  AgentService, 404 if unknown
//   PUT /v1/agent/service/register             service definition (with Check/Checks); ?replace-existing-checks
//   PUT /v1/agent/service/deregister/:id       404 if unknown
//   GET /v1/agent/checks                       {CheckID: HealthCheck}
//   PUT /v1/agent/check/register               check definition
//   PUT /v1/agent/check/deregister/:id         404 if unknown
//   PUT /v1/agent/check/pass|warn|fail/:id     ?note= becomes the output; TTL checks only
//   PUT /v1/agent/check/update/:id             {Status, Output}
//
// A bad definition is a 400 with what is wrong and changes nothing (a script
// check without -enable-script-checks says so in Consul's words).

import type { CheckStatus } from '../../protocol/state-commands.ts';
import type { LocalAgent } from '../local/local-agent.ts';
import { UnknownEntryError } from '../local/local-agent.ts';
import { DefinitionError, JsonFields, showValue } from '../local/json-fields.ts';
import { emptyReply, HttpError, jsonReply } from './router.ts';
import type { ApiRequest, Reply, Router } from './router.ts';

/** Definitions are small; this leaves room for many checks with headers and bodies. */
const DEFINITION_BODY_MAX_BYTES = 256 * 1024;

export function registerAgentServiceEndpoints(router: Router, local: LocalAgent): void {
  const limit = { maxBodyBytes: DEFINITION_BODY_MAX_BYTES };

  router.get('/v1/agent/services', () => jsonReply(local.services()));

  router.get('/v1/agent/service/:id', (request) => {
    const id = param(request, 'id', 'Missing service ID');
    const service = local.service(id);
    if (service === undefined) throw new HttpError(404, `unknown service ID: ${id}`);
    return jsonReply(service);
  });

  router.put('/v1/agent/service/register', (request) => handle(() => {
    local.registerService(request.json(), booleanFlag(request, 'replace-existing-checks'));
  }), limit);

  router.put('/v1/agent/service/deregister/:id', (request) => handle(() => local.deregisterService(param(request, 'id', 'Missing service ID'))));

  router.get('/v1/agent/checks', () => jsonReply(local.checks()));

  router.put('/v1/agent/check/register', (request) => handle(() => {
    local.registerCheck(request.json());
  }), limit);

  router.put('/v1/agent/check/deregister/:id', (request) => handle(() => local.deregisterCheck(param(request, 'id', 'Missing check ID'))));

  const ttl = (status: CheckStatus) => (request: ApiRequest) => handle(() => {
    local.updateTtl(param(request, 'id', 'Missing check ID'), status, request.query.get('note') ?? '');
  });
  router.put('/v1/agent/check/pass/:id', ttl('passing'));
  router.put('/v1/agent/check/warn/:id', ttl('warning'));
  router.put('/v1/agent/check/fail/:id', ttl('critical'));

  router.put('/v1/agent/check/update/:id', (request) => handle(() => {
    const id = param(request, 'id', 'Missing check ID');
    const fields = new JsonFields(request.json(), 'update');
    const status = fields.string('Status');
    if (status !== 'passing' && status !== 'warning' && status !== 'critical') {
      throw new DefinitionError(`Invalid check status: ${showValue(status)}: use passing, warning or critical`);
    }
    local.updateTtl(id, status, fields.string('Output'));
  }), limit);
}

function handle(action: () => void): Reply {
  try {
    action();
  } catch (error) {
    if (error instanceof DefinitionError) throw new HttpError(400, error.message);
    if (error instanceof UnknownEntryError) throw new HttpError(404, error.message);
    throw error;
  }
  return emptyReply();
}

function param(request: ApiRequest, name: string, message: string): string {
  const value = request.params[name] ?? '';
  if (value === '') throw new HttpError(400, message);
  return value;
}

/** A bare flag (`?replace-existing-checks`) or a Go boolean value. */
function booleanFlag(request: ApiRequest, name: string): boolean {
  const value = request.query.get(name);
  if (value === null) return false;
  return value === '' || ['1', 't', 'true', 'True', 'TRUE'].includes(value);
}
