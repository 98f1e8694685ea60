// The project's test runner: runs every `*.test.ts` under test/ as its own
// process (uvu suites, each file ending with `test.run()`), so that a crash,
// a leaked handle or a cluster test's child processes cannot affect another
// file. Unit files run two at a time (the machines have two cores); files
// under test/cluster/ run one at a time after them because they start real
// agents on loopback. The last line is `N passed, N failed, N skipped`.
//
//   npm test                      all files
//   npm test -- raft storage      only files whose path contains a word

import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const testRoot = new URL('.', import.meta.url).pathname;
const filters = process.argv.slice(2);
const fileTimeoutMs = Number(process.env.TRIBUNE_TEST_FILE_TIMEOUT_MS ?? 600_000);

function findTestFiles(dir: string): string[] {
  const found: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) found.push(...findTestFiles(path));
    else if (name.endsWith('.test.ts')) found.push(path);
  }
  return found;
}

type FileResult = { file: string; passed: number; failed: number; skipped: number; ms: number; output: string };

function runFile(file: string): Promise<FileResult> {
  const started = performance.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [file], {
      env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // own process group, so a timeout kills its children too
    });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    const timer = setTimeout(() => {
      output += `\n[runner] ${relative(testRoot, file)} exceeded ${fileTimeoutMs} ms; killed\n`;
      try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* already gone */ }
    }, fileTimeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const total = Number(/Total:\s+(\d+)/.exec(output)?.[1] ?? NaN);
      const passed = Number(/Passed:\s+(\d+)/.exec(output)?.[1] ?? NaN);
      const skipped = Number(/Skipped:\s+(\d+)/.exec(output)?.[1] ?? 0);
      const ms = performance.now() - started;
      if (Number.isNaN(total) || Number.isNaN(passed)) {
        // No uvu summary: the file crashed before reporting. Count it as one failure.
        output += `\n[runner] no test summary (exit code ${code}, signal ${signal})\n`;
        resolve({ file, passed: 0, failed: 1, skipped: 0, ms, output });
        return;
      }
      let failed = total - passed - skipped;
      if (failed === 0 && code !== 0) {
        output += `\n[runner] exit code ${code}, signal ${signal} after all tests passed\n`;
        failed = 1;
      }
      resolve({ file, passed, failed, skipped, ms, output });
    });
  });
}

async function runAll(files: string[], parallelism: number): Promise<FileResult[]> {
  const results: FileResult[] = [];
  let next = 0;
  async function worker() {
    while (next < files.length) {
      const file = files[next++]!;
      const result = await runFile(file);
      const status = result.failed > 0 ? 'FAIL' : 'ok  ';
      console.log(`${status} ${relative(testRoot, file)}  ${result.passed} passed, ${result.failed} failed` +
        `${result.skipped ? `, ${result.skipped} skipped` : ''}  (${(result.ms / 1000).toFixed(1)} s)`);
      if (result.failed > 0 || process.env.TRIBUNE_TEST_VERBOSE) console.log(indent(result.output));
      else if (/SKIP|skipp/i.test(result.output)) {
        // Loud skips: a test that skipped itself says why, and the reader should see it.
        for (const line of result.output.split('\n')) if (/SKIP/.test(line)) console.log(`     ${line.trim()}`);
      }
      results.push(result);
    }
  }
  await Promise.all(Array.from({ length: parallelism }, worker));
  return results;
}

function indent(text: string): string {
  return text.trimEnd().split('\n').map((line) => `     | ${line}`).join('\n');
}

const all = findTestFiles(testRoot).filter((file) => filters.length === 0 || filters.some((f) => file.includes(f)));
const clusterFiles = all.filter((file) => file.includes('/cluster/'));
const unitFiles = all.filter((file) => !file.includes('/cluster/'));
const results = [...await runAll(unitFiles, 2), ...await runAll(clusterFiles, 1)];
const passed = results.reduce((sum, r) => sum + r.passed, 0);
const failed = results.reduce((sum, r) => sum + r.failed, 0);
const skipped = results.reduce((sum, r) => sum + r.skipped, 0);
if (results.length === 0) console.log('no test files matched');
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exitCode = failed > 0 || results.length === 0 ? 1 : 0;
