// `tribune kv get|put|delete|export|import` as a user runs them: bin/tribune.js
// as a child process against a real dev agent, with `consul kv`'s flags,
// messages and output formats.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDevAgent } from './kv-helpers.ts';
import type { DevAgent } from './kv-helpers.ts';

const BIN = new URL('../../../bin/tribune.js', import.meta.url).pathname;

let agent: DevAgent;
let scratch: string;

test.before(async () => {
  agent = await startDevAgent({ ip: '127.0.0.60', node: 'kv-cli' });
  scratch = mkdtempSync(join(tmpdir(), 'tribune-kv-cli-'));
});
test.after(async () => {
  await agent?.stop();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

type Result = { code: number | null; stdout: string; stderr: string };

function kv(args: string[], stdin?: string): Promise<Result> {
  const env: NodeJS.ProcessEnv = { ...process.env, CONSUL_HTTP_ADDR: `${agent.ip}:${agent.httpPort}` };
  delete env.CONSUL_HTTP_SSL;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'kv', ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin ?? '');
  });
}

async function modifyIndex(key: string): Promise<number> {
  return (await agent.json<{ ModifyIndex: number }[]>('GET', `/v1/kv/${key}`))[0]!.ModifyIndex;
}

test('put and get: literal data, standard input, a file, and a leading slash dropped', async () => {
  assert.equal(await kv(['put', 'cli/plain', 'hello world']), { code: 0, stdout: 'Success! Data written to: cli/plain\n', stderr: '' });
  assert.equal(await kv(['get', 'cli/plain']), { code: 0, stdout: 'hello world\n', stderr: '' });
  assert.is((await kv(['put', 'cli/stdin', '-'], 'from stdin\n')).code, 0);
  assert.is((await kv(['get', '/cli/stdin'])).stdout, 'from stdin\n\n', 'the value as stored, then a newline, as Consul prints it');
  const file = join(scratch, 'value.txt');
  writeFileSync(file, 'from a file');
  assert.is((await kv(['put', '/cli/file', `@${file}`])).stdout, 'Success! Data written to: cli/file\n');
  assert.is((await kv(['get', 'cli/file'])).stdout, 'from a file\n');
  assert.is((await kv(['put', 'cli/empty'])).code, 0);
  assert.is((await kv(['get', 'cli/empty'])).stdout, '\n');
  assert.is((await kv(['put', '-base64', 'cli/b64', Buffer.from('decoded').toString('base64')])).code, 0);
  assert.is((await kv(['get', 'cli/b64'])).stdout, 'decoded\n');
  assert.is((await kv(['get', '-base64', 'cli/b64'])).stdout, `${Buffer.from('decoded').toString('base64')}\n`);
});

test('get: a missing key, missing and extra arguments are errors with Consul\'s words', async () => {
  assert.equal(await kv(['get', 'cli/none']), { code: 1, stdout: '', stderr: 'Error! No key exists at: cli/none\n' });
  assert.equal(await kv(['get']), { code: 1, stdout: '', stderr: 'Error! Missing KEY argument\n' });
  assert.equal(await kv(['get', 'a', 'b']), { code: 1, stdout: '', stderr: 'Too many arguments (expected 1, got 2)\n' });
  assert.equal(await kv(['put']), { code: 1, stdout: '', stderr: 'Error! Missing KEY argument\n' });
  assert.equal(await kv(['put', 'a', 'b', 'c']), { code: 1, stdout: '', stderr: 'Error! Too many arguments (expected 1 or 2, got 3)\n' });
});

test('get -detailed prints the metadata in Consul\'s tabwriter layout', async () => {
  assert.is((await kv(['put', '-flags=42', 'cli/detailed', 'v'])).code, 0);
  const index = await modifyIndex('cli/detailed');
  const { stdout } = await kv(['get', '-detailed', 'cli/detailed']);
  assert.is(stdout,
    `CreateIndex      ${index}\n` +
    'Flags            42\n' +
    'Key              cli/detailed\n' +
    'LockIndex        0\n' +
    `ModifyIndex      ${index}\n` +
    'Session          -\n' +
    'Value            v\n');
});

