// Reading Prometheus text in tests.
import type { AppProcess } from '../../scripts/lib/app-process.js';

/** The value of one sample line, e.g. `ecs_http_requests_total{route="/hello",status="200"} 30`. */
export function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** Where the app's primary serves its metrics (it logs the URL once it listens). */
export async function metricsUrl(app: AppProcess): Promise<string> {
  return String((await app.waitForLog({ role: 'primary', msg: /^metrics on / })).url);
}
