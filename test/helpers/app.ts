// The real app for tests: NODE_ENV=test, 2 workers, a free port, unless the test says otherwise.
import { startApp, type AppProcess } from '../../scripts/lib/app-process.js';

export function startTestApp(
  cleanup: (fn: () => unknown) => void,
  env: Record<string, string> = {},
  options: { waitForWorkers?: boolean; command?: string[] } = {},
): Promise<AppProcess> {
  return startApp(cleanup, { NODE_ENV: 'test', WEB_CONCURRENCY: '2', ...env }, options);
}
