// The `tribune` command line: Consul's command names, flags and output for
// the mesh.
//
//   tribune agent -dev                      run an agent (see `tribune agent -h`)
//   tribune members -detailed               ask the local agent over HTTP
//   CONSUL_HTTP_ADDR=127.0.0.12:8500 tribune info
//
// `run(argv, io)` dispatches and returns the exit code, as Consul's CLI
// does: 0 on success, 1 on an error, 127 for an unknown command; help asked
// for with `-h` goes to stdout with 0. Commands other than `agent` and
// `keygen` talk to a running agent through `http-client.ts`. `main()` is the
// process wrapper used by bin/tribune.js and by `node agent/cli/main.ts`.

import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { resolveAdvertiseAddr } from '../config/agent-config.ts';
import type { AgentConfig, RunningAgent, StartAgent } from '../config/agent-config.ts';
import {
  AGENT_FLAGS, boolFlag, closestMatch, formatDuration, formatFlagsHelp, loadAgentConfig, parseFlags, stringFlag, wrap,
} from '../config/flags.ts';
import type { FlagSpec, ParsedFlags } from '../config/flags.ts';
import { AgentConnectionError, AgentHttpClient, resolveHttpAddress } from './http-client.ts';
import { KV_COMMANDS } from './kv-commands.ts';
import { CATALOG_COMMANDS } from './catalog.ts';
import { EVENT_COMMANDS } from './event.ts';
import { WATCH_COMMANDS } from './watch.ts';
import { SNAPSHOT_COMMANDS } from './snapshot.ts';

export type CliIo = {
  /** One line (or block) of normal output. */
  out(text: string): void;
  /** One line (or block) of errors and diagnostics. */
  err(text: string): void;
  env: NodeJS.ProcessEnv;
  /** Reads all of standard input (`tribune kv put KEY -`). */
  readStdin(): Promise<Buffer>;
};

type CommandContext = {
  flags: ParsedFlags;
  /** Arguments after the flags. */
  args: string[];
  io: CliIo;
  /** The agent's HTTP client, from -http-addr / CONSUL_HTTP_ADDR. */
  client: AgentHttpClient;
};

type Command = {
  /** The words that name it: `operator raft list-peers`. */
  name: string;
  /** One line for the command list. */
  synopsis: string;
  /** The usage line after `Usage: `. */
  usage: string;
  /** Paragraphs for `-h`. */
  description: string;
  flags?: readonly FlagSpec[];
  /** Talks to an agent: gets -http-addr and a client. */
  http?: boolean;
  /** Without `run`, the command only groups subcommands. */
  run?: (context: CommandContext) => Promise<number>;
  /** Runs with the raw arguments and does its own parsing (`agent`). */
  runRaw?: (args: string[], io: CliIo) => Promise<number>;
};

const EXIT_OK = 0;
const EXIT_ERROR = 1;
/** What Consul's CLI (mitchellh/cli) returns for a command it does not know. */
const EXIT_UNKNOWN_COMMAND = 127;

const HTTP_FLAGS: readonly FlagSpec[] = [{
  name: 'http-addr', kind: 'string', placeholder: 'address',
  usage: 'The address and port of the agent\'s HTTP API, as host:port or http://host:port. Can also be set with the ' +
    'CONSUL_HTTP_ADDR environment variable. Defaults to http://127.0.0.1:8500.',
}];

// ---------------------------------------------------------------------------
// Commands

