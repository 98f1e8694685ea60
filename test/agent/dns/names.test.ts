// Consul's DNS name forms, parsed from the right.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { addressLabel, hexAddress, parseName } from '../../../agent/dns/names.ts';

const domains = ['consul.', 'tribune.example.'];

test('NAME.service[.DC].consul names a service, with or without the datacenter', () => {
  assert.equal(parseName('web.service.consul.', domains), { kind: 'service', service: 'web', tag: '', datacenter: '', domain: 'consul.' });
  assert.equal(parseName('web.service.dc1.consul.', domains), { kind: 'service', service: 'web', tag: '', datacenter: 'dc1', domain: 'consul.' });
});

test('TAG.NAME.service filters by tag; RFC 2782 _NAME._TAG too, and _tcp means any tag', () => {
  assert.equal(parseName('v2.web.service.consul.', domains), { kind: 'service', service: 'web', tag: 'v2', datacenter: '', domain: 'consul.' });
  assert.equal(parseName('_web._v2.service.dc1.consul.', domains), { kind: 'service', service: 'web', tag: 'v2', datacenter: 'dc1', domain: 'consul.' });
  assert.equal(parseName('_web._tcp.service.consul.', domains), { kind: 'service', service: 'web', tag: '', datacenter: '', domain: 'consul.' });
});

test('names are case-insensitive and the alternative domain answers the same forms', () => {
  assert.equal(parseName('WEB.Service.CONSUL.', domains), { kind: 'service', service: 'web', tag: '', datacenter: '', domain: 'consul.' });
  assert.equal(parseName('web.service.tribune.example.', domains), { kind: 'service', service: 'web', tag: '', datacenter: '', domain: 'tribune.example.' });
});

test('NODE.node[.DC].consul names a node; .addr. names an address in hex', () => {
  assert.equal(parseName('agent-1.node.consul.', domains), { kind: 'node', node: 'agent-1', datacenter: '', domain: 'consul.' });
  assert.equal(parseName('agent-1.node.dc1.consul.', domains), { kind: 'node', node: 'agent-1', datacenter: 'dc1', domain: 'consul.' });
  assert.equal(parseName('7f000051.addr.dc1.consul.', domains), { kind: 'addr', address: '127.0.0.81', datacenter: 'dc1', domain: 'consul.' });
  assert.is(hexAddress('20010db8000000000000000000000001'), '2001:db8:0:0:0:0:0:1');
  assert.is(addressLabel(new Uint8Array([127, 0, 0, 81])), '7f000051');
});

test('in-addr.arpa names ask for a PTR of an IPv4 address', () => {
  assert.equal(parseName('81.0.0.127.in-addr.arpa.', domains), { kind: 'ptr', address: '127.0.0.81' });
  assert.equal(parseName('300.0.0.127.in-addr.arpa.', domains), { kind: 'outside' });
});

test('the domain itself is the apex; unknown forms under it are unknown; other names are outside', () => {
  assert.equal(parseName('consul.', domains), { kind: 'apex', domain: 'consul.' });
  assert.equal(parseName('a.b.c.web.service.consul.', domains), { kind: 'unknown', domain: 'consul.' });
  assert.equal(parseName('web.query.consul.', domains), { kind: 'unknown', domain: 'consul.' });
  assert.equal(parseName('service.consul.', domains), { kind: 'unknown', domain: 'consul.' });
  assert.equal(parseName('example.com.', domains), { kind: 'outside' });
  assert.equal(parseName('notconsul.', domains), { kind: 'outside' });
  assert.equal(parseName('.', domains), { kind: 'outside' });
});

test.run();
