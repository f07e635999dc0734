// Structured logs: one JSON object per line on stdout (pino), for a log shipper to read; in development at a
// terminal, the same records printed readably instead. The primary and every worker each have their own logger;
// `role` and `worker` say which process wrote a line.
import { createRequire } from 'node:module';
import os from 'node:os';
import { destination as stdout, pino, stdTimeFunctions, type DestinationStream, type Logger } from 'pino';
import type { Config } from './config.js';

export type { Logger };

/** Who writes: the primary, or worker N (cluster.worker.id). */
export type LogRole = { role: 'primary' } | { role: 'worker'; worker: number };

/** Fields whose values the message itself already says: a terminal shows the message alone. */
const SAID_IN_MESSAGE = ['nodeEnv', 'sessionStore', 'sessionLock', 'workers', 'workerId', 'workerPid', 'url', 'code', 'signal', 'uptimeMs', 'delayMs', 'file', 'restored', 'expired', 'movedTo', 'redis'];

/** Never in a log: the session cookie is the session. */
const REDACTED = ['req.headers.cookie', 'req.headers.authorization', 'res.headers["set-cookie"]'];

/** `destination`: where JSON lines go instead of stdout (tests). */
export function createLogger(config: Pick<Config, 'logLevel' | 'logFormat'>, who: LogRole, destination?: DestinationStream): Logger {
  const options = {
    level: config.logLevel,
    base: { pid: process.pid, hostname: os.hostname(), ...who },
    timestamp: stdTimeFunctions.isoTime,
    redact: { paths: REDACTED, censor: '[redacted]' },
  };
  // Synchronous writes: lines stay in order and none is lost when the process exits right after logging.
  return pino(options, config.logFormat === 'pretty' ? prettyStream() : (destination ?? stdout({ fd: 1, sync: true })));
}

/** pino-pretty (a devDependency) as a synchronous stream: a line logged just before exit is still printed. */
function prettyStream(): DestinationStream {
  let build: (options: Record<string, unknown>) => DestinationStream;
  try {
    build = createRequire(import.meta.url)('pino-pretty') as typeof build;
  } catch {
    throw new Error('LOG_FORMAT=pretty needs the pino-pretty package (a devDependency): run `npm install`, or set LOG_FORMAT=json');
  }
  return build({
    sync: true,
    colorize: process.stdout.isTTY === true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: ['pid', 'hostname', 'role', 'worker', ...SAID_IN_MESSAGE].join(','),
    messageFormat: '[{role}{if worker} {worker}{end}] {msg}',
  });
}

/** A bug that escaped every handler: one structured line, then the exit Node would do anyway. */
export function exitOnUncaught(log: Logger): void {
  process.on('uncaughtException', (error) => {
    log.fatal({ err: error }, `uncaught exception, exiting: ${error.message}`);
    process.exit(1);
  });
}
