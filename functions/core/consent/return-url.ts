/**
 * The post-consent `returnUrl` must match an allow-list entry: same scheme, host and port, and the
 * same path; a query string is allowed, credentials and fragments are not. Anything unparsable,
 * with control characters or backslashes, is refused. Returns the normalised URL or undefined.
 */
export function allowedReturnUrl(candidate: string, allowlist: readonly string[]): string | undefined {
  if (candidate.length > 2048 || /[\u0000-\u001f\u007f\\]/.test(candidate)) return undefined;
  if (!/^https?:\/\//i.test(candidate) || !URL.canParse(candidate)) return undefined;
  const url = new URL(candidate);
  if (url.username || url.password || url.hash) return undefined;
  for (const entry of allowlist) {
    const allowed = new URL(entry);
    if (url.protocol === allowed.protocol && url.host === allowed.host && url.pathname === allowed.pathname) return url.href;
  }
  return undefined;
}

/** Appends parameters to an allowed return URL (keeping its own query). */
export function withParams(returnUrl: string, params: Readonly<Record<string, string>>): string {
  const url = new URL(returnUrl);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  return url.href;
}
