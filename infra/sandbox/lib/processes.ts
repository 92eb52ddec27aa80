/** True while process `pid` exists (signal 0 only checks; EPERM means it exists under another user). */
function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** True when `pid` names another process of this machine that has ended: its files may be removed. */
export function endedProcess(pid: number): boolean {
  return Number.isInteger(pid) && pid > 0 && pid !== process.pid && !pidAlive(pid);
}
