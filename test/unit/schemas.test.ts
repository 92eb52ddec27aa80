import { describe, expect, it } from 'vitest';
import { AppError } from '../../functions/core/errors.js';
import { connectSessionBody, createExportsBody, listConsentsQuery, patchConsentQuery, patchTenantQuery, pollMessage } from '../../functions/entrypoints/schemas.js';
import { isWellFormed, parseWith, rfc3339Problem } from '../../functions/platform/validation.js';

/** Issue 13, items 8 and 12: what the api refuses with 400 before it can reach Firestore or Cloud Storage. */
const session = { appUserId: 'user-1', resources: ['chrome.history'], returnUrl: 'https://app.example.com/connected' };

function violations(run: () => unknown): { field: string; description: string }[] {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('INVALID_ARGUMENT');
    return [...(error as AppError).violations];
  }
  throw new Error('accepted');
}

describe('strings are well-formed Unicode (a lone surrogate made Firestore answer 503)', () => {
  it('refuses lone surrogates in every free-text field, naming it; accepts surrogate pairs', () => {
    expect(isWellFormed('a\ud83d\ude00b')).toBe(true);
    for (const bad of ['\ud800', 'a\udc00', '\ude00\ud83d', 'x\ud83d']) expect(isWellFormed(bad), JSON.stringify(bad)).toBe(false);
    expect(violations(() => parseWith(connectSessionBody, { ...session, returnUrl: 'https://app.example.com/\ud800' })).map((v) => v.field)).toEqual(['returnUrl']);
    expect(violations(() => parseWith(connectSessionBody, { ...session, resources: ['\udfff'] })).map((v) => v.field)).toEqual(['resources[0]']);
    expect(violations(() => parseWith(listConsentsQuery, { appUserId: 'u', pageToken: '\ud800' })).map((v) => v.field)).toEqual(['pageToken']);
    expect(violations(() => parseWith(connectSessionBody, { ...session, appUserId: '\ud800' })).map((v) => v.field)).toContain('appUserId');
  });
});

describe('appUserId names one safe object-name segment', () => {
  it('accepts 1-128 characters of A-Z a-z 0-9 . _ @ + - not starting with a dot', () => {
    for (const ok of ['u', 'user-1', 'a.b', 'a..b', 'me@example.com', 'x+y_z', 'A'.repeat(128), 'trailing.']) {
      expect(parseWith(connectSessionBody, { ...session, appUserId: ok }).appUserId).toBe(ok);
      expect(parseWith(listConsentsQuery, { appUserId: ok }).appUserId).toBe(ok);
    }
  });

  it('refuses dot segments, slashes, other characters and over 128 characters, in the body and the listConsents query', () => {
    for (const bad of ['', '.', '..', '.hidden', '../x', 'a/b', 'a\\b', '€'.repeat(256), 'A'.repeat(129), 'a b', 'ü', 'a%2Fb', 'a\u0000', 'a:b', '\u202e']) {
      for (const schema of [connectSessionBody, listConsentsQuery]) {
        const found = violations(() => parseWith(schema, schema === connectSessionBody ? { ...session, appUserId: bad } : { appUserId: bad }));
        expect(found.length, JSON.stringify(bad)).toBeGreaterThan(0);
        expect(
          found.every((v) => v.field === 'appUserId'),
          JSON.stringify(found),
        ).toBe(true);
      }
    }
  });
});

