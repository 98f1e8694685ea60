// PUT /v1/txn fuzzed: seeded random and mutated bodies against a real dev
// agent. Whatever the body, the answer is 2xx or 4xx, never 5xx; a 200 or 409
// carries Consul's {Results, Errors} shape; and whenever the answer is not
// 2xx, nothing stored changed (the KV contents and their index).
//
//   TRIBUNE_FUZZ_SEED=123 TRIBUNE_FUZZ_BODIES=5000 node test/run.ts txn-fuzz

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fuzzer, startDevAgent } from './kv-helpers.ts';
import type { DevAgent } from './kv-helpers.ts';

const SEED = Number(process.env.TRIBUNE_FUZZ_SEED ?? 20_261_125);
const BODIES = Number(process.env.TRIBUNE_FUZZ_BODIES ?? 1_200);

let agent: DevAgent;

test.before(async () => {
  agent = await startDevAgent({ ip: '127.0.0.58', node: 'txn-fuzz' });
});
test.after(async () => {
  await agent?.stop();
});

const b64 = (text: string) => Buffer.from(text).toString('base64');

/** The KV store as a client sees it, with its index: equal before and after means nothing changed. */
async function stored(): Promise<string> {
  const answer = await agent.request('GET', '/v1/kv/?recurse');
  return `${answer.headers['x-consul-index']} ${answer.status} ${answer.text}`;
}

test(`${BODIES} random and mutated txn bodies (seed ${SEED}): never 5xx, nothing stored changes on a refusal`, async () => {
  const session = await agent.createSession({ LockDelay: '0s' });
  const seeds: unknown[] = [
    [{ KV: { Verb: 'set', Key: 'fuzz/a', Value: b64('x'), Flags: 1 } }],
    [{ KV: { Verb: 'cas', Key: 'fuzz/a', Value: b64('y'), Index: 0 } }, { KV: { Verb: 'get', Key: 'fuzz/a' } }],
    [{ KV: { Verb: 'get', Key: 'fuzz/a' } }, { KV: { Verb: 'get-tree', Key: 'fuzz/' } }],
    [{ KV: { Verb: 'lock', Key: 'fuzz/l', Value: b64('held'), Session: session } }],
    [{ KV: { Verb: 'unlock', Key: 'fuzz/l', Session: session } }],
    [{ KV: { Verb: 'check-index', Key: 'fuzz/a', Index: 5 } }, { KV: { Verb: 'check-session', Key: 'fuzz/l', Session: session } }],
    [{ KV: { Verb: 'delete-cas', Key: 'fuzz/a', Index: 3 } }, { KV: { Verb: 'delete', Key: 'fuzz/b' } }],
    [{ KV: { Verb: 'set', Key: 'fuzz/b', Value: null } }, { KV: { Verb: 'delete-tree', Key: 'fuzz/x/' } }],
    [{ KV: { Verb: 'get-or-empty', Key: 'fuzz/none' } }, { KV: { Verb: 'check-not-exists', Key: 'fuzz/none' } }],
  ];
  const fz = fuzzer(SEED);
  const statuses = new Map<number, number>();
  let before = await stored();
  for (let i = 0; i < BODIES; i++) {
    let body: unknown = fz.random() < 0.1 ? fz.value(4) : fz.pick(seeds);
    for (let mutations = 1 + fz.int(3); mutations > 0; mutations--) body = fz.mutate(body);
    const text = fz.text(body);
    const answer = await agent.request('PUT', '/v1/txn', { body: text });
    statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
    const replay = `body ${i} of seed ${SEED}: ${text.slice(0, 300)}`;
    assert.ok(answer.status >= 200 && answer.status < 500, `${answer.status} ${answer.text} for ${replay}`);
    if (answer.status === 200 || answer.status === 409) {
      const result = JSON.parse(answer.text) as { Results: unknown; Errors: unknown };
      assert.equal(Object.keys(result), ['Results', 'Errors'], replay);
      if (answer.status === 409) {
        assert.is(result.Results, null, replay);
        assert.ok(Array.isArray(result.Errors) && result.Errors.length > 0, replay);
      } else {
        assert.is(result.Errors, null, replay);
      }
    } else {
      assert.ok(answer.text.length > 0, `a ${answer.status} without a message for ${replay}`);
    }
    const after = await stored();
    if (answer.status < 200 || answer.status > 299) assert.is(after, before, `a ${answer.status} changed the store: ${replay}`);
    before = after;
  }
  const summary = [...statuses].sort((a, b) => a[0] - b[0]).map(([status, count]) => `${status}: ${count}`).join(', ');
  console.log(`txn fuzz, seed ${SEED}: ${summary}`);
  assert.ok((statuses.get(200) ?? 0) > 0 && (statuses.get(400) ?? 0) > 0 && (statuses.get(409) ?? 0) > 0, `the fuzz should reach 200, 400 and 409: ${summary}`);
});

test.run();
