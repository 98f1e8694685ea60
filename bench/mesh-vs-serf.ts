// The agent mesh against HashiCorp serf (issue 3): 30 agents of each system,
// every agent on its own loopback address, the same LAN gossip profile
// (probe 1 s, probe timeout 500 ms, suspicion multiplier 4, push-pull 30 s).
//
//   npm run bench:mesh                                   both systems, ~12 min
//   npm run bench:mesh -- --systems tribune --join-rounds 1
//   npm run bench:mesh -- --profile prof --logs logs --json mesh.json
//   npm run bench:mesh -- --systems tribune --log-level debug --logs logs   (diagnosis)
//
// For each system, one after the other (never both at once, so that neither
// steals the other's CPU), on 127.0.1.1-30 (Tribune) and 127.0.2.1-30 (serf):
//
//   cold start   spawn all agents at once, each with a retry-join to the first
//                agent (the first one to the second), and time until every agent
//                answers its API and until every agent sees all of them alive.
//                Tribune runs with -bootstrap-expect 3: the agents choose the Raft
//                voters among the first members they see, so Raft forms early.
//   steady state the same cluster then runs unobserved for --steady-s (60 s);
//                over the next --cpu-window-s (30 s) each agent's CPU time comes
//                from /proc/PID/stat (utime + stime deltas) and its RSS from
//                /proc/PID/status (VmRSS, sampled every 5 s, maximum kept), with
//                PSS and anonymous memory from /proc/PID/smaps_rollup at the end.
//                Nothing polls the agents during these two phases.
//   failures     SIGKILL one agent (not a seed, not a Raft voter), time until
//                every other agent reports it failed; --kills (3) different
//                victims, 5 s apart. Serf's victims have the same index.
//   join rounds  --join-rounds (3) fresh clusters: spawn all agents without any
//                join, wait until all answer, then ask each to join the first
//                (Tribune: PUT /v1/agent/join/ADDR; serf: the `join` RPC), all at
//                once, and time until every agent sees all alive. This is gossip
//                convergence without process start-up.
//
// False deaths: every poll checks every view for a member reported failed that
// was not killed, and every agent's log is read for failure events about a
// member that was not killed (Tribune: "member NAME (...) failed"; serf:
// "EventMemberFailed: NAME"), from the first spawn to the teardown. Suspicions
// of live members are counted too (Tribune logs every agent's suspicion;
// memberlist only logs the prober's "Suspect NAME has failed").
//
// Views are polled every --poll-ms (200 ms), all agents of a system at once:
// Tribune through GET /v1/agent/members (keep-alive), serf through its
// msgpack RPC (`members`) on one persistent connection per agent, which is what
// `serf members -rpc-addr` does without starting a process per call.
//
// The machine is usually shared, so every phase also reports the cores used by
// the system's agents and by the whole machine (/proc/stat), and the convergence
// curve (per poll: the fewest and median members seen alive, and how many agents
// see all). CPU time per agent at start-up comes from the same /proc/PID/stat.
//
// With --profile DIR, Tribune's second agent is started with the inspector on
// its own loopback address; the CPU profile covers exactly the idle window
// (Profiler.start/stop over the DevTools protocol), is written to DIR, and its
// heaviest functions and packages are printed, with process.memoryUsage().
// That agent is left out of the CPU figures (the profiler costs CPU). The seed
// of the first join round is profiled the same way, from the joins to
// convergence. --logs DIR keeps every agent's output, one file per agent and
// phase; --log-level sets both systems' agents' log level.
//
// Every loop is bounded by a count and a deadline; every process started here
// is killed on the way out, also on failure or Ctrl-C.

import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    agents: { type: 'string', default: '30' },
    systems: { type: 'string', default: 'tribune,serf' },
    'join-rounds': { type: 'string', default: '3' },
    kills: { type: 'string', default: '3' },
    'steady-s': { type: 'string', default: '60' },
    'cpu-window-s': { type: 'string', default: '30' },
    'poll-ms': { type: 'string', default: '200' },
    'bootstrap-expect': { type: 'string', default: '3' },
    'http-port': { type: 'string', default: '19700' },
    profile: { type: 'string' },
    logs: { type: 'string' },
    'log-level': { type: 'string', default: 'info' },
    json: { type: 'string' },
    'serf-bin': { type: 'string', default: 'serf' },
  },
});

const AGENTS = Number(args.agents);
const SYSTEMS = args.systems.split(',').map((name) => name.trim()).filter(Boolean);
const JOIN_ROUNDS = Number(args['join-rounds']);
const KILLS = Number(args.kills);
const STEADY_MS = Number(args['steady-s']) * 1000;
const CPU_WINDOW_MS = Number(args['cpu-window-s']) * 1000;
const POLL_MS = Number(args['poll-ms']);
const BOOTSTRAP_EXPECT = Number(args['bootstrap-expect']);
const HTTP_PORT = Number(args['http-port']);
for (const [name, value, min] of [['agents', AGENTS, 3], ['join-rounds', JOIN_ROUNDS, 0], ['kills', KILLS, 0], ['steady-s', STEADY_MS, 0],
  ['cpu-window-s', CPU_WINDOW_MS, 1000], ['poll-ms', POLL_MS, 20], ['bootstrap-expect', BOOTSTRAP_EXPECT, 1], ['http-port', HTTP_PORT, 1024]] as const) {
  if (!Number.isFinite(value) || value < min) throw new Error(`--${name} must be a number of at least ${min}`);
}
if (AGENTS > 250) throw new Error('--agents: at most 250 (one loopback /24 per system)');
for (const system of SYSTEMS) if (system !== 'tribune' && system !== 'serf') throw new Error(`--systems: unknown system ${system}`);
if (KILLS > AGENTS - 3) throw new Error('--kills: too many for the cluster size');

const CLI = new URL('../bin/tribune.js', import.meta.url).pathname;
/** Bounds on every wait. */
const START_DEADLINE_MS = 180_000;
const CONVERGE_DEADLINE_MS = 180_000;
const DETECT_DEADLINE_MS = 90_000;
const BETWEEN_KILLS_MS = 5_000;
const REQUEST_TIMEOUT_MS = 3_000;
const CLK_TCK = (() => {
  const result = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const value = Number(result.stdout?.trim());
  return Number.isInteger(value) && value > 0 ? value : 100;
})();

