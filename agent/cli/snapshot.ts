// `tribune snapshot save|restore|inspect`, as Consul's:
//
//   tribune snapshot save backup.snap        GET /v1/snapshot, verified, written atomically
//   tribune snapshot save -stale backup.snap any replica may answer, even without a leader
//   tribune snapshot inspect backup.snap     header and counts, offline (no agent needed)
//   tribune snapshot restore backup.snap     verified here first, then PUT /v1/snapshot
//
// The file format and its checks are in agent/http/snapshot-endpoints.ts.
// Snapshots are binary, so requests go through requestBytes() below rather
// than AgentHttpClient.request(), which reads answers as text.

import { rename, readFile, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { boolFlag, stringFlag } from '../config/flags.ts';
import type { FlagSpec, ParsedFlags } from '../config/flags.ts';
import { inspectSnapshotFile, snapshotId, SnapshotFileError, verifySnapshotForRestore } from '../http/snapshot-endpoints.ts';
import type { SnapshotSummary } from '../http/snapshot-endpoints.ts';
import { AgentConnectionError, AgentResponseError } from './http-client.ts';
import type { AgentHttpClient } from './http-client.ts';
import type { CliIo } from './main.ts';

/** What the snapshot commands get from the dispatcher in main.ts. */
export type SnapshotCommandContext = { flags: ParsedFlags; args: string[]; io: CliIo; client: AgentHttpClient };

const EXIT_OK = 0;
const EXIT_ERROR = 1;

export const SNAPSHOT_SAVE_FLAGS: readonly FlagSpec[] = [
  { name: 'stale', kind: 'bool', usage: 'Allow any agent with a replica to answer from it, even without a leader. The snapshot may then lag the leader.' },
];

export const SNAPSHOT_INSPECT_FLAGS: readonly FlagSpec[] = [
  { name: 'kvdetails', kind: 'bool', usage: 'Also count the KV keys by prefix, up to -kvdepth segments.' },
  { name: 'kvdepth', kind: 'string', placeholder: 'int', usage: 'How many "/"-separated segments of the keys -kvdetails groups by. Default 2.' },
  { name: 'kvfilter', kind: 'string', placeholder: 'prefix', usage: 'Only count the keys under this prefix with -kvdetails.' },
];

function oneFileArgument(context: SnapshotCommandContext): string | undefined {
  const [file, ...extra] = context.args;
  if (file === undefined) context.io.err('Missing FILE argument');
  else if (extra.length > 0) context.io.err(`Too many arguments (expected 1, got ${context.args.length})`);
  else return file;
  return undefined;
}

function agentFailure(io: CliIo, context: string, error: unknown): number {
  if (error instanceof AgentConnectionError) io.err(error.message);
  else io.err(`${context}: ${(error as Error).message}`);
  return EXIT_ERROR;
}

export async function runSnapshotSave(context: SnapshotCommandContext): Promise<number> {
  const path = oneFileArgument(context);
  if (path === undefined) return EXIT_ERROR;
  let file: Buffer;
  try {
    file = await requestBytes(context.client, 'GET', '/v1/snapshot', boolFlag(context.flags, 'stale') ? 'stale' : '');
  } catch (error) {
    return agentFailure(context.io, 'Error saving snapshot', error);
  }
  let summary: SnapshotSummary;
  try {
    summary = inspectSnapshotFile(file);
  } catch (error) {
    context.io.err(`Error verifying snapshot: ${(error as Error).message}`);
    return EXIT_ERROR;
  }
  // Written beside the target and renamed, so that a failed save never leaves half a file under the name.
  const temporary = `${path}.${process.pid}.tmp`;
  try {
    await writeFile(temporary, file, { mode: 0o600 });
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    context.io.err(`Error writing snapshot file: ${(error as Error).message}`);
    return EXIT_ERROR;
  }
  context.io.out(`Saved and verified snapshot to index ${summary.header.index}`);
  return EXIT_OK;
}

export async function runSnapshotRestore(context: SnapshotCommandContext): Promise<number> {
  const path = oneFileArgument(context);
  if (path === undefined) return EXIT_ERROR;
  let file: Buffer;
  try {
    file = await readFile(path);
    verifySnapshotForRestore(file);
  } catch (error) {
    context.io.err(`Error verifying snapshot file: ${(error as Error).message}`);
    return EXIT_ERROR;
  }
  try {
    await requestBytes(context.client, 'PUT', '/v1/snapshot', '', file);
  } catch (error) {
    return agentFailure(context.io, 'Error restoring snapshot', error);
  }
  context.io.out('Restored snapshot');
  return EXIT_OK;
}

export async function runSnapshotInspect(context: SnapshotCommandContext): Promise<number> {
  const path = oneFileArgument(context);
  if (path === undefined) return EXIT_ERROR;
  const depthText = stringFlag(context.flags, 'kvdepth') ?? '2';
  const depth = Number(depthText);
  if (!/^\d{1,3}$/.test(depthText) || depth < 1) {
    context.io.err(`Invalid -kvdepth "${depthText}": expected a positive integer`);
    return EXIT_ERROR;
  }
  let summary: SnapshotSummary;
  try {
    summary = inspectSnapshotFile(await readFile(path));
  } catch (error) {
    const what = error instanceof SnapshotFileError ? 'Error verifying snapshot' : 'Error reading snapshot file';
    context.io.err(`${what}: ${(error as Error).message}`);
    return EXIT_ERROR;
  }
  const kvDetails = boolFlag(context.flags, 'kvdetails') ? { depth, filter: stringFlag(context.flags, 'kvfilter') ?? '' } : undefined;
  context.io.out(formatSnapshotInspect(summary, kvDetails));
  return EXIT_OK;
}

/** Consul's `snapshot inspect` layout: the metadata block, then counts by type (and by KV prefix with -kvdetails). */
export function formatSnapshotInspect(summary: SnapshotSummary, kvDetails?: { depth: number; filter: string }): string {
  const { header, counts } = summary;
  const block = (rows: [string, string][]) => rows.map(([label, value]) => ` ${label.padEnd(12)} ${value}`).join('\n');
  const table = (title: string, rows: [string, string, string][]) => [[title, 'Count', 'Size'], ['----', '----', '----'], ...rows]
    .map(([name, count, size]) => ` ${name.padEnd(27)} ${count.padEnd(10)} ${size}`.trimEnd()).join('\n');
  const sections = [
    block([
      ['ID', snapshotId(header)],
      ['Size', String(summary.fileBytes)],
      ['Index', String(header.index)],
      ['Term', String(header.term)],
      ['Version', String(header.fileVersion)],
      ['Created', new Date(header.createdAtMs).toISOString()],
      ['SHA-256', header.sha256],
    ]),
    table('Type', [
      ['KVS', String(counts.kvEntries), formatBytes(counts.kvBytes)],
      ['Tombstone', String(counts.tombstones), ''],
      ['Session', String(counts.sessions), ''],
      ['LockDelay', String(counts.lockDelays), ''],
      ['Node', String(counts.nodes), ''],
      ['Service', String(counts.services), ''],
      ['Check', String(counts.checks), ''],
    ]),
  ];
  if (kvDetails) {
    const byPrefix = new Map<string, { count: number; bytes: number }>();
    for (const { key, bytes } of summary.kvSizes) {
      if (!key.startsWith(kvDetails.filter)) continue;
      const prefix = key.split('/').slice(0, kvDetails.depth).join('/');
      const entry = byPrefix.get(prefix) ?? { count: 0, bytes: 0 };
      entry.count++;
      entry.bytes += bytes;
      byPrefix.set(prefix, entry);
    }
    const rows = [...byPrefix].sort(([left], [right]) => (left < right ? -1 : left > right ? 1 : 0))
      .map(([prefix, { count, bytes }]): [string, string, string] => [prefix, String(count), formatBytes(bytes)]);
    sections.push(table('Key Name', rows));
  }
  return sections.join('\n\n');
}

/** 230B, 1.7KB, 4.5MB: Consul's ByteSize. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value}B` : `${Number(value.toFixed(1))}${units[unit]}`;
}

/** One request with a binary body and answer; AgentConnectionError / AgentResponseError as AgentHttpClient. */
function requestBytes(client: AgentHttpClient, method: 'GET' | 'PUT', path: string, flag: string, body?: Buffer): Promise<Buffer> {
  const target = new URL(client.url.pathname.replace(/\/+$/, '') + path, client.url);
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send({
      protocol: target.protocol,
      hostname: target.hostname.replace(/^\[|\]$/g, ''),
      port: target.port,
      method,
      path: target.pathname + (flag ? `?${flag}` : ''),
      agent: false,
      headers: body === undefined ? {} : { 'content-length': body.length, 'content-type': 'application/octet-stream' },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', (error) => reject(new AgentConnectionError(client.address, error)));
      res.on('end', () => {
        const answer = Buffer.concat(chunks);
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) resolve(answer);
        else reject(new AgentResponseError(status, answer.toString('utf8')));
      });
    });
    req.on('error', (error) => reject(new AgentConnectionError(client.address, error)));
    req.end(body);
  });
}

