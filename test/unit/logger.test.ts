import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, forInvocation, traceIdFrom } from '../../functions/platform/logger.js';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { lines, logger: createLogger({ log: { level: 'debug', format: 'json' } }, stream) };
}

describe('structured logger', () => {
  it('writes one JSON line per entry with Cloud Logging severity and message', () => {
    const { lines, logger } = capture();
    logger.info('hello');
    logger.warn({ job: 'j1' }, 'careful');
    logger.fatal('down');
    expect(lines.map((l) => [l['severity'], l['message']])).toEqual([
      ['INFO', 'hello'],
      ['WARNING', 'careful'],
      ['CRITICAL', 'down'],
    ]);
    expect(lines[1]?.['job']).toBe('j1');
    expect(typeof lines[0]?.['time']).toBe('string');
  });

  it('binds trace and event id for one invocation', () => {
    const { lines, logger } = capture();
    forInvocation(logger, 'p1', { function: 'poll', traceId: 'a'.repeat(32), eventId: 'm-7' }).info('x');
    expect(lines[0]).toMatchObject({
      function: 'poll',
      eventId: 'm-7',
      'logging.googleapis.com/trace': `projects/p1/traces/${'a'.repeat(32)}`,
    });
  });

  it('redacts secret-bearing fields wherever they are nested', () => {
    const { lines, logger } = capture();
    logger.info({ refresh_token: 'CANARY-1', auth: { accessToken: 'CANARY-2' }, a: { b: { codeVerifier: 'CANARY-3' } }, urls: ['https://x?sig=CANARY-4'] }, 'tokens');
    const text = JSON.stringify(lines);
    expect(text).not.toMatch(/CANARY/);
    expect(text).toContain('[REDACTED]');
  });

  it('logs errors without their cause chain and without URL query strings', () => {
    const { lines, logger } = capture();
    const cause = Object.assign(new Error('inner https://x.example/a?X-Goog-Signature=CANARY-5'), { config: { url: 'https://x?sig=CANARY-6' } });
    const error = Object.assign(new Error('upload to https://storage.example/upload?upload_id=CANARY-7 failed', { cause }), { code: 'UNAVAILABLE' });
    logger.error({ err: error }, 'failed');
    const text = JSON.stringify(lines);
    expect(text).not.toMatch(/CANARY/);
    expect(lines[0]?.['err']).toMatchObject({ type: 'Error', code: 'UNAVAILABLE', message: 'upload to https://storage.example/upload?[REDACTED] failed' });
  });

  it('extracts the trace id from traceparent or X-Cloud-Trace-Context', () => {
    const id = '4bf92f3577b34da6a3ce929d0e0e4736';
    expect(traceIdFrom({ traceparent: `00-${id}-00f067aa0ba902b7-01` })).toBe(id);
    expect(traceIdFrom({ 'x-cloud-trace-context': `${id}/1;o=1` })).toBe(id);
    expect(traceIdFrom({ traceparent: 'garbage' })).toBeUndefined();
    expect(traceIdFrom({})).toBeUndefined();
  });
});