const sleep = (ms: number) => new Promise<void>((resolveSleep) => setTimeout(resolveSleep, ms));
const now = () => performance.now();
const log = (message: string) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${message}\n`);

// ---------------------------------------------------------------- processes

/** Every child this bench started and that has not exited: killed on any way out. */
const children = new Set<ChildProcess>();

function killAllChildren(): void {
  for (const child of children) {
    try { child.kill('SIGKILL'); } catch { /* already gone */ }
  }
}
process.on('exit', killAllChildren);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    killAllChildren();
    process.exit(130);
  });
}

function waitExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolveExit) => {
    const timer = setTimeout(() => resolveExit(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolveExit(true);
    });
  });
}

// ---------------------------------------------------------------- msgpack (the subset serf's RPC uses)

class Incomplete extends Error {}

function encodeMsgpack(value: unknown, out: number[] = []): number[] {
  if (value === null || value === undefined) out.push(0xc0);
  else if (value === false) out.push(0xc2);
  else if (value === true) out.push(0xc3);
  else if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new Error(`msgpack: unsupported number ${value}`);
    if (value < 128) out.push(value);
    else if (value < 0x100) out.push(0xcc, value);
    else if (value < 0x10000) out.push(0xcd, value >> 8, value & 0xff);
    else out.push(0xce, (value >>> 24) & 0xff, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff);
  } else if (typeof value === 'string') {
    const bytes = Buffer.from(value, 'utf8');
    if (bytes.length < 32) out.push(0xa0 | bytes.length);
    else if (bytes.length < 0x100) out.push(0xd9, bytes.length);
    else out.push(0xda, bytes.length >> 8, bytes.length & 0xff);
    for (const byte of bytes) out.push(byte);
  } else if (Array.isArray(value)) {
    if (value.length >= 16) throw new Error('msgpack: arrays of 16 or more not needed here');
    out.push(0x90 | value.length);
    for (const item of value) encodeMsgpack(item, out);
  } else if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length >= 16) throw new Error('msgpack: maps of 16 or more not needed here');
    out.push(0x80 | entries.length);
    for (const [key, item] of entries) {
      encodeMsgpack(key, out);
      encodeMsgpack(item, out);
    }
  } else throw new Error(`msgpack: unsupported ${typeof value}`);
  return out;
}

/** Decodes one value at `state.offset`; throws Incomplete when the buffer ends first. */
function decodeMsgpack(buffer: Buffer, state: { offset: number }): unknown {
  const need = (count: number) => {
    if (state.offset + count > buffer.length) throw new Incomplete();
  };
  const bytes = (count: number) => {
    need(count);
    const slice = buffer.subarray(state.offset, state.offset + count);
    state.offset += count;
    return slice;
  };
  const uint = (size: 1 | 2 | 4 | 8) => {
    const slice = bytes(size);
    if (size === 1) return slice.readUInt8(0);
    if (size === 2) return slice.readUInt16BE(0);
    if (size === 4) return slice.readUInt32BE(0);
    return Number(slice.readBigUInt64BE(0));
  };
  const int = (size: 1 | 2 | 4 | 8) => {
    const slice = bytes(size);
    if (size === 1) return slice.readInt8(0);
    if (size === 2) return slice.readInt16BE(0);
    if (size === 4) return slice.readInt32BE(0);
    return Number(slice.readBigInt64BE(0));
  };
  const map = (count: number) => {
    const result: Record<string, unknown> = {};
    for (let i = 0; i < count; i++) {
      const key = decodeMsgpack(buffer, state);
      result[typeof key === 'string' ? key : Buffer.isBuffer(key) ? key.toString('utf8') : String(key)] = decodeMsgpack(buffer, state);
    }
    return result;
  };
  const array = (count: number) => Array.from({ length: count }, () => decodeMsgpack(buffer, state));
  const type = uint(1);
  if (type < 0x80) return type;
  if (type < 0x90) return map(type & 0x0f);
  if (type < 0xa0) return array(type & 0x0f);
  if (type < 0xc0) return bytes(type & 0x1f).toString('utf8');
  if (type >= 0xe0) return type - 0x100;
  switch (type) {
    case 0xc0: return null;
    case 0xc2: return false;
    case 0xc3: return true;
    case 0xc4: return Buffer.from(bytes(uint(1)));
    case 0xc5: return Buffer.from(bytes(uint(2)));
    case 0xc6: return Buffer.from(bytes(uint(4)));
    case 0xca: return bytes(4).readFloatBE(0);
    case 0xcb: return bytes(8).readDoubleBE(0);
    case 0xcc: return uint(1);
    case 0xcd: return uint(2);
    case 0xce: return uint(4);
    case 0xcf: return uint(8);
    case 0xd0: return int(1);
    case 0xd1: return int(2);
    case 0xd2: return int(4);
    case 0xd3: return int(8);
    case 0xd9: return bytes(uint(1)).toString('utf8');
    case 0xda: return bytes(uint(2)).toString('utf8');
    case 0xdb: return bytes(uint(4)).toString('utf8');
    case 0xdc: return array(uint(2));
    case 0xdd: return array(uint(4));
    case 0xde: return map(uint(2));
    case 0xdf: return map(uint(4));
    default: throw new Error(`msgpack: unsupported type byte 0x${type.toString(16)}`);
  }
}

/**
 * A client of serf's RPC protocol (what `serf members -rpc-addr` speaks): a
 * msgpack header {Command, Seq} then an optional body; answers are a header
 * {Seq, Error} and, for commands that return something, a body.
 */
class SerfRpc {
  private socket: Socket | null = null;
  private buffer: Buffer = Buffer.alloc(0);
  private seq = 0;
  private readonly pending = new Map<number, { body: boolean; resolve: (value: unknown) => void; reject: (error: Error) => void; timer: NodeJS.Timeout }>();
  readonly host: string;
  readonly port: number;
  constructor(host: string, port: number) {
    this.host = host;
    this.port = port;
  }

  async open(): Promise<void> {
    const socket = connect({ host: this.host, port: this.port });
    await new Promise<void>((resolveOpen, rejectOpen) => {
      const timer = setTimeout(() => {
        socket.destroy();
        rejectOpen(new Error('connect timeout'));
      }, REQUEST_TIMEOUT_MS);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolveOpen();
      });
      socket.once('error', (error) => {
        clearTimeout(timer);
        rejectOpen(error);
      });
    });
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk) => this.onData(chunk));
    const fail = (error: Error) => {
      for (const request of this.pending.values()) {
        clearTimeout(request.timer);
        request.reject(error);
      }
      this.pending.clear();
      this.socket = null;
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('connection closed')));
    await this.call('handshake', { Version: 1 }, false);
  }

  close(): void {
    this.socket?.destroy();
    this.socket = null;
  }

  get open_(): boolean {
    return this.socket !== null;
  }

  call(command: string, body: unknown, expectsBody: boolean): Promise<unknown> {
    const socket = this.socket;
    if (!socket) return Promise.reject(new Error('not connected'));
    const seq = this.seq++;
    const frame = encodeMsgpack({ Command: command, Seq: seq });
    if (body !== undefined) encodeMsgpack(body, frame);
    return new Promise((resolveCall, rejectCall) => {
      const timer = setTimeout(() => {
        this.pending.delete(seq);
        rejectCall(new Error(`${command}: timeout`));
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(seq, { body: expectsBody, resolve: resolveCall, reject: rejectCall, timer });
      socket.write(Buffer.from(frame));
    });
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    for (let frames = 0; frames < 10_000 && this.buffer.length > 0; frames++) {
      const state = { offset: 0 };
      let header: { Seq: number; Error: string };
      let body: unknown;
      try {
        header = decodeMsgpack(this.buffer, state) as { Seq: number; Error: string };
        const request = this.pending.get(header.Seq);
        if (request?.body) body = decodeMsgpack(this.buffer, state);
      } catch (error) {
        if (error instanceof Incomplete) return;
        throw error;
      }
      this.buffer = this.buffer.subarray(state.offset);
      const request = this.pending.get(header.Seq);
      if (!request) continue;
      this.pending.delete(header.Seq);
      clearTimeout(request.timer);
      if (header.Error) request.reject(new Error(header.Error));
      else request.resolve(body);
    }
  }
}

// ---------------------------------------------------------------- the two systems

type Status = 'alive' | 'failed' | 'left' | 'leaving' | 'other';
type LogEvent = { kind: 'failed' | 'suspect'; subject: string };

type AgentProc = {
  index: number;
  name: string;
  ip: string;
  child: ChildProcess | null;
  pid: number;
  killedAt: number | null;
  profiled: boolean;
};

interface MeshSystem {
  readonly label: string;
  ip(index: number): string;
  name(index: number): string;
  /** Command line of agent `index`; `joinTo` the addresses it retry-joins (empty: none). */
  command(index: number, dataDir: string, joinTo: string[], inspect: boolean): { file: string; argv: string[] };
  ready(agent: AgentProc): Promise<boolean>;
  view(agent: AgentProc): Promise<Map<string, Status>>;
  join(agent: AgentProc, address: string): Promise<void>;
  parseLog(line: string): LogEvent | undefined;
  closeClients(): void;
}

const TRIBUNE_HCL = `gossip_lan {
  probe_interval = "1s"
  probe_timeout = "500ms"
  suspicion_mult = 4
  push_pull_interval = "30s"
}
`;

class TribuneSystem implements MeshSystem {
  readonly label = 'tribune';
  private readonly configFile: string;
  constructor(root: string) {
    this.configFile = join(root, 'tribune-lan.hcl');
    writeFileSync(this.configFile, TRIBUNE_HCL);
  }
  ip(index: number) { return `127.0.1.${index + 1}`; }
  name(index: number) { return `tribune-${String(index + 1).padStart(2, '0')}`; }
  command(index: number, dataDir: string, joinTo: string[], inspect: boolean) {
    const ip = this.ip(index);
    const argv = [
      ...(inspect ? [`--inspect=${ip}:9229`] : []),
      CLI, 'agent', '-node', this.name(index), '-bind', ip, '-data-dir', dataDir, '-config-file', this.configFile,
      '-http-port', String(HTTP_PORT), '-client', ip, '-dns-port', '-1', '-bootstrap-expect', String(BOOTSTRAP_EXPECT), '-log-level', args['log-level'],
      '-retry-interval', '1s', ...joinTo.flatMap((address) => ['-retry-join', address]),
    ];
    return { file: process.execPath, argv };
  }
  private url(agent: AgentProc, path: string) { return `http://${agent.ip}:${HTTP_PORT}${path}`; }
  async get<T>(agent: AgentProc, path: string): Promise<T> {
    const response = await fetch(this.url(agent, path), { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
    return (await response.json()) as T;
  }
  async ready(agent: AgentProc) {
    try {
      await this.get(agent, '/v1/agent/self');
      return true;
    } catch {
      return false;
    }
  }
  async view(agent: AgentProc) {
    const members = await this.get<{ Name: string; Status: number }[]>(agent, '/v1/agent/members');
    const statuses: Record<number, Status> = { 1: 'alive', 2: 'leaving', 3: 'left', 4: 'failed' };
    return new Map(members.map((member) => [member.Name, statuses[member.Status] ?? 'other']));
  }
  async join(agent: AgentProc, address: string) {
    const response = await fetch(this.url(agent, `/v1/agent/join/${address}`), { method: 'PUT', signal: AbortSignal.timeout(30_000) });
    if (!response.ok) throw new Error(`join: ${response.status} ${await response.text()}`);
  }
  parseLog(line: string): LogEvent | undefined {
    const match = /\bmember (\S+) \([^)]*\) (failed|suspect)\b/.exec(line);
    return match ? { kind: match[2] as 'failed' | 'suspect', subject: match[1]! } : undefined;
  }
  closeClients() { /* fetch keeps no state worth closing */ }
  /** Raft voters (by node name) and the leader, from one agent's view. */
  async raftView(agent: AgentProc): Promise<{ voters: string[]; leader: string }> {
    const configuration = await this.get<{ Servers: { Node: string; Voter: boolean; Leader: boolean }[] }>(agent, '/v1/operator/raft/configuration?stale');
    return {
      voters: configuration.Servers.filter((server) => server.Voter).map((server) => server.Node),
      leader: configuration.Servers.find((server) => server.Leader)?.Node ?? '',
    };
  }
  async self(agent: AgentProc): Promise<{ clusterId: string; leader: string }> {
    const self = await this.get<{ Stats: { raft: { cluster_id: string; leader: string } } }>(agent, '/v1/agent/self');
    return { clusterId: self.Stats.raft.cluster_id, leader: self.Stats.raft.leader };
  }
}

