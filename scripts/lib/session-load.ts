// Session-aware HTTP load on autocannon: each connection keeps the cookie of its first response, as a browser
// does, and every answer is checked: status, "Hello again" for requests that carried a cookie, which worker.
import autocannon from 'autocannon';

export type Workload = 'returning' | 'fresh';

export interface LoadOptions {
  url: string;
  path?: string;
  connections: number;
  durationS: number;
  /** Stop after this many requests, if sooner than durationS. */
  amount?: number;
  /** returning: keep the cookie (a get and a touch per request); fresh: never send one (a new session each). */
  workload: Workload;
  /** Reopen each connection after this many requests (0: never), so one session meets several workers. */
  reconnectEvery?: number;
  /** Show autocannon's progress bar on stderr. */
  progress?: boolean;
  /** Stop early once this settles (a fault test stops when the app is gone). */
  stopWhen?: Promise<unknown>;
  /** With `returning`: each connection starts signed in as this user (POST /login first), so its session is in the user index. */
  signIn?: { username: string; password: string };
}

export interface LoadResult {
  workload: Workload;
  connections: number;
  durationS: number;
  requests: number;
  requestsPerS: number;
  latencyMs: { p50: number; p97_5: number; p99: number; mean: number };
  errors: number;
  timeouts: number;
  non2xx: number;
  sessions: number;
  workers: number;
  withCookie: number;
  helloAgain: number;
  /** Share of requests that carried a cookie and were answered "Hello again": 1 when every session stuck. */
  stickiness: number | null;
  /** Sessions answered by more than one worker. */
  sessionsOnSeveralWorkers: number;
  /** The cookies the connections kept (returning visitors), to check afterwards that each session still exists. */
  cookies: string[];
  /** Connection errors by code (ECONNRESET: a request broken in flight; ECONNREFUSED: nothing listening). */
  errorCodes: Record<string, number>;
}

interface Answer {
  status: number;
  body: string;
  setCookie: string | undefined;
}

export async function runSessionLoad(options: LoadOptions): Promise<LoadResult> {
  const signedIn = options.signIn === undefined ? [] : await signInAll(options.url, options.signIn, options.connections);
  const cookies = new Set<string>();
  const workersOf = new Map<string, Set<string>>();
  const workers = new Set<string>();
  const errorCodes: Record<string, number> = {};
  let withCookie = 0;
  let helloAgain = 0;
  // autocannon calls onResponse and then, synchronously, the connection's 'response' listener: hand over here.
  let last: Answer | undefined;

  const instance = autocannon({
    url: options.url,
    connections: options.connections,
    duration: options.durationS,
    amount: options.amount,
    reconnectRate: options.reconnectEvery || undefined,
    requests: [
      {
        method: 'GET',
        path: options.path ?? '/hello',
        onResponse: (status: number, body: string, _context: unknown, headers: Record<string, string | string[]>) => {
          last = { status, body, setCookie: headerValue(headers, 'set-cookie') };
        },
      },
    ],
    setupClient: (client: autocannon.Client) => {
      let cookie: string | undefined = signedIn.pop();
      if (cookie !== undefined) client.setHeaders({ cookie });
      // One request in flight per connection: the next one leaves right after this listener, with `cookie`.
      let sentCookie: string | undefined = cookie;
      (client as unknown as NodeJS.EventEmitter).on('connError', (error: NodeJS.ErrnoException) => {
        const code = error.code ?? 'other';
        errorCodes[code] = (errorCodes[code] ?? 0) + 1;
      });
      client.on('response', () => {
        const answer = last;
        last = undefined;
        if (answer === undefined) return;
        const worker = /"worker":(\d+)/.exec(answer.body)?.[1] ?? '?';
        workers.add(worker);
        if (sentCookie !== undefined) {
          withCookie++;
          if (answer.body.startsWith('{"msg":"Hello again')) helloAgain++;
          let seen = workersOf.get(sentCookie);
          if (seen === undefined) workersOf.set(sentCookie, (seen = new Set()));
          seen.add(worker);
        }
        if (answer.setCookie !== undefined) {
          const value = answer.setCookie.split(';')[0]!;
          cookies.add(value);
          if (options.workload === 'returning' && cookie === undefined) {
            cookie = value;
            client.setHeaders({ cookie });
          }
        }
        sentCookie = cookie;
      });
    },
  } as autocannon.Options) as unknown as autocannon.Instance & Promise<autocannon.Result>;
  if (options.progress) autocannon.track(instance, { renderLatencyTable: false, renderResultsTable: false });
  void options.stopWhen?.finally(() => instance.stop());
  const result = await instance;

  return {
    workload: options.workload,
    connections: options.connections,
    durationS: options.durationS,
    requests: result.requests.total,
    requestsPerS: result.requests.average,
    latencyMs: { p50: result.latency.p50, p97_5: result.latency.p97_5, p99: result.latency.p99, mean: result.latency.mean },
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    sessions: options.workload === 'returning' ? workersOf.size : cookies.size,
    workers: workers.size,
    withCookie,
    helloAgain,
    stickiness: withCookie === 0 ? null : helloAgain / withCookie,
    sessionsOnSeveralWorkers: [...workersOf.values()].filter((seen) => seen.size > 1).length,
    cookies: [...workersOf.keys()],
    errorCodes,
  };
}

/** `count` sessions signed in as `user`: their cookies. */
async function signInAll(url: string, user: { username: string; password: string }, count: number): Promise<string[]> {
  return Promise.all(
    Array.from({ length: count }, async () => {
      const response = await fetch(new URL('/login', url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(user) });
      const cookie = response.headers.get('set-cookie')?.split(';')[0];
      if (!response.ok || cookie === undefined) throw new Error(`could not sign in as ${user.username}: ${response.status} ${await response.text()}`);
      return cookie;
    }),
  );
}

function headerValue(headers: Record<string, string | string[]>, name: string): string | undefined {
  for (const key in headers) {
    if (key.toLowerCase() !== name) continue;
    const value = headers[key];
    return Array.isArray(value) ? value[0] : value;
  }
  return undefined;
}
