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

export function request(url: string, options: { cookie?: string; headers?: http.OutgoingHttpHeaders; method?: string } = {}): Promise<Response> {
  const headers = { ...options.headers, ...(options.cookie ? { cookie: options.cookie } : {}) };
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
    req.end();
  });
}

/** Keeps the session cookie between requests, as a browser would. */
export class CookieJar {
  cookie: string | undefined;

  async get(url: string): Promise<Response> {
    const response = await request(url, { cookie: this.cookie });
    const setCookie = response.headers['set-cookie']?.[0];
    if (setCookie) this.cookie = setCookie.split(';')[0];
    return response;
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