class SerfSystem implements MeshSystem {
  readonly label = 'serf';
  private readonly clients = new Map<number, SerfRpc>();
  private readonly bin: string;
  constructor(bin: string) {
    this.bin = bin;
  }
  ip(index: number) { return `127.0.2.${index + 1}`; }
  name(index: number) { return `serf-${String(index + 1).padStart(2, '0')}`; }
  command(index: number, _dataDir: string, joinTo: string[]) {
    const ip = this.ip(index);
    const argv = [
      'agent', '-node', this.name(index), '-bind', `${ip}:7946`, '-rpc-addr', `${ip}:7373`, '-profile', 'lan', '-log-level', args['log-level'],
      '-retry-interval', '1s', ...joinTo.flatMap((address) => ['-retry-join', `${address}:7946`]),
    ];
    return { file: this.bin, argv };
  }
  private async client(agent: AgentProc): Promise<SerfRpc> {
    let client = this.clients.get(agent.index);
    if (client?.open_) return client;
    client = new SerfRpc(agent.ip, 7373);
    await client.open();
    this.clients.set(agent.index, client);
    return client;
  }
  async ready(agent: AgentProc) {
    try {
      await this.client(agent);
      return true;
    } catch {
      return false;
    }
  }
  async view(agent: AgentProc) {
    const answer = (await (await this.client(agent)).call('members', undefined, true)) as { Members: { Name: string; Status: string }[] };
    return new Map(answer.Members.map((member) => [member.Name, (['alive', 'failed', 'left', 'leaving'].includes(member.Status) ? member.Status : 'other') as Status]));
  }
  async join(agent: AgentProc, address: string) {
    await (await this.client(agent)).call('join', { Existing: [`${address}:7946`], Replay: false }, true);
  }
  parseLog(line: string): LogEvent | undefined {
    let match = /EventMemberFailed: (\S+)/.exec(line);
    if (match) return { kind: 'failed', subject: match[1]! };
    match = /memberlist: Suspect (\S+) has failed/.exec(line);
    if (match) return { kind: 'suspect', subject: match[1]! };
    return undefined;
  }
  closeClients() {
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }
}

// ---------------------------------------------------------------- one cluster

type FalseDeath = { at: string; viewer: string; subject: string; source: 'poll' | 'log' };
type CurvePoint = { t: number; min: number; median: number; complete: number };

class Cluster {
  readonly agents: AgentProc[] = [];
  readonly falseDeaths: FalseDeath[] = [];
  /** Suspicion log lines about members that were alive (not killed) at the time. */
  readonly liveSuspicions: { viewer: string; subject: string }[] = [];
  readonly startedAt = now();
  private readonly seenFalse = new Set<string>();
  readonly system: MeshSystem;

  constructor(system: MeshSystem, root: string, phase: string, withJoin: boolean, profileIndex: number | null) {
    this.system = system;
    const logDir = args.logs ? resolve(args.logs) : null;
    if (logDir) mkdirSync(logDir, { recursive: true });
    for (let index = 0; index < AGENTS; index++) {
      const ip = system.ip(index);
      const joinTo = withJoin ? [index === 0 ? system.ip(1) : system.ip(0)] : [];
      const dataDir = join(root, `${phase}-${system.label}-${index + 1}`);
      mkdirSync(dataDir, { recursive: true });
      const profiled = profileIndex === index;
      const { file, argv } = system.command(index, dataDir, joinTo, profiled);
      const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'], cwd: dataDir });
      children.add(child);
      child.on('exit', () => children.delete(child));
      child.on('error', (error) => log(`${system.name(index)}: ${error.message}`));
      const agent: AgentProc = { index, name: system.name(index), ip, child, pid: child.pid ?? -1, killedAt: null, profiled };
      this.agents.push(agent);
      const logFile = logDir ? createWriteStream(join(logDir, `${phase}-${agent.name}.log`)) : null;
      if (logFile) child.on('exit', () => logFile.end());
      for (const stream of [child.stdout!, child.stderr!]) {
        createInterface({ input: stream }).on('line', (line) => {
          logFile?.write(`${line}\n`);
          this.onLog(agent, line);
        });
      }
    }
  }

