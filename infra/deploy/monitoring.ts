/**
 * Monitoring as code: one log-based metric (ERROR-or-worse log entries of the functions) and the
 * alert policies deploy creates or updates (matched by display name; each carries the user label
 * `managed-by: dataportability-deploy`).
 */
import { FUNCTIONS, eventFunctions } from '../topology.js';
import { DEAD_LETTER_HOLD, LOG_METRIC, POLICY_PREFIX } from './resources.js';

export const pushSubscription = (fn: string) => `${fn}-push`;

/** Log entries counted by the log-based metric: severity ERROR or worse, from our functions' services. */
export function errorLogFilter(): string {
  const services = FUNCTIONS.map((f) => `"${f.name}"`).join(' OR ');
  return `resource.type="cloud_run_revision" AND resource.labels.service_name=(${services}) AND severity>=ERROR`;
}

/** A work subscription's oldest message older than this (s) is an alert: retries 10–600 s over 5 attempts stay well below. */
export const OLDEST_UNACKED_ALERT_SECONDS = 3600;

/** 5xx answers per function in 5 minutes above which it alerts: user-facing functions at the first one; workers answer 5xx to ask for a redelivery, so a few are normal. */
const FIVE_XX_THRESHOLD: Readonly<Record<string, number>> = { api: 0, oauth: 0, scheduler: 0 };
const WORKER_FIVE_XX_THRESHOLD = 10;

export interface AlertPolicy {
  readonly displayName: string;
  readonly documentation: { readonly content: string; readonly mimeType: 'text/markdown' };
  readonly userLabels: Readonly<Record<string, string>>;
  readonly combiner: 'OR';
  readonly enabled: boolean;
  readonly notificationChannels: readonly string[];
  readonly conditions: readonly Record<string, unknown>[];
  readonly alertStrategy: { readonly autoClose: string };
}

function threshold(displayName: string, filter: string, aligner: string, value: number, duration: string, groupBy: string[]): Record<string, unknown> {
  return {
    displayName,
    conditionThreshold: {
      filter,
      comparison: 'COMPARISON_GT',
      thresholdValue: value,
      duration,
      trigger: { count: 1 },
      aggregations: [{ alignmentPeriod: '300s', perSeriesAligner: aligner, crossSeriesReducer: 'REDUCE_SUM', groupByFields: groupBy }],
    },
  };
}

function policy(name: string, doc: string, conditions: Record<string, unknown>[], channels: readonly string[]): AlertPolicy {
  return {
    displayName: `${POLICY_PREFIX}${name}`,
    documentation: { content: doc, mimeType: 'text/markdown' },
    userLabels: { 'managed-by': 'dataportability-deploy' },
    combiner: 'OR',
    enabled: true,
    notificationChannels: [...channels],
    conditions,
    alertStrategy: { autoClose: '604800s' },
  };
}

const oneOf = (names: readonly string[]) => `one_of(${names.map((n) => `"${n}"`).join(',')})`;

export function alertPolicies(channels: readonly string[]): AlertPolicy[] {
  const sources = eventFunctions()
    .filter((f) => f.deadLetter)
    .map((f) => pushSubscription(f.name));
  const work = eventFunctions().map((f) => pushSubscription(f.name));
  const policies = [
    policy(
      'messages dead-lettered',
      'A work message failed every delivery attempt and moved to the `dead-letter` topic. The `deadletter` function records it in Firestore (`undeliverable`); a copy waits in the `dead-letter-hold` subscription.',
      [
        threshold(
          'dead_letter_message_count > 0',
          `resource.type="pubsub_subscription" AND metric.type="pubsub.googleapis.com/subscription/dead_letter_message_count" AND resource.label.subscription_id=${oneOf(sources)}`,
          'ALIGN_DELTA',
          0,
          '0s',
          ['resource.label.subscription_id'],
        ),
      ],
      channels,
    ),
    policy(
      'dead-letter backlog',
      `Dead-lettered messages wait in the \`${DEAD_LETTER_HOLD}\` subscription. Look at them (\`gcloud pubsub subscriptions pull ${DEAD_LETTER_HOLD}\`), fix the cause, then ack them (or republish to the work topic).`,
      [
        threshold(
          'undelivered messages > 0',
          `resource.type="pubsub_subscription" AND metric.type="pubsub.googleapis.com/subscription/num_undelivered_messages" AND resource.label.subscription_id="${DEAD_LETTER_HOLD}"`,
          'ALIGN_MAX',
          0,
          '0s',
          [],
        ),
      ],
      channels,
    ),
    policy(
      'work queue stuck',
      `A work subscription's oldest unacknowledged message is more than ${OLDEST_UNACKED_ALERT_SECONDS / 60} minutes old: its function keeps failing or cannot keep up.`,
      [
        threshold(
          `oldest_unacked_message_age > ${OLDEST_UNACKED_ALERT_SECONDS} s`,
          `resource.type="pubsub_subscription" AND metric.type="pubsub.googleapis.com/subscription/oldest_unacked_message_age" AND resource.label.subscription_id=${oneOf(work)}`,
          'ALIGN_MAX',
          OLDEST_UNACKED_ALERT_SECONDS,
          '600s',
          ['resource.label.subscription_id'],
        ),
      ],
      channels,
    ),
  ];
  for (const f of FUNCTIONS) {
    const fiveXx = FIVE_XX_THRESHOLD[f.name] ?? WORKER_FIVE_XX_THRESHOLD;
    policies.push(
      policy(
        `${f.name} errors`,
        `The \`${f.name}\` function answered with 5xx (more than ${fiveXx} in 5 minutes) or logged at severity ERROR or worse. Its logs: \`resource.type="cloud_run_revision" AND resource.labels.service_name="${f.name}" AND severity>=ERROR\`.`,
        [
          threshold(
            `5xx answers > ${fiveXx} in 5 min`,
            `resource.type="cloud_run_revision" AND metric.type="run.googleapis.com/request_count" AND resource.label.service_name="${f.name}" AND metric.label.response_code_class="5xx"`,
            'ALIGN_DELTA',
            fiveXx,
            '0s',
            [],
          ),
          threshold(
            'log entries with severity >= ERROR',
            `resource.type="cloud_run_revision" AND metric.type="logging.googleapis.com/user/${LOG_METRIC}" AND resource.label.service_name="${f.name}"`,
            'ALIGN_DELTA',
            0,
            '0s',
            [],
          ),
        ],
        channels,
      ),
    );
  }
  return policies;
}

/**
 * Whether a policy as the API returns it matches what we want: every field we set is equal
 * (proto3 JSON leaves out zeros and empty lists, so a missing field equals a zero value), fields
 * the API adds (names, mutation records) are ignored.
 */
export function sameAsDesired(desired: unknown, actual: unknown): boolean {
  if (Array.isArray(desired)) {
    const a = Array.isArray(actual) ? actual : [];
    return desired.length === a.length && desired.every((d, i) => sameAsDesired(d, a[i]));
  }
  if (desired !== null && typeof desired === 'object') {
    const a = actual !== null && typeof actual === 'object' ? (actual as Record<string, unknown>) : {};
    return Object.entries(desired).every(([k, v]) => sameAsDesired(v, a[k]));
  }
  if (actual === undefined) return desired === 0 || desired === '' || desired === false || desired === '0s';
  return desired === actual || String(desired) === String(actual);
}
