// DNS throughput (issue 5): dnsperf against a tribune agent serving 100
// services, and in the same run the same query file against dnsmasq (C)
// serving the same names from a hosts file and against a bare dns2 server
// answering from a Map (the ceiling of the DNS library in Node).
//
//   npm run bench:dns                          10 s per server, 1 round
//   npm run bench:dns -- --seconds 5 --rounds 3
//   npm run bench:dns -- --only agent --profile prof     the agent under --cpu-prof (profile in prof/)
//
// Each server runs as its own process on 127.0.0.1 (ports 18691-18693), one
// at a time, and dnsperf (Debian `dnsperf`) sends the query file for the
// given time with 100 queries outstanding. Every name has two addresses: the
// agent's services have two passing instances on two nodes (plus one critical
// instance on a third, which must not be answered), dnsmasq and dns2 list the
// same two addresses. The query file asks A for each of the 100 names; with
// --srv, SRV for the agent (dnsmasq cannot serve SRV from a hosts file).
// Servers are killed at the end of each measurement; the temporary
// directory is removed.

import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const SERVICES = 100;
const HOST = '127.0.0.1';
const PORTS = { agent: 18691, dnsmasq: 18692, dns2: 18693 } as const;
const MESH_PORT = 18694;
type ServerName = keyof typeof PORTS;

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '1' },
    only: { type: 'string' },
    profile: { type: 'string' },
    srv: { type: 'boolean', default: false },
    role: { type: 'string' },
    port: { type: 'string' },
    'query-file': { type: 'string' },
  },
});

const serviceName = (i: number) => `web-${String(i).padStart(3, '0')}`;
const addresses = (i: number) => [`127.1.${i}.1`, `127.1.${i}.2`];

if (args.role === 'agent') await serveAgent(Number(args.port));
else if (args.role === 'dns2') await serveDns2(Number(args.port));
else await main();

// ---------------------------------------------------------------- the servers