  private onLog(viewer: AgentProc, line: string): void {
    const event = this.system.parseLog(line);
    if (!event) return;
    const subject = this.agents.find((agent) => agent.name === event.subject);
    if (!subject || subject.killedAt !== null) return;
    if (event.kind === 'suspect') this.liveSuspicions.push({ viewer: viewer.name, subject: subject.name });
    else this.noteFalseDeath(viewer.name, subject.name, 'log');
  }

  private noteFalseDeath(viewer: string, subject: string, source: 'poll' | 'log'): void {
    const key = `${source}:${viewer}:${subject}`;
    if (this.seenFalse.has(key)) return;
    this.seenFalse.add(key);
    this.falseDeaths.push({ at: `${((now() - this.startedAt) / 1000).toFixed(1)} s`, viewer, subject, source });
    log(`FALSE DEATH (${source}): ${viewer} reports ${subject} failed`);
  }

  alive(): AgentProc[] {
    return this.agents.filter((agent) => agent.killedAt === null);
  }

  /** One view per live agent (undefined where the call failed), checked for false deaths. */
  async poll(): Promise<Map<AgentProc, Map<string, Status> | undefined>> {
    const viewers = this.alive();
    const views = await Promise.all(viewers.map((agent) => this.system.view(agent).catch(() => undefined)));
    const result = new Map<AgentProc, Map<string, Status> | undefined>();
    viewers.forEach((viewer, i) => {
      const view = views[i];
      result.set(viewer, view);
      if (!view) return;
      for (const [subject, status] of view) {
        if (status !== 'failed') continue;
        const agent = this.agents.find((candidate) => candidate.name === subject);
        if (agent && agent.killedAt === null) this.noteFalseDeath(viewer.name, subject, 'poll');
      }
    });
    return result;
  }

  async waitReady(): Promise<number> {
    const deadline = now() + START_DEADLINE_MS;
    const pending = new Set(this.agents);
    for (let round = 0; now() < deadline && pending.size > 0; round++) {
      for (const agent of pending) if (agent.child === null || agent.child.exitCode !== null) throw new Error(`${agent.name} exited during start-up`);
      const ready = await Promise.all([...pending].map(async (agent) => [agent, await this.system.ready(agent)] as const));
      for (const [agent, ok] of ready) if (ok) pending.delete(agent);
      if (pending.size > 0) await sleep(POLL_MS);
    }
    if (pending.size > 0) throw new Error(`${pending.size} agents did not answer within ${START_DEADLINE_MS} ms`);
    return now();
  }

  /**
   * Polls until every live agent sees every live agent alive. Returns when
   * (null if not within the deadline) and the curve: per poll, ms from
   * `origin`, the fewest and the median count of live agents seen alive, and
   * how many agents saw all.
   */
  async waitConverged(origin: number): Promise<{ at: number | null; curve: CurvePoint[]; lastMissing: string }> {
    const deadline = now() + CONVERGE_DEADLINE_MS;
    const curve: CurvePoint[] = [];
    let lastMissing = '';
    for (let round = 0; now() < deadline; round++) {
      const started = now();
      const live = this.alive();
      const views = await this.poll();
      const seen = [...views.values()].map((view) => (view ? live.filter((agent) => view.get(agent.name) === 'alive').length : 0));
      const complete = seen.filter((count) => count === live.length).length;
      curve.push({ t: started - origin, min: Math.min(...seen), median: median(seen), complete });
      if (complete === seen.length) return { at: started, curve, lastMissing };
      for (const [viewer, view] of views) {
        const missing = live.filter((agent) => view?.get(agent.name) !== 'alive').map((agent) => agent.name);
        if (missing.length) lastMissing = `${viewer.name} misses ${missing.length}: ${missing.slice(0, 5).join(' ')}${missing.length > 5 ? ' ...' : ''}`;
      }
      await sleep(Math.max(0, POLL_MS - (now() - started)));
    }
    log(`${this.system.label}: no convergence within ${CONVERGE_DEADLINE_MS / 1000} s (e.g. ${lastMissing})`);
    return { at: null, curve, lastMissing };
  }

  /** CPU ticks used so far by all agents still running. */
  cpuTicksTotal(): number {
    let total = 0;
    for (const agent of this.alive()) total += cpuTicks(agent.pid) ?? 0;
    return total;
  }

  /** SIGKILL `victim`; per other agent, ms until it reports the victim failed. */
  async killAndDetect(victim: AgentProc): Promise<{ first: number | null; median: number | null; all: number | null }> {
    const observers = this.alive().filter((agent) => agent !== victim);
    const detected = new Map<AgentProc, number>();
    const killedAt = now();
    victim.killedAt = killedAt;
    victim.child?.kill('SIGKILL');
    const deadline = killedAt + DETECT_DEADLINE_MS;
    while (now() < deadline && detected.size < observers.length) {
      const started = now();
      const views = await this.poll();
      for (const observer of observers) {
        if (detected.has(observer)) continue;
        if (views.get(observer)?.get(victim.name) === 'failed') detected.set(observer, started - killedAt);
      }
      if (detected.size < observers.length) await sleep(Math.max(0, POLL_MS - (now() - started)));
    }
    const times = [...detected.values()].sort((a, b) => a - b);
    if (detected.size < observers.length) log(`${this.system.label}: ${observers.length - detected.size} agents did not report ${victim.name} failed within ${DETECT_DEADLINE_MS / 1000} s`);
    return { first: times[0] ?? null, median: detected.size === observers.length ? median(times) : null, all: detected.size === observers.length ? times[times.length - 1]! : null };
  }

  /** Keep polling (for false deaths) for `ms`, at most every second. */
  async watch(ms: number): Promise<void> {
    const deadline = now() + ms;
    while (now() < deadline) {
      await this.poll();
      await sleep(Math.min(1_000, Math.max(0, deadline - now())));
    }
  }

  async teardown(): Promise<void> {
    this.system.closeClients();
    const running = this.agents.filter((agent) => agent.child && agent.child.exitCode === null && agent.child.signalCode === null);
    // A profiled agent must exit on its own for the profiler to stop cleanly; the profile itself was taken over the inspector already.
    for (const agent of running) agent.child!.kill('SIGKILL');
    await Promise.all(running.map((agent) => waitExit(agent.child!, 10_000)));
  }
}

// ---------------------------------------------------------------- /proc

function cpuTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return undefined;
  }
}

