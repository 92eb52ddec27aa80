/** One upstream call as the pipeline made it (control routes are not recorded). */
export interface CallRecord {
  method: string;
  /** Path without the query string (queries can carry signatures and tokens). */
  path: string;
  /** HTTP status answered; 0 when the connection was reset before any answer. */
  status: number;
  /** Sandbox time (RFC 3339) at which the call arrived. */
  time: string;
  /** The fault rule action applied to this call, if any. */
  fault?: string;
  /**
   * Mews calls: the enterprise they acted for, and the entity type asked for (`exports/add`), the
   * export ids asked for (`exports/getAll`) or the export whose file was downloaded.
   */
  mews?: { enterpriseId: string; entityType?: string; exportIds?: string[]; exportId?: string };
}

/** What a route handler adds to the record of its call. */
export type CallNote = Pick<CallRecord, 'fault' | 'mews'>;

const MAX_CALLS = 50_000;

/** Bounded in-memory list of calls, oldest dropped first. */
export class CallLog {
  private calls: CallRecord[] = [];

  record(call: CallRecord): void {
    this.calls.push(call);
    if (this.calls.length > MAX_CALLS) this.calls.splice(0, this.calls.length - MAX_CALLS);
  }

  list(): readonly CallRecord[] {
    return this.calls;
  }

  clear(): void {
    this.calls = [];
  }
}