const COMMANDS: readonly Command[] = [
  {
    name: 'agent',
    synopsis: 'Runs a Tribune agent',
    usage: 'tribune agent [options]',
    description: 'Starts the Tribune agent and runs until an interrupt is received, then leaves the cluster ' +
      'gracefully. The agent represents a single node in a cluster. Settings come from, lowest precedence first: ' +
      'the defaults, -config-file and -config-dir files in the order given, and the flags.',
    flags: AGENT_FLAGS,
    runRaw: runAgent,
  },
  {
    name: 'members',
    synopsis: 'Lists the members of a Tribune cluster',
    usage: 'tribune members [options]',
    description: 'Outputs the members of a cluster as seen by the agent, along with their addresses, status and ' +
      'type. Use -detailed to see all their tags. Status is alive, leaving, left or failed.',
    http: true,
    flags: [
      { name: 'detailed', kind: 'bool', usage: 'Provides detailed information about nodes: all of their tags.' },
      { name: 'status', kind: 'string', placeholder: 'regexp', usage: 'If provided, output is filtered to only nodes matching the regular expression for status.' },
    ],
    run: runMembers,
  },
  {
    name: 'join',
    synopsis: 'Tell Tribune agent to join cluster',
    usage: 'tribune join [options] address ...',
    description: 'Tells a running agent (with "tribune agent") to join the cluster by specifying at least one ' +
      'existing member: host, host:port or multiaddr.',
    http: true,
    run: runJoin,
  },
  {
    name: 'leave',
    synopsis: 'Gracefully leaves the Tribune cluster and shuts down',
    usage: 'tribune leave [options]',
    description: 'Causes the agent to gracefully leave the cluster and shut down.',
    http: true,
    run: runLeave,
  },
  {
    name: 'force-leave',
    synopsis: 'Forces a member of the cluster to enter the "left" state',
    usage: 'tribune force-leave [options] name',
    description: 'Forces a member of the cluster to enter the "left" state. If the member is alive it will ' +
      'rejoin; use this to clean up failed members that will not come back.',
    http: true,
    flags: [{ name: 'prune', kind: 'bool', usage: 'Remove the member from the member list entirely instead of marking it left.' }],
    run: runForceLeave,
  },
  {
    name: 'info',
    synopsis: 'Provides debugging information for operators',
    usage: 'tribune info [options]',
    description: 'Provides debugging information for operators, grouped by subsystem: the agent, Raft, ' +
      'membership, runtime. Includes counts of dropped malformed messages.',
    http: true,
    run: runInfo,
  },
  {
    name: 'operator',
    synopsis: 'Provides cluster-level tools for Tribune operators',
    usage: 'tribune operator <subcommand> [options]',
    description: 'Provides cluster-level tools for Tribune operators, such as interacting with the Raft subsystem.',
  },
  {
    name: 'operator raft',
    synopsis: 'Provides cluster-level tools for Tribune operators',
    usage: 'tribune operator raft <subcommand> [options]',
    description: 'The Raft operator command is used to interact with Tribune\'s Raft subsystem.',
  },
  {
    name: 'operator raft list-peers',
    synopsis: 'Display the current Raft peer configuration',
    usage: 'tribune operator raft list-peers [options]',
    description: 'Displays the current Raft peer configuration: every voter and learner, its address, its ' +
      'state (leader, follower, learner) and whether it votes.',
    http: true,
    flags: [{ name: 'stale', kind: 'bool', usage: 'Allow any agent to answer from its own replica, even without a leader.' }],
    run: runListPeers,
  },
  {
    name: 'keygen',
    synopsis: 'Generates a new encryption key',
    usage: 'tribune keygen',
    description: 'Generates a new cluster key for -encrypt: 32 random bytes, base64-encoded.',
    run: runKeygen,
  },
  ...KV_COMMANDS,
  ...CATALOG_COMMANDS,
  ...EVENT_COMMANDS,
  ...WATCH_COMMANDS,
  ...SNAPSHOT_COMMANDS,
  {
    name: 'sim',
    synopsis: 'Simulates a cluster of agents in one process (sim run, replay, swarm)',
    usage: 'tribune sim <subcommand> [options]',
    description: 'Runs the agents\' real membership, Raft and state-machine cores on a virtual clock and a ' +
      'simulated network, replayable from a seed. Run "tribune sim" for its subcommands and options.',
    runRaw: async (args, io) => (await import('../../sim/cli.ts')).runSimCli(args, io),
  },
  {
    name: 'version',
    synopsis: 'Prints the Tribune version',
    usage: 'tribune version',
    description: 'Prints the Tribune version and the Node.js it runs on.',
    run: async ({ io }) => { io.out(versionText()); return EXIT_OK; },
  },
];

