// Crash test with the real `level` storage (issue 2): a child process runs a
// single-voter Raft node on LevelStorage and proposes sequence numbers,
// printing each one once its proposal has resolved (committed, so durable).
// The parent SIGKILLs it at a seeded random moment, reads the directory with
// LevelStorage itself, and restarts the child on it, several times in a row.
//
// Replay a failure's kill schedule: TRIBUNE_CRASH_SEED=<seed in the message> npm test -- level-crash
// (TRIBUNE_CRASH_VERBOSE=1 prints each cycle). The timing of the child is real, so
// a seed fixes when the kills land, not exactly what the child had done by then.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EntryType } from '../../protocol/raft.ts';
import { LevelStorage } from '../../raft/level-storage.ts';
import { SeededPrng } from '../../raft/prng.ts';

const CHILD = fileURLToPath(new URL('./fixtures/crash-child.ts', import.meta.url));
const SEED = Number(process.env.TRIBUNE_CRASH_SEED ?? 1);
const CRASH_CYCLES = 5;
/** The kill lands this long after the child reports ready: mid-batch, mid-snapshot, anywhere. */
const KILL_MS_MIN = 50;
const KILL_MS_SPREAD = 350;
const READY_TIMEOUT_MS = 10_000;

type ChildRun = { ready: number; acks: number[]; exit: { code: number | null; signal: NodeJS.Signals | null }; stderr: string };

/** Start the child on `dir`, wait for `ready`, SIGKILL it `killAfterMs` later (never, if null: it is then stopped right after ready). */
function runChild(dir: string, killAfterMs: number | null): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let ready = -1;
    const acks: number[] = [];
    let partial = '';
    let stderr = '';
    let killTimer: NodeJS.Timeout | null = null;
    const readyTimer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`child did not report ready within ${READY_TIMEOUT_MS} ms; stderr: ${stderr}`));
    }, READY_TIMEOUT_MS);
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => (stderr += chunk));
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop()!; // an unfinished line is not an acknowledgement
      for (const line of lines) {
        const [word, number] = line.split(' ');
        if (word === 'ack') acks.push(Number(number));
        else if (word === 'ready' && ready < 0) {
          ready = Number(number);
          clearTimeout(readyTimer);
          killTimer = setTimeout(() => child.kill('SIGKILL'), killAfterMs ?? 0);
        } else {
          stderr += `unexpected stdout line: ${JSON.stringify(line)}\n`;
        }
      }
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(readyTimer);
      if (killTimer) clearTimeout(killTimer);
      resolve({ ready, acks, exit: { code, signal }, stderr });
    });
  });
}

/** The sequence numbers stored in `dir`, in log order: the snapshot's ranges, then the entries after it. Opening validates every record. */
async function storedSequences(dir: string): Promise<number[]> {
  const storage = await LevelStorage.open(dir);
  try {
    const state = await storage.load();
    const sequences: number[] = [];
    const data = state.snapshot.data;
    if (data.length > 0) {
      for (const [first, last] of JSON.parse(new TextDecoder().decode(data)) as [number, number][]) {
        for (let sequence = first; sequence <= last; sequence++) sequences.push(sequence);
      }
    }
    for (const entry of state.entries) {
      if (entry.index <= state.snapshot.metadata.index) continue; // kept for followers, already in the snapshot
      if (entry.type !== EntryType.Normal || entry.data.length === 0) continue; // a leader's no-op
      sequences.push(Number(new TextDecoder().decode(entry.data)));
    }
    return sequences;
  } finally {
    await storage.close();
  }
}

test(`every acknowledged entry survives SIGKILL, in order, across ${CRASH_CYCLES} crash-restarts (seed ${SEED})`, async () => {
  const prng = new SeededPrng(SEED);
  const root = await mkdtemp(join(tmpdir(), 'tribune-level-crash-'));
  const dir = join(root, 'raft');
  const context = `seed ${SEED}`;
  try {
    let storedLast = 0;
    let acknowledgedTotal = 0;
    for (let cycle = 1; cycle <= CRASH_CYCLES; cycle++) {
      const killAfterMs = KILL_MS_MIN + prng.nextInt(KILL_MS_SPREAD + 1);
      const run = await runChild(dir, killAfterMs);
      const where = `${context}, cycle ${cycle}, killed ${killAfterMs} ms after ready`;
      assert.is(run.exit.signal, 'SIGKILL', `${where}: the child died on its own (exit ${run.exit.code}): ${run.stderr}`);
      assert.is(run.ready, storedLast, `${where}: the child restarted from ${run.ready}, but the storage held ${storedLast}`);

      // Acknowledged in the order proposed, each once, continuing from what was stored.
      for (const [i, sequence] of run.acks.entries()) {
        assert.is(sequence, run.ready + 1 + i, `${where}: acknowledgement ${i} is ${sequence}, expected ${run.ready + 1 + i}`);
      }

      let sequences: number[];
      try {
        sequences = await storedSequences(dir);
      } catch (error) {
        assert.unreachable(`${where}: the storage does not open after the kill: ${(error as Error).message}`);
        return;
      }
      // The stored log is exactly 1..N: nothing lost in the middle, nothing twice, nothing out of order.
      for (const [i, sequence] of sequences.entries()) {
        if (sequence !== i + 1) assert.unreachable(`${where}: stored log position ${i} holds ${sequence}, expected ${i + 1}`);
      }
      const last = sequences.length;
      const lastAcknowledged = run.acks.length > 0 ? run.acks[run.acks.length - 1]! : run.ready;
      assert.ok(last >= lastAcknowledged, `${where}: acknowledged up to ${lastAcknowledged} but only 1..${last} is stored`);
      assert.ok(last >= storedLast, `${where}: the stored log shrank from ${storedLast} to ${last}`);
      if (process.env.TRIBUNE_CRASH_VERBOSE) {
        console.log(`${where}: restarted at ${run.ready}, ${run.acks.length} acknowledged (up to ${lastAcknowledged}), ${last} stored`);
      }
      storedLast = last;
      acknowledgedTotal += run.acks.length;
    }
    // One more restart: the node comes back from the last crash and sees the same log.
    const final = await runChild(dir, null);
    assert.is(final.ready, storedLast, `${context}: the final restart saw ${final.ready}, the storage held ${storedLast}: ${final.stderr}`);
    assert.ok(acknowledgedTotal >= CRASH_CYCLES, `${context}: only ${acknowledgedTotal} writes were acknowledged in ${CRASH_CYCLES} cycles; the test did not exercise anything`);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test.run();
