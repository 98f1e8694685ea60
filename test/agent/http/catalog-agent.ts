// A real dev agent in this process for the catalog, health and agent-service
// endpoint tests: its own loopback address, free ports, in-memory state, a
// Raft group of itself. `consul()` gives the real `consul` npm client for it.

import { createServer } from 'node:net';
import Consul from 'consul';
import { devAgentConfig } from '../../../agent/config/agent-config.ts';
import type { AgentConfig } from '../../../agent/config/agent-config.ts';
import { Agent, startAgent } from '../../../agent/runtime/agent.ts';

export type TestAgent = {
  agent: Agent;
  host: string;
  port: number;
  base: string;
  consul(): Consul;
  stop(): Promise<void>;
};

/** A TCP port free on `host` right now. */
export function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export async function startTestAgent(host: string, overrides: Partial<AgentConfig> = {}): Promise<TestAgent> {
  const config: AgentConfig = {
    ...devAgentConfig(overrides.nodeName ?? 'node-1'),
    bindAddr: host,
    clientAddr: host,
    meshPort: await freePort(host),
    httpPort: await freePort(host),
    dnsPort: -1,
    logLevel: (process.env.TRIBUNE_TEST_LOG_LEVEL as AgentConfig['logLevel'] | undefined) ?? 'error',
    ...overrides,
  };
  const agent = (await startAgent(config)) as Agent;
  const clients: Consul[] = [];
  return {
    agent,
    host,
    port: config.httpPort,
    base: `http://${host}:${config.httpPort}`,
    consul() {
      const client = new Consul({ host, port: config.httpPort });
      clients.push(client);
      return client;
    },
    async stop() {
      for (const client of clients) client.destroy();
      await agent.stop();
    },
  };
}

/** Poll until `condition` returns a truthy value, or fail with `what` after `timeoutMs`. */
export async function eventually<T>(condition: () => Promise<T | undefined | false | null> | T | undefined | false | null, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await condition();
      if (value) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${(lastError as Error).message})` : ''}`);
}

export type Answer = { status: number; headers: Headers; text: string; json: unknown };

/** One request; never throws for an HTTP answer. */
export async function call(base: string, method: string, path: string, body?: unknown): Promise<Answer> {
  const response = await fetch(base + path, {
    method,
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  let json: unknown = undefined;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: response.status, headers: response.headers, text, json };
}
