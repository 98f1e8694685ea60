// `tribune kv get|put|delete|export|import`, with `consul kv`'s flags, messages
// and output (command/kv/* in Consul):
//
//   tribune kv get app/config                     the value, raw
//   tribune kv get -detailed app/config           CreateIndex, Flags, Key, LockIndex, ModifyIndex, Session, Value
//   tribune kv get -recurse app/                  key:value per line
//   tribune kv get -keys -separator=/ app/        key names, one level
//   tribune kv put -flags=42 app/config @file     from a file; "-" reads standard input
//   tribune kv put -cas -modify-index=12 app/config v2
//   tribune kv put -acquire -session=ID app/leader me
//   tribune kv delete -recurse app/
//   tribune kv export app/ > app.json             [{"key", "flags", "value" (base64)}], tab-indented
//   tribune kv import @app.json
//
// A leading '/' on a key is dropped, as Consul's CLI does ("pairs cannot start
// with a /").

import { readFile } from 'node:fs/promises';
import { boolFlag, stringFlag } from '../config/flags.ts';
import type { FlagSpec, ParsedFlags } from '../config/flags.ts';
import { AgentConnectionError } from './http-client.ts';
import type { AgentHttpClient } from './http-client.ts';
import type { CliIo } from './main.ts';

/** What these commands get from the dispatcher in main.ts. */
export type KvCommandContext = { flags: ParsedFlags; args: string[]; io: CliIo; client: AgentHttpClient };

const EXIT_OK = 0;
const EXIT_ERROR = 1;

type KvPair = { Key: string; Value: string | null; Flags: number; CreateIndex: number; ModifyIndex: number; LockIndex: number; Session?: string };

/** One entry of `kv export` / `kv import` (Consul's impexp.Entry). */
type ExportEntry = { key: string; flags: number; value: string };

const STALE_FLAG: FlagSpec = {
  name: 'stale', kind: 'bool',
  usage: 'Permit any agent with a replica to answer, even without a leader. Faster and more available, possibly out of date.',
};
const BASE64_FLAG: FlagSpec = { name: 'base64', kind: 'bool', usage: 'Base64 encode the value. The default value is false.' };