function rssKiB(pid: number): number | undefined {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Busy CPU ticks of the whole machine so far (all CPUs; /proc/stat, in CLK_TCK units). */
function machineBusyTicks(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  // user nice system idle iowait irq softirq steal ...: busy is all but idle and iowait.
  const fields = line.trim().split(/\s+/).slice(1, 9).map(Number);
  return fields.reduce((sum, value, i) => (i === 3 || i === 4 ? sum : sum + value), 0);
}

/** Cores busy machine-wide, and used by `cluster`'s agents, over a window: the rest is other work on the machine. */
class CpuWindow {
  private readonly from = now();
  private readonly machine = machineBusyTicks();
  /** Per agent process alive at the start: its CPU ticks then (a victim killed meanwhile counts up to its last reading). */
  private readonly start = new Map<AgentProc, number>();
  constructor(cluster: Cluster) {
    for (const agent of cluster.alive()) {
      const ticks = cpuTicks(agent.pid);
      if (ticks !== undefined) this.start.set(agent, ticks);
    }
  }
  end(): { machineCores: number; agentCores: number } {
    const seconds = (now() - this.from) / 1000;
    let agentTicks = 0;
    for (const [agent, before] of this.start) agentTicks += Math.max(0, (cpuTicks(agent.pid) ?? before) - before);
    return { machineCores: (machineBusyTicks() - this.machine) / CLK_TCK / seconds, agentCores: agentTicks / CLK_TCK / seconds };
  }
}

/** Proportional set size and anonymous memory, KiB (/proc/PID/smaps_rollup): RSS counts shared file pages, such as the node binary's code, in full in every process. */
function smapsKiB(pid: number): { pss: number; anonymous: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
    return { pss: field('Pss'), anonymous: field('Anonymous') };
  } catch {
    return undefined;
  }
}

type IdleStats = { pssMiBMean: number; anonMiBMean: number; busiest?: string; machineCores: number; agentCores: number; cpuPercentMean: number; cpuPercentMax: number; rssMiBMean: number; rssMiBMax: number; perAgent: { name: string; cpuPercent: number; rssMiB: number }[]; loadBefore: number[]; loadAfter: number[]; benchCpuPercent: number };

async function measureIdle(cluster: Cluster, profiler: Profiler | null): Promise<IdleStats> {
  const agents = cluster.alive();
  const loadBefore = loadavg();
  const benchBefore = process.cpuUsage();
  const before = new Map(agents.map((agent) => [agent, cpuTicks(agent.pid)]));
  const rss = new Map<AgentProc, number>();
  const started = now();
  const window = new CpuWindow(cluster);
  await profiler?.start();
  const samples = Math.max(1, Math.round(CPU_WINDOW_MS / 5_000));
  for (let sample = 0; sample < samples; sample++) {
    await sleep(Math.max(0, started + ((sample + 1) * CPU_WINDOW_MS) / samples - now()));
    for (const agent of agents) {
      const value = rssKiB(agent.pid);
      if (value !== undefined) rss.set(agent, Math.max(rss.get(agent) ?? 0, value));
    }
  }
  const elapsedS = (now() - started) / 1000;
  const after = new Map(agents.map((agent) => [agent, cpuTicks(agent.pid)]));
  const { machineCores, agentCores } = window.end();
  const smaps = agents.filter((agent) => !agent.profiled).map((agent) => smapsKiB(agent.pid)).filter((entry) => entry !== undefined);
  await profiler?.stop();
  const benchUsage = process.cpuUsage(benchBefore);
  const perAgent = agents.filter((agent) => !agent.profiled).map((agent) => {
    const a = before.get(agent);
    const b = after.get(agent);
    if (a === undefined || b === undefined) throw new Error(`${agent.name}: /proc gone during the idle window`);
    return { name: agent.name, cpuPercent: ((b - a) / CLK_TCK / elapsedS) * 100, rssMiB: (rss.get(agent) ?? 0) / 1024 };
  });
  const cpu = perAgent.map((entry) => entry.cpuPercent);
  const mem = perAgent.map((entry) => entry.rssMiB);
  return {
    machineCores, agentCores, cpuPercentMean: mean(cpu),
    pssMiBMean: mean(smaps.map((entry) => entry.pss)) / 1024, anonMiBMean: mean(smaps.map((entry) => entry.anonymous)) / 1024, cpuPercentMax: Math.max(...cpu), rssMiBMean: mean(mem), rssMiBMax: Math.max(...mem), perAgent,
    loadBefore, loadAfter: loadavg(), benchCpuPercent: ((benchUsage.user + benchUsage.system) / 1e6 / elapsedS) * 100,
  };
}

// ---------------------------------------------------------------- profiling over the DevTools protocol

type ProfileNode = { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number; children?: number[] };

class Profiler {
  private socket: WebSocket | null = null;
  private id = 0;
  private readonly waiting = new Map<number, (result: unknown) => void>();
  profile: { nodes: ProfileNode[]; samples: number[]; startTime: number; endTime: number } | null = null;
  memory: Record<string, number> | null = null;
  private readonly host: string;
  private readonly out: string;
  private readonly label: string;
  constructor(host: string, out: string, label: string) {
    this.host = host;
    this.out = out;
    this.label = label;
  }

  private async send(method: string, params: Record<string, unknown> = {}): Promise<unknown> {
    const id = ++this.id;
    const result = new Promise<unknown>((resolveSend, rejectSend) => {
      const timer = setTimeout(() => rejectSend(new Error(`${method}: timeout`)), 60_000);
      this.waiting.set(id, (value) => {
        clearTimeout(timer);
        resolveSend(value);
      });
    });
    this.socket!.send(JSON.stringify({ id, method, params }));
    return result;
  }

  async start(): Promise<void> {
    const targets = (await (await fetch(`http://${this.host}:9229/json/list`, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) })).json()) as { webSocketDebuggerUrl: string }[];
    const socket = new WebSocket(targets[0]!.webSocketDebuggerUrl);
    await new Promise<void>((resolveOpen, rejectOpen) => {
      socket.addEventListener('open', () => resolveOpen(), { once: true });
      socket.addEventListener('error', () => rejectOpen(new Error('inspector connection failed')), { once: true });
    });
    socket.addEventListener('message', (event) => {
      const message = JSON.parse(String(event.data)) as { id?: number; result?: unknown };
      if (message.id !== undefined) this.waiting.get(message.id)?.(message.result);
      if (message.id !== undefined) this.waiting.delete(message.id);
    });
    this.socket = socket;
    await this.send('Profiler.enable');
    await this.send('Profiler.setSamplingInterval', { interval: 1000 });
    await this.send('Profiler.start');
  }

  async stop(): Promise<void> {
    const result = (await this.send('Profiler.stop')) as { profile: NonNullable<Profiler['profile']> };
    this.profile = result.profile;
    mkdirSync(this.out, { recursive: true });
    const file = join(this.out, `${this.label}-${new Date().toISOString().replace(/[:.]/g, '-')}.cpuprofile`);
    writeFileSync(file, JSON.stringify(this.profile));
    log(`CPU profile written to ${file}`);
    const memory = (await this.send('Runtime.evaluate', { expression: 'JSON.stringify(process.memoryUsage())', returnByValue: true })) as { result: { value: string } };
    this.memory = JSON.parse(memory.result.value) as Record<string, number>;
    this.socket!.close();
    this.socket = null;
  }

  /** Self time by function and by package (node_modules/<name>, node: internals, or our own folders). */
  summary(top = 25): string {
    if (!this.profile) return '(no profile)';
    const { nodes, samples } = this.profile;
    const byId = new Map(nodes.map((node) => [node.id, node]));
    const counts = new Map<number, number>();
    for (const id of samples) counts.set(id, (counts.get(id) ?? 0) + 1);
    const total = samples.length;
    const functions = new Map<string, number>();
    const packages = new Map<string, number>();
    for (const [id, count] of counts) {
      const frame = byId.get(id)!.callFrame;
      const url = frame.url.replace(/^file:\/\//, '');
      const where = url.includes('node_modules/')
        ? url.slice(url.lastIndexOf('node_modules/') + 13).split('/').slice(0, url.slice(url.lastIndexOf('node_modules/') + 13).startsWith('@') ? 2 : 1).join('/')
        : url.startsWith('node:') ? url : url === '' ? `(${frame.functionName || 'native'})` : `tribune:${url.split('/').slice(-2).join('/')}`;
      const fn = `${frame.functionName || '(anonymous)'} ${url ? `${url.split('/').slice(-2).join('/')}:${frame.lineNumber + 1}` : ''}`;
      functions.set(fn, (functions.get(fn) ?? 0) + count);
      packages.set(where, (packages.get(where) ?? 0) + count);
    }
    const lines: string[] = [];
    const durationS = (this.profile.endTime - this.profile.startTime) / 1e6;
    const idle = counts.get(nodes.find((node) => node.callFrame.functionName === '(idle)')?.id ?? -1) ?? 0;
    lines.push(`profile: ${total} samples over ${durationS.toFixed(1)} s, ${(((total - idle) / total) * 100).toFixed(1)}% of samples not idle`);
    lines.push('self time by package / origin:');
    for (const [where, count] of [...packages].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`  ${((count / total) * 100).toFixed(2).padStart(6)}%  ${where}`);
    lines.push('self time by function:');
    for (const [fn, count] of [...functions].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`  ${((count / total) * 100).toFixed(2).padStart(6)}%  ${fn}`);
    if (this.memory) lines.push(`process.memoryUsage() at the end of the window (MiB): ${Object.entries(this.memory).map(([key, value]) => `${key} ${(value / 1048576).toFixed(1)}`).join(', ')}`);
    return lines.join('\n');
  }
}

