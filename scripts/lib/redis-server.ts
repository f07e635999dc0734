// A real redis-server on a free loopback port, stopped in cleanup (for the tests and the bench). Without it
// installed the tests that need it are skipped with a message saying what to install; with CI=true they fail.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';

export interface RedisServer {
  url: string;
  port: number;
  /** Stops the server (the tests use it to inject an outage). */
  stop(): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
  /** The running server's PID, if it runs. */
  pid(): number | undefined;
}

const install = 'redis-server is not installed: `apt-get install -y redis-server` to run the Redis tests';

/** Why the Redis tests cannot run here, or undefined when they can. Throws under CI, where they must run. */
export function redisUnavailable(): string | undefined {
  const found = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (found.status === 0) return undefined;
  if (process.env.CI === 'true') throw new Error(`${install} (CI=true: the Redis tests must run)`);
  return install;
}

export async function startRedis(cleanup: (fn: () => unknown) => void, options: { running?: boolean } = {}): Promise<RedisServer> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  const start = async () => {
    const started = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = started;
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-server did not start within 10 s:\n${output}`)), 10_000);
      started.stdout?.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('Ready to accept connections')) {
          clearTimeout(timer);
          resolve();
        }
      });
      started.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited with code ${code}:\n${output}`));
      });
    });
  };
  const stop = async () => {
    const running = child;
    child = undefined;
    if (running === undefined || running.exitCode !== null) return;
    const exited = once(running, 'exit');
    running.kill('SIGKILL');
    await exited;
  };
  cleanup(stop);
  if (options.running !== false) await start();
  return { url: `redis://127.0.0.1:${port}`, port, stop, start, pid: () => child?.pid };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