test('get -recurse prints key:value lines; -keys names, one level with -separator', async () => {
  for (const [key, value] of [['tree/a', '1'], ['tree/b/c', '2'], ['tree/b/d', '3']]) await kv(['put', key!, value!]);
  assert.is((await kv(['get', '-recurse', 'tree/'])).stdout, 'tree/a:1\ntree/b/c:2\ntree/b/d:3\n');
  assert.is((await kv(['get', '-keys', 'tree/'])).stdout, 'tree/a\ntree/b/\n', '-separator defaults to /');
  assert.is((await kv(['get', '-keys', '-separator=', 'tree/'])).stdout, 'tree/a\ntree/b/c\ntree/b/d\n');
  assert.equal(await kv(['get', '-keys', 'nothing/']), { code: 0, stdout: '', stderr: '' });
  assert.equal(await kv(['get', '-recurse', 'nothing/']), { code: 0, stdout: '', stderr: '' });
  const detailed = (await kv(['get', '-recurse', '-detailed', 'tree/b/'])).stdout;
  assert.is(detailed.split('\n\n').length, 2, 'blocks separated by one blank line');
  assert.match(detailed, /^CreateIndex {6}\d+\n[\s\S]*Key {14}tree\/b\/c\n[\s\S]*Value {12}2\n\nCreateIndex/);
});

test('put -cas -modify-index writes only at that index; delete -cas likewise', async () => {
  await kv(['put', 'cli/cas', 'one']);
  const index = await modifyIndex('cli/cas');
  assert.equal(await kv(['put', '-cas', 'cli/cas', 'x']), { code: 1, stdout: '', stderr: 'Must specify -modify-index with -cas!\n' });
  assert.equal(await kv(['put', '-cas', `-modify-index=${index + 100}`, 'cli/cas', 'two']), { code: 1, stdout: '', stderr: 'Error! Did not write to cli/cas: CAS failed\n' });
  assert.equal(await kv(['put', '-cas', `-modify-index=${index}`, 'cli/cas', 'two']), { code: 0, stdout: 'Success! Data written to: cli/cas\n', stderr: '' });
  assert.is((await kv(['get', 'cli/cas'])).stdout, 'two\n');
  const next = await modifyIndex('cli/cas');
  assert.equal(await kv(['delete', '-cas', `-modify-index=${index}`, 'cli/cas']), { code: 1, stdout: '', stderr: 'Error! Did not delete key cli/cas: CAS failed\n' });
  assert.equal(await kv(['delete', '-modify-index=3', 'cli/cas']), { code: 1, stdout: '', stderr: 'Cannot specify -modify-index without -cas!\n' });
  assert.equal(await kv(['delete', '-cas', 'cli/cas']), { code: 1, stdout: '', stderr: 'Cannot delete a key that does not exist. Provide a -modify-index greater than than 0.\n' });
  assert.equal(await kv(['delete', '-cas', '-recurse', '-modify-index=3', 'cli/']), { code: 1, stdout: '', stderr: 'Cannot specify both -cas and -recurse!\n' });
  assert.equal(await kv(['delete', '-cas', `-modify-index=${next}`, 'cli/cas']), { code: 0, stdout: 'Success! Deleted key: cli/cas\n', stderr: '' });
  assert.is((await kv(['get', 'cli/cas'])).code, 1);
  assert.equal(await kv(['put', '-flags=x', 'cli/cas', 'v']), { code: 1, stdout: '', stderr: 'invalid value "x" for flag -flags: parse error\n' });
});

test('put -acquire and -release with -session: a lock, shown by get -detailed', async () => {
  const session = await agent.createSession({ LockDelay: '0s' });
  const other = await agent.createSession({ LockDelay: '0s' });
  assert.equal(await kv(['put', '-acquire', 'cli/lock', 'me']), { code: 1, stdout: '', stderr: 'Error! Missing -session (required with -acquire and -release)\n' });
  assert.equal(await kv(['put', '-acquire', `-session=${session}`, 'cli/lock', 'me']), { code: 0, stdout: 'Success! Lock acquired on: cli/lock\n', stderr: '' });
  assert.match((await kv(['get', '-detailed', 'cli/lock'])).stdout, new RegExp(`LockIndex {8}1\\n[\\s\\S]*Session {10}${session}\\n`));
  assert.equal(await kv(['put', '-acquire', `-session=${other}`, 'cli/lock', 'them']), { code: 1, stdout: '', stderr: 'Error! Did not acquire lock\n' });
  assert.equal(await kv(['put', '-release', `-session=${other}`, 'cli/lock']), { code: 1, stdout: '', stderr: 'Error! Did not release lock\n' });
  assert.equal(await kv(['put', '-release', `-session=${session}`, 'cli/lock']), { code: 0, stdout: 'Success! Lock released on: cli/lock\n', stderr: '' });
  const unknown = await kv(['put', '-acquire', '-session=not-a-session', 'cli/lock', 'x']);
  assert.is(unknown.code, 1);
  assert.match(unknown.stderr, /^Error! Failed writing data: .*invalid session "not-a-session"/);
  for (const id of [session, other]) await agent.request('PUT', `/v1/session/destroy/${id}`);
});

