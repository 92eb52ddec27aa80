import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino';
import type { Config } from './config.js';

/**
 * The one structured logger. In production: one JSON line per entry on stdout with `severity`
 * (Cloud Logging's field), `message`, `time`, and the invocation's trace and event id bound by
 * `forInvocation`. Locally (`LOG_FORMAT=pretty`): readable lines. Known secret-bearing fields are
 * redacted wherever they appear, as a second line of defence: code never logs them on purpose.
 */
export type Logger = PinoLogger;

const SEVERITY: Record<string, string> = {
  trace: 'DEBUG',
  debug: 'DEBUG',
  info: 'INFO',
  warn: 'WARNING',
  error: 'ERROR',
  fatal: 'CRITICAL',
};

export const REDACTED_KEYS = [
  'accessToken',
  'access_token',
  'refreshToken',
  'refresh_token',
  'idToken',
  'id_token',
  'authorizationCode',
  'codeVerifier',
  'code_verifier',
  'oauthState',
  'clientSecret',
  'client_secret',
  'authorization',
  'cookie',
  'urls',
  'signedUrl',
] as const;

const REDACT_PATHS = REDACTED_KEYS.flatMap((key) => [key, `*.${key}`, `*.*.${key}`]);

/** URLs keep their path but lose their query string (signatures, upload ids, codes). */
export function scrubUrls(text: string): string {
  return text.replace(/(https?:\/\/[^\s"'?]+)\?[^\s"']*/g, '$1?[REDACTED]');
}

/**
 * Errors are logged as type, message, stable code/reason and a short stack, all URL-scrubbed;
 * never their `cause` chain or request config, where client libraries keep URLs and headers.
 */
export function safeError(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { message: scrubUrls(String(error)) };
  const e = error as Error & { code?: unknown; reason?: unknown; status?: unknown };
  return {
    type: e.name,
    message: scrubUrls(e.message),
    ...(typeof e.code === 'string' || typeof e.code === 'number' ? { code: e.code } : {}),
    ...(typeof e.reason === 'string' ? { reason: e.reason } : {}),
    ...(e.stack ? { stack: scrubUrls(e.stack.split('\n').slice(0, 8).join('\n')) } : {}),
  };
}

export function createLogger(config: Pick<Config, 'log'>, destination?: DestinationStream): Logger {
  const options = {
    level: config.log.level,
    messageKey: 'message',
    base: undefined,
    redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
    errorKey: 'error',
    serializers: { err: safeError, error: safeError },
  };
  if (config.log.format === 'pretty' && !destination) {
    return pino({
      ...options,
      transport: { target: 'pino-pretty', options: { messageKey: 'message', translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' } },
    });
  }
  return pino(
    {
      ...options,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label: string) => ({ severity: SEVERITY[label] ?? 'DEFAULT' }) },
    },
    destination ?? pino.destination({ dest: 1, sync: true }),
  );
}

/** Child logger for one invocation, bound to its trace (Cloud Logging correlates by it) and event id. */
export function forInvocation(logger: Logger, projectId: string, ids: { traceId?: string | undefined; eventId?: string | undefined; function: string }): Logger {
  const bindings: Record<string, string> = { function: ids.function };
  if (ids.traceId) bindings['logging.googleapis.com/trace'] = `projects/${projectId}/traces/${ids.traceId}`;
  if (ids.eventId) bindings['eventId'] = ids.eventId;
  return logger.child(bindings);
}

/** The trace id of a request: W3C `traceparent` first, then Google's `X-Cloud-Trace-Context`. */
export function traceIdFrom(headers: Readonly<Record<string, string | string[] | undefined>>): string | undefined {
  const traceparent = first(headers['traceparent']);
  const w3c = traceparent && /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/.exec(traceparent);
  if (w3c) return w3c[1];
  const cloud = first(headers['x-cloud-trace-context']);
  const legacy = cloud && /^([0-9a-fA-F]{32})(\/|$)/.exec(cloud);
  return legacy ? legacy[1] : undefined;
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