const BY_NAME = new Map(COMMANDS.map((command) => [command.name, command]));

// ---------------------------------------------------------------------------
// Dispatch

export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const first = argv[0];
  if (first === undefined) { io.out(overviewHelp()); return EXIT_UNKNOWN_COMMAND; }
  if (['-v', '-version', '--version'].includes(first)) { io.out(versionText()); return EXIT_OK; }
  if (['-h', '-help', '--help'].includes(first)) { io.out(overviewHelp()); return EXIT_OK; }
  if (first === 'help') return runHelp(argv.slice(1), io);

  const found = findCommand(argv);
  if (found === undefined) {
    io.err(unknownCommandText(first) + '\n\n' + overviewHelp());
    return EXIT_UNKNOWN_COMMAND;
  }
  const { command, rest } = found;
  if (wantsHelp(rest)) { io.out(commandHelp(command)); return EXIT_OK; }
  if (command.runRaw !== undefined) return command.runRaw(rest, io);
  if (command.run === undefined) {
    // A group such as `operator raft`: say what is wrong, then what exists.
    const word = rest.find((arg) => !arg.startsWith('-'));
    if (word !== undefined) io.err(unknownSubcommandText(command, word) + '\n\n');
    io.err(commandHelp(command));
    return EXIT_ERROR;
  }

  const flags = parseFlags(rest, [...(command.http ? HTTP_FLAGS : []), ...(command.flags ?? [])]);
  if (flags.errors.length > 0) {
    for (const error of flags.errors) io.err(error);
    io.err(`Run "tribune ${command.name} -h" for usage.`);
    return EXIT_ERROR;
  }
  let client: AgentHttpClient | undefined;
  if (command.http) {
    const address = resolveHttpAddress(stringFlag(flags, 'http-addr'), io.env);
    if ('error' in address) { io.err(address.error); return EXIT_ERROR; }
    client = new AgentHttpClient(address.url);
  }
  return command.run({ flags, args: flags.positionals, io, client: client! });
}

/** The longest registered command named by the leading words of argv. */
function findCommand(argv: readonly string[]): { command: Command; rest: string[] } | undefined {
  let command = BY_NAME.get(argv[0]!);
  if (command === undefined) return undefined;
  let used = 1;
  while (used < argv.length) {
    const deeper = BY_NAME.get(`${command.name} ${argv[used]}`);
    if (deeper === undefined) break;
    command = deeper;
    used++;
  }
  return { command, rest: argv.slice(used) };
}

function wantsHelp(args: readonly string[]): boolean {
  for (const arg of args) {
    if (arg === '--') return false;
    if (['-h', '--h', '-help', '--help'].includes(arg)) return true;
  }
  return false;
}

function runHelp(words: readonly string[], io: CliIo): number {
  if (words.length === 0) { io.out(overviewHelp()); return EXIT_OK; }
  const found = findCommand(words);
  if (found === undefined) { io.err(unknownCommandText(words[0]!)); return EXIT_ERROR; }
  const extra = found.rest[0];
  if (extra !== undefined) { io.err(unknownSubcommandText(found.command, extra)); return EXIT_ERROR; }
  io.out(commandHelp(found.command));
  return EXIT_OK;
}

function topLevelCommands(): Command[] {
  return COMMANDS.filter((command) => !command.name.includes(' ')).sort((a, b) => a.name.localeCompare(b.name));
}

function subcommandsOf(parent: Command): Command[] {
  const depth = parent.name.split(' ').length + 1;
  return COMMANDS.filter((command) => command.name.startsWith(`${parent.name} `) && command.name.split(' ').length === depth)
    .sort((a, b) => a.name.localeCompare(b.name));
}

function unknownCommandText(word: string): string {
  const suggestion = closestMatch(word, topLevelCommands().map((command) => command.name));
  return `Unknown command "${word}".` + (suggestion === undefined ? '' : ` Did you mean "${suggestion}"?`);
}

