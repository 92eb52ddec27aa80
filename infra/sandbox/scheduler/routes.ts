// The Cloud Scheduler API v1 subset `@google-cloud/scheduler` uses over REST (`fallback: true`):
// jobs create, get, list (paged), patch (update mask), delete, pause, resume and run.
import { randomBytes } from 'node:crypto';
import type { CallLog } from '../lib/call-log.js';
import type { Clock } from '../lib/clock.js';
import { ApiError, badRequest, failedPrecondition, invalidArgument } from '../lib/errors.js';
import { readJsonObject, sendJson } from '../lib/http.js';
import type { RequestContext, Route, SandboxModule } from '../lib/router.js';
import type { SchedulerJobRecord } from '../lib/state.js';
import type { StateStore } from '../lib/store.js';
import { NAME_PATTERN, PARENT_PATTERN, applyUpdate, buildJob, jobInput, jobView, parseUpdateMask, recordInput } from './jobs.js';
import { SchedulerRunner } from './runner.js';

export interface SchedulerDeps {
  store: StateStore;
  clock: Clock;
  calls: CallLog;
  mintIdToken(audience: string, email: string): string;
}

const MAX_PAGE_SIZE = 500;

function notFound(): ApiError {
  return new ApiError(404, 'NOT_FOUND', 'Job not found.');
}

function intEnums(ctx: RequestContext): boolean {
  return (ctx.query.get('$alt') ?? '').split(';').includes('enum-encoding=int');
}

