import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { HttpError, Router } from '../../../agent/http/router.ts';
import type { Handler, RouteMatch } from '../../../agent/http/router.ts';

const handler = (name: string): Handler => Object.assign(() => ({ json: name }), { routeName: name });
const nameOf = (match: RouteMatch) => (match.kind === 'found' ? (match.handler as Handler & { routeName: string }).routeName : match.kind);

function consulLikeRouter(): Router {
  const router = new Router();
  router.get('/v1/agent/members', handler('members'));
  router.put('/v1/agent/join/*address', handler('join'));
  router.put('/v1/agent/force-leave/:node', handler('force-leave'));
  router.get('/v1/agent/service/:id', handler('service'));
  router.put('/v1/agent/service/register', handler('register'));
  router.get('/v1/kv/*', handler('kv-get'));
  router.put('/v1/kv/*', handler('kv-put'));
  router.delete('/v1/kv/*', handler('kv-delete'));
  router.get('/v1/catalog/:a/:b', handler('two-params'));
  return router;
}

test('static paths, params and rests find their handler', () => {
  const router = consulLikeRouter();
  assert.is(nameOf(router.match('GET', '/v1/agent/members')), 'members');
  const forceLeave = router.match('PUT', '/v1/agent/force-leave/node-b');
  assert.is(nameOf(forceLeave), 'force-leave');
  assert.equal(forceLeave.kind === 'found' && forceLeave.params, { node: 'node-b' });
  const kv = router.match('GET', '/v1/kv/app/config/db');
  assert.equal(kv.kind === 'found' && kv.params, { '*': 'app/config/db' });
  const two = router.match('GET', '/v1/catalog/x/y');
  assert.equal(two.kind === 'found' && two.params, { a: 'x', b: 'y' });
});

test('params are percent-decoded; a %2F stays inside its param; a rest keeps its slashes', () => {
  const router = consulLikeRouter();
  const join = router.match('PUT', '/v1/agent/join/%2Fip4%2F127.0.0.13%2Ftcp%2F8301');
  assert.equal(join.kind === 'found' && join.params, { address: '/ip4/127.0.0.13/tcp/8301' });
  const unencoded = router.match('PUT', '/v1/agent/join//ip4/127.0.0.13/tcp/8301');
  assert.equal(unencoded.kind === 'found' && unencoded.params, { address: '/ip4/127.0.0.13/tcp/8301' });
  const node = router.match('PUT', '/v1/agent/force-leave/a%2Fb%20c');
  assert.equal(node.kind === 'found' && node.params, { node: 'a/b c' });
  const kv = router.match('GET', '/v1/kv/caf%C3%A9/%E2%9C%93');
  assert.equal(kv.kind === 'found' && kv.params, { '*': 'café/✓' });
  // A static route matches its percent-encoded spelling too (Go's mux sees the decoded path).
  assert.is(nameOf(router.match('GET', '/v1/agent/%6Dembers')), 'members');
});

test('a param or a rest may be empty, so the handler can say what is missing', () => {
  const router = consulLikeRouter();
  const forceLeave = router.match('PUT', '/v1/agent/force-leave/');
  assert.equal(forceLeave.kind === 'found' && forceLeave.params, { node: '' });
  const kv = router.match('GET', '/v1/kv/');
  assert.equal(kv.kind === 'found' && kv.params, { '*': '' });
  assert.is(router.match('GET', '/v1/kv').kind, 'not-found');
});

test('a static segment beats a param, whatever the registration order', () => {
  const router = consulLikeRouter();
  assert.is(nameOf(router.match('PUT', '/v1/agent/service/register')), 'register');
  assert.is(nameOf(router.match('GET', '/v1/agent/service/web')), 'service');
  // GET on the static resource is 405 (that resource has PUT only), as Consul's mux answers.
  const wrong = router.match('GET', '/v1/agent/service/register');
  assert.equal(wrong, { kind: 'method-not-allowed', allow: ['OPTIONS', 'PUT'] });
});

test('unknown paths, extra segments and trailing slashes are not found', () => {
  const router = consulLikeRouter();
  for (const path of ['/', '/v1', '/v1/agent', '/v1/agent/members/', '/v1/agent/members/x', '/v1/catalog/x', '/v1/catalog/x/y/z', '/v2/agent/members', '']) {
    assert.is(router.match('GET', path).kind, 'not-found', path);
  }
});

test('wrong method is 405 with the allowed methods; HEAD is served by GET; OPTIONS lists them', () => {
  const router = consulLikeRouter();
  assert.equal(router.match('GET', '/v1/agent/join/x'), { kind: 'method-not-allowed', allow: ['OPTIONS', 'PUT'] });
  assert.equal(router.match('POST', '/v1/agent/members'), { kind: 'method-not-allowed', allow: ['OPTIONS', 'GET', 'HEAD'] });
  assert.is(nameOf(router.match('HEAD', '/v1/agent/members')), 'members');
  assert.equal(router.match('OPTIONS', '/v1/kv/a'), { kind: 'options', allow: ['OPTIONS', 'GET', 'PUT', 'DELETE', 'HEAD'] });
});

test('malformed percent-encoding is a 400, not a crash', () => {
  const router = consulLikeRouter();
  for (const path of ['/v1/kv/%', '/v1/kv/%zz', '/v1/agent/force-leave/%E2%9C']) {
    try {
      router.match('GET', path);
      assert.unreachable(path);
    } catch (error) {
      assert.instance(error, HttpError);
      assert.is((error as HttpError).status, 400);
    }
  }
});

test('registration mistakes fail at startup', () => {
  const router = new Router();
  router.get('/v1/a', handler('a'));
  assert.throws(() => router.get('/v1/a', handler('again')), /registered twice/);
  assert.throws(() => router.get('v1/a', handler('x')), /must start with \//);
  assert.throws(() => router.get('/v1/*/x', handler('x')), /rest \(\*\) must be the last/);
  assert.throws(() => router.get('/v1/:a/:a', handler('x')), /appears twice/);
  assert.throws(() => router.add('get', '/v1/b', handler('x')), /upper case/);
  assert.throws(() => router.add('HEAD', '/v1/b', handler('x')), /answered by the router/);
  assert.throws(() => router.put('/v1/c', handler('x'), { maxBodyBytes: -1 }), /maxBodyBytes/);
});

test('route options travel with the match; routes() lists what is registered', () => {
  const router = new Router();
  router.put('/v1/txn', handler('txn'), { maxBodyBytes: 1024 });
  router.get('/v1/status/leader', handler('leader'));
  const match = router.match('PUT', '/v1/txn');
  assert.equal(match.kind === 'found' && match.options, { maxBodyBytes: 1024 });
  assert.equal(router.routes(), ['PUT /v1/txn', 'GET /v1/status/leader']);
});

test.run();