function unknownSubcommandText(parent: Command, word: string): string {
  const names = subcommandsOf(parent).map((command) => command.name.split(' ').at(-1)!);
  const suggestion = closestMatch(word, names);
  return `Unknown subcommand "${word}" for "tribune ${parent.name}".` + (suggestion === undefined ? '' : ` Did you mean "${suggestion}"?`);
}

function commandList(commands: readonly Command[], lastWordOnly: boolean): string {
  const label = (command: Command) => (lastWordOnly ? command.name.split(' ').at(-1)! : command.name);
  const width = Math.max(...commands.map((command) => label(command).length));
  return commands.map((command) => `    ${label(command).padEnd(width)}    ${command.synopsis}`).join('\n');
}

function overviewHelp(): string {
  return 'Usage: tribune [--version] [--help] <command> [<args>]\n\n' +
    `Available commands are:\n${commandList(topLevelCommands(), false)}\n`;
}

function commandHelp(command: Command): string {
  const sections = [`Usage: ${command.usage}`, wrap(command.description, 76, '  ')];
  if (command.http) sections.push(`HTTP API Options\n\n${formatFlagsHelp(HTTP_FLAGS)}`);
  if (command.flags !== undefined && command.flags.length > 0) sections.push(`Command Options\n\n${formatFlagsHelp(command.flags)}`);
  const subcommands = subcommandsOf(command);
  if (subcommands.length > 0) sections.push(`Subcommands:\n${commandList(subcommands, true)}`);
  return sections.join('\n\n') + '\n';
}

/** The version in package.json, read next to this file's package. */
export function tribuneVersion(): string {
  try {
    const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return manifest.version ?? 'unknown';
  } catch {
    return 'unknown'; // an unusual layout: still print what we know
  }
}

function versionText(): string {
  return `Tribune v${tribuneVersion()}\nRunning on Node.js ${process.version}`;
}

// ---------------------------------------------------------------------------
// Output helpers

/** Columns separated by two spaces, left aligned, no trailing blanks (ryanuber/columnize, as Consul). */
export function columnize(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => { widths[i] = Math.max(widths[i] ?? 0, cell.length); });
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

/** What went wrong, worded for a user: connection problems as they are, the rest after `context`. */
function failure(io: CliIo, context: string, error: unknown): number {
  if (error instanceof AgentConnectionError) io.err(error.message);
  else io.err(`${context}: ${(error as Error).message}`);
  return EXIT_ERROR;
}

function takesNoArguments(context: CommandContext): boolean {
  if (context.args.length === 0) return true;
  context.io.err(`This command takes no arguments, got "${context.args.join(' ')}".`);
  return false;
}

// ---------------------------------------------------------------------------
// members

/** A member as /v1/agent/members returns it (Consul's shape; fields we do not use omitted). */
export type ConsulMember = {
  Name: string;
  Addr: string;
  Port: number;
  Tags?: Record<string, string> | null;
  /** 0 none, 1 alive, 2 leaving, 3 left, 4 failed. */
  Status: number;
  ProtocolCur?: number;
};

const MEMBER_STATUS = ['none', 'alive', 'leaving', 'left', 'failed'];

export function memberStatusName(status: number): string {
  return MEMBER_STATUS[status] ?? `unknown(${status})`;
}

function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

function memberType(tags: Record<string, string>): string {
  const role = tags.role;
  if (role === 'consul') return 'server';
  if (role === 'node') return 'client';
  return role ?? 'agent';
}

export function formatMembers(members: readonly ConsulMember[], detailed: boolean): string {
  const sorted = [...members].sort((a, b) => a.Name.localeCompare(b.Name));
  if (detailed) {
    const rows = sorted.map((member) => {
      const tags = member.Tags ?? {};
      const tagText = Object.keys(tags).sort().map((key) => `${key}=${tags[key]}`).join(',');
      return [member.Name, hostPort(member.Addr, member.Port), memberStatusName(member.Status), tagText];
    });
    return columnize([['Node', 'Address', 'Status', 'Tags'], ...rows]);
  }
  const rows = sorted.map((member) => {
    const tags = member.Tags ?? {};
    const build = (tags.build ?? '').split(':')[0]!;
    const protocol = tags.vsn ?? (member.ProtocolCur === undefined ? '' : String(member.ProtocolCur));
    return [member.Name, hostPort(member.Addr, member.Port), memberStatusName(member.Status), memberType(tags), build, protocol, tags.dc ?? ''];
  });
  return columnize([['Node', 'Address', 'Status', 'Type', 'Build', 'Protocol', 'DC'], ...rows]);
}

