import type { IncomingMessage } from 'node:http';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

// Node's http/https for the byte paths (archive download, upload requests): a plain socket stream
// with no web-stream layer, flat memory, an idle timeout and keep-alive connections.
const agents = { http: new HttpAgent({ keepAlive: true }), https: new HttpsAgent({ keepAlive: true }) };

export function requestFor(url: string) {
  const secure = url.startsWith('https:');
  return { request: secure ? httpsRequest : httpRequest, agent: secure ? agents.https : agents.http };
}

export function header(res: IncomingMessage, name: string): string | null {
  const value = res.headers[name];
  return Array.isArray(value) ? (value[0] ?? null) : (value ?? null);
}
