import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  closestMatch, formatDuration, loadAgentConfig, parseDuration, parseFlags,
} from '../../../agent/config/flags.ts';
import type { FlagSpec } from '../../../agent/config/flags.ts';
import {
  defaultAgentConfig, MEMBERSHIP_LAN, resolveAdvertiseAddr, targetVoterCount, validate,
} from '../../../agent/config/agent-config.ts';

const KEY_32 = Buffer.alloc(32, 7).toString('base64');
const KEY_16 = Buffer.alloc(16, 7).toString('base64');

/** A fresh directory with the given files; returns its path (used as cwd, so messages show relative paths). */
function workspace(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'tribune-flags-'));
  for (const [name, text] of Object.entries(files)) {
    const path = join(dir, name);
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, text);
  }
  return dir;
}

function load(argv: string[], cwd?: string) {
  return loadAgentConfig(argv, { nodeName: 'host-1', cwd });
}

// --- flag forms ---------------------------------------------------------------

test('a flag is accepted with one or two dashes, its value after = or as the next argument', async () => {
  for (const argv of [['-node', 'n1'], ['-node=n1'], ['--node', 'n1'], ['--node=n1']]) {
    const loaded = await load([...argv, '-data-dir', 'data']);
    assert.equal(loaded.errors, [], argv.join(' '));
    assert.is(loaded.config.nodeName, 'n1', argv.join(' '));
  }
});

test('a boolean flag needs no value, and -flag=false turns it off', async () => {
  const on = await load(['-dev', '-enable-script-checks']);
  assert.equal(on.errors, []);
  assert.is(on.config.dev, true);
  assert.is(on.config.enableScriptChecks, true);
  const off = await load(['-dev=false', '-enable-script-checks=false', '-data-dir', 'd']);
  assert.equal(off.errors, []);
  assert.is(off.config.dev, false);
  assert.is(off.config.enableScriptChecks, false);
});

test('a boolean flag does not swallow the next argument, as in Go', () => {
  const specs: FlagSpec[] = [{ name: 'detailed', kind: 'bool', usage: '' }];
  const parsed = parseFlags(['-detailed', 'node-1'], specs);
  assert.equal(parsed.occurrences, [{ name: 'detailed', value: true }]);
  assert.equal(parsed.positionals, ['node-1']);
});

test('flag parsing stops at the first argument and at --', () => {
  const specs: FlagSpec[] = [{ name: 'recurse', kind: 'bool', usage: '' }];
  assert.equal(parseFlags(['-recurse', 'key', '-recurse'], specs).positionals, ['key', '-recurse']);
  assert.equal(parseFlags(['--', '-recurse'], specs).positionals, ['-recurse']);
  assert.equal(parseFlags(['-'], specs).positionals, ['-']);
});

test('-join and -retry-join repeat, keeping their order', async () => {
  const loaded = await load(['-data-dir', 'd', '-join', '10.0.0.1', '-retry-join=10.0.0.2:8301', '-join', '/ip4/10.0.0.3/tcp/8301', '--retry-join', 'host-4']);
  assert.equal(loaded.errors, []);
  assert.equal(loaded.config.join, ['10.0.0.1', '/ip4/10.0.0.3/tcp/8301']);
  assert.equal(loaded.config.retryJoin, ['10.0.0.2:8301', 'host-4']);
});

test('every typed flag lands in its field with its unit', async () => {
  const loaded = await load([
    '-data-dir', 'data', '-datacenter', 'EU-West', '-bind', '127.0.0.11', '-advertise', '10.1.2.3', '-port', '9301',
    '-bootstrap-expect', '3', '-raft-voters', '5', '-encrypt', KEY_32, '-client', '127.0.0.2', '-http-port', '9500',
    '-dns-port', '-1', '-log-level', 'WARN', '-retry-interval', '1m30s', '-domain', 'mesh',
  ]);
  assert.equal(loaded.errors, []);
  const config = loaded.config;
  assert.is(config.datacenter, 'eu-west');
  assert.is(config.bindAddr, '127.0.0.11');
  assert.is(config.advertiseAddr, '10.1.2.3');
  assert.is(config.meshPort, 9301);
  assert.is(config.bootstrapExpect, 3);
  assert.is(config.raftVoters, 5);
  assert.is(config.encrypt, KEY_32);
  assert.is(config.clientAddr, '127.0.0.2');
  assert.is(config.httpPort, 9500);
  assert.is(config.dnsPort, -1);
  assert.is(config.logLevel, 'warn');
  assert.is(config.retryIntervalMs, 90_000);
  assert.is(config.domain, 'mesh.');
});

