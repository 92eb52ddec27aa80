import { gaxios } from 'google-auth-library';
import type { Clock } from '../core/ports/clock.js';

/**
 * A Clock that follows the local sandbox's clock (development and tests only; the configuration
 * refuses it in production): real time plus the sandbox's offset, which only moves forward
 * (`POST /sandbox/v1/clock:advance`). The offset is read at start and then every `refreshMs` in
 * the background, so `now()` stays synchronous; after an advance the functions follow within
 * `refreshMs`. Until the first read answers, the offset is 0.
 */
export class SandboxClock implements Clock {
  private offsetMs = 0;
  private readonly http = new gaxios.Gaxios({ retry: false, timeout: 5_000 });

  constructor(
    private readonly url: string,
    refreshMs = 1_000,
  ) {
    void this.refresh();
    setInterval(() => void this.refresh(), refreshMs).unref();
  }

  now(): Date {
    return new Date(Date.now() + this.offsetMs);
  }

  /** Reads the sandbox's offset; a failed read keeps the last one (the offset never moves back). */
  async refresh(): Promise<void> {
    try {
      const res = await this.http.request<{ offsetSeconds?: unknown }>({ url: this.url, method: 'GET', responseType: 'json' });
      const seconds = Number(res.data.offsetSeconds);
      if (Number.isFinite(seconds)) this.offsetMs = Math.max(this.offsetMs, Math.round(seconds * 1000));
    } catch {
      // The sandbox is restarting or gone: keep the last offset.
    }
  }
}