// ---------------------------------------------------------------- statistics and output

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}
function mean(values: number[]): number {
  return values.reduce((sum, value) => sum + value, 0) / values.length;
}
const seconds = (ms: number) => (ms / 1000).toFixed(2);

type Convergence = { convergedMs: number | null; cores: number; machineCores: number; curve: CurvePoint[] };

type SystemResult = {
  system: string;
  coldStart: Convergence & { readyMs: number; cpuSecondsPerAgentAtReady: number; cpuSecondsPerAgent: number; oneLeaderMs?: number | null; clusterIds?: number; voters?: string[]; leader?: string };
  joins: (Convergence & { readyMs: number; failedJoinRequests: number })[];
  idle: IdleStats | null;
  kills: { victim: string; voter: boolean; first: number | null; median: number | null; all: number | null; machineCores: number; agentCores: number }[];
  falseDeaths: FalseDeath[];
  liveSuspicions: { count: number; subjects: string[] };
  profiles: string[];
};

// ---------------------------------------------------------------- the run

/** Cores used by all agents of `cluster` between `ticksBefore` (at `from`) and now. */
function coresSince(cluster: Cluster, ticksBefore: number, from: number): number {
  return (cluster.cpuTicksTotal() - ticksBefore) / CLK_TCK / ((now() - from) / 1000);
}

/** Ask every agent but the first to join the first, all at once; a failed request is retried (up to 5 tries, 1 s apart), as -retry-join would. */
async function joinAll(system: MeshSystem, cluster: Cluster): Promise<number> {
  let failures = 0;
  await Promise.all(cluster.agents.slice(1).map(async (agent) => {
    for (let attempt = 1; attempt <= 5; attempt++) {
      try {
        await system.join(agent, system.ip(0));
        return;
      } catch (error) {
        failures++;
        log(`${system.label}: ${agent.name} join attempt ${attempt}: ${(error as Error).message}`);
        await sleep(1_000);
      }
    }
  }));
  return failures;
}