test('defaults are Consul\'s, and -dev binds loopback with verbose logs', async () => {
  const production = await load(['-data-dir', 'd']);
  assert.is(production.config.nodeName, 'host-1');
  assert.is(production.config.datacenter, 'dc1');
  assert.is(production.config.bindAddr, '0.0.0.0');
  assert.is(production.config.meshPort, 8301);
  assert.is(production.config.httpPort, 8500);
  assert.is(production.config.dnsPort, 8600);
  assert.is(production.config.clientAddr, '127.0.0.1');
  assert.is(production.config.domain, 'consul.');
  assert.is(production.config.logLevel, 'info');
  assert.is(production.config.retryIntervalMs, 30_000);
  assert.is(production.config.raftVoters, 'auto');
  assert.equal(production.config.membership, { ...MEMBERSHIP_LAN });
  assert.equal(production.config.membership, {
    probeIntervalMs: 1000, probeTimeoutMs: 500, indirectChecks: 3, suspicionMultiplier: 4,
    suspicionMaxTimeoutMultiplier: 6, awarenessMaxMultiplier: 8, pushPullIntervalMs: 30_000,
  });
  const dev = await load(['-dev']);
  assert.equal(dev.errors, []);
  assert.is(dev.config.bindAddr, '127.0.0.1');
  assert.is(dev.config.logLevel, 'debug');
  assert.is(dev.config.dataDir, undefined);
});

test('-h asks for help and nothing else is checked', async () => {
  const loaded = await load(['-h']);
  assert.is(loaded.help, true);
  assert.equal(loaded.errors, []);
});

// --- bad flags ------------------------------------------------------------------

test('an unknown flag is named, with the closest known flag suggested', async () => {
  const loaded = await load(['-data-dir', 'd', '-retryjoin', '10.0.0.1', '--bootstrap', '3', '-data_dir=x', '-frobnicate']);
  assert.ok(loaded.errors.includes('unknown flag -retryjoin (did you mean -retry-join?)'), loaded.errors.join('\n'));
  assert.ok(loaded.errors.includes('unknown flag -bootstrap (did you mean -bootstrap-expect?)'), loaded.errors.join('\n'));
  assert.ok(loaded.errors.includes('unknown flag -data_dir (did you mean -data-dir?)'), loaded.errors.join('\n'));
  assert.ok(loaded.errors.includes('unknown flag -frobnicate'), loaded.errors.join('\n'));
  // The unknown flags' values were not taken for arguments.
  assert.not.ok(loaded.errors.some((error) => error.includes('unexpected argument')), loaded.errors.join('\n'));
});

test('a flag without its value, a bad boolean and a stray argument are each reported', async () => {
  const loaded = await load(['-dev=maybe', 'extra', '-data-dir']);
  assert.ok(loaded.errors.includes('invalid boolean value "maybe" for -dev: use -dev or -dev=false'), loaded.errors.join('\n'));
  assert.ok(loaded.errors.includes('unexpected argument "extra": tribune agent takes only flags'), loaded.errors.join('\n'));
  const missing = await load(['-data-dir', '-dev']);
  assert.ok(missing.errors.includes('flag needs an argument: -data-dir'), missing.errors.join('\n'));
});

test('bad values are reported in the words a user needs, all at once', async () => {
  const loaded = await load([
    '-bootstrap-expect', 'x', '-port', '70000', '-http-port', 'http', '-log-level', 'loud', '-retry-interval', '5',
    '-bind', 'localhost', '-encrypt', KEY_16, '-raft-voters', 'many', '-datacenter', 'dc 1',
  ]);
  const expected = [
    '-bootstrap-expect must be a positive integer, got "x"',
    '-http-port must be a port number (1-65535) or -1 to disable, got "http"',
    '-log-level must be one of trace, debug, info, warn, error, got "loud"',
    '-retry-interval must be a duration such as "30s" or "500ms", got "5"',
    '-raft-voters must be "auto" or a positive integer, got "many"',
    '-datacenter may only contain lowercase letters, digits, "-" and "_", got "dc 1"',
    '-data-dir is required (or use -dev for a throwaway in-memory agent)',
    '-bind must be an IP address, got "localhost"',
    '-port must be a port number (1-65535), got 70000',
    '-encrypt must be a base64-encoded 32-byte key (make one with `tribune keygen`), but it decodes to 16 bytes',
  ];
  for (const message of expected) assert.ok(loaded.errors.includes(message), `missing: ${message}\ngot:\n${loaded.errors.join('\n')}`);
  assert.is(loaded.errors.length, expected.length, loaded.errors.join('\n'));
});

