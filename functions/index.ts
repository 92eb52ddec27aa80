// Registers each deployable function with the Functions Framework; nothing else lives here.
import * as ff from '@google-cloud/functions-framework';
import { api } from './entrypoints/api.js';
import { deadletter } from './entrypoints/deadletter.js';
import { oauth } from './entrypoints/oauth.js';
import { scheduler } from './entrypoints/scheduler.js';
import { initiate, poll, schedule, transfer } from './entrypoints/workers.js';
import { forwardFrameworkRefusals } from './platform/framework-errors.js';
import { createRuntime } from './platform/runtime.js';

const runtime = createRuntime(process.env);

// The framework's seams (platform/framework-errors.ts): bodies read only by routes that take one,
// within limits; what the framework cannot parse reaches our error answers; security headers.
forwardFrameworkRefusals();

ff.http('api', api(runtime));
ff.http('oauth', oauth(runtime));
ff.http('scheduler', scheduler(runtime));
ff.cloudEvent('initiate', initiate(runtime));
ff.cloudEvent('poll', poll(runtime));
ff.cloudEvent('transfer', transfer(runtime));
ff.cloudEvent('schedule', schedule(runtime));
ff.cloudEvent('deadletter', deadletter(runtime));