async function runSystem(system: MeshSystem, root: string, victimIndexes: number[] | null): Promise<{ result: SystemResult; victimIndexes: number[] | null }> {
  const falseDeaths: FalseDeath[] = [];
  const liveSuspicions: { viewer: string; subject: string }[] = [];
  const profiles: string[] = [];
  const profileIndex = system instanceof TribuneSystem && args.profile ? 1 : null;

  // Cold start, then steady state, idle window and kills on the same cluster.
  log(`${system.label}: cold start of ${AGENTS} agents`);
  const coldMachineTicks = machineBusyTicks();
  const cold = new Cluster(system, root, 'cold', true, profileIndex);
  let coldStart: SystemResult['coldStart'];
  let idle: IdleStats | null = null;
  const kills: SystemResult['kills'] = [];
  try {
    const readyAt = await cold.waitReady();
    const ticksAtReady = cold.cpuTicksTotal();
    const converged = await cold.waitConverged(cold.startedAt);
    coldStart = {
      readyMs: readyAt - cold.startedAt,
      cpuSecondsPerAgentAtReady: ticksAtReady / CLK_TCK / AGENTS,
      cpuSecondsPerAgent: cold.cpuTicksTotal() / CLK_TCK / AGENTS,
      convergedMs: converged.at === null ? null : converged.at - cold.startedAt,
      cores: coresSince(cold, 0, cold.startedAt),
      machineCores: (machineBusyTicks() - coldMachineTicks) / CLK_TCK / ((now() - cold.startedAt) / 1000),
      curve: converged.curve,
    };
    log(`${system.label}: all answering after ${seconds(coldStart.readyMs)} s, all see ${AGENTS} alive after ${fmtS(coldStart.convergedMs)} s; all agents used ${coldStart.cores.toFixed(2)} cores meanwhile, the whole machine ${coldStart.machineCores.toFixed(2)}`);
    if (system instanceof TribuneSystem) {
      const deadline = now() + CONVERGE_DEADLINE_MS;
      coldStart.oneLeaderMs = null;
      for (let round = 0; now() < deadline; round++) {
        const selves = await Promise.all(cold.agents.map((agent) => system.self(agent).catch(() => undefined)));
        if (selves.every((self) => self && self.leader !== '' && self.leader === selves[0]!.leader)) {
          coldStart.oneLeaderMs = now() - cold.startedAt;
          coldStart.clusterIds = new Set(selves.map((self) => self!.clusterId).filter(Boolean)).size;
          coldStart.leader = selves[0]!.leader;
          break;
        }
        await sleep(POLL_MS);
      }
      const raft = await system.raftView(cold.agents[0]!).catch(() => ({ voters: [] as string[], leader: '?' }));
      coldStart.voters = raft.voters;
      log(`${system.label}: one leader (${raft.leader}) named by all after ${fmtS(coldStart.oneLeaderMs)} s, ${coldStart.clusterIds} Raft cluster id(s) among the voters, voters ${coldStart.voters.join(' ')}`);
    }

    log(`${system.label}: steady state for ${STEADY_MS / 1000} s, then a ${CPU_WINDOW_MS / 1000} s idle window (nothing polls the agents)`);
    await sleep(STEADY_MS);
    const profiler = profileIndex !== null ? new Profiler(system.ip(profileIndex), resolve(args.profile!), `${system.name(profileIndex)}-idle`) : null;
    idle = await measureIdle(cold, profiler);
    const voters = new Set(coldStart.voters ?? []);
    const busiest = [...idle.perAgent].sort((a, b) => b.cpuPercent - a.cpuPercent).slice(0, 6)
      .map((entry) => `${entry.name}${voters.has(entry.name) ? ' (voter)' : ''} ${entry.cpuPercent.toFixed(2)}%`).join(', ');
    log(`${system.label}: idle CPU mean ${idle.cpuPercentMean.toFixed(2)}% max ${idle.cpuPercentMax.toFixed(2)}%, RSS mean ${idle.rssMiBMean.toFixed(1)} MiB max ${idle.rssMiBMax.toFixed(1)} MiB; busiest: ${busiest}`);
    idle.busiest = busiest;
    if (profiler) {
      profiles.push(`${system.name(profileIndex!)}, idle window:\n${profiler.summary()}`);
      log(profiles[profiles.length - 1]!);
    }
    await cold.waitConverged(now());
    // Autopilot may have promoted more voters since the cold start: read them again before choosing victims.
    if (system instanceof TribuneSystem) {
      const raft = await system.raftView(cold.agents[0]!).catch(() => undefined);
      if (raft) for (const voter of raft.voters) voters.add(voter);
    }

    if (victimIndexes === null) {
      // Not a seed, not a Raft voter, not the profiled agent, spread over the range.
      const nonSeeds = Array.from({ length: AGENTS - 2 }, (_, i) => AGENTS - 1 - i).filter((index) => index !== profileIndex);
      let candidates = nonSeeds.filter((index) => !voters.has(system.name(index)));
      if (candidates.length < KILLS) candidates = nonSeeds; // a small cluster where every agent votes
      const step = Math.max(1, Math.floor(candidates.length / KILLS));
      victimIndexes = Array.from({ length: KILLS }, (_, k) => candidates[Math.min(candidates.length - 1, k * step)]!);
    }
    for (const index of victimIndexes) {
      const victim = cold.agents[index]!;
      const window = new CpuWindow(cold);
      const detection = await cold.killAndDetect(victim);
      const voter = voters.has(victim.name);
      kills.push({ victim: victim.name, voter, ...detection, ...window.end() });
      log(`${system.label}: ${victim.name}${voter ? ' (a Raft voter)' : ''} killed; first report after ${fmtS(detection.first)} s, median ${fmtS(detection.median)} s, all ${cold.alive().length} others after ${fmtS(detection.all)} s`);
      await cold.watch(BETWEEN_KILLS_MS);
    }
  } finally {
    await cold.teardown();
    falseDeaths.push(...cold.falseDeaths.map((entry) => ({ ...entry, at: `cold ${entry.at}` })));
    liveSuspicions.push(...cold.liveSuspicions);
  }

  // Join rounds: agents already running, joins issued at once.
  const joins: SystemResult['joins'] = [];
  for (let round = 0; round < JOIN_ROUNDS; round++) {
    await sleep(2_000);
    log(`${system.label}: join round ${round + 1}/${JOIN_ROUNDS}`);
    const seedProfiled = system instanceof TribuneSystem && args.profile && round === 0;
    const cluster = new Cluster(system, root, `join${round + 1}`, false, seedProfiled ? 0 : null);
    try {
      const readyAt = await cluster.waitReady();
      await sleep(2_000);
      const profiler = seedProfiled ? new Profiler(system.ip(0), resolve(args.profile!), `${system.name(0)}-join`) : null;
      await profiler?.start();
      const ticksBefore = cluster.cpuTicksTotal();
      const machineBefore = machineBusyTicks();
      const joinedAt = now();
      const joining = joinAll(system, cluster);
      const converged = await cluster.waitConverged(joinedAt);
      const cores = coresSince(cluster, ticksBefore, joinedAt);
      const machineCores = (machineBusyTicks() - machineBefore) / CLK_TCK / ((now() - joinedAt) / 1000);
      await profiler?.stop();
      const failedJoinRequests = await joining;
      joins.push({ readyMs: readyAt - cluster.startedAt, convergedMs: converged.at === null ? null : converged.at - joinedAt, cores, machineCores, curve: converged.curve, failedJoinRequests });
      log(`${system.label}: join round ${round + 1}: all answering after ${seconds(readyAt - cluster.startedAt)} s; all see ${AGENTS} alive ${fmtS(joins[joins.length - 1]!.convergedMs)} s after the joins; ` +
        `all agents used ${cores.toFixed(2)} cores meanwhile, the whole machine ${machineCores.toFixed(2)}; ${failedJoinRequests} failed join requests`);
      if (profiler) {
        profiles.push(`${system.name(0)} (the seed), from the joins to convergence:\n${profiler.summary()}`);
        log(profiles[profiles.length - 1]!);
      }
      await cluster.watch(3_000);
    } finally {
      await cluster.teardown();
      falseDeaths.push(...cluster.falseDeaths.map((entry) => ({ ...entry, at: `join${round + 1} ${entry.at}` })));
      liveSuspicions.push(...cluster.liveSuspicions);
    }
  }

  return {
    result: {
      system: system.label, coldStart: coldStart!, joins, idle, kills, falseDeaths,
      liveSuspicions: { count: liveSuspicions.length, subjects: [...new Set(liveSuspicions.map((entry) => entry.subject))] },
      profiles,
    },
    victimIndexes,
  };
}

const fmtS = (ms: number | null | undefined) => (ms === null || ms === undefined ? `>${CONVERGE_DEADLINE_MS / 1000}` : seconds(ms));
const medianOrNull = (values: (number | null)[]) => (values.length === 0 ? undefined : values.some((value) => value === null) ? null : median(values as number[]));

/** The convergence curve at a few instants: "t: fewest/median seen, agents complete". */
function curveSummary(curve: CurvePoint[], total: number): string {
  const marks = [500, 1_000, 2_000, 5_000, 10_000, 20_000, 30_000, 60_000, 90_000, 120_000, 180_000];
  const parts: string[] = [];
  for (const mark of marks) {
    const point = [...curve].reverse().find((candidate) => candidate.t <= mark);
    if (!point) continue;
    parts.push(`${mark / 1000}s ${point.min}/${point.median}/${point.complete}`);
    if (point.complete === total) break;
  }
  return parts.join(', ');
}