test('-bootstrap-expect 0 is not a positive integer', async () => {
  const loaded = await load(['-data-dir', 'd', '-bootstrap-expect', '0']);
  assert.equal(loaded.errors, ['-bootstrap-expect must be a positive integer, got 0']);
});

test('-dev cannot be combined with -bootstrap-expect or joins; its data dir is ignored with a warning', async () => {
  const loaded = await load(['-dev', '-bootstrap-expect', '3', '-retry-join', '10.0.0.1', '-data-dir', 'd']);
  assert.ok(loaded.errors.includes('-dev cannot be combined with -bootstrap-expect: a dev agent bootstraps a cluster of itself at once'), loaded.errors.join('\n'));
  assert.ok(loaded.errors.some((error) => error.startsWith('-dev cannot be combined with -retry-join')), loaded.errors.join('\n'));
  assert.ok(loaded.warnings.includes('-data-dir is ignored with -dev: a dev agent keeps everything in memory'), loaded.warnings.join('\n'));
});

test('an encrypt key that is not base64 is rejected without echoing it', async () => {
  const loaded = await load(['-data-dir', 'd', '-encrypt', 'not a key!']);
  assert.equal(loaded.errors, ['-encrypt must be a base64-encoded 32-byte key (make one with `tribune keygen`), but it is not valid base64']);
});

test('the mesh and the HTTP API cannot share a port on overlapping addresses', async () => {
  const clash = await load(['-data-dir', 'd', '-port', '8500']);
  assert.equal(clash.errors, ['-http-port 8500 collides with -port 8500: both would listen on TCP port 8500']);
  const apart = await load(['-data-dir', 'd', '-bind', '127.0.0.11', '-client', '127.0.0.12', '-port', '8500']);
  assert.equal(apart.errors, []);
});

test('-server is accepted for Consul habits and ignored with a note', async () => {
  const loaded = await load(['-data-dir', 'd', '-server']);
  assert.equal(loaded.errors, []);
  assert.ok(loaded.warnings.some((warning) => warning.startsWith('-server is ignored')), loaded.warnings.join('\n'));
});

// --- config files -------------------------------------------------------------------

const HCL_CONFIG = `
node_name        = "from-hcl"
datacenter       = "dc2"
data_dir         = "/var/lib/tribune"
bind_addr        = "127.0.0.11"
retry_join       = ["127.0.0.12", "127.0.0.13"]
retry_interval   = "5s"
bootstrap_expect = 3
encrypt          = "${KEY_32}"
log_level        = "debug"
enable_script_checks = true
domain           = "example."

ports {
  http     = 8501
  dns      = 8601
  serf_lan = 8302
}

gossip_lan {
  probe_interval     = "2s"
  probe_timeout      = "800ms"
  indirect_checks    = 2
  suspicion_mult     = 5
  push_pull_interval = "1m"
}

service {
  name = "web"
  port = 80
  check {
    http     = "http://localhost:80/health"
    interval = "10s"
  }
}

service {
  name = "db"
  port = 5432
}

check {
  id  = "disk"
  args = ["/bin/check-disk"]
  interval = "30s"
}
`;

