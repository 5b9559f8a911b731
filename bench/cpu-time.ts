/** CPU time from /proc: of one process, and of the whole machine against this script's own share. */
import { readdirSync, readFileSync } from 'node:fs';

/** The fields of `/proc/<pid>/stat` after the command name (the first is the state, field 3). */
function statFields(pid: number | 'self'): number[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
}

/**
 * A process's CPU time so far, in seconds: the time the scheduler ran each of its threads
 * (`/proc/<pid>/task/<tid>/schedstat`, in nanoseconds), not utime + stime, which are sampled in
 * 10-ms ticks (a 2-second slice of a server at half a core would be counted to ±1%).
 */
export function processCpuSeconds(pid: number): number {
  let nanoseconds = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    nanoseconds += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
  }
  return nanoseconds / 1e9;
}

/** CPU seconds at one moment: the machine's busy and stolen time, and this script's with its reaped children's; `at`, wall-clock seconds. */
export interface CpuSnapshot {
  machineBusy: number;
  steal: number;
  own: number;
  at: number;
}

export function cpuSnapshot(ticksPerSecond: number): CpuSnapshot {
  // /proc/stat's first line: cpu user nice system idle iowait irq softirq steal …
  const ticks = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  const at = (index: number) => ticks[index] ?? 0;
  const self = statFields('self');
  return {
    machineBusy: (at(0) + at(1) + at(2) + at(5) + at(6)) / ticksPerSecond,
    steal: at(7) / ticksPerSecond,
    own: self.slice(11, 15).reduce((sum, value) => sum + value, 0) / ticksPerSecond,
    at: performance.now() / 1000,
  };
}

/** What else ran between two snapshots, in cores on average: other processes, and time the hypervisor stole. */
export interface OtherLoad {
  otherCores: number;
  stealCores: number;
}

/**
 * Other processes' CPU between `start` and `end`: the machine's busy time less this script's and its
 * children's (servers and wrk, once reaped), per second of wall time.
 */
export function otherLoad(start: CpuSnapshot, end: CpuSnapshot): OtherLoad {
  const wall = end.at - start.at;
  const other = end.machineBusy - start.machineBusy - (end.own - start.own);
  return { otherCores: Math.max(0, other) / wall, stealCores: (end.steal - start.steal) / wall };
}
