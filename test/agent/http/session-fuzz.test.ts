// PUT /v1/session/create fuzzed: seeded random and mutated bodies against a
// real dev agent. Whatever the body, the answer is 2xx or 4xx, never 5xx; a
// 200 is {"ID": uuid} naming a session that exists; and a refusal creates
// nothing (the session list is unchanged).
//
//   TRIBUNE_FUZZ_SEED=123 TRIBUNE_FUZZ_BODIES=5000 node test/run.ts session-fuzz

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fuzzer, startDevAgent } from './kv-helpers.ts';
import type { DevAgent } from './kv-helpers.ts';

const SEED = Number(process.env.TRIBUNE_FUZZ_SEED ?? 20_261_125);
const BODIES = Number(process.env.TRIBUNE_FUZZ_BODIES ?? 1_200);

let agent: DevAgent;

test.before(async () => {
  agent = await startDevAgent({ ip: '127.0.0.59', node: 'session-fuzz' });
});
test.after(async () => {
  await agent?.stop();
});

async function sessions(): Promise<string> {
  const answer = await agent.request('GET', '/v1/session/list');
  assert.is(answer.status, 200);
  return answer.text;
}

test(`${BODIES} random and mutated session create bodies (seed ${SEED}): never 5xx, a refusal creates nothing`, async () => {
  const seeds: unknown[] = [
    {},
    { Name: 'fuzz', TTL: '10s', LockDelay: '1s', Behavior: 'delete' },
    { Checks: [] },
    { NodeChecks: ['serfHealth'], ServiceChecks: [] },
    { LockDelay: 5, TTL: '24h' },
    { Node: 'session-fuzz', Name: 'x' },
    { ServiceChecks: [{ ID: 'serfHealth', Namespace: '' }] },
    null,
  ];
  const fz = fuzzer(SEED);
  const statuses = new Map<number, number>();
  const before = await sessions();
  for (let i = 0; i < BODIES; i++) {
    let body: unknown = fz.random() < 0.1 ? fz.value(3) : fz.pick(seeds);
    for (let mutations = fz.int(4); mutations > 0; mutations--) body = fz.mutate(body);
    const text = fz.text(body);
    const answer = await agent.request('PUT', '/v1/session/create', { body: text });
    statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
    const replay = `body ${i} of seed ${SEED}: ${text.slice(0, 300)}`;
    assert.ok(answer.status >= 200 && answer.status < 500, `${answer.status} ${answer.text} for ${replay}`);
    if (answer.status === 200) {
      const { ID } = JSON.parse(answer.text) as { ID: string };
      assert.match(ID, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, replay);
      const info = await agent.json<{ ID: string }[]>('GET', `/v1/session/info/${ID}`);
      assert.is(info[0]?.ID, ID, replay);
      assert.is((await agent.request('PUT', `/v1/session/destroy/${ID}`)).text, 'true');
    } else {
      assert.ok(answer.text.length > 0, `a ${answer.status} without a message for ${replay}`);
    }
    assert.is(await sessions(), before, `the session list changed after ${replay}`);
  }
  const summary = [...statuses].sort((a, b) => a[0] - b[0]).map(([status, count]) => `${status}: ${count}`).join(', ');
  console.log(`session create fuzz, seed ${SEED}: ${summary}`);
  assert.ok((statuses.get(200) ?? 0) > 0 && (statuses.get(400) ?? 0) > 0, `the fuzz should reach 200 and 400: ${summary}`);
});

test.run();