test('an HCL config file sets Consul\'s keys, and its blocks are unwrapped', async () => {
  const dir = workspace({ 'agent.hcl': HCL_CONFIG });
  const loaded = await load(['-config-file', 'agent.hcl'], dir);
  assert.equal(loaded.errors, []);
  assert.equal(loaded.configFiles, ['agent.hcl']);
  const config = loaded.config;
  assert.is(config.nodeName, 'from-hcl');
  assert.is(config.datacenter, 'dc2');
  assert.is(config.dataDir, '/var/lib/tribune');
  assert.is(config.bindAddr, '127.0.0.11');
  assert.equal(config.retryJoin, ['127.0.0.12', '127.0.0.13']);
  assert.is(config.retryIntervalMs, 5_000);
  assert.is(config.bootstrapExpect, 3);
  assert.is(config.encrypt, KEY_32);
  assert.is(config.logLevel, 'debug');
  assert.is(config.enableScriptChecks, true);
  assert.is(config.domain, 'example.');
  assert.is(config.httpPort, 8501);
  assert.is(config.dnsPort, 8601);
  assert.is(config.meshPort, 8302);
  assert.equal(config.membership, {
    probeIntervalMs: 2_000, probeTimeoutMs: 800, indirectChecks: 2, suspicionMultiplier: 5,
    suspicionMaxTimeoutMultiplier: 6, awarenessMaxMultiplier: 8, pushPullIntervalMs: 60_000,
  });
  assert.equal(config.services, [
    { name: 'web', port: 80, check: { http: 'http://localhost:80/health', interval: '10s' } },
    { name: 'db', port: 5432 },
  ]);
  assert.equal(config.checks, [{ id: 'disk', args: ['/bin/check-disk'], interval: '30s' }]);
});

test('a JSON config file takes the same keys, with services and checks lists', async () => {
  const dir = workspace({
    'agent.json': JSON.stringify({
      node_name: 'from-json', data_dir: 'data', start_join: ['127.0.0.12'], ports: { http: 8502 },
      raft_voters: 'auto', services: [{ name: 'api', port: 8080 }], checks: [{ id: 'ping', ttl: '30s' }],
      service: { name: 'single' },
    }),
  });
  const loaded = await load(['-config-file=agent.json'], dir);
  assert.equal(loaded.errors, []);
  assert.is(loaded.config.nodeName, 'from-json');
  assert.equal(loaded.config.join, ['127.0.0.12']);
  assert.is(loaded.config.httpPort, 8502);
  assert.equal(loaded.config.services, [{ name: 'api', port: 8080 }, { name: 'single' }]);
  assert.equal(loaded.config.checks, [{ id: 'ping', ttl: '30s' }]);
});

test('precedence: defaults < config files in order < flags; lists accumulate', async () => {
  const dir = workspace({
    'first.json': JSON.stringify({ node_name: 'first', datacenter: 'dc-first', data_dir: 'data', retry_join: ['a'] }),
    'second.hcl': 'node_name = "second"\nlog_level = "warn"\nretry_join = ["b"]\n',
  });
  const loaded = await load(['-config-file', 'first.json', '-config-file', 'second.hcl', '-log-level', 'error', '-retry-join', 'c'], dir);
  assert.equal(loaded.errors, []);
  assert.is(loaded.config.httpPort, 8500, 'default kept');
  assert.is(loaded.config.datacenter, 'dc-first', 'first file, untouched later');
  assert.is(loaded.config.nodeName, 'second', 'second file overrides the first');
  assert.is(loaded.config.logLevel, 'error', 'flag overrides the files');
  assert.equal(loaded.config.retryJoin, ['a', 'b', 'c']);
  assert.equal(loaded.origins.get('nodeName'), { source: 'file', file: 'second.hcl', key: 'node_name' });
  assert.equal(loaded.origins.get('logLevel'), { source: 'flag', flag: 'log-level' });
  assert.is(loaded.origins.get('httpPort'), undefined);
});

test('a flag before -config-file still overrides the file', async () => {
  const dir = workspace({ 'agent.json': JSON.stringify({ node_name: 'file', data_dir: 'd' }) });
  const loaded = await load(['-node', 'flag', '-config-file', 'agent.json'], dir);
  assert.is(loaded.config.nodeName, 'flag');
});

test('-config-dir reads its *.json and *.hcl files in sorted order and skips the rest', async () => {
  const dir = workspace({
    'conf/20-node.hcl': 'node_name = "twenty"\n',
    'conf/10-base.json': JSON.stringify({ node_name: 'ten', data_dir: 'data', datacenter: 'dc9' }),
    'conf/30-notes.txt': 'node_name = "ignored"',
    'conf/README.md': '# not config',
  });
  const loaded = await load(['-config-dir', 'conf'], dir);
  assert.equal(loaded.errors, []);
  assert.equal(loaded.configFiles, [join('conf', '10-base.json'), join('conf', '20-node.hcl')]);
  assert.is(loaded.config.nodeName, 'twenty');
  assert.is(loaded.config.datacenter, 'dc9');
});