function printReport(results: SystemResult[]): void {
  const t = results.find((result) => result.system === 'tribune');
  const s = results.find((result) => result.system === 'serf');
  type Cell = number | string | null | undefined;
  const rows: [string, (r: SystemResult) => Cell, 'ratio' | 'plain', ((v: Cell) => string)?][] = [
    ['cold start: all agents answering (s)', (r) => r.coldStart.readyMs, 'ratio', (v) => fmtS(v as number)],
    ['cold start: all see all alive, from spawn (s)', (r) => r.coldStart.convergedMs, 'ratio', (v) => fmtS(v as number)],
    ['cold start: CPU time per agent, spawn to answering / to convergence (s)', (r) => `${r.coldStart.cpuSecondsPerAgentAtReady.toFixed(2)} / ${r.coldStart.cpuSecondsPerAgent.toFixed(2)}`, 'plain'],
    ['cold start: CPU of all agents / whole machine, spawn to convergence (cores)', (r) => `${r.coldStart.cores.toFixed(2)} / ${r.coldStart.machineCores.toFixed(2)}`, 'plain'],
    ['join: all see all alive after the joins, median (s)', (r) => medianOrNull(r.joins.map((j) => j.convergedMs)), 'ratio', (v) => (v === undefined ? '-' : fmtS(v as number))],
    ['join: per round (s)', (r) => r.joins.map((j) => fmtS(j.convergedMs)).join(' / ') || '-', 'plain'],
    ['join: CPU of all agents until convergence, per round (cores)', (r) => r.joins.map((j) => j.cores.toFixed(2)).join(' / ') || '-', 'plain'],
    ['join: CPU of the whole machine until convergence, per round (cores)', (r) => r.joins.map((j) => j.machineCores.toFixed(2)).join(' / ') || '-', 'plain'],
    ['join: failed join requests (retried), per round', (r) => r.joins.map((j) => j.failedJoinRequests).join(' / ') || '-', 'plain'],
    ['failure: all others report failed, median of kills (s)', (r) => medianOrNull(r.kills.map((k) => k.all)), 'ratio', (v) => (v === undefined ? '-' : fmtS(v as number))],
    ['failure: per kill, all others (s)', (r) => r.kills.map((k) => fmtS(k.all)).join(' / ') || '-', 'plain'],
    ['failure: per kill, first report (s)', (r) => r.kills.map((k) => fmtS(k.first)).join(' / ') || '-', 'plain'],
    ['failure: per kill, CPU of all agents / whole machine (cores)', (r) => r.kills.map((k) => `${k.agentCores.toFixed(2)}/${k.machineCores.toFixed(2)}`).join(' ; ') || '-', 'plain'],
    ['false deaths', (r) => r.falseDeaths.length, 'plain'],
    ['suspicion log lines about live members', (r) => r.liveSuspicions.count, 'plain'],
    ['idle CPU per agent, mean (% of a core)', (r) => r.idle?.cpuPercentMean, 'ratio', (v) => (v as number)?.toFixed(2) ?? '-'],
    ['idle CPU per agent, max (% of a core)', (r) => r.idle?.cpuPercentMax, 'ratio', (v) => (v as number)?.toFixed(2) ?? '-'],
    ['RSS per agent, mean (MiB)', (r) => r.idle?.rssMiBMean, 'ratio', (v) => (v as number)?.toFixed(1) ?? '-'],
    ['RSS per agent, max (MiB)', (r) => r.idle?.rssMiBMax, 'ratio', (v) => (v as number)?.toFixed(1) ?? '-'],
    ['PSS per agent (shared pages split among sharers), mean (MiB)', (r) => r.idle?.pssMiBMean, 'ratio', (v) => (v as number)?.toFixed(1) ?? '-'],
    ['anonymous memory per agent, mean (MiB)', (r) => r.idle?.anonMiBMean, 'ratio', (v) => (v as number)?.toFixed(1) ?? '-'],
    ['idle window: CPU of all agents / whole machine (cores)', (r) => (r.idle ? `${r.idle.agentCores.toFixed(2)} / ${r.idle.machineCores.toFixed(2)}` : '-'), 'plain'],
    ['load average (1 min) before / after the idle window', (r) => (r.idle ? `${r.idle.loadBefore[0]!.toFixed(2)} / ${r.idle.loadAfter[0]!.toFixed(2)}` : '-'), 'plain'],
  ];
  const both = Boolean(t && s);
  const lines = [`| | ${results.map((r) => r.system).join(' | ')} |${both ? ' tribune / serf |' : ''}`, `| --- |${results.map(() => ' ---: |').join('')}${both ? ' ---: |' : ''}`];
  for (const [label, value, kind, format] of rows) {
    const show = (r: SystemResult) => (format ? format(value(r)) : String(value(r)));
    let line = `| ${label} | ${results.map(show).join(' | ')} |`;
    if (both) {
      const a = value(t!);
      const b = value(s!);
      line += kind === 'ratio' && typeof a === 'number' && typeof b === 'number' && b > 0 ? ` ${(a / b).toFixed(2)}x |` : kind === 'ratio' && a === null ? ' worse |' : ' |';
    }
    lines.push(line);
  }
  console.log(lines.join('\n'));
  console.log(`\nconvergence curves (at each instant: fewest / median number of agents seen alive by one agent / agents that see all ${AGENTS}; an agent whose API did not answer within ${REQUEST_TIMEOUT_MS / 1000} s counts as seeing 0):`);
  for (const r of results) {
    console.log(`  ${r.system} cold start (from spawn): ${curveSummary(r.coldStart.curve, AGENTS)}`);
    r.joins.forEach((j, i) => console.log(`  ${r.system} join round ${i + 1} (from the joins): ${curveSummary(j.curve, AGENTS)}`));
  }
  if (t) {
    console.log(`\ntribune cold start: one leader named by all ${fmtS(t.coldStart.oneLeaderMs)} s after spawn; ${t.coldStart.clusterIds} Raft cluster id(s); voters ${t.coldStart.voters?.join(', ')}`);
    if (t.idle?.busiest) console.log(`tribune busiest agents in the idle window: ${t.idle.busiest}`);
  }
  for (const r of results) {
    if (r.falseDeaths.length) {
      const subjects = new Set(r.falseDeaths.map((f) => f.subject));
      console.log(`\n${r.system} false deaths: ${r.falseDeaths.length} reports about ${subjects.size} live agents (the first 20):\n${r.falseDeaths.slice(0, 20).map((f) => `  ${f.at}: ${f.viewer} reported ${f.subject} failed (${f.source})`).join('\n')}`);
    }
    if (r.liveSuspicions.count) console.log(`${r.system} live members suspected (${r.liveSuspicions.count} log lines): ${r.liveSuspicions.subjects.join(', ')}`);
  }
  for (const r of results) for (const profile of r.profiles) console.log(`\nprofile of ${profile}`);
  if (t && s) {
    const noSlower = (a: number | null | undefined, b: number | null | undefined) => (a === undefined || b === undefined ? undefined : a === null ? false : b === null ? true : a <= b);
    const goals: [string, boolean | undefined][] = [
      ['join convergence (after the joins) no slower than serf', noSlower(medianOrNull(t.joins.map((j) => j.convergedMs)), medianOrNull(s.joins.map((j) => j.convergedMs)))],
      ['cold start convergence no slower than serf', noSlower(t.coldStart.convergedMs, s.coldStart.convergedMs)],
      ['failure detection no slower than serf', noSlower(medianOrNull(t.kills.map((k) => k.all)), medianOrNull(s.kills.map((k) => k.all)))],
      ['zero false deaths', t.falseDeaths.length === 0],
      ['RSS at most 80 MB (76.3 MiB) per agent (max)', t.idle ? t.idle.rssMiBMax * 1.048576 <= 80 : undefined],
      ['idle CPU at most 1% of a core per agent (max)', t.idle ? t.idle.cpuPercentMax <= 1 : undefined],
    ];
    console.log(`\ngoals:\n${goals.map(([label, met]) => `  ${met === undefined ? 'n/a   ' : met ? 'met   ' : 'MISSED'}  ${label}`).join('\n')}`);
  }
}

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'tribune-bench-mesh-'));
  const results: SystemResult[] = [];
  console.log(`mesh-vs-serf: ${AGENTS} agents per system, ${cpus().length} CPUs, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Linux ${release()}, Node ${process.version}, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  try {
    let victims: number[] | null = null;
    for (const label of SYSTEMS) {
      if (label === 'serf' && spawnSync(args['serf-bin'], ['version'], { encoding: 'utf8' }).status !== 0) {
        log(`serf not found (${args['serf-bin']}); install it with apt-get install -y serf`);
        continue;
      }
      const system: MeshSystem = label === 'tribune' ? new TribuneSystem(root) : new SerfSystem(args['serf-bin']);
      const { result, victimIndexes } = await runSystem(system, root, victims);
      victims = victimIndexes;
      results.push(result);
    }
    printReport(results);
    if (args.json) writeFileSync(args.json, JSON.stringify(results, null, 2));
  } finally {
    killAllChildren();
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
