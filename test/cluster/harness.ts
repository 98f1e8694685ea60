// Real agents as separate processes for cluster tests: each on its own
// loopback address (127.0.0.x), data on disk, killed with SIGKILL, cut off
// with iptables rules between loopback addresses. Every rule carries a
// comment naming this run, and `cleanup()` removes exactly those rules, also
// when a test fails.

import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const cli = new URL('../../bin/tribune.js', import.meta.url).pathname;

export type AgentProcess = {
  name: string;
  ip: string;
  httpPort: number;
  dataDir: string;
  args: string[];
  child: ChildProcess | null;
  output: string[];
};

export type ClusterOptions = {
  /** Loopback addresses, one per agent: 127.0.<subnet>.<first + i>. */
  subnet: number;
  first: number;
  count: number;
  httpPortBase: number;
  bootstrapExpect?: number;
  encrypt?: string;
  /** Extra config file contents (HCL), e.g. faster gossip timings for tests. */
  configHcl?: string;
  extraArgs?: string[];
  env?: Record<string, string>;
};

/** Fast failure detection for tests on loopback: probe every 200 ms. */
export const FAST_GOSSIP_HCL = `gossip_lan {
  probe_interval = "200ms"
  probe_timeout = "100ms"
  suspicion_mult = 3
  push_pull_interval = "2s"
}
`;

export class TestCluster {
  readonly agents: AgentProcess[] = [];
  readonly root: string;
  readonly runTag = `tribune-test-${process.pid}-${Date.now()}`;
  private readonly options: ClusterOptions;
  private readonly rules: string[][] = [];

  constructor(options: ClusterOptions) {
    this.options = options;
    this.root = mkdtempSync(join(tmpdir(), 'tribune-cluster-'));
    const configFile = join(this.root, 'agent.hcl');
    writeFileSync(configFile, options.configHcl ?? FAST_GOSSIP_HCL);
    for (let i = 0; i < options.count; i++) {
      const ip = `127.0.${options.subnet}.${options.first + i}`;
      const name = `agent-${i + 1}`;
      const dataDir = join(this.root, name);
      const others = Array.from({ length: options.count }, (_, j) => `127.0.${options.subnet}.${options.first + j}`).filter((other) => other !== ip);
      const args = [
        'agent', '-node', name, '-bind', ip, '-data-dir', dataDir, '-config-file', configFile,
        '-http-port', String(options.httpPortBase + i), '-client', ip, '-dns-port', '-1', '-retry-interval', '1s',
        ...others.flatMap((other) => ['-retry-join', other]),
        ...(options.bootstrapExpect ? ['-bootstrap-expect', String(options.bootstrapExpect)] : []),
        ...(options.encrypt ? ['-encrypt', options.encrypt] : []),
        ...(options.extraArgs ?? []),
      ];
      this.agents.push({ name, ip, httpPort: options.httpPortBase + i, dataDir, args, child: null, output: [] });
    }
  }

  start(agent: AgentProcess, argsOverride?: string[]): void {
    const child = spawn(process.execPath, [cli, ...(argsOverride ?? agent.args)], {
      env: { ...process.env, ...this.options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    agent.child = child;
    const collect = (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n')) if (line) agent.output.push(line);
      if (agent.output.length > 2_000) agent.output.splice(0, agent.output.length - 2_000);
    };
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    child.on('exit', () => {
      if (agent.child === child) agent.child = null;
    });
  }

  startAll(): void {
    for (const agent of this.agents) this.start(agent);
  }

  kill(agent: AgentProcess): void {
    agent.child?.kill('SIGKILL');
    agent.child = null;
  }

  async stop(agent: AgentProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = agent.child;
    if (!child) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    await Promise.race([exited, sleep(10_000).then(() => child.kill('SIGKILL'))]);
  }

  url(agent: AgentProcess, path: string): string {
    return `http://${agent.ip}:${agent.httpPort}${path}`;
  }

  async get<T>(agent: AgentProcess, path: string): Promise<T> {
    const response = await fetch(this.url(agent, path), { signal: AbortSignal.timeout(5_000) });
    if (!response.ok) throw new Error(`${path} on ${agent.name}: ${response.status} ${await response.text()}`);
    return (await response.json()) as T;
  }

  async put(agent: AgentProcess, path: string, body?: string): Promise<Response> {
    return fetch(this.url(agent, path), { method: 'PUT', body, signal: AbortSignal.timeout(20_000) });
  }

  /** Drop every packet between `agent`'s address and each of `others` (both directions), tagged with this run. */
  isolate(agent: AgentProcess, others: AgentProcess[]): void {
    for (const other of others) {
      for (const [source, destination] of [[agent.ip, other.ip], [other.ip, agent.ip]]) {
        const rule = ['-s', source, '-d', destination, '-j', 'DROP', '-m', 'comment', '--comment', this.runTag];
        iptables(['-I', 'INPUT', ...rule]);
        this.rules.push(rule);
      }
    }
  }

  /** Remove exactly the rules this run added. */
  heal(): void {
    while (this.rules.length > 0) {
      const rule = this.rules.pop()!;
      iptables(['-D', 'INPUT', ...rule], true);
    }
  }

  logs(agent: AgentProcess, lines = 40): string {
    return agent.output.slice(-lines).join('\n');
  }

  async cleanup(): Promise<void> {
    this.heal();
    await Promise.all(this.agents.map((agent) => {
      this.kill(agent);
      return Promise.resolve();
    }));
    await sleep(200);
    rmSync(this.root, { recursive: true, force: true });
  }
}

function iptables(args: string[], ignoreErrors = false): void {
  const result = spawnSync('iptables', ['-w', ...args], { encoding: 'utf8' });
  if (result.status !== 0 && !ignoreErrors) throw new Error(`iptables ${args.join(' ')} failed: ${result.stderr || result.error?.message}`);
}

/** Whether this machine lets us add iptables rules (root, iptables installed). */
export function iptablesAvailable(): boolean {
  const result = spawnSync('iptables', ['-w', '-L', 'INPUT', '-n'], { encoding: 'utf8' });
  return result.status === 0;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Poll `condition` until it returns a truthy value or `timeoutMs` passes; then throw with `describe()`. */
export async function eventually<T>(condition: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs: number, describe: () => string | Promise<string>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await condition();
      if (value) return value;
    } catch (error) {
      lastError = error;
    }
    await sleep(200);
  }
  throw new Error(`timed out after ${timeoutMs} ms: ${await describe()}${lastError ? ` (last error: ${(lastError as Error).message})` : ''}`);
}