async function runMembers(context: CommandContext): Promise<number> {
  if (!takesNoArguments(context)) return EXIT_ERROR;
  const statusPattern = stringFlag(context.flags, 'status');
  let statusFilter: RegExp | undefined;
  if (statusPattern !== undefined) {
    try {
      statusFilter = new RegExp(statusPattern);
    } catch (error) {
      context.io.err(`Failed to compile status regexp: ${(error as Error).message}`);
      return EXIT_ERROR;
    }
  }
  let members: ConsulMember[];
  try {
    members = await context.client.getJson<ConsulMember[]>('/v1/agent/members');
  } catch (error) {
    return failure(context.io, 'Error retrieving members', error);
  }
  const shown = members.filter((member) => statusFilter?.test(memberStatusName(member.Status)) ?? true);
  // Consul exits 2 when there is no member to show, so that scripts can tell.
  if (shown.length === 0) return 2;
  context.io.out(formatMembers(shown, boolFlag(context.flags, 'detailed')));
  return EXIT_OK;
}

// ---------------------------------------------------------------------------
// join, leave, force-leave

async function runJoin(context: CommandContext): Promise<number> {
  const { args, io, client } = context;
  if (args.length === 0) {
    io.err('At least one address to join must be specified.');
    io.err(commandHelp(BY_NAME.get('join')!));
    return EXIT_ERROR;
  }
  let joined = 0;
  for (const address of args) {
    try {
      await client.request('PUT', `/v1/agent/join/${encodeURIComponent(address)}`);
      joined++;
    } catch (error) {
      if (error instanceof AgentConnectionError) return failure(io, '', error);
      io.err(`Error joining address '${address}': ${(error as Error).message}`);
    }
  }
  if (joined === 0) { io.err('Failed to join any nodes.'); return EXIT_ERROR; }
  io.out(`Successfully joined cluster by contacting ${joined} nodes.`);
  return EXIT_OK;
}

async function runLeave(context: CommandContext): Promise<number> {
  if (!takesNoArguments(context)) return EXIT_ERROR;
  try {
    await context.client.request('PUT', '/v1/agent/leave');
  } catch (error) {
    return failure(context.io, 'Error leaving', error);
  }
  context.io.out('Graceful leave complete');
  return EXIT_OK;
}

async function runForceLeave(context: CommandContext): Promise<number> {
  const { args, io, client } = context;
  if (args.length !== 1) {
    io.err(args.length === 0 ? 'A node name must be specified to force leave.' : `Exactly one node name is expected, got ${args.length}.`);
    io.err(commandHelp(BY_NAME.get('force-leave')!));
    return EXIT_ERROR;
  }
  try {
    await client.request('PUT', `/v1/agent/force-leave/${encodeURIComponent(args[0]!)}`, { query: { prune: boolFlag(context.flags, 'prune') } });
  } catch (error) {
    return failure(io, 'Error force leaving', error);
  }
  return EXIT_OK;
}

// ---------------------------------------------------------------------------
// info

/** `section:\n\tkey = value` with sections and keys sorted, as `consul info` prints /v1/agent/self's Stats. */
export function formatInfo(stats: Record<string, Record<string, unknown>>): string {
  const lines: string[] = [];
  for (const section of Object.keys(stats).sort()) {
    lines.push(`${section}:`);
    const values = stats[section] ?? {};
    for (const key of Object.keys(values).sort()) {
      const value = values[key];
      lines.push(`\t${key} = ${typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value ?? '')}`);
    }
  }
  return lines.join('\n');
}