test('a bad value in a file is reported with the file and the key', async () => {
  const dir = workspace({
    'bad.json': JSON.stringify({ bootstrap_expect: 'x', ports: { http: 'web' }, retry_join: 'host-only', data_dir: 5 }),
    'bad.hcl': 'gossip_lan {\n  probe_timeout = "fast"\n}\n',
  });
  const loaded = await load(['-config-file', 'bad.json', '-config-file', 'bad.hcl'], dir);
  assert.ok(loaded.errors.includes('bad.json: bootstrap_expect must be a positive integer, got "x"'), loaded.errors.join('\n'));
  assert.ok(loaded.errors.includes('bad.json: ports.http must be a port number (1-65535) or -1 to disable, got "web"'), loaded.errors.join('\n'));
  assert.ok(loaded.errors.includes('bad.json: data_dir must be a string, got 5'), loaded.errors.join('\n'));
  assert.ok(loaded.errors.includes('bad.hcl: gossip_lan.probe_timeout must be a duration such as "30s" or "500ms", got "fast"'), loaded.errors.join('\n'));
  // A lone string where a list is expected is taken as a list of one, as Consul's users write it.
  assert.equal(loaded.config.retryJoin, ['host-only']);
});

test('a value from a file that breaks a rule is named by its file and key', async () => {
  const dir = workspace({ 'agent.hcl': 'data_dir = "d"\nbootstrap_expect = 0\nports { serf_lan = 8500 }\n' });
  const loaded = await load(['-config-file', 'agent.hcl'], dir);
  assert.ok(loaded.errors.includes('agent.hcl: bootstrap_expect must be a positive integer, got 0'), loaded.errors.join('\n'));
  assert.ok(loaded.errors.includes('-http-port 8500 collides with ports.serf_lan (in agent.hcl) 8500: both would listen on TCP port 8500'), loaded.errors.join('\n'));
  const dev = await load(['-dev', '-config-file', 'agent.hcl'], dir);
  assert.ok(dev.errors.some((error) => error.startsWith('-dev cannot be combined with bootstrap_expect (in agent.hcl)')), dev.errors.join('\n'));
});

test('an unknown key in a file is named with the closest known key', async () => {
  const dir = workspace({ 'agent.json': JSON.stringify({ nodename: 'x', ports: { htp: 1 }, data_dir: 'd', sparkles: true }) });
  const loaded = await load(['-config-file', 'agent.json'], dir);
  assert.ok(loaded.errors.includes('agent.json: unknown key "nodename" (did you mean "node_name"?)'), loaded.errors.join('\n'));
  assert.ok(loaded.errors.includes('agent.json: unknown key "ports.htp" (did you mean "ports.http"?)'), loaded.errors.join('\n'));
  assert.ok(loaded.errors.includes('agent.json: unknown key "sparkles"'), loaded.errors.join('\n'));
});

test('server and other Consul-only settings are ignored with a note, dev is flag-only', async () => {
  const dir = workspace({ 'agent.hcl': 'data_dir = "d"\nserver = true\nui_config { enabled = true }\nports { grpc = 8502 }\n', 'dev.json': '{"dev": true}' });
  const loaded = await load(['-config-file', 'agent.hcl'], dir);
  assert.equal(loaded.errors, []);
  assert.ok(loaded.warnings.some((warning) => warning.startsWith('agent.hcl: server is ignored')), loaded.warnings.join('\n'));
  assert.ok(loaded.warnings.includes('agent.hcl: ui_config is not supported by tribune and is ignored'), loaded.warnings.join('\n'));
  assert.ok(loaded.warnings.includes('agent.hcl: ports.grpc is not supported by tribune and is ignored'), loaded.warnings.join('\n'));
  const dev = await load(['-config-file', 'dev.json'], dir);
  assert.ok(dev.errors.includes('dev.json: dev cannot be set in a config file; use the -dev flag'), dev.errors.join('\n'));
});

