import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { advertisedMultiaddr, parseAdvertiseAddress, parseDialAddress, DEFAULT_MESH_PORT } from '../../../agent/mesh/address.ts';
import { MeshAddressError } from '../../../agent/mesh/errors.ts';

const peer = '12D3KooWD8HYcS8r38tDzp9B1xGeWk9Z5JvzUqavQzbPxZDcKbhN';

test('a bare host means the default port 8301', () => {
  assert.is(DEFAULT_MESH_PORT, 8301);
  assert.is(parseDialAddress('127.0.0.12').toString(), '/ip4/127.0.0.12/tcp/8301');
});

test('host:port, IPv6 and host names become TCP multiaddrs', () => {
  const cases: Array<[string, string]> = [
    ['127.0.0.12:9000', '/ip4/127.0.0.12/tcp/9000'],
    ['[::1]:9000', '/ip6/::1/tcp/9000'],
    ['[::1]', '/ip6/::1/tcp/8301'],
    ['::1', '/ip6/::1/tcp/8301'],
    ['localhost', '/dns4/localhost/tcp/8301'],
    ['node-b.dc1.lan:8302', '/dns4/node-b.dc1.lan/tcp/8302'],
    [' 127.0.0.12:9000 ', '/ip4/127.0.0.12/tcp/9000'],
  ];
  for (const [input, expected] of cases) assert.is(parseDialAddress(input).toString(), expected, input);
});

test('multiaddrs pass through, with or without a peer id', () => {
  assert.is(parseDialAddress('/ip4/127.0.0.1/tcp/4001').toString(), '/ip4/127.0.0.1/tcp/4001');
  const full = `/ip4/127.0.0.1/tcp/4001/p2p/${peer}`;
  assert.is(parseDialAddress(full).getPeerId(), peer);
});

test('bad addresses are rejected with the reason', () => {
  const cases: Array<[string, RegExp]> = [
    ['', /empty/],
    ['127.0.0.1:0', /out of range/],
    ['127.0.0.1:70000', /out of range/],
    ['127.0.0.1:http', /not a number/],
    ['999.1.1.1', /neither an IP address nor a host name/],
    ['[127.0.0.1]:80', /not an IPv6 address/],
    ['/ip4/127.0.0.1/udp/53', /not a TCP address/],
    ['/ip4/not-an-ip/tcp/1', /invalid multiaddr/],
    ['under_score:1', /neither an IP address nor a host name/],
  ];
  for (const [input, reason] of cases) {
    try {
      parseDialAddress(input);
      assert.unreachable(`accepted ${JSON.stringify(input)}`);
    } catch (err) {
      assert.instance(err, MeshAddressError, input);
      assert.match((err as Error).message, reason, input);
    }
  }
});

test('an advertise address without a port, or with port 0, announces the listening port', () => {
  const cases: Array<[string, string]> = [
    ['10.1.2.3', '/ip4/10.1.2.3/tcp/40123'],
    ['10.1.2.3:0', '/ip4/10.1.2.3/tcp/40123'],
    ['10.1.2.3:7301', '/ip4/10.1.2.3/tcp/7301'],
    ['[fd00::1]', '/ip6/fd00::1/tcp/40123'],
    ['node-a.lan:7301', '/dns4/node-a.lan/tcp/7301'],
    ['/ip4/10.1.2.3/tcp/0', '/ip4/10.1.2.3/tcp/40123'],
    ['/ip4/10.1.2.3/tcp/7301', '/ip4/10.1.2.3/tcp/7301'],
  ];
  for (const [input, expected] of cases) assert.is(advertisedMultiaddr(parseAdvertiseAddress(input), 40123), expected, input);
  assert.throws(() => parseAdvertiseAddress(`/ip4/10.1.2.3/tcp/1/p2p/${peer}`), /must not carry a \/p2p\/ peer id/);
  assert.throws(() => parseAdvertiseAddress('10.1.2.3:99999'), /out of range 0-65535/);
});

test.run();