async function runInfo(context: CommandContext): Promise<number> {
  if (!takesNoArguments(context)) return EXIT_ERROR;
  let self: { Stats?: Record<string, Record<string, unknown>> };
  try {
    self = await context.client.getJson('/v1/agent/self');
  } catch (error) {
    return failure(context.io, 'Error querying agent', error);
  }
  if (self.Stats === undefined || self.Stats === null) {
    context.io.err('Error querying agent: the answer has no Stats');
    return EXIT_ERROR;
  }
  context.io.out(formatInfo(self.Stats));
  return EXIT_OK;
}

// ---------------------------------------------------------------------------
// operator raft list-peers

/** One server of /v1/operator/raft/configuration (Consul's shape). */
export type RaftServer = { ID: string; Node: string; Address: string; Leader: boolean; Voter: boolean };

export function formatRaftPeers(servers: readonly RaftServer[]): string {
  const rows = servers.map((server) => {
    const state = server.Leader ? 'leader' : server.Voter ? 'follower' : 'learner';
    return [server.Node, server.ID, server.Address, state, String(server.Voter)];
  });
  return columnize([['Node', 'ID', 'Address', 'State', 'Voter'], ...rows]);
}

async function runListPeers(context: CommandContext): Promise<number> {
  if (!takesNoArguments(context)) return EXIT_ERROR;
  let configuration: { Servers?: RaftServer[] };
  try {
    configuration = await context.client.getJson('/v1/operator/raft/configuration', { stale: boolFlag(context.flags, 'stale') });
  } catch (error) {
    return failure(context.io, 'Failed to retrieve raft configuration', error);
  }
  context.io.out(formatRaftPeers(configuration.Servers ?? []));
  return EXIT_OK;
}

// ---------------------------------------------------------------------------
// keygen

async function runKeygen(context: CommandContext): Promise<number> {
  if (!takesNoArguments(context)) return EXIT_ERROR;
  context.io.out(randomBytes(32).toString('base64'));
  return EXIT_OK;
}

// ---------------------------------------------------------------------------
// agent

/** Where the runtime is expected; resolved from this file, never from the working directory. */
const RUNTIME_URL = new URL('../runtime/agent.ts', import.meta.url);

async function runAgent(args: string[], io: CliIo): Promise<number> {
  const loaded = await loadAgentConfig(args);
  if (loaded.help) { io.out(commandHelp(BY_NAME.get('agent')!)); return EXIT_OK; }
  for (const warning of loaded.warnings) io.err(`==> WARNING: ${warning}`);
  if (loaded.errors.length > 0) {
    io.err('==> Invalid agent configuration:');
    for (const error of loaded.errors) io.err(`    ${error}`);
    return EXIT_ERROR;
  }

  const startAgent = await loadRuntime(io);
  if (startAgent === undefined) return EXIT_ERROR;
  io.out('==> Starting Tribune agent...');
  let agent: RunningAgent;
  try {
    agent = await startAgent(loaded.config);
  } catch (error) {
    io.err(`==> Error starting agent: ${(error as Error).message}`);
    return EXIT_ERROR;
  }
  io.out('==> Tribune agent running!');
  io.out(agentSummary(loaded.config, loaded.configFiles));
  io.out('\n==> Log data will now stream in as it occurs:\n');
  return superviseAgent(agent, io);
}

async function loadRuntime(io: CliIo): Promise<StartAgent | undefined> {
  if (!existsSync(fileURLToPath(RUNTIME_URL))) {
    io.err('==> The agent runtime (agent/runtime/agent.ts) is not part of this build yet: the configuration ' +
      'is valid, but this tribune cannot start an agent.');
    return undefined;
  }
  let runtime: { startAgent?: unknown };
  try {
    runtime = await import(RUNTIME_URL.href) as { startAgent?: unknown };
  } catch (error) {
    io.err(`==> Error loading the agent runtime: ${(error as Error).message}`);
    return undefined;
  }
  if (typeof runtime.startAgent !== 'function') {
    io.err('==> The agent runtime (agent/runtime/agent.ts) does not export a startAgent(config) function.');
    return undefined;
  }
  return runtime.startAgent as StartAgent;
}

