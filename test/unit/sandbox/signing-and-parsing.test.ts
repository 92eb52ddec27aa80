import { describe, expect, it } from 'vitest';
import { UrlSigner } from '../../../infra/sandbox/archives/signing.js';
import { parseRfc3339, rfc3339 } from '../../../infra/sandbox/lib/clock.js';
import { StorageXmlError } from '../../../infra/sandbox/lib/errors.js';
import { FaultInjector, faultRulesSchema, parseAction } from '../../../infra/sandbox/lib/faults.js';
import { parseAuthorizationRequest } from '../../../infra/sandbox/oauth/authorize-request.js';
import { parseInitiate } from '../../../infra/sandbox/portability/requests.js';

function codeOf(fn: () => void): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return err instanceof StorageXmlError ? err.code : String(err);
  }
}

describe('signed URLs', () => {
  const signer = new UrlSigner('secret');
  const now = Date.UTC(2024, 0, 1);
  const url = new URL(signer.sign('http://h', '/b/job/file.zip', now, 60));

  it('verifies until expiry, then ExpiredToken', () => {
    expect(codeOf(() => signer.verify(url.pathname, url.searchParams, now + 59_000))).toBeUndefined();
    expect(codeOf(() => signer.verify(url.pathname, url.searchParams, now + 60_000))).toBe('ExpiredToken');
  });

  it('refuses another path, another key, changed parameters', () => {
    expect(codeOf(() => signer.verify('/b/job/other.zip', url.searchParams, now))).toBe('SignatureDoesNotMatch');
    expect(codeOf(() => new UrlSigner('other').verify(url.pathname, url.searchParams, now))).toBe('SignatureDoesNotMatch');
    const changed = new URLSearchParams(url.searchParams);
    changed.set('X-Goog-Date', '20300101T000000Z');
    expect(codeOf(() => signer.verify(url.pathname, changed, now))).toBe('SignatureDoesNotMatch');
    const doubled = new URLSearchParams(url.searchParams);
    doubled.append('X-Goog-Signature', 'ab');
    expect(codeOf(() => signer.verify(url.pathname, doubled, now))).toBe('AccessDenied');
  });
});

describe('timestamps', () => {
  it('parses RFC 3339 with offsets and fractions, prints Z', () => {
    expect(parseRfc3339('2024-01-01T01:00:00+01:00')).toBe(Date.UTC(2024, 0, 1));
    expect(rfc3339(parseRfc3339('2024-01-01T00:00:00.123456789Z') ?? 0)).toBe('2024-01-01T00:00:00.123Z');
    expect(rfc3339(Date.UTC(2024, 0, 1))).toBe('2024-01-01T00:00:00Z');
    for (const bad of ['2024-02-30T00:00:00Z', '2024-01-01', '2024-13-01T00:00:00Z', '2024-01-01T00:00:00', 'x']) {
      expect(parseRfc3339(bad)).toBeUndefined();
    }
  });
});

describe('fault rules', () => {
  it('parses actions and applies a rule `times` times', () => {
    expect(parseAction('status:503')).toEqual({ kind: 'status', status: 503 });
    expect(parseAction('dropAfterBytes:10')).toEqual({ kind: 'dropAfterBytes', bytes: 10 });
    expect(parseAction('status:200')).toBeUndefined();
    const f = new FaultInjector();
    f.add([{ path: '^/v1/', action: 'status:429', times: 2, retryAfterSeconds: 1 }]);
    expect(f.take('GET', '/token')).toBeUndefined();
    expect(f.take('POST', '/v1/x')?.retryAfterSeconds).toBe(1);
    expect(f.take('POST', '/v1/x')).toBeDefined();
    expect(f.take('POST', '/v1/x')).toBeUndefined();
  });

  it('exportStatus rules are taken by the Mews add handler (per entity type), never by a request', () => {
    expect(parseAction('exportStatus:Failed')).toEqual({ kind: 'exportStatus', status: 'Failed' });
    expect(parseAction('exportStatus:Success')).toBeUndefined();
    expect(parseAction('bytesPerSecond:1000')).toEqual({ kind: 'bytesPerSecond', rate: 1000 });
    expect(parseAction('bytesPerSecond:0')).toBeUndefined();
    const f = new FaultInjector();
    f.add([
      { path: 'exports/add$', action: 'exportStatus:Expired', entityType: 'Bill', times: 2 },
      { path: 'exports/add$', action: 'exportStatus:Failed' },
    ]);
    const add = '/mews/api/connector/v1/exports/add';
    expect(f.take('POST', add)).toBeUndefined();
    expect(f.takeExportStatus(add, 'Bill')).toEqual({ status: 'Expired', text: 'exportStatus:Expired' });
    expect(f.takeExportStatus(add, 'Payment')).toEqual({ status: 'Failed', text: 'exportStatus:Failed' });
    expect(f.takeExportStatus(add, 'Payment')).toBeUndefined();
    expect(f.takeExportStatus('/other', 'Bill')).toBeUndefined();
    expect(f.takeExportStatus(add, 'Bill')?.status).toBe('Expired');
    expect(f.list()).toEqual([]);
  });

  it('entityType is accepted on exportStatus rules only', () => {
    expect(faultRulesSchema.safeParse({ rules: [{ path: 'x', action: 'exportStatus:Failed', entityType: 'Bill' }] }).success).toBe(true);
    const bad = faultRulesSchema.safeParse({ rules: [{ path: 'x', action: 'delayMs:5', entityType: 'Bill' }] });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]?.path).toEqual(['rules', 0, 'entityType']);
  });
});

describe('request parsing', () => {
  const clients = { c: { clientId: 'c', clientSecret: 's', redirectUris: ['http://127.0.0.1/cb'] } };
  const base = {
    client_id: 'c',
    redirect_uri: 'http://127.0.0.1/cb',
    response_type: 'code',
    scope: 'https://www.googleapis.com/auth/dataportability.chrome.history',
    code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    code_challenge_method: 'S256',
  };

  it('accepts a good authorization request and keeps its fields', () => {
    const r = parseAuthorizationRequest(new URLSearchParams({ ...base, access_type: 'offline', state: 's' }), clients);
    expect(r).toMatchObject({ clientId: 'c', groups: ['chrome.history'], accessType: 'offline', state: 's', includeGrantedScopes: false });
  });

  it('initiate accepts snake_case, refuses unknown fields', () => {
    expect(parseInitiate({ resources: ['chrome.history'], start_time: '2024-01-01T00:00:00Z' }).startTime).toBe(Date.UTC(2024, 0, 1));
    expect(() => parseInitiate({ resources: ['chrome.history'], other: 1 })).toThrow(/Unknown name "other"/);
    expect(parseInitiate({ resources: ['chrome.history', 'chrome.history'], endTime: null }).resources).toEqual(['chrome.history']);
  });
});