export const KV_COMMANDS = [
  {
    name: 'kv',
    synopsis: 'Interact with the key-value store',
    usage: 'tribune kv <subcommand> [options] [args]',
    description: 'Interact with the replicated key-value store: get, put and delete keys, take locks with a ' +
      'session, and export or import whole trees as JSON.',
  },
  {
    name: 'kv get',
    synopsis: 'Retrieves or lists data from the KV store',
    usage: 'tribune kv get [options] [KEY_OR_PREFIX]',
    description: 'Retrieves the value at the given key and prints it as stored. If no key exists with that ' +
      'name, this is an error; a key with no data prints nothing. With -detailed, prints the key\'s metadata ' +
      '(indexes, flags, lock session) too. With -recurse, prints every key under the prefix as key:value; with ' +
      '-keys, only the key names (one level under the prefix with -separator, "/" by default).',
    http: true,
    flags: [
      BASE64_FLAG,
      { name: 'detailed', kind: 'bool', usage: 'Provide additional metadata about the key in addition to the value, such as the ModifyIndex and any flags that may have been set on the key. The default value is false.' },
      { name: 'keys', kind: 'bool', usage: 'List keys which start with the given prefix, but not their values. This is commonly combined with the -separator option. The default value is false.' },
      { name: 'recurse', kind: 'bool', usage: 'Recursively look at all keys prefixed with the given path. The default value is false.' },
      { name: 'separator', kind: 'string', placeholder: 'string', usage: 'String to use as a separator between keys. The default value is "/", but this option is only taken into account when paired with the -keys flag.' },
      STALE_FLAG,
    ] satisfies FlagSpec[],
    run: runKvGet,
  },
  {
    name: 'kv put',
    synopsis: 'Sets or updates data in the KV store',
    usage: 'tribune kv put [options] KEY [DATA]',
    description: 'Writes the data to the given key. DATA "-" reads standard input; "@path" reads a file. ' +
      'Without DATA the key is written empty. With -cas and -modify-index, writes only if the key\'s ' +
      'ModifyIndex still is that index. With -acquire or -release and -session, takes or gives back the ' +
      'lock on the key.',
    http: true,
    flags: [
      { name: 'acquire', kind: 'bool', usage: 'Obtain a lock on the key. If the key does not exist, this operation will create the key and obtain the lock. The session must already exist and be specified via the -session flag. The default value is false.' },
      { name: 'base64', kind: 'bool', usage: 'Treat the data as base 64 encoded. The default value is false.' },
      { name: 'cas', kind: 'bool', usage: 'Perform a Check-And-Set operation. Specifying this value also requires the -modify-index flag to be set. The default value is false.' },
      { name: 'flags', kind: 'string', placeholder: 'uint', usage: 'Unsigned integer value to assign to this key-value pair. This value is not read by Tribune, so clients can use it however makes sense for their use case. The default value is 0 (no flags).' },
      { name: 'modify-index', kind: 'string', placeholder: 'uint', usage: 'Unsigned integer representing the ModifyIndex of the key. This is used in combination with the -cas flag.' },
      { name: 'release', kind: 'bool', usage: 'Forfeit the lock on the key at the given path. This requires the -session flag to be set. The key must be held by the session in order to be unlocked. The default value is false.' },
      { name: 'session', kind: 'string', placeholder: 'string', usage: 'The session ID, used with the -acquire and -release operations to build robust locking. The default value is empty (no session).' },
    ] satisfies FlagSpec[],
    run: runKvPut,
  },
  {
    name: 'kv delete',
    synopsis: 'Removes data from the KV store',
    usage: 'tribune kv delete [options] KEY_OR_PREFIX',
    description: 'Removes the value at the given path. If no key exists at the path, no action is taken. ' +
      'With -recurse, removes every key starting with the prefix ("foo" also removes "food" and ' +
      '"foo/bar/zip"). With -cas and -modify-index, removes the key only at that ModifyIndex.',
    http: true,
    flags: [
      { name: 'cas', kind: 'bool', usage: 'Perform a Check-And-Set operation. Specifying this value also requires the -modify-index flag to be set. The default value is false.' },
      { name: 'modify-index', kind: 'string', placeholder: 'uint', usage: 'Unsigned integer representing the ModifyIndex of the key. This is used in combination with the -cas flag.' },
      { name: 'recurse', kind: 'bool', usage: 'Recursively delete all keys with the path. The default value is false.' },
    ] satisfies FlagSpec[],
    run: runKvDelete,
  },
  {
    name: 'kv export',
    synopsis: 'Exports a tree from the KV store as JSON',
    usage: 'tribune kv export [KEY_OR_PREFIX]',
    description: 'Retrieves the key-value pairs under the given prefix and writes them to standard output as ' +
      'JSON ([{"key", "flags", "value"}] with base64 values), which "tribune kv import" (or "consul kv ' +
      'import") reads back: use it to move whole trees between clusters.',
    http: true,
    flags: [STALE_FLAG],
    run: runKvExport,
  },
  {
    name: 'kv import',
    synopsis: 'Imports a tree stored as JSON to the KV store',
    usage: 'tribune kv import [options] [DATA]',
    description: 'Writes the key-value pairs of the JSON that "tribune kv export" produces. DATA "@path" reads ' +
      'a file, "-" reads standard input, anything else is the JSON itself.',
    http: true,
    flags: [
      { name: 'prefix', kind: 'string', placeholder: 'string', usage: 'Key prefix for the imported data: each key is written under it. The default value is empty.' },
    ] satisfies FlagSpec[],
    run: runKvImport,
  },
];

// ---------------------------------------------------------------- helpers

/** Consul's UI.Info: the text and one newline, whatever the text ends with. */
function info(io: CliIo, text: string): void {
  io.out(`${text}\n`);
}

function queryFailed(io: CliIo, error: unknown): number {
  if (error instanceof AgentConnectionError) io.err(error.message);
  else io.err(`Error querying agent: ${(error as Error).message}`);
  return EXIT_ERROR;
}

/** `/v1/kv/KEY` with each segment percent-encoded (a `?` or `#` in a key is data). */
function kvPath(key: string): string {
  return '/v1/kv/' + key.split('/').map(encodeURIComponent).join('/');
}

/** Consul's CLI strips one leading '/', since keys cannot start with one. */
function stripSlash(key: string): string {
  return key.startsWith('/') ? key.slice(1) : key;
}

function valueBytes(pair: KvPair): Buffer {
  return pair.Value === null ? Buffer.alloc(0) : Buffer.from(pair.Value, 'base64');
}