export function schedulerModule(deps: SchedulerDeps): SandboxModule {
  const { store, clock } = deps;
  const runner = new SchedulerRunner(deps);
  runner.start();
  const jobs = (): Record<string, SchedulerJobRecord> => store.state.schedulerJobs;
  const settings = () => ({ now: clock.now(), seconds: store.state.config.schedulerSecondsSchedules });

  const parentOf = (ctx: RequestContext): string => {
    const parent = `projects/${ctx.params[0] ?? ''}/locations/${ctx.params[1] ?? ''}`;
    if (!PARENT_PATTERN.test(parent))
      throw invalidArgument(`Invalid resource field value in the request: parent "${parent.slice(0, 200)}".`, [
        badRequest('parent', 'must be projects/PROJECT_ID/locations/LOCATION_ID'),
      ]);
    return parent;
  };
  const nameOf = (ctx: RequestContext): string => {
    const name = `projects/${ctx.params[0] ?? ''}/locations/${ctx.params[1] ?? ''}/jobs/${ctx.params[2] ?? ''}`;
    if (!NAME_PATTERN.test(name))
      throw invalidArgument(`Invalid resource field value in the request: name "${name.slice(0, 200)}".`, [
        badRequest('name', 'must be projects/PROJECT_ID/locations/LOCATION_ID/jobs/JOB_ID (JOB_ID: letters, digits, - and _, at most 500)'),
      ]);
    return name;
  };
  const existing = (ctx: RequestContext): SchedulerJobRecord => {
    const job = jobs()[nameOf(ctx)];
    if (!job) throw notFound();
    return job;
  };
  const answer = (ctx: RequestContext, job: SchedulerJobRecord) => sendJson(ctx.res, 200, jobView(job, intEnums(ctx)));

  const create = async (ctx: RequestContext) => {
    const parent = parentOf(ctx);
    const input = jobInput(await readJsonObject(ctx.req));
    const given = typeof input.name === 'string' ? input.name : '';
    if (input.name !== undefined && typeof input.name !== 'string')
      throw invalidArgument('Invalid value for job.name: must be a string', [badRequest('job.name', 'must be a string')]);
    const name = given === '' ? `${parent}/jobs/${randomBytes(8).toString('hex')}` : given;
    if (!NAME_PATTERN.test(name) || !name.startsWith(`${parent}/jobs/`)) {
      throw invalidArgument(`Job name "${name.slice(0, 200)}" must be ${parent}/jobs/JOB_ID.`, [
        badRequest('job.name', `must be ${parent}/jobs/JOB_ID (JOB_ID: letters, digits, - and _, at most 500)`),
      ]);
    }
    const job = buildJob(name, input, settings());
    if (jobs()[name]) throw new ApiError(409, 'ALREADY_EXISTS', `Job ${name} already exists.`);
    jobs()[name] = job;
    runner.reschedule(job, clock.now());
    answer(ctx, job);
  };

  const list = (ctx: RequestContext) => {
    const parent = parentOf(ctx);
    const sizeText = ctx.query.get('pageSize') ?? ctx.query.get('page_size') ?? '0';
    const size = /^\d{1,9}$/.test(sizeText) ? Number(sizeText) : -1;
    if (size < 0) throw invalidArgument('Invalid value for page_size: must be a non-negative integer.', [badRequest('page_size', 'must be a non-negative integer')]);
    const pageSize = size === 0 ? MAX_PAGE_SIZE : Math.min(size, MAX_PAGE_SIZE);
    const token = ctx.query.get('pageToken') ?? ctx.query.get('page_token') ?? '';
    let after = '';
    if (token !== '') {
      after = Buffer.from(token, 'base64url').toString('utf8');
      if (!after.startsWith(`${parent}/jobs/`) || Buffer.from(after).toString('base64url') !== token) {
        throw invalidArgument('Invalid page_token.', [badRequest('page_token', 'not a token returned by a previous list call of this parent')]);
      }
    }
    const names = Object.keys(jobs())
      .filter((n) => n.startsWith(`${parent}/jobs/`) && n > after)
      .sort();
    const page = names.slice(0, pageSize);
    const last = page[page.length - 1];
    const enums = intEnums(ctx);
    sendJson(ctx.res, 200, {
      ...(page.length > 0 ? { jobs: page.map((n) => jobView(jobs()[n] as SchedulerJobRecord, enums)) } : {}),
      ...(names.length > page.length && last !== undefined ? { nextPageToken: Buffer.from(last).toString('base64url') } : {}),
    });
  };

  const update = async (ctx: RequestContext) => {
    const job = existing(ctx);
    const body = await readJsonObject(ctx.req);
    const mask = parseUpdateMask(ctx.query.get('updateMask') ?? ctx.query.get('update_mask'));
    const patch = jobInput(body);
    if (typeof patch.name === 'string' && patch.name !== '' && patch.name !== job.name) {
      throw invalidArgument('job.name does not match the job in the URL.', [badRequest('job.name', 'must equal the name in the URL')]);
    }
    const updated = buildJob(job.name, applyUpdate(recordInput(job), patch, mask), settings(), job);
    jobs()[job.name] = updated;
    runner.reschedule(updated, clock.now());
    answer(ctx, updated);
  };

  const remove = async (ctx: RequestContext) => {
    const job = existing(ctx);
    await readJsonObject(ctx.req);
    delete jobs()[job.name];
    store.changed();
    sendJson(ctx.res, 200, {});
  };

  const action = async (ctx: RequestContext) => {
    const job = existing(ctx);
    await readJsonObject(ctx.req);
    switch (ctx.params[3]) {
      case 'pause':
        if (job.state !== 'ENABLED') throw failedPrecondition(`Job ${job.name} must be ENABLED to be paused; it is ${job.state}.`);
        job.state = 'PAUSED';
        runner.reschedule(job, clock.now());
        break;
      case 'resume':
        if (job.state !== 'PAUSED') throw failedPrecondition(`Job ${job.name} must be PAUSED to be resumed; it is ${job.state}.`);
        job.state = 'ENABLED';
        runner.reschedule(job, clock.now());
        break;
      default:
        runner.runNow(job.name);
    }
    answer(ctx, job);
  };

  const base = '^\\/v1\\/projects\\/([^/]+)\\/locations\\/([^/]+)\\/jobs';
  const routes: Route[] = [
    { methods: ['GET', 'POST'], path: new RegExp(`${base}$`), style: 'google', handle: (ctx) => (ctx.method === 'POST' ? create(ctx) : list(ctx)) },
    {
      methods: ['GET', 'PATCH', 'DELETE'],
      path: new RegExp(`${base}\\/([^/:]+)$`),
      style: 'google',
      handle: (ctx) => (ctx.method === 'PATCH' ? update(ctx) : ctx.method === 'DELETE' ? remove(ctx) : answer(ctx, existing(ctx))),
    },
    { methods: ['POST'], path: new RegExp(`${base}\\/([^/:]+):(pause|resume|run)$`), style: 'google', handle: action },
  ];
  return { name: 'scheduler', routes, close: () => runner.close() };
}
