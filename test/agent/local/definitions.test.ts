// Consul's service and check definitions (agent/local/definitions.ts): the
// HTTP API's PascalCase and the config files' snake_case mean the same, the
// defaults are Consul's, and anything wrong is a DefinitionError that says what.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  checkEncodable, parseCheckDefinition, parseServiceDefinition, SCRIPT_CHECKS_DISABLED_MESSAGE, truncateUtf8,
} from '../../../agent/local/definitions.ts';
import { DefinitionError } from '../../../agent/local/json-fields.ts';

const options = { enableScriptChecks: false };

function rejects(run: () => unknown, pattern: RegExp): void {
  try {
    run();
  } catch (error) {
    assert.instance(error, DefinitionError);
    assert.match((error as Error).message, pattern);
    return;
  }
  assert.unreachable(`expected a DefinitionError matching ${pattern}`);
}

test('a minimal service: ID defaults to the name, weights to 1/1, no checks', () => {
  const { service, checks } = parseServiceDefinition({ Name: 'web' }, options);
  assert.equal(service, {
    id: 'web', service: 'web', tags: [], address: '', taggedAddresses: {}, meta: {}, port: 0,
    weights: { passing: 1, warning: 1 }, enableTagOverride: false,
  });
  assert.equal(checks, []);
});

test('PascalCase, camelCase and snake_case spell the same fields', () => {
  const pascal = parseServiceDefinition({ Name: 'web', ID: 'web-1', Port: 80, EnableTagOverride: true, Tags: ['a'], Meta: { Version: '2' } }, options);
  const snake = parseServiceDefinition({ name: 'web', id: 'web-1', port: 80, enable_tag_override: true, tags: ['a'], meta: { Version: '2' } }, options);
  const camel = parseServiceDefinition({ name: 'web', id: 'web-1', port: 80, enableTagOverride: true, tags: ['a'], meta: { Version: '2' } }, options);
  assert.equal(snake, pascal);
  assert.equal(camel, pascal);
  assert.equal(pascal.service.meta, { Version: '2' }, 'meta keys are data: kept as written');
});

test('embedded checks: one Check gets service:ID, several get service:ID:N, names as Consul', () => {
  const one = parseServiceDefinition({ Name: 'web', Check: { TTL: '10s' } }, options);
  assert.equal(one.checks.map((check) => [check.checkId, check.name, check.serviceId, check.kind, check.initialStatus]), [['service:web', "Service 'web' check", 'web', 'ttl', 'critical']]);
  const many = parseServiceDefinition({
    Name: 'web', ID: 'web-1',
    Check: { HTTP: 'http://127.0.0.1:8080/health', Interval: '10s' },
    Checks: [{ TCP: '127.0.0.1:8080', Interval: '5s', Timeout: '1s' }, { CheckID: 'custom', Name: 'mine', TTL: '30s', Status: 'passing' }],
  }, options);
  assert.equal(many.checks.map((check) => check.checkId), ['service:web-1:1', 'service:web-1:2', 'custom']);
  assert.equal(many.checks.map((check) => check.kind), ['http', 'tcp', 'ttl']);
  assert.is(many.checks[2]!.initialStatus, 'passing');
  assert.is(many.checks[1]!.timeoutMs, 1_000);
  assert.is(many.checks[0]!.timeoutMs, 10_000, 'Consul\'s default timeout');
  assert.equal(JSON.parse(many.checks[0]!.definition), { HTTP: 'http://127.0.0.1:8080/health', Interval: '10s', Timeout: '10s' });
});

test('the thresholds and DeregisterCriticalServiceAfter are read, the latter raised to Consul\'s minute', () => {
  const { checks } = parseServiceDefinition({
    name: 'web', check: { http: 'http://x/', interval: '1s', success_before_passing: 2, failures_before_critical: 3, deregister_critical_service_after: '10s' },
  }, options);
  const check = checks[0]!;
  assert.equal([check.successBeforePassing, check.failuresBeforeCritical, check.failuresBeforeWarning], [2, 3, 3]);
  assert.is(check.deregisterCriticalServiceAfterMs, 60_000);
  const lowered = parseServiceDefinition({ name: 'web', check: { ttl: '1s', deregister_critical_service_after: '10s' } }, { ...options, minDeregisterCriticalServiceAfterMs: 1 });
  assert.is(lowered.checks[0]!.deregisterCriticalServiceAfterMs, 10_000);
});

test('intervals below Consul\'s 1 s minimum are raised to it', () => {
  const check = parseCheckDefinition({ Name: 'c', TCP: 'localhost:22', Interval: '10ms' }, options);
  assert.is(check.intervalMs, 1_000);
  assert.is(parseCheckDefinition({ Name: 'c', TCP: 'localhost:22', Interval: '10ms' }, { ...options, minCheckIntervalMs: 5 }).intervalMs, 10);
});

