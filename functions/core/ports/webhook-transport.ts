/**
 * Reaches applications' webhook endpoints over HTTP(S).
 *
 * Contract:
 * - `resolve(hostname)` answers the addresses the name resolves to (IPv4 and IPv6), `[]` when the
 *   name does not exist; a resolver that fails or times out rejects with a retryable AppError.
 * - `post(request)` sends one POST and answers how it went; it never throws for what the receiver
 *   or the network did (an error status, a refused connection, a timeout, a TLS failure are all
 *   outcomes). It resolves the host itself and connects only to an address `addressAllowed`
 *   accepts (the address checked is the address connected to: no DNS rebinding between check and
 *   connect); when none is accepted the outcome is `refused` and nothing is sent. Redirects are not
 *   followed (a 3xx is just a status). The whole attempt, connection included, ends after
 *   `timeoutMs`; at most `maxResponseBytes` of the answer are read, then the connection is closed.
 */
export interface WebhookTransport {
  resolve(hostname: string): Promise<readonly string[]>;
  post(request: WebhookRequest): Promise<WebhookOutcome>;
}

export interface WebhookRequest {
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  readonly timeoutMs: number;
  readonly maxResponseBytes: number;
  readonly addressAllowed: (address: string) => boolean;
}

export type WebhookOutcome =
  { readonly kind: 'answered'; readonly status: number } | { readonly kind: 'refused'; readonly reason: string } | { readonly kind: 'failed'; readonly reason: string };