function agentSummary(config: AgentConfig, configFiles: readonly string[]): string {
  const advertise = resolveAdvertiseAddr(config);
  const cluster = 'address' in advertise ? advertise.address : config.bindAddr;
  const lines: [string, string][] = [
    ['Version', `'v${tribuneVersion()}'`],
    ['Node name', `'${config.nodeName}'`],
    ['Datacenter', `'${config.datacenter}'`],
    ['Bootstrap', config.dev ? 'self (dev mode)' : config.bootstrapExpect === undefined ? 'no (join only)' : `expect ${config.bootstrapExpect}`],
    ['Client Addr', `[${config.clientAddr}] (HTTP: ${config.httpPort}, DNS: ${config.dnsPort})`],
    ['Cluster Addr', `${cluster} (LAN: ${config.meshPort}, bind: ${config.bindAddr})`],
    ['Encrypt', `Gossip: ${config.encrypt !== undefined}`],
    ['Data Dir', config.dev ? '(in memory)' : `'${config.dataDir}'`],
    ['Probe', `every ${formatDuration(config.membership.probeIntervalMs)}, timeout ${formatDuration(config.membership.probeTimeoutMs)}`],
  ];
  if (configFiles.length > 0) lines.push(['Config Files', configFiles.join(', ')]);
  return lines.map(([label, value]) => `${label.padStart(18)}: ${value}`).join('\n');
}

/**
 * Runs until the agent stops. The first SIGINT or SIGTERM leaves the cluster
 * gracefully and stops the agent (exit 0, or 1 if either step failed); a
 * second signal exits with 1 without waiting for the leave, as Consul does,
 * for an operator who will not wait (main() ends the process within a
 * second even if the runtime still holds handles). An agent that stops on its own (a `leave` through the HTTP
 * API) ends the process with 0, one that dies with an error with 1.
 */
function superviseAgent(agent: RunningAgent, io: CliIo): Promise<number> {
  return new Promise((resolveCode) => {
    let signalCount = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      signalCount++;
      if (signalCount > 1) {
        io.err(`==> Caught second signal ${signal}. Exiting`);
        resolveCode(EXIT_ERROR);
        return;
      }
      io.out(`==> Caught signal: ${signal}`);
      io.out('==> Gracefully shutting down agent...');
      void shutDown().then(resolveCode);
    };
    const shutDown = async (): Promise<number> => {
      let code = EXIT_OK;
      try {
        await agent.leave();
        io.out('==> Graceful leave complete');
      } catch (error) {
        io.err(`==> Error leaving: ${(error as Error).message}`);
        code = EXIT_ERROR;
      }
      try {
        await agent.stop();
      } catch (error) {
        io.err(`==> Error stopping agent: ${(error as Error).message}`);
        code = EXIT_ERROR;
      }
      return code;
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    agent.done.then(
      () => { if (signalCount === 0) resolveCode(EXIT_OK); },
      (error: unknown) => {
        if (signalCount > 0) return;
        io.err(`==> Agent stopped: ${(error as Error)?.message ?? String(error)}`);
        resolveCode(EXIT_ERROR);
      },
    );
  });
}

// ---------------------------------------------------------------------------
// Process wrapper

export function processIo(): CliIo {
  return {
    out: (text) => { process.stdout.write(text.endsWith('\n') ? text : `${text}\n`); },
    err: (text) => { process.stderr.write(text.endsWith('\n') ? text : `${text}\n`); },
    env: process.env,
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    },
  };
}

/** Runs the CLI as this process: sets the exit code, and makes sure nothing left open
 *  (a half-stopped agent's timer) keeps a finished command alive for more than a second. */
export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<void> {
  const io = processIo();
  let code: number;
  try {
    code = await run(argv, io);
  } catch (error) {
    io.err(`Error: ${(error as Error)?.stack ?? String(error)}`);
    code = EXIT_ERROR;
  }
  process.exitCode = code;
  setTimeout(() => process.exit(code), 1_000).unref();
}

if (import.meta.main) await main();
