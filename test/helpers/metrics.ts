// Reading Prometheus text in tests.

/** The value of one sample line, e.g. `ecs_http_requests_total{route="/hello",status="200"} 30`. */
export function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}
