// Readable agent logs, Consul's shape: `2026-11-25T13:10:00.123Z [INFO]  agent.raft: message`.
// One line per event on stderr; the level filter is the agent's -log-level.

import type { LogLevel } from '../config/agent-config.ts';

const severity: Record<LogLevel, number> = { trace: 0, debug: 1, info: 2, warn: 3, error: 4 };

export type Logger = {
  (level: LogLevel, message: string): void;
  /** A logger that prefixes a subsystem name: `agent.raft`. */
  named(name: string): Logger;
};

export function createLogger(minimum: LogLevel, name = 'agent', write: (line: string) => void = (line) => process.stderr.write(line)): Logger {
  const log = ((level: LogLevel, message: string) => {
    if (severity[level] < severity[minimum]) return;
    const label = `[${level.toUpperCase()}]`.padEnd(7);
    write(`${new Date().toISOString()} ${label} ${name}: ${message}\n`);
  }) as Logger;
  log.named = (child: string) => createLogger(minimum, `${name}.${child}`, write);
  return log;
}
