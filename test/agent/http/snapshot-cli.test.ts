// `tribune snapshot save|inspect|restore` as a user runs them: bin/tribune.js
// as a child process against a real dev agent in this process.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { devAgentConfig } from '../../../agent/config/agent-config.ts';
import type { RunningAgent } from '../../../agent/config/agent-config.ts';
import { decodeSnapshotFile } from '../../../agent/http/snapshot-endpoints.ts';
import { startAgent } from '../../../agent/runtime/agent.ts';

const BIN = new URL('../../../bin/tribune.js', import.meta.url).pathname;
const HOST = '127.0.0.78';
let base = '';

/** A port nobody listens on at HOST right now (the kernel's pick), so parallel runs of the suite do not collide. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createNetServer();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
const dir = mkdtempSync(join(tmpdir(), 'tribune-snapshot-cli-'));
let agent: RunningAgent | null = null;

type CliResult = { code: number | null; stdout: string; stderr: string };

function tribune(args: string[]): Promise<CliResult> {
  const env: NodeJS.ProcessEnv = { ...process.env, CONSUL_HTTP_ADDR: base };
  delete env.CONSUL_HTTP_SSL;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function keys(): Promise<Record<string, string>> {
  const response = await fetch(`${base}/v1/kv/?recurse`);
  if (response.status === 404) return {};
  const entries = await response.json() as { Key: string; Value: string | null }[];
  return Object.fromEntries(entries.map((entry) => [entry.Key, Buffer.from(entry.Value ?? '', 'base64').toString()]));
}

test.before(async () => {
  const httpPort = await freePort();
  agent = await startAgent({ ...devAgentConfig('snapshot-cli'), bindAddr: HOST, meshPort: await freePort(), clientAddr: HOST, httpPort, dnsPort: -1, logLevel: 'error' });
  base = `http://${HOST}:${httpPort}`;
  for (let i = 0; i < 12; i++) {
    const response = await fetch(`${base}/v1/kv/config/app-${i % 3}/key-${i}`, { method: 'PUT', body: `value-${i}` });
    assert.is(response.status, 200);
  }
});

test.after(async () => {
  await agent?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('save writes a verified snapshot and says its index; inspect prints Consul\'s block and the counts', async () => {
  const path = join(dir, 'backup.snap');
  const saved = await tribune(['snapshot', 'save', path]);
  assert.is(saved.code, 0, saved.stderr);
  const { header } = decodeSnapshotFile(readFileSync(path));
  assert.is(saved.stdout.trim(), `Saved and verified snapshot to index ${header.index}`);
  assert.equal(readdirSync(dir).filter((name) => name.endsWith('.tmp')), [], 'no temporary file is left');

  const inspected = await tribune(['snapshot', 'inspect', path]);
  assert.is(inspected.code, 0, inspected.stderr);
  const lines = inspected.stdout.split('\n');
  assert.match(inspected.stdout, new RegExp(` ID +${header.term}-${header.index}-${header.createdAtMs}\\n`));
  assert.ok(lines.includes(` Size         ${readFileSync(path).length}`), inspected.stdout);
  assert.ok(lines.includes(` Index        ${header.index}`));
  assert.ok(lines.includes(` Term         ${header.term}`));
  assert.ok(lines.includes(' Version      1'));
  assert.match(inspected.stdout, / Type +Count +Size\n/);
  assert.match(inspected.stdout, / KVS +12 +\d/);

  const details = await tribune(['snapshot', 'inspect', '-kvdetails', '-kvdepth', '2', path]);
  assert.is(details.code, 0, details.stderr);
  assert.match(details.stdout, / Key Name +Count +Size\n/);
  for (let app = 0; app < 3; app++) assert.match(details.stdout, new RegExp(` config/app-${app} +4 +\\d`));
  const filtered = await tribune(['snapshot', 'inspect', '-kvdetails', '-kvdepth', '1', '-kvfilter', 'config/app-1', path]);
  assert.match(filtered.stdout, / config +4 +\d/);
});

test('restore puts the saved state back', async () => {
  const path = join(dir, 'restore.snap');
  assert.is((await tribune(['snapshot', 'save', path])).code, 0);
  const expected = await keys();
  await fetch(`${base}/v1/kv/config?recurse`, { method: 'DELETE' });
  await fetch(`${base}/v1/kv/later`, { method: 'PUT', body: 'x' });
  const restored = await tribune(['snapshot', 'restore', path]);
  assert.is(restored.code, 0, restored.stderr);
  assert.is(restored.stdout.trim(), 'Restored snapshot');
  assert.equal(await keys(), expected);
});

test('a damaged file is refused by restore and inspect with the reason, and the agent\'s state does not change', async () => {
  const path = join(dir, 'good.snap');
  assert.is((await tribune(['snapshot', 'save', path])).code, 0);
  await fetch(`${base}/v1/kv/unchanged`, { method: 'PUT', body: 'yes' });
  const before = await keys();
  const bytes = readFileSync(path);
  const corrupt = join(dir, 'corrupt.snap');
  const flipped = Buffer.from(bytes);
  flipped[flipped.length - 5] ^= 0x40;
  writeFileSync(corrupt, flipped);
  const truncated = join(dir, 'truncated.snap');
  writeFileSync(truncated, bytes.subarray(0, bytes.length - 20));

  for (const [file, reason] of [[corrupt, /checksum mismatch/], [truncated, /truncated/]] as const) {
    const restore = await tribune(['snapshot', 'restore', file]);
    assert.is(restore.code, 1);
    assert.match(restore.stderr, /Error verifying snapshot file: /);
    assert.match(restore.stderr, reason);
    const inspect = await tribune(['snapshot', 'inspect', file]);
    assert.is(inspect.code, 1);
    assert.match(inspect.stderr, reason);
  }
  assert.equal(await keys(), before);
  const missing = await tribune(['snapshot', 'restore', join(dir, 'no-such-file.snap')]);
  assert.is(missing.code, 1);
  assert.match(missing.stderr, /ENOENT/);
});

test('usage errors: no file, too many files, an unreachable agent', async () => {
  const none = await tribune(['snapshot', 'save']);
  assert.is(none.code, 1);
  assert.match(none.stderr, /Missing FILE argument/);
  const two = await tribune(['snapshot', 'inspect', 'a', 'b']);
  assert.is(two.code, 1);
  assert.match(two.stderr, /Too many arguments/);
  const target = join(dir, 'never.snap');
  const unreachable = await tribune(['snapshot', 'save', '-http-addr', `${HOST}:1`, target]);
  assert.is(unreachable.code, 1);
  assert.match(unreachable.stderr, /Error connecting to agent/);
  assert.not.ok(existsSync(target));
  const help = await tribune(['snapshot', '-h']);
  assert.is(help.code, 0);
  for (const name of ['save', 'restore', 'inspect']) assert.match(help.stdout, new RegExp(`\\n +${name} +`));
});

test.run();
