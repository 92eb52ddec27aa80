/**
 * How the deploy runner talks to Google Cloud: only through the `gcloud` CLI (the user's own
 * credentials, nothing else to install or log in to), one command at a time.
 *
 * - `read` runs a describe/list/get command and returns its output, or `undefined` when the
 *   resource does not exist (NOT_FOUND). It never changes anything.
 * - `write` runs a command that changes something, retrying what Google documents as transient for
 *   these calls: 409 concurrent IAM policy changes, and the brief 400 "does not exist" of a
 *   service account created a moment ago.
 *
 * `--dry-run` uses `DryRunGcloud`: it prints every command (reads too) as one shell line, in order,
 * and answers reads as an empty project would (nothing exists; read-backs get a placeholder).
 */
import { spawn } from 'node:child_process';

export interface ReadOptions {
  /** What a dry run answers: undefined = the resource does not exist. */
  readonly dryRun?: string;
}

export interface WriteOptions {
  /** An error whose output matches this is success (e.g. 409 ALREADY_EXISTS of a Firestore index). */
  readonly tolerate?: RegExp;
  /** An error whose output matches this is returned as `false` instead of thrown. */
  readonly refusal?: RegExp;
}

export interface Gcloud {
  read(args: readonly string[], options?: ReadOptions): Promise<string | undefined>;
  /** Resolves true when done, false when refused with `options.refusal`. */
  write(args: readonly string[], options?: WriteOptions): Promise<boolean>;
}

export class GcloudError extends Error {
  constructor(
    readonly args: readonly string[],
    readonly stderr: string,
  ) {
    super(`gcloud ${args.join(' ')} failed:\n${stderr.trim()}`);
  }
}

/** Quotes one argument for a POSIX shell, only when it needs it. */
export function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./^-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}

export function commandLine(args: readonly string[]): string {
  return ['gcloud', ...args].map(shellQuote).join(' ');
}

const NOT_FOUND = /NOT_FOUND|not found|does not exist|404/i;
const DENIED = /PERMISSION_DENIED|403/;
const TRANSIENT =
  /concurrent policy changes|ABORTED|409.*(etag|concurrent)|There were concurrent|does not exist.*service account|Service account .* does not exist|UNAVAILABLE|503|RESOURCE_EXHAUSTED|429/i;

export interface Outcome {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function runOnce(binary: string, args: readonly string[]): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CLOUDSDK_CORE_DISABLE_PROMPTS: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', (err) => reject(new Error(`cannot run ${binary}: ${err.message}. Install the Google Cloud CLI: https://cloud.google.com/sdk/docs/install`)));
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `gcloud ARGS` (or the binary `GCLOUD` names) and collects its exit code and output. */
export type GcloudProcess = (args: readonly string[]) => Promise<Outcome>;

const spawnGcloud: GcloudProcess = (args) => runOnce(process.env['GCLOUD'] ?? 'gcloud', args);

/** The real CLI. */
export class CliGcloud implements Gcloud {
  constructor(
    private readonly print: (line: string) => void,
    private readonly exec: GcloudProcess = spawnGcloud,
    private readonly retryDelayMs = 2_000,
  ) {}

  async read(args: readonly string[]): Promise<string | undefined> {
    for (let attempt = 1; ; attempt++) {
      const r = await this.exec(args);
      if (r.code === 0) return r.stdout;
      if (NOT_FOUND.test(r.stderr) && !DENIED.test(r.stderr)) return undefined;
      if (attempt >= 4 || !TRANSIENT.test(r.stderr)) throw new GcloudError(args, r.stderr);
      await sleep(this.retryDelayMs * attempt);
    }
  }

  async write(args: readonly string[], options: WriteOptions = {}): Promise<boolean> {
    this.print(commandLine(args));
    for (let attempt = 1; ; attempt++) {
      const r = await this.exec(args);
      if (r.code === 0) return true;
      const output = `${r.stderr}\n${r.stdout}`;
      if (options.tolerate?.test(output)) return true;
      if (options.refusal?.test(output)) return false;
      if (attempt >= 6 || !TRANSIENT.test(output)) throw new GcloudError(args, r.stderr);
      await sleep(this.retryDelayMs * attempt);
    }
  }
}

/** Prints every command, touches nothing; reads answer as an empty project would. */
export class DryRunGcloud implements Gcloud {
  constructor(private readonly print: (line: string) => void) {}

  async read(args: readonly string[], options: ReadOptions = {}): Promise<string | undefined> {
    this.print(commandLine(args));
    return options.dryRun;
  }

  async write(args: readonly string[]): Promise<boolean> {
    this.print(commandLine(args));
    return true;
  }
}