async function serveAgent(port: number): Promise<void> {
  const { devAgentConfig } = await import('../agent/config/agent-config.ts');
  const { startAgent } = await import('../agent/runtime/agent.ts');
  const config = { ...devAgentConfig('bench-agent'), logLevel: 'warn' as const, httpPort: -1, dnsPort: port, meshPort: MESH_PORT, clientAddr: HOST };
  const agent = await startAgent(config) as import('../agent/runtime/agent.ts').Agent;
  await waitFor(() => agent.knownLeader(), 20_000, 'the dev agent to elect itself');
  const node = (name: string, address: string) => ({ id: '', node: name, address, datacenter: 'dc1', taggedAddresses: {}, meta: { rack: name } });
  const service = (name: string, id: string) => ({
    id, service: name, tags: ['v1'], address: '', taggedAddresses: {}, meta: {}, port: 8080, weights: { passing: 1, warning: 1 }, enableTagOverride: false,
  });
  const check = (id: string, serviceId: string, status: 'passing' | 'critical') => ({
    checkId: id, name: id, status, notes: '', output: '', serviceId, type: 'ttl', definition: '',
  });
  for (let i = 0; i < SERVICES; i++) {
    const name = serviceName(i);
    const [first, second] = addresses(i) as [string, string];
    const instances: [string, string, 'passing' | 'critical'][] = [[`node-${i}-a`, first, 'passing'], [`node-${i}-b`, second, 'passing'], [`node-${i}-c`, `127.1.${i}.3`, 'critical']];
    for (const [nodeName, address, status] of instances) {
      const id = `${name}-${nodeName}`;
      await agent.apply({ type: 'catalogRegister', nowMs: Date.now(), node: node(nodeName, address), skipNodeUpdate: false, service: service(name, id), checks: [check(`check-${id}`, id, status)] });
    }
  }
  process.stdout.write('ready\n');
  const stop = async () => {
    await agent.stop();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
}

async function serveDns2(port: number): Promise<void> {
  const { createServer, Packet } = (await import('dns2')).default;
  const records = new Map<string, string[]>();
  for (let i = 0; i < SERVICES; i++) records.set(`${serviceName(i)}.service.consul`, addresses(i));
  const server = createServer({
    udp: true,
    handle: (request, send) => {
      const response = Packet.createResponseFromRequest(request);
      const question = request.questions[0];
      const found = question ? records.get(question.name.toLowerCase()) : undefined;
      if (found === undefined) response.header.rcode = 3;
      else for (const address of found) response.answers.push({ name: question!.name, type: Packet.TYPE.A, class: Packet.CLASS.IN, ttl: 0, address } as unknown as (typeof response.answers)[number]);
      void send(response);
    },
  });
  await server.listen({ udp: { port, address: HOST } });
  process.stdout.write('ready\n');
  process.on('SIGTERM', () => process.exit(0));
}

// ---------------------------------------------------------------- the run

/** `cpuQps`: answered queries per second of the server's own CPU time (user + system, from /proc): what one core would serve, steadier than qps on a shared machine. */
type Result = { qps: number; latencyMs: number; latencyStdMs: number; lost: number; completed: number; cpuQps: number };

async function main(): Promise<void> {
  for (const tool of ['dnsperf', 'dnsmasq']) {
    if (spawnSync('which', [tool]).status !== 0) {
      console.error(`${tool} not found: apt-get install -y dnsperf dnsmasq-base`);
      process.exit(1);
    }
  }
  const seconds = Number(args.seconds);
  const rounds = Number(args.rounds);
  const only = args.only ? (args.only.split(',') as ServerName[]) : (['agent', 'dnsmasq', 'dns2'] as ServerName[]);
  const dir = mkdtempSync(join(tmpdir(), 'tribune-bench-dns-'));
  try {
    const queryFile = join(dir, 'queries.txt');
    writeFileSync(queryFile, Array.from({ length: SERVICES }, (_, i) => `${serviceName(i)}.service.consul A\n`).join(''));
    const srvFile = join(dir, 'queries-srv.txt');
    writeFileSync(srvFile, Array.from({ length: SERVICES }, (_, i) => `${serviceName(i)}.service.consul SRV\n`).join(''));
    const hostsFile = join(dir, 'hosts');
    writeFileSync(hostsFile, Array.from({ length: SERVICES }, (_, i) => addresses(i).map((address) => `${address} ${serviceName(i)}.service.consul\n`).join('')).join(''));

    console.log(`dnsperf ${seconds} s per server, ${rounds} round(s), ${SERVICES} names x 2 addresses; ${cpus().length} cores; load average at start ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    const results = new Map<string, Result[]>();
    for (let round = 0; round < rounds; round++) {
      for (const name of only) {
        const result = await measure(name, name === 'agent' && args.srv ? srvFile : queryFile, hostsFile, seconds, dir);
        const label = name === 'agent' && args.srv ? 'agent (SRV)' : name;
        results.set(label, [...(results.get(label) ?? []), result]);
        console.log(`  round ${round + 1} ${label.padEnd(12)} ${Math.round(result.qps).toLocaleString('en')} q/s, latency ${result.latencyMs.toFixed(3)} ms (sd ${result.latencyStdMs.toFixed(3)}), ${Math.round(result.cpuQps).toLocaleString('en')} q per CPU-s, lost ${result.lost} of ${result.completed + result.lost}; load average ${loadavg()[0]!.toFixed(1)}`);
      }
    }
    console.log(`load average at end ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    console.log('\n| server | queries/s (median) | min–max | mean latency ms | queries per CPU-second (median) | lost |');
    console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
    const cpuMedians = new Map<string, number>();
    const medians = new Map<string, number>();
    for (const [label, list] of results) {
      const sorted = list.map((r) => r.qps).sort((a, b) => a - b);
      const median = sorted[Math.floor(sorted.length / 2)]!;
      medians.set(label, median);
      const latency = list.map((r) => r.latencyMs).sort((a, b) => a - b)[Math.floor(list.length / 2)]!;
      const cpu = list.map((r) => r.cpuQps).sort((a, b) => a - b)[Math.floor(list.length / 2)]!;
      cpuMedians.set(label, cpu);
      console.log(`| ${label} | ${Math.round(median).toLocaleString('en')} | ${Math.round(sorted[0]!).toLocaleString('en')}–${Math.round(sorted.at(-1)!).toLocaleString('en')} | ${latency.toFixed(3)} | ${Math.round(cpu).toLocaleString('en')} | ${list.reduce((s, r) => s + r.lost, 0)} |`);
    }
    const agent = medians.get('agent') ?? medians.get('agent (SRV)');
    if (agent !== undefined) {
      for (const other of ['dnsmasq', 'dns2']) {
        const value = medians.get(other);
        if (value !== undefined) console.log(`agent / ${other}: ${(agent / value).toFixed(2)} in queries/s, ${((cpuMedians.get('agent') ?? cpuMedians.get('agent (SRV)')!) / cpuMedians.get(other)!).toFixed(2)} in queries per CPU-second`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function measure(name: ServerName, queryFile: string, hostsFile: string, seconds: number, dir: string): Promise<Result> {
  const port = PORTS[name];
  const child = startServer(name, port, hostsFile, dir);
  try {
    await ready(child, name, port);
    const cpuBefore = cpuSeconds(child.pid!);
    const run = spawnSync('dnsperf', ['-s', HOST, '-p', String(port), '-d', queryFile, '-l', String(seconds), '-q', '100', '-c', '4', '-t', '2'], { encoding: 'utf8', timeout: (seconds + 30) * 1000 });
    const cpuUsed = cpuSeconds(child.pid!) - cpuBefore;
    const output = run.stdout + run.stderr;
    const number = (pattern: RegExp) => Number(pattern.exec(output)?.[1] ?? NaN);
    const result: Result = {
      qps: number(/Queries per second:\s+([\d.]+)/),
      latencyMs: number(/Average Latency \(s\):\s+([\d.]+)/) * 1000,
      latencyStdMs: number(/Latency StdDev \(s\):\s+([\d.]+)/) * 1000,
      completed: number(/Queries completed:\s+(\d+)/),
      lost: number(/Queries lost:\s+(\d+)/),
      cpuQps: 0,
    };
    result.cpuQps = result.completed / cpuUsed;
    if (Number.isNaN(result.qps)) throw new Error(`dnsperf against ${name} printed no result:\n${output}`);
    const noErrors = /Response codes:\s+NOERROR (\d+) \(100\.00%\)/.test(output);
    if (!noErrors) console.log(`  warning: not every answer from ${name} was NOERROR:\n${/Response codes:.*/.exec(output)?.[0]}`);
    return result;
  } finally {
    await stopServer(child);
  }
}

/** CPU time a process has used, user + system, in seconds (Linux /proc). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // After "pid (comm) ": state is field 0, utime field 11, stime field 12 (proc(5): fields 14 and 15), in clock ticks.
  const ticks = Number(fields[11]) + Number(fields[12]);
  const hertz = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
  return ticks / hertz;
}

function startServer(name: ServerName, port: number, hostsFile: string, dir: string): ChildProcess {
  const self = new URL(import.meta.url).pathname;
  if (name === 'dnsmasq') {
    return spawn('dnsmasq', [
      '--keep-in-foreground', '--conf-file=/dev/null', `--port=${port}`, `--listen-address=${HOST}`, '--bind-interfaces',
      '--no-hosts', `--addn-hosts=${hostsFile}`, '--no-resolv', '--local=/consul/', `--pid-file=${join(dir, 'dnsmasq.pid')}`, '--user=root', '--cache-size=10000',
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
  }
  const profile = name === 'agent' && args.profile ? ['--cpu-prof', `--cpu-prof-dir=${args.profile}`] : [];
  return spawn(process.execPath, [...profile, self, '--role', name, '--port', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
}

async function ready(child: ChildProcess, name: ServerName, port: number): Promise<void> {
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  await waitFor(() => {
    if (child.exitCode !== null) throw new Error(`${name} exited: ${output}`);
    if (name === 'dnsmasq') return spawnSync('dig', ['+short', '+time=1', '+tries=1', '-p', String(port), `@${HOST}`, `${serviceName(0)}.service.consul`], { encoding: 'utf8' }).stdout.includes('127.1.0.1');
    return output.includes('ready');
  }, 60_000, `${name} to answer`);
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

async function waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
