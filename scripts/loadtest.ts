// `npm run loadtest`: session-aware load on /hello. Starts the cluster itself (src/primary/main.ts on a free port,
// WEB_CONCURRENCY honoured) unless --url names a running server; exits 1 if any request failed or a session
// did not stick.
import { parseArgs } from 'node:util';
import { startApp, stopApp, type AppProcess } from './lib/app-process.js';
import { cleanupOnExit } from './lib/cleanup.js';
import { runSessionLoad, type LoadResult, type Workload } from './lib/session-load.js';

const usage = `usage: npm run loadtest -- [--url http://host:port] [--connections 50] [--duration 10] [--warmup 2]
       [--workload returning|fresh] [--reconnect-every 100] [--json]`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      url: { type: 'string' },
      connections: { type: 'string', default: '50' },
      duration: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '2' },
      workload: { type: 'string', default: 'returning' },
      'reconnect-every': { type: 'string', default: '100' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  const connections = positive('--connections', values.connections);
  const durationS = positive('--duration', values.duration);
  const warmupS = positive('--warmup', values.warmup, 0);
  const reconnectEvery = positive('--reconnect-every', values['reconnect-every'], 0);
  if (values.workload !== 'returning' && values.workload !== 'fresh') throw new UsageError(`--workload must be returning or fresh, got ${values.workload}`);
  const workload: Workload = values.workload;

  const cleanups = cleanupOnExit();
  let app: AppProcess | undefined;
  try {
    if (values.url === undefined) {
      if (!values.json) console.error('starting the cluster (src/primary/main.ts) on a free port…');
      app = await startApp(cleanups.add);
      // On stderr even with --json: whoever runs this can find (and stop) what it started.
      console.error(`cluster started: primary pid ${app.child.pid} (its workers in its process group)`);
    } else {
      await answering(values.url);
    }
    const url = values.url ?? app!.url;
    if (warmupS > 0) await runSessionLoad({ url, connections, durationS: warmupS, workload, reconnectEvery });
    const result = await runSessionLoad({ url, connections, durationS, workload, reconnectEvery, progress: !values.json });
    if (app) await stopApp(app);
    console.log(values.json ? JSON.stringify({ url, ...result, cookies: undefined }, null, 2) : summary(url, result));
    return failed(result) ? 1 : 0;
  } finally {
    await cleanups.run();
  }
}

/** --url must name a running app: say so at once rather than count refused connections for the whole run. */
async function answering(url: string): Promise<void> {
  try {
    await fetch(new URL('/healthz', url), { signal: AbortSignal.timeout(5000) });
  } catch (error) {
    const why = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
    throw new UsageError(`nothing answers at ${url} (${why}): --url needs a running app (npm start), or leave --url out to start one`);
  }
}

function failed(result: LoadResult): boolean {
  return result.errors + result.timeouts + result.non2xx > 0 || (result.stickiness !== null && result.stickiness < 1) || result.requests === 0;
}

function summary(url: string, r: LoadResult): string {
  const percent = (share: number | null) => (share === null ? 'n/a (no cookies sent)' : `${(share * 100).toFixed(2)} %`);
  const rows: [string, string][] = [
    ['target', `${url}/hello, ${r.connections} connections, ${r.durationS} s, ${r.workload} visitors`],
    ['requests/s', r.requestsPerS.toFixed(0)],
    ['requests', String(r.requests)],
    ['latency p50 / p97.5 / p99', `${r.latencyMs.p50} / ${r.latencyMs.p97_5} / ${r.latencyMs.p99} ms`],
    ['errors / timeouts / non-2xx', `${r.errors} / ${r.timeouts} / ${r.non2xx}${r.errors ? ` (${JSON.stringify(r.errorCodes)})` : ''}`],
    ['sessions', String(r.sessions)],
    ['workers that answered', String(r.workers)],
    ['sessions served by 2+ workers', String(r.sessionsOnSeveralWorkers)],
    ['stickiness ("Hello again" / requests with a cookie)', `${percent(r.stickiness)} (${r.helloAgain} / ${r.withCookie})`],
    ['result', failed(r) ? 'FAILED' : 'ok'],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n');
}

class UsageError extends Error {}

function positive(flag: string, raw: string | undefined, min = 1): number {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) throw new UsageError(`${flag} must be an integer >= ${min}, got ${raw}`);
  return value;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof UsageError ? `${error.message}\n${usage}` : error);
    process.exit(2);
  },
);