test('unreadable and unparsable files name the file and what is wrong', async () => {
  const dir = workspace({
    'broken.json': '{ "node_name": "x", }',
    'broken.hcl': 'node_name = \n',
    'list.json': '[1, 2]',
    'agent.yaml': 'node_name: x',
  });
  const loaded = await load(['-data-dir', 'd', '-config-file', 'missing.hcl', '-config-file', 'broken.json', '-config-file', 'broken.hcl',
    '-config-file', 'list.json', '-config-file', 'agent.yaml', '-config-dir', 'nowhere'], dir);
  const errors = loaded.errors.join('\n');
  assert.ok(loaded.errors.includes('missing.hcl: cannot read config file: no such file or directory'), errors);
  assert.ok(loaded.errors.some((error) => error.startsWith('broken.json: invalid JSON: ')), errors);
  assert.ok(loaded.errors.some((error) => /^broken\.hcl: invalid HCL: line 1, column \d+: /.test(error)), errors);
  assert.ok(loaded.errors.includes('list.json: a config file must hold an object of settings, got [1,2]'), errors);
  assert.ok(loaded.errors.includes('agent.yaml: unknown config format: name the file *.json or *.hcl'), errors);
  assert.ok(loaded.errors.includes('nowhere: cannot read config directory: no such file or directory'), errors);
});

// --- validate() on its own, and the small pure helpers --------------------------------

test('validate() accepts the default profile with a data dir and reports programmatic mistakes by flag name', () => {
  const config = { ...defaultAgentConfig('node-1'), dataDir: 'data' };
  assert.equal(validate(config), { errors: [], warnings: [] });
  const broken = { ...config, membership: { ...config.membership, probeTimeoutMs: 1_000 }, raftVoters: 4, nodeName: 'web_1' };
  const result = validate(broken);
  assert.equal(result.errors, ['gossip_lan.probe_timeout (1000 ms) must be shorter than gossip_lan.probe_interval (1000 ms): a probe must end before the next begins']);
  assert.ok(result.warnings.some((warning) => warning.startsWith('-raft-voters is 4')), result.warnings.join('\n'));
  assert.ok(result.warnings.some((warning) => warning.startsWith('-node "web_1" is not a valid DNS label')), result.warnings.join('\n'));
});

test('the voter target is 3, 5 from 5 members up, never more than the members', () => {
  assert.is(targetVoterCount('auto', 1), 1);
  assert.is(targetVoterCount('auto', 3), 3);
  assert.is(targetVoterCount('auto', 4), 3);
  assert.is(targetVoterCount('auto', 5), 5);
  assert.is(targetVoterCount('auto', 30), 5);
  assert.is(targetVoterCount(7, 30), 7);
  assert.is(targetVoterCount(7, 4), 4);
});

test('the advertise address is explicit, else the bind address, else the single private address', () => {
  const iface = (address: string, internal = false) => ({ address, family: 'IPv4' as const, internal, netmask: '', mac: '', cidr: null });
  assert.equal(resolveAdvertiseAddr({ advertiseAddr: '10.0.0.9', bindAddr: '0.0.0.0' }, {}), { address: '10.0.0.9' });
  assert.equal(resolveAdvertiseAddr({ advertiseAddr: undefined, bindAddr: '127.0.0.11' }, {}), { address: '127.0.0.11' });
  assert.equal(resolveAdvertiseAddr({ advertiseAddr: undefined, bindAddr: '0.0.0.0' }, { lo: [iface('127.0.0.1', true)], eth0: [iface('192.168.1.5')] }), { address: '192.168.1.5' });
  const several = resolveAdvertiseAddr({ advertiseAddr: undefined, bindAddr: '0.0.0.0' }, { eth0: [iface('10.0.0.1')], eth1: [iface('10.0.0.2')] });
  assert.ok('error' in several && several.error.includes('10.0.0.1, 10.0.0.2'));
});

test('durations are read and written the Go way', () => {
  assert.is(parseDuration('30s'), 30_000);
  assert.is(parseDuration('500ms'), 500);
  assert.is(parseDuration('1m30s'), 90_000);
  assert.is(parseDuration('1.5h'), 5_400_000);
  assert.is(parseDuration('0'), 0);
  assert.is(parseDuration('30'), undefined);
  assert.is(parseDuration('s'), undefined);
  assert.is(parseDuration('-1s'), undefined);
  assert.is(formatDuration(90_000), '1m30s');
  assert.is(formatDuration(500), '500ms');
  assert.is(formatDuration(1_500), '1.5s');
});

test('suggestions: close spellings and prefixes, nothing for unrelated words', () => {
  assert.is(closestMatch('membres', ['members', 'join', 'leave']), 'members');
  assert.is(closestMatch('retry_join', ['join', 'retry-join']), 'retry-join');
  assert.is(closestMatch('boot', ['bootstrap-expect', 'bind']), 'bootstrap-expect');
  assert.is(closestMatch('xyzzy', ['members', 'join']), undefined);
});

test.run();