describe('timestamps are strict RFC 3339 within Firestore range (nothing shifted)', () => {
  it('accepts real instants, offsets and up to nine fractional digits', () => {
    const body = (startTime: string) => parseWith(createExportsBody, { consent: 'consents/abc', startTime }).startTime;
    expect(body('2024-02-29T23:59:59Z')).toEqual(new Date('2024-02-29T23:59:59Z'));
    expect(body('2026-01-31T12:00:00.123456789+02:00')).toEqual(new Date('2026-01-31T10:00:00.123Z'));
    expect(body('0001-01-01T00:00:00Z')).toEqual(new Date('0001-01-01T00:00:00Z'));
    expect(body('9999-12-31T23:59:59.999Z')).toEqual(new Date('9999-12-31T23:59:59.999Z'));
    expect(body('2000-02-29T00:00:00-23:59')?.toISOString()).toBe('2000-02-29T23:59:00.000Z');
  });

  it('refuses impossible dates and times, offsets out of range and years outside 0001-9999, naming the field', () => {
    for (const bad of [
      '2026-02-30T00:00:00Z',
      '2026-02-29T00:00:00Z',
      '1900-02-29T00:00:00Z',
      '2026-04-31T00:00:00Z',
      '2026-13-01T00:00:00Z',
      '2026-00-10T00:00:00Z',
      '2026-01-00T00:00:00Z',
      '2026-01-01T24:00:00Z',
      '2026-01-01T23:60:00Z',
      '2026-12-31T23:59:60Z',
      '2026-01-01T00:00:00+24:00',
      '2026-01-01T00:00:00+05:60',
      '0000-12-31T23:59:59Z',
      '0001-01-01T00:00:00+00:01',
      '9999-12-31T23:59:59-00:01',
      '+010000-01-01T00:00:00Z',
      '2026-01-01',
      '2026-01-01t00:00:00z',
      '2026-01-01T00:00:00',
      '2026-01-01T00:00:00.1234567890Z',
      '2026-01-01 00:00:00Z',
    ]) {
      expect(rfc3339Problem(bad), bad).toBeDefined();
      for (const field of ['startTime', 'endTime']) {
        expect(
          violations(() => parseWith(createExportsBody, { consent: 'consents/abc', [field]: bad })).map((v) => v.field),
          bad,
        ).toEqual([field]);
      }
    }
    expect(violations(() => parseWith(createExportsBody, { consent: 'consents/abc', startTime: 17 }))).toEqual([
      { field: 'startTime', description: 'must be an RFC 3339 timestamp string' },
    ]);
  });
});

describe('poll messages: one job, or a batch of one grant', () => {
  const id = 'a'.repeat(32);
  it('takes exactly one of job and jobs (at most 1000), naming the field otherwise', () => {
    expect(parseWith(pollMessage, { job: id })).toEqual({ job: id });
    expect(parseWith(pollMessage, { jobs: [id, id] })).toEqual({ jobs: [id, id] });
    const refused = (value: unknown) => violations(() => parseWith(pollMessage, value));
    expect(refused({})).toEqual([{ field: 'job', description: 'exactly one of job and jobs is required' }]);
    expect(refused({ job: id, jobs: [id] })).toEqual([{ field: 'job', description: 'exactly one of job and jobs is required' }]);
    expect(refused({ jobs: [] })).toEqual([{ field: 'jobs', description: 'must name at least one job' }]);
    expect(refused({ jobs: Array.from({ length: 1001 }, () => id) })).toEqual([{ field: 'jobs', description: 'must name at most 1000 jobs' }]);
    expect(refused({ jobs: ['x'] }).map((v) => v.field)).toEqual(['jobs[0]']);
    expect(refused({ job: id, extra: 1 }).map((v) => v.field)).toEqual(['extra']);
  });
});

describe('update masks of PATCH requests', () => {
  it('name the query parameter once, listing every unknown path; an empty mask is refused', () => {
    for (const query of [patchConsentQuery, patchTenantQuery]) {
      expect(parseWith(query, { updateMask: 'schedule.paused, schedule.paused' })).toEqual({ updateMask: ['schedule.paused'] });
      const [unknown, ...more] = violations(() => parseWith(query, { updateMask: 'schedule.paused,state,owner' }));
      expect(more).toEqual([]);
      expect(unknown?.field).toBe('updateMask');
      expect(unknown?.description).toMatch(/^names unknown field\(s\) state, owner: must list only .*schedule\.paused/);
      expect(violations(() => parseWith(query, { updateMask: ' , ' }))).toEqual([{ field: 'updateMask', description: 'must name at least one field' }]);
      expect(violations(() => parseWith(query, {})).map((v) => v.field)).toEqual(['updateMask']);
    }
  });
});
