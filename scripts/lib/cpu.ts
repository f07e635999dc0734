// CPU time from Linux's /proc: per process and for the whole machine, so a benchmark can tell its own work
// from someone else's. Elsewhere (no /proc) every reading is null and callers say so.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

let ticksPerSecond: number | undefined;

function clockTicks(): number {
  ticksPerSecond ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  return ticksPerSecond;
}

/** User + system CPU seconds a process has used so far, or null when it cannot be read. */
export function processCpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / clockTicks();
  } catch {
    return null;
  }
}

/** CPU seconds the whole machine spent busy so far (all cores), or null without /proc. */
export function machineBusySeconds(): number | null {
  try {
    const [, ...ticks] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).map(Number);
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = ticks;
    return (user + nice + system + irq + softirq + steal) / clockTicks();
  } catch {
    return null;
  }
}

/** CPU seconds used by this process (the load generator), from Node itself. */
export function selfCpuSeconds(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

export interface CpuWindow {
  /** Ends the window: CPU seconds of each watched pid, this process, and everything else on the machine. */
  stop(): { wallS: number; byPid: Map<number, number>; selfS: number; othersS: number | null };
}

/** Starts measuring CPU use of `pids`, this process and the rest of the machine. */
export function startCpuWindow(pids: number[]): CpuWindow {
  const started = performance.now();
  const before = new Map(pids.map((pid) => [pid, processCpuSeconds(pid) ?? 0]));
  const selfBefore = selfCpuSeconds();
  const machineBefore = machineBusySeconds();
  return {
    stop() {
      const byPid = new Map(pids.map((pid) => [pid, (processCpuSeconds(pid) ?? 0) - before.get(pid)!]));
      const selfS = selfCpuSeconds() - selfBefore;
      const machineAfter = machineBusySeconds();
      const ours = selfS + [...byPid.values()].reduce((a, b) => a + b, 0);
      const othersS = machineBefore === null || machineAfter === null ? null : Math.max(0, machineAfter - machineBefore - ours);
      return { wallS: (performance.now() - started) / 1000, byPid, selfS, othersS };
    },
  };
}
