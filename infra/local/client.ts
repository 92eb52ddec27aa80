import type { StackInfo } from './stack.js';

/**
 * A script's view of a running local stack: the sandbox's JSON routes, and the `api` function
 * called as the allowed local caller (its Google ID token minted by the sandbox's OIDC issuer).
 */
export interface StackClient {
  /** `GET` without a body, `POST` with one. */
  sandbox(path: string, body?: unknown): Promise<Response>;
  /** The parsed JSON answer; a non-2xx answer throws with its status and body. */
  api(path: string, body?: unknown): Promise<Record<string, unknown>>;
  /**
   * What the application does when its user's browser comes back to `returnUrl`: if the redirect
   * carries a completion code (`session`, `code`), confirm it (`POST /v1/{session}:confirm`).
   * A real application first checks that the returning browser is the logged-in user who created
   * the session; a script connecting its own sandbox users has nothing to check. Returns the
   * confirmed consent, or undefined when there was nothing to confirm.
   */
  confirmReturn(returnLocation: string): Promise<Record<string, unknown> | undefined>;
}

export async function stackClient(info: StackInfo): Promise<StackClient> {
  const sandbox = (path: string, body?: unknown) =>
    fetch(`${info.services.sandbox.url}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { 'Content-Type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  const minted = await sandbox('/sandbox/v1/idTokens', { audience: info.caller.audience, email: info.caller.email });
  const { idToken } = (await minted.json()) as { idToken: string };
  const api = async (path: string, body?: unknown) => {
    const res = await fetch(`${info.functions['api']?.url}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { Authorization: `Bearer ${idToken}`, 'Content-Type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const parsed = (await res.json()) as Record<string, unknown>;
    if (!res.ok) throw new Error(`${path}: HTTP ${res.status} ${JSON.stringify(parsed)}`);
    return parsed;
  };
  const confirmReturn = async (returnLocation: string) => {
    const query = new URL(returnLocation).searchParams;
    const session = query.get('session');
    const code = query.get('code');
    return session && code ? api(`/v1/${session}:confirm`, { code }) : undefined;
  };
  return { api, sandbox, confirmReturn };
}
