// HTTP for tests: one new TCP connection per request (so the cluster spreads them over workers), a tiny cookie jar.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';

export interface Response {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  json: Record<string, unknown>;
}

export function request(url: string, options: { cookie?: string; headers?: http.OutgoingHttpHeaders; method?: string; json?: unknown } = {}): Promise<Response> {
  const body = options.json === undefined ? undefined : JSON.stringify(options.json);
  const headers = { ...options.headers, ...(options.cookie ? { cookie: options.cookie } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) };
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: options.method ?? 'GET', headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: parseJson(text) }));
      res.on('error', reject);
    });
    req.setTimeout(15_000, () => req.destroy(new Error(`no answer from ${url} within 15 s`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** Keeps the session cookie between requests, as a browser would. */
export class CookieJar {
  cookie: string | undefined;

  async get(url: string): Promise<Response> {
    return this.send(url);
  }

  /** Any request with the jar's cookie; a Set-Cookie in the answer replaces it. */
  async send(url: string, options: { method?: string; json?: unknown; headers?: http.OutgoingHttpHeaders } = {}): Promise<Response> {
    const response = await request(url, { ...options, cookie: this.cookie });
    const setCookie = response.headers['set-cookie']?.[0];
    if (setCookie) this.cookie = setCookie.split(';')[0];
    return response;
  }

  /** A POST, as the page sends them. */
  post(url: string, json?: unknown, headers?: http.OutgoingHttpHeaders): Promise<Response> {
    return this.send(url, { method: 'POST', json: json ?? {}, headers });
  }
}

/** Listens on a free loopback port for the duration of the test. */
export async function listen(t: TestContext, handler: http.RequestListener): Promise<string> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function parseJson(text: string): Record<string, unknown> {
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    return {};
  }
}
