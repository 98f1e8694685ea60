// The DNS settings a Consul user would write: -alt-domain, -recursor,
// recursors, dns_config { node_ttl, service_ttl, only_passing, allow_stale },
// and what the answer builder makes of them.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAgentConfig } from '../../../agent/config/flags.ts';
import { answerOptions } from '../../../agent/dns/dns.ts';

async function load(argv: string[], hcl?: string) {
  const dir = mkdtempSync(join(tmpdir(), 'tribune-dns-config-'));
  try {
    if (hcl !== undefined) writeFileSync(join(dir, 'agent.hcl'), hcl);
    return await loadAgentConfig(['-dev', ...(hcl !== undefined ? ['-config-file', 'agent.hcl'] : []), ...argv], { nodeName: 'host-1', cwd: dir });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('defaults: no alternative domain, no recursors, TTLs 0, warning instances answered, stale answers allowed', async () => {
  const { config, errors } = await load([]);
  assert.equal(errors, []);
  assert.is(config.altDomain, undefined);
  assert.equal(config.recursors, []);
  assert.equal(config.dnsConfig, { nodeTtlMs: 0, serviceTtlMs: {}, onlyPassing: false, allowStale: true });
});

test('flags: -alt-domain and repeated -recursor', async () => {
  const { config, errors } = await load(['-alt-domain', 'Tribune', '-recursor', '127.0.0.53', '-recursor', '127.0.0.54:5353']);
  assert.equal(errors, []);
  assert.is(config.altDomain, 'tribune.');
  assert.equal(config.recursors, ['127.0.0.53', '127.0.0.54:5353']);
});

test('config file: dns_config and recursors as Consul writes them', async () => {
  const { config, errors, warnings } = await load([], `
recursors = ["127.0.0.53"]
alt_domain = "alt."
dns_config {
  node_ttl = "30s"
  service_ttl = {
    "*" = "5s"
    web = "1m"
  }
  only_passing = true
  allow_stale = false
  max_stale = "87600h"
}
`);
  assert.equal(errors, []);
  assert.ok(warnings.includes('agent.hcl: dns_config.max_stale is not supported by tribune and is ignored'), warnings.join('\n'));
  assert.equal(config.dnsConfig, { nodeTtlMs: 30_000, serviceTtlMs: { '*': 5_000, web: 60_000 }, onlyPassing: true, allowStale: false });
  assert.equal(config.recursors, ['127.0.0.53']);
  const options = answerOptions(config);
  assert.is(options.nodeTtlSeconds, 30);
  assert.equal([...options.serviceTtlSeconds], [['*', 5], ['web', 60]]);
  assert.ok(options.recursors && options.onlyPassing);
});

test('bad values are reported together: a recursor that is not an address, a TTL that is not a duration, an alt domain equal to the domain', async () => {
  const { errors } = await load(['-recursor', 'dns.example', '-alt-domain', 'consul'], 'dns_config {\n  service_ttl {\n    web = "soon"\n  }\n}\n');
  assert.ok(errors.some((error) => error.includes('service_ttl') && error.includes('"web" must be a duration')), errors.join('\n'));
  assert.ok(errors.some((error) => error.startsWith('-recursor must be an IP address')), errors.join('\n'));
  assert.ok(errors.some((error) => error.startsWith('-alt-domain must differ from -domain')), errors.join('\n'));
});

test.run();
