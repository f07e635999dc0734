// The real app for tests: NODE_ENV=test, 2 workers, a free port, unless the test says otherwise.
import { startApp, type AppProcess } from '../../scripts/lib/app-process.js';

export function startTestApp(
  cleanup: (fn: () => unknown) => void,
  env: Record<string, string> = {},
  options: { waitForWorkers?: boolean; command?: string[] } = {},
): Promise<AppProcess> {
  // METRICS_PORT=0: a free port, so test apps running at once never fight over the default.
  return startApp(cleanup, { NODE_ENV: 'test', WEB_CONCURRENCY: '2', METRICS_PORT: '0', ...env }, options);
}