/** The command table entries, spread into main.ts's list. */
export const SNAPSHOT_COMMANDS = [
  {
    name: 'snapshot',
    synopsis: 'Saves, restores and inspects snapshots of Tribune state',
    usage: 'tribune snapshot <subcommand> [options] [args]',
    description: 'Saves, restores and inspects point-in-time snapshots of the replicated state: the KV store, ' +
      'the catalog and sessions. A snapshot is one checksummed file; restoring it replaces the whole state of ' +
      'the cluster.',
  },
  {
    name: 'snapshot save',
    synopsis: 'Saves snapshot of Tribune server state',
    usage: 'tribune snapshot save [options] FILE',
    description: 'Retrieves an atomic, point-in-time snapshot of the replicated state and saves it to FILE, ' +
      'after verifying its checksum and contents. By default the leader answers after confirming its ' +
      'leadership; with -stale any agent holding a replica may answer.',
    http: true,
    flags: SNAPSHOT_SAVE_FLAGS,
    run: runSnapshotSave,
  },
  {
    name: 'snapshot restore',
    synopsis: 'Restores snapshot of Tribune server state',
    usage: 'tribune snapshot restore [options] FILE',
    description: 'Restores the snapshot in FILE into the cluster: the file is verified here and again by the ' +
      'agent, then every replica replaces its whole state with the snapshot\'s, at one Raft index. Indexes ' +
      'move forward, so blocking queries wake. This is destructive: whatever was written since is lost.',
    http: true,
    run: runSnapshotRestore,
  },
  {
    name: 'snapshot inspect',
    synopsis: 'Displays information about a Tribune snapshot file',
    usage: 'tribune snapshot inspect [options] FILE',
    description: 'Verifies the snapshot in FILE and prints its ID, size, Raft index and term, format version, ' +
      'and how many KV entries, sessions, nodes, services and checks it holds. Needs no agent.',
    flags: SNAPSHOT_INSPECT_FLAGS,
    run: runSnapshotInspect,
  },
] as const;