test('script checks are refused, in Consul\'s words, unless enabled', () => {
  rejects(() => parseCheckDefinition({ Name: 'disk', Args: ['/bin/true'], Interval: '10s' }, options), /Scripts are disabled on this agent/);
  assert.match(SCRIPT_CHECKS_DISABLED_MESSAGE, /enable_script_checks/);
  const args = parseCheckDefinition({ Name: 'disk', Args: ['/bin/true'], Interval: '10s' }, { enableScriptChecks: true });
  assert.equal(args.args, ['/bin/true']);
  const script = parseCheckDefinition({ Name: 'disk', Script: 'exit 0', Interval: '10s' }, { enableScriptChecks: true });
  assert.equal(script.args, ['/bin/sh', '-c', 'exit 0']);
});

test('bad definitions say what is wrong', () => {
  rejects(() => parseServiceDefinition({ Port: 80 }, options), /^Missing service name$/);
  rejects(() => parseServiceDefinition('web', options), /must be a JSON object/);
  rejects(() => parseServiceDefinition({ Name: 'web', Port: '80' }, options), /service\.Port: must be an integer from 0 to 65535, got "80"/);
  rejects(() => parseServiceDefinition({ Name: 'web', Port: 70000 }, options), /Port/);
  rejects(() => parseServiceDefinition({ Name: 'web', Tags: 'a,b' }, options), /Tags: must be a list of strings/);
  rejects(() => parseServiceDefinition({ Name: 'web', Meta: { 'bad key': 'x' } }, options), /meta key "bad key" may only contain/);
  rejects(() => parseServiceDefinition({ Name: 'web', Meta: { 'consul-x': 'x' } }, options), /reserved prefix/);
  rejects(() => parseServiceDefinition({ Name: 'web', Weights: { Passing: 0 } }, options), /Passing/);
  rejects(() => parseServiceDefinition({ Name: 'web', name: 'other' }, options), /same field, given twice/);
  rejects(() => parseServiceDefinition({ Name: 'web', Check: { Interval: '10s' } }, options), /needs one of HTTP, TCP or Args\/Script/);
  rejects(() => parseServiceDefinition({ Name: 'web', Check: { HTTP: 'http://x/' } }, options), /Interval must be > 0/);
  rejects(() => parseServiceDefinition({ Name: 'web', Check: { TTL: '10s', Interval: '10s' } }, options), /Interval and TTL cannot both be specified/);
  rejects(() => parseServiceDefinition({ Name: 'web', Check: { TTL: 'soon' } }, options), /TTL: time: invalid duration "soon"/);
  rejects(() => parseServiceDefinition({ Name: 'web', Check: { TTL: 10 } }, options), /must be a duration string/);
  rejects(() => parseServiceDefinition({ Name: 'web', Check: { HTTP: 'ftp://x/', Interval: '1s' } }, options), /http:\/\/ or https:\/\//);
  rejects(() => parseServiceDefinition({ Name: 'web', Check: { TCP: 'no-port', Interval: '1s' } }, options), /host:port/);
  rejects(() => parseServiceDefinition({ Name: 'web', Check: { HTTP: 'http://x/', TCP: 'x:1', Interval: '1s' } }, options), /not http and tcp/);
  rejects(() => parseServiceDefinition({ Name: 'web', Check: { GRPC: 'x:1', Interval: '1s' } }, options), /gRPC checks are not supported/);
  rejects(() => parseServiceDefinition({ Name: 'web', Check: { TTL: '1s', Status: 'fine' } }, options), /Status: must be passing, warning or critical/);
  rejects(() => parseServiceDefinition({ Name: 'web', Checks: [{ TTL: '1s', ID: 'a' }, { TTL: '1s', ID: 'a' }] }, options), /used twice/);
  rejects(() => parseCheckDefinition({ TTL: '1s' }, options), /^Missing check name$/);
});

test('limits of the replicated state are checked before anything is stored', () => {
  const { service } = parseServiceDefinition({ Name: 'x'.repeat(300) }, options);
  rejects(() => checkEncodable({ type: 'catalogRegister', nowMs: 0, node: { id: '', node: 'n', address: 'a', datacenter: 'dc1', taggedAddresses: {}, meta: {} }, skipNodeUpdate: false, service, checks: [] }), /^Invalid registration: service\.id: .*256/);
});

test('output is cut by UTF-8 bytes, never inside a character', () => {
  assert.is(truncateUtf8('abc', 2), 'ab');
  assert.is(truncateUtf8('é'.repeat(3), 5), 'éé');
  assert.is(truncateUtf8('€'.repeat(2000)).length, 1365);
  assert.is(Buffer.byteLength(truncateUtf8('x'.repeat(10_000))), 4096);
});

test.run();
