import { describe, expect, it } from 'vitest';
import { allowedReturnUrl, withParams } from '../../../functions/core/consent/return-url.js';

const ALLOW = ['https://app.example.com/connected', 'http://127.0.0.1:8080/connected'];

describe('scenario 4: return URL allow-list (no open redirect)', () => {
  const hostile = [
    '//evil.example/connected',
    'https:evil.example/connected',
    'https:/evil.example/connected',
    '\\\\evil.example\\connected',
    '/\\evil.example/connected',
    'https://evil.example/connected',
    'https://app.example.com.evil.example/connected',
    'https://app.example.com@evil.example/connected',
    'https://user:pass@app.example.com/connected',
    'https://app.example.com%2F@evil.example/connected',
    'https://app.example.com%40evil.example/connected',
    'https://evil.example%2F%2Fapp.example.com/connected',
    'https://app.example.com/connected%0d%0aLocation:%20https://evil.example',
    'https://app.example.com/connected\r\nLocation: https://evil.example',
    'https://app.example.com/connected\tx',
    'https://app.example.com/connected#@evil.example',
    'https://app.example.com:8443/connected',
    'http://app.example.com/connected',
    'https://app.example.com/connected/../elsewhere',
    'https://app.example.com/connected/',
    'https://app.example.com/Connected',
    'https://app.example.com/other',
    'javascript:alert(1)//https://app.example.com/connected',
    'data:text/html,https://app.example.com/connected',
    'ftp://app.example.com/connected',
    '',
    ' https://app.example.com/connected',
    'https://app.example.com/connected'.padEnd(3000, 'x'),
    'http://127.0.0.1:8081/connected',
    'http://127.0.0.1:8080@evil.example/connected',
  ];

  it.each(hostile)('refuses %j', (candidate) => {
    expect(allowedReturnUrl(candidate, ALLOW)).toBeUndefined();
  });

  it('accepts an allowed URL, with a query string of its own', () => {
    expect(allowedReturnUrl('https://app.example.com/connected', ALLOW)).toBe('https://app.example.com/connected');
    expect(allowedReturnUrl('https://APP.example.com/connected?tab=data', ALLOW)).toBe('https://app.example.com/connected?tab=data');
    expect(allowedReturnUrl('http://127.0.0.1:8080/connected', ALLOW)).toBe('http://127.0.0.1:8080/connected');
    // Another spelling of the same host is normalised: the redirect goes to the allowed URL itself.
    expect(allowedReturnUrl('http://0x7f.0.0.1:8080/connected', ALLOW)).toBe('http://127.0.0.1:8080/connected');
  });

  it("appends the outcome without losing the application's own query", () => {
    expect(withParams('https://app.example.com/connected?tab=data', { outcome: 'granted', consent: 'consents/abc' })).toBe(
      'https://app.example.com/connected?tab=data&outcome=granted&consent=consents%2Fabc',
    );
  });
});