function shownValue(pair: KvPair, base64: boolean): string {
  return base64 ? valueBytes(pair).toString('base64') : valueBytes(pair).toString('utf8');
}

/** An unsigned integer flag (`-flags`, `-modify-index`): undefined when absent, an error message when bad. */
function unsignedFlag(flags: ParsedFlags, name: string): number | string | undefined {
  const text = stringFlag(flags, name);
  if (text === undefined) return undefined;
  if (!/^\d{1,16}$/.test(text) || !Number.isSafeInteger(Number(text))) return `invalid value "${text}" for flag -${name}: parse error`;
  return Number(text);
}

/** Consul's prettyKVPair: a tabwriter with padding 6, so labels take 17 columns. */
function detailed(pair: KvPair, base64: boolean): string {
  const rows: [string, string][] = [
    ['CreateIndex', String(pair.CreateIndex)],
    ['Flags', String(pair.Flags)],
    ['Key', pair.Key],
    ['LockIndex', String(pair.LockIndex)],
    ['ModifyIndex', String(pair.ModifyIndex)],
    ['Session', pair.Session ? pair.Session : '-'],
    ['Value', shownValue(pair, base64)],
  ];
  const width = Math.max(...rows.map(([label]) => label.length)) + 6;
  return rows.map(([label, value]) => label.padEnd(width) + value).join('\n');
}

