// The worker cluster.test.ts forks: express-session with a ClusterStore, on plain node:http (no Express: the
// folder's tests use only Node, express-session and the folder itself). Listens on port 0, which the cluster
// shares among its workers. Every answer is JSON and names this worker:
//   GET /         counts a visit in the session (a session is saved on the first count)
//   GET /peek     the count, saving nothing (null: no session)
//   GET /destroy  ends the session
import cluster from 'node:cluster';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import session from 'express-session';
import { ClusterStore } from '../index.js';

type Visit = IncomingMessage & { session: session.Session & { views?: number } };
type Middleware = (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void;

// express-session's types are written for Express; at run time it is middleware for any (req, res, next).
const sessions = session({
  store: new ClusterStore(),
  secret: 'cluster.test.ts: one secret for every worker',
  resave: false,
  saveUninitialized: false,
}) as unknown as Middleware;
const worker = cluster.worker?.id ?? null;

function answer(res: ServerResponse, status: number, body: Record<string, unknown>): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ ...body, worker }));
}

createServer((req, res) => {
  sessions(req, res, (error) => {
    if (error) return answer(res, 500, { error: error instanceof Error ? error.message : 'session error' });
    const visit = req as Visit;
    switch (req.url) {
      case '/':
        visit.session.views = (visit.session.views ?? 0) + 1;
        return answer(res, 200, { views: visit.session.views });
      case '/peek':
        return answer(res, 200, { views: visit.session.views ?? null });
      case '/destroy':
        return visit.session.destroy((destroyError) => answer(res, destroyError ? 500 : 200, { destroyed: !destroyError }));
      default:
        return answer(res, 404, { error: `no route ${req.url}` });
    }
  });
}).listen(0, '127.0.0.1');
