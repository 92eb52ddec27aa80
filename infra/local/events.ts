// `npm run events`: follows the topic `export-events` of the running local stack (`npm start`) and
// prints each event as one JSON line on stdout, as the application would receive it; progress
// notes go to stderr, so `npm run -s events | jq .` sees only events. Ctrl-C stops it.
//
// It reads `.local/stack.json` (or `$LOCAL_STACK_DIR/stack.json`), creates a pull subscription
// of its own on the topic (only events published from then on are shown), acks what it prints,
// and deletes the subscription when it stops (if it is killed instead, the subscription expires
// after a day of inactivity).
import { PubSub, type Message } from '@google-cloud/pubsub';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pubsubOptions } from '../../functions/platform/clients.js';
import { REPO_ROOT } from './functions.js';
import type { StackInfo } from './stack.js';

const file = join(process.env['LOCAL_STACK_DIR'] ?? join(REPO_ROOT, '.local'), 'stack.json');
if (!existsSync(file)) {
  console.error(`No local stack: ${file} does not exist. Start one with \`npm start\` (in another terminal) first.`);
  process.exit(1);
}
const info = JSON.parse(readFileSync(file, 'utf8')) as StackInfo;
const topicName = info.topics['export-events'];
const emulator = info.env['PUBSUB_EMULATOR_HOST'];
if (!emulator) {
  console.error(`${file} names no Pub/Sub emulator (env.PUBSUB_EMULATOR_HOST): is it a local stack's?`);
  process.exit(1);
}

const pubsub = new PubSub(pubsubOptions(info.projectId, emulator));
const name = `events-follower-${randomBytes(4).toString('hex')}`;
const [subscription] = await pubsub
  .topic(topicName)
  .createSubscription(name, { ackDeadlineSeconds: 30, expirationPolicy: { ttl: { seconds: 86_400 } } })
  .catch((error: unknown) => {
    console.error(`Could not subscribe to ${topicName} on ${emulator} (is the stack still running?): ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  });

/** The event as one line: the message's JSON body (the event itself); a body that is not JSON is shown as text. */
function line(message: Message): string {
  const text = message.data.toString('utf8');
  try {
    return JSON.stringify(JSON.parse(text));
  } catch {
    return JSON.stringify({ messageId: message.id, attributes: message.attributes, undecodedData: text });
  }
}

subscription.on('message', (message: Message) => {
  process.stdout.write(`${line(message)}\n`);
  message.ack();
});
subscription.on('error', (error: Error) => console.error(`subscription error: ${error.message}`));
console.error(`Following ${topicName} (subscription ${name}); Ctrl-C to stop.`);

let stopping = false;
async function stop(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.error(`${signal}: stopping.`);
  await subscription.close().catch(() => undefined);
  await subscription.delete().catch(() => undefined);
  await pubsub.close().catch(() => undefined);
  process.exit(0);
}
process.on('SIGINT', () => void stop('SIGINT'));
process.on('SIGTERM', () => void stop('SIGTERM'));