/** Go's json.MarshalIndent(v, "", "\t"): tab indentation, and <, >, & and U+2028/9 escaped as Go escapes them. */
function goIndentedJson(value: unknown): string {
  return JSON.stringify(value, null, '\t').replace(/[<>&\u2028\u2029]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** DATA as Consul's kv put and import read it: "@file", "-" (stdin), or the text itself. */
async function readData(io: CliIo, data: string): Promise<Buffer> {
  if (data.startsWith('@')) {
    try {
      return await readFile(data.slice(1));
    } catch (error) {
      throw new Error(`Failed to read file: ${(error as Error).message}`);
    }
  }
  if (data === '-') {
    try {
      return await io.readStdin();
    } catch (error) {
      throw new Error(`Failed to read stdin: ${(error as Error).message}`);
    }
  }
  return Buffer.from(data, 'utf8');
}

// ---------------------------------------------------------------- get

async function runKvGet(context: KvCommandContext): Promise<number> {
  const { flags, args, io, client } = context;
  if (args.length > 1) { io.err(`Too many arguments (expected 1, got ${args.length})`); return EXIT_ERROR; }
  const key = stripSlash(args[0] ?? '');
  const keysOnly = boolFlag(flags, 'keys');
  const recurse = boolFlag(flags, 'recurse');
  const base64 = boolFlag(flags, 'base64');
  const stale = boolFlag(flags, 'stale');
  if (key === '' && !(recurse || keysOnly)) { io.err('Error! Missing KEY argument'); return EXIT_ERROR; }
  try {
    if (keysOnly) {
      const separator = stringFlag(flags, 'separator') ?? '/';
      const response = await client.request('GET', kvPath(key), { query: { keys: true, separator, stale }, acceptStatuses: [404] });
      const keys = response.status === 404 ? [] : JSON.parse(response.body) as string[];
      for (const name of keys) info(io, name);
      return EXIT_OK;
    }
    if (recurse) {
      const response = await client.request('GET', kvPath(key), { query: { recurse: true, stale }, acceptStatuses: [404] });
      const pairs = response.status === 404 ? [] : JSON.parse(response.body) as KvPair[];
      pairs.forEach((pair, index) => {
        if (boolFlag(flags, 'detailed')) {
          info(io, detailed(pair, base64));
          if (index < pairs.length - 1) info(io, '');
        } else {
          info(io, `${pair.Key}:${shownValue(pair, base64)}`);
        }
      });
      return EXIT_OK;
    }
    const response = await client.request('GET', kvPath(key), { query: { stale }, acceptStatuses: [404] });
    const pair = response.status === 404 ? undefined : (JSON.parse(response.body) as KvPair[])[0];
    if (pair === undefined) { io.err(`Error! No key exists at: ${key}`); return EXIT_ERROR; }
    info(io, boolFlag(flags, 'detailed') ? detailed(pair, base64) : shownValue(pair, base64));
    return EXIT_OK;
  } catch (error) {
    return queryFailed(io, error);
  }
}

// ---------------------------------------------------------------- put

async function runKvPut(context: KvCommandContext): Promise<number> {
  const { flags, args, io, client } = context;
  if (args.length === 0) { io.err('Error! Missing KEY argument'); return EXIT_ERROR; }
  if (args.length > 2) { io.err(`Error! Too many arguments (expected 1 or 2, got ${args.length})`); return EXIT_ERROR; }
  const key = stripSlash(args[0]!);
  let body: Buffer;
  try {
    body = args[1] === undefined || args[1] === '' ? Buffer.alloc(0) : await readData(io, args[1]);
  } catch (error) {
    io.err(`Error! ${(error as Error).message}`);
    return EXIT_ERROR;
  }
  if (boolFlag(flags, 'base64')) {
    const text = body.toString('utf8').trim();
    if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(text)) {
      io.err('Error! Cannot base 64 decode data: illegal base64 data');
      return EXIT_ERROR;
    }
    body = Buffer.from(text, 'base64');
  }
  const kvFlags = unsignedFlag(flags, 'flags');
  const modifyIndex = unsignedFlag(flags, 'modify-index');
  for (const problem of [kvFlags, modifyIndex]) if (typeof problem === 'string') { io.err(problem); return EXIT_ERROR; }
  const session = stringFlag(flags, 'session') ?? '';
  const acquire = boolFlag(flags, 'acquire');
  const release = boolFlag(flags, 'release');
  const cas = boolFlag(flags, 'cas');
  if ((acquire || release) && session === '') { io.err('Error! Missing -session (required with -acquire and -release)'); return EXIT_ERROR; }
  if (cas && !modifyIndex) { io.err('Must specify -modify-index with -cas!'); return EXIT_ERROR; }

  const query: Record<string, string | number | undefined> = { flags: kvFlags ? kvFlags as number : undefined };
  if (cas) query.cas = modifyIndex as number;
  else if (acquire) query.acquire = session;
  else if (release) query.release = session;
  let answer: boolean;
  try {
    const response = await client.request('PUT', kvPath(key), { query, body });
    answer = response.body.trim() === 'true';
  } catch (error) {
    if (error instanceof AgentConnectionError) { io.err(error.message); return EXIT_ERROR; }
    const message = (error as Error).message;
    if (cas) io.err(`Error! Did not write to ${key}: ${message}`);
    else io.err(`Error! Failed writing data: ${message}`);
    return EXIT_ERROR;
  }
  if (cas && !answer) { io.err(`Error! Did not write to ${key}: CAS failed`); return EXIT_ERROR; }
  if (acquire && !answer) { io.err('Error! Did not acquire lock'); return EXIT_ERROR; }
  if (release && !answer) { io.err('Error! Did not release lock'); return EXIT_ERROR; }
  if (acquire) info(io, `Success! Lock acquired on: ${key}`);
  else if (release) info(io, `Success! Lock released on: ${key}`);
  else info(io, `Success! Data written to: ${key}`);
  return EXIT_OK;
}

// ---------------------------------------------------------------- delete

async function runKvDelete(context: KvCommandContext): Promise<number> {
  const { flags, args, io, client } = context;
  if (args.length > 1) { io.err(`Too many arguments (expected 1, got ${args.length})`); return EXIT_ERROR; }
  const key = stripSlash(args[0] ?? '');
  const recurse = boolFlag(flags, 'recurse');
  const cas = boolFlag(flags, 'cas');
  const modifyIndex = unsignedFlag(flags, 'modify-index');
  if (typeof modifyIndex === 'string') { io.err(modifyIndex); return EXIT_ERROR; }
  if (key === '' && !recurse) { io.err('Error! Missing KEY argument'); return EXIT_ERROR; }
  if (cas && !modifyIndex) { io.err('Cannot delete a key that does not exist. Provide a -modify-index greater than than 0.'); return EXIT_ERROR; }
  if (modifyIndex && !cas) { io.err('Cannot specify -modify-index without -cas!'); return EXIT_ERROR; }
  if (recurse && cas) { io.err('Cannot specify both -cas and -recurse!'); return EXIT_ERROR; }
  try {
    if (recurse) {
      await client.request('DELETE', kvPath(key), { query: { recurse: true } });
      info(io, `Success! Deleted keys with prefix: ${key}`);
      return EXIT_OK;
    }
    const response = await client.request('DELETE', kvPath(key), { query: { cas: cas ? modifyIndex : undefined } });
    if (cas && response.body.trim() !== 'true') { io.err(`Error! Did not delete key ${key}: CAS failed`); return EXIT_ERROR; }
  } catch (error) {
    if (error instanceof AgentConnectionError) { io.err(error.message); return EXIT_ERROR; }
    const message = (error as Error).message;
    if (recurse) io.err(`Error! Did not delete prefix ${key}: ${message}`);
    else if (cas) io.err(`Error! Did not delete key ${key}: ${message}`);
    else io.err(`Error deleting key ${key}: ${message}`);
    return EXIT_ERROR;
  }
  info(io, `Success! Deleted key: ${key}`);
  return EXIT_OK;
}

// ---------------------------------------------------------------- export and import

async function runKvExport(context: KvCommandContext): Promise<number> {
  const { flags, args, io, client } = context;
  if (args.length > 1) { io.err(`Too many arguments (expected 1, got ${args.length})`); return EXIT_ERROR; }
  const key = stripSlash(args[0] ?? '');
  let pairs: KvPair[];
  try {
    const response = await client.request('GET', kvPath(key), { query: { recurse: true, stale: boolFlag(flags, 'stale') }, acceptStatuses: [404] });
    pairs = response.status === 404 ? [] : JSON.parse(response.body) as KvPair[];
  } catch (error) {
    return queryFailed(io, error);
  }
  const entries: ExportEntry[] = pairs.map((pair) => ({ key: pair.Key, flags: pair.Flags, value: valueBytes(pair).toString('base64') }));
  info(io, goIndentedJson(entries));
  return EXIT_OK;
}

async function runKvImport(context: KvCommandContext): Promise<number> {
  const { flags, args, io, client } = context;
  if (args.length === 0) { io.err('Error! Missing DATA argument'); return EXIT_ERROR; }
  if (args.length > 1) { io.err(`Error! Too many arguments (expected 1, got ${args.length})`); return EXIT_ERROR; }
  if (args[0] === '') { io.err('Error! Empty DATA argument'); return EXIT_ERROR; }
  let data: Buffer;
  try {
    data = await readData(io, args[0]!);
  } catch (error) {
    io.err(`Error! ${(error as Error).message}`);
    return EXIT_ERROR;
  }
  let entries: unknown;
  try {
    entries = JSON.parse(data.toString('utf8'));
  } catch (error) {
    io.err(`Cannot unmarshal data: ${(error as Error).message}`);
    return EXIT_ERROR;
  }
  if (entries === null) entries = [];
  if (!Array.isArray(entries)) { io.err('Cannot unmarshal data: expected a JSON array of {"key", "flags", "value"}'); return EXIT_ERROR; }
  const prefix = stringFlag(flags, 'prefix') ?? '';
  // Check every entry before writing any, so that a bad file imports nothing.
  const writes: { key: string; flags: number; value: Buffer }[] = [];
  for (const [index, entry] of entries.entries()) {
    const { key, flags: entryFlags, value } = (entry ?? {}) as { key?: unknown; flags?: unknown; value?: unknown };
    if (typeof key !== 'string' || key === '') { io.err(`Cannot unmarshal data: entry ${index} has no "key" string`); return EXIT_ERROR; }
    if (entryFlags !== undefined && entryFlags !== null && !(typeof entryFlags === 'number' && Number.isSafeInteger(entryFlags) && entryFlags >= 0)) {
      io.err(`Cannot unmarshal data: entry ${index} ("${key}") has flags that are not an unsigned integer`);
      return EXIT_ERROR;
    }
    const text = value === undefined || value === null ? '' : value;
    if (typeof text !== 'string' || !/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(text)) {
      io.err(`Error base 64 decoding value for key ${key}: illegal base64 data`);
      return EXIT_ERROR;
    }
    writes.push({ key: prefix + key, flags: (entryFlags as number | null | undefined) ?? 0, value: Buffer.from(text, 'base64') });
  }
  for (const write of writes) {
    try {
      await client.request('PUT', kvPath(stripSlash(write.key)), { query: { flags: write.flags || undefined }, body: write.value });
    } catch (error) {
      if (error instanceof AgentConnectionError) { io.err(error.message); return EXIT_ERROR; }
      io.err(`Error! Failed writing data for key ${write.key}: ${(error as Error).message}`);
      return EXIT_ERROR;
    }
    info(io, `Imported: ${write.key}`);
  }
  return EXIT_OK;
}
