import { describe, expect, it } from 'vitest';
import { notYet, waitUntil } from '../fixtures/wait.js';

/** The one polling helper of the tests, on in-memory state. */
describe('waitUntil', () => {
  it('returns the first value that is not undefined (or a notYet), polling at the interval', async () => {
    let calls = 0;
    const value = await waitUntil(async () => (++calls < 3 ? undefined : `ready after ${calls}`), { what: 'three calls', timeoutMs: 1_000, intervalMs: 5 });
    expect(value).toBe('ready after 3');
    expect(calls).toBe(3);
  });

  it('accepts a synchronous check, and a falsy value that is not undefined counts as an answer', async () => {
    expect(await waitUntil(() => 0, { what: 'zero', timeoutMs: 100 })).toBe(0);
    expect(await waitUntil(() => false, { what: 'false', timeoutMs: 100 })).toBe(false);
  });

  it('fails after the timeout with a message naming what it waited for and the last value it saw', async () => {
    let n = 0;
    const started = Date.now();
    const error = await waitUntil(() => notYet({ state: 'IN_PROGRESS', seen: ++n }), { what: '2 terminal exports', timeoutMs: 120, intervalMs: 10 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    const message = (error as Error).message;
    expect(message).toMatch(/^timed out after 120 ms waiting for 2 terminal exports; last seen: \{"state":"IN_PROGRESS","seen":\d+\}$/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(120);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('keeps polling through a throwing check and names the last error when it times out', async () => {
    let calls = 0;
    const value = await waitUntil(
      () => {
        if (++calls < 3) throw new Error('ECONNREFUSED');
        return 'up';
      },
      { what: 'the server', timeoutMs: 1_000, intervalMs: 5 },
    );
    expect(value).toBe('up');
    await expect(waitUntil(() => Promise.reject(new Error('HTTP 503')), { what: 'the API', timeoutMs: 50, intervalMs: 5 })).rejects.toThrow(
      'timed out after 50 ms waiting for the API; last error: Error: HTTP 503',
    );
  });

  it('shortens a long last value in the message', async () => {
    const error = (await waitUntil(() => notYet('x'.repeat(5_000)), { what: 'a long value', timeoutMs: 20, intervalMs: 5 }).catch((e: unknown) => e)) as Error;
    expect(error.message.length).toBeLessThan(700);
    expect(error.message).toContain('…');
  });

  it('checks once more at the deadline, so a slow check still gets its last chance', async () => {
    let calls = 0;
    const value = await waitUntil(
      async () => {
        calls++;
        await new Promise((r) => setTimeout(r, 40));
        return calls >= 2 ? 'second' : undefined;
      },
      { what: 'a slow check', timeoutMs: 30, intervalMs: 1 },
    );
    expect(value).toBe('second');
  });
});