test('delete a key and a prefix; a missing key argument is an error', async () => {
  await kv(['put', 'gone/a', '1']);
  await kv(['put', 'gone/b/c', '2']);
  assert.equal(await kv(['delete', 'gone/a']), { code: 0, stdout: 'Success! Deleted key: gone/a\n', stderr: '' });
  assert.equal(await kv(['delete', '-recurse', 'gone/']), { code: 0, stdout: 'Success! Deleted keys with prefix: gone/\n', stderr: '' });
  assert.is((await agent.request('GET', '/v1/kv/gone/?recurse')).status, 404);
  assert.equal(await kv(['delete']), { code: 1, stdout: '', stderr: 'Error! Missing KEY argument\n' });
});

test('export writes Consul\'s tab-indented JSON; import writes it back, with -prefix', async () => {
  await kv(['put', '-flags=7', 'exp/one', '<1 & 2>']);
  await kv(['put', 'exp/two/three', 'deep']);
  const exported = await kv(['export', 'exp/']);
  assert.is(exported.code, 0);
  assert.is(exported.stdout,
    '[\n' +
    '\t{\n\t\t"key": "exp/one",\n\t\t"flags": 7,\n\t\t"value": "' + Buffer.from('<1 & 2>').toString('base64') + '"\n\t},\n' +
    '\t{\n\t\t"key": "exp/two/three",\n\t\t"flags": 0,\n\t\t"value": "' + Buffer.from('deep').toString('base64') + '"\n\t}\n' +
    ']\n');
  assert.is((await kv(['export', 'nothing/'])).stdout, '[]\n');
  const file = join(scratch, 'export.json');
  writeFileSync(file, exported.stdout);
  assert.equal(await kv(['import', '-prefix=copy/', `@${file}`]), { code: 0, stdout: 'Imported: copy/exp/one\nImported: copy/exp/two/three\n', stderr: '' });
  assert.is((await kv(['get', 'copy/exp/one'])).stdout, '<1 & 2>\n');
  assert.match((await kv(['get', '-detailed', 'copy/exp/one'])).stdout, /Flags {12}7\n/);
  await kv(['delete', '-recurse', 'exp/']);
  assert.is((await kv(['import', '-'], exported.stdout)).code, 0);
  assert.is((await kv(['get', 'exp/two/three'])).stdout, 'deep\n');
  assert.equal(await kv(['import']), { code: 1, stdout: '', stderr: 'Error! Missing DATA argument\n' });
  assert.match((await kv(['import', '{not json'])).stderr, /^Cannot unmarshal data: /);
  assert.equal(await kv(['import', '[{"key":"bad","flags":0,"value":"%%%"}]']), { code: 1, stdout: '', stderr: 'Error base 64 decoding value for key bad: illegal base64 data\n' });
  assert.is((await agent.request('GET', '/v1/kv/bad')).status, 404, 'a bad file imports nothing');
});

test('an agent that is not there: the connection error, exit 1', async () => {
  const env: NodeJS.ProcessEnv = { ...process.env, CONSUL_HTTP_ADDR: '127.0.0.60:1' };
  const result = await new Promise<Result>((resolve) => {
    const child = spawn(process.execPath, [BIN, 'kv', 'get', 'x'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  assert.is(result.code, 1);
  assert.match(result.stderr, /^Error connecting to agent at http:\/\/127\.0\.0\.60:1: is the agent running\?\n$/);
});

test.run();
