// `npm run bench [-- --json] [--quick] [--only poll|transfer|e2e|tick|bundle|coldStart|console|mewsPoll ...]`: measured figures, printed
// next to their targets (PASS/MISS). Benchmarks never fail on a target (shared, noisy machines);
// they fail only when something is wrong (a copy that does not verify, a process that does not
// start). With --json, stdout carries exactly one JSON object; progress goes to stderr.
//
// poll: pure simulation (2,000 samples per duration; --quick 500). transfer: 256 MiB and 2 GiB
// (--quick 16 and 64 MiB), 3 interleaved rounds (--quick 1); archives are cached in
// .local/bench/archive-cache (about 2.3 GB, reused by later runs). e2e: N = 200 (--quick 20);
// BENCH_KEEP_LOGS=1 keeps the function logs and the sandbox call log under .local/bench/e2e-*.
// tick: 1,000 then 10,000 due time-based consents (--quick 100 then 1,000) through the exports
// tick's pages on the Firestore and Pub/Sub emulators. bundle: 8 files packed into a zip and a
// tar.gz, 256 MiB and 2 GiB in all (--quick 32 and 128 MiB; --bundle-mib 256,2048 sets the sizes).
// coldStart: each function from the built dist/ (`npm run build` first) with only its own
// configuration, median of 3 starts (--quick 1). console: the web console's pages in headless
// Chromium on the local stack with 1,000 consents and 5,000 exports (--quick 100 and 500), 5 rounds (--quick 2).
// mewsPoll: 2,500 running Mews exports of 3 tenants (1,200 + 800 + 500; --quick 500) checked by one
// poll sweep on the emulators and the sandbox's Mews: exports/getAll calls and durations.
import { bundleJson, bundleLines, runBundleBench } from './bundle.js';
import { coldStartJson, coldStartLines, runColdStartBench } from './cold-start.js';
import { consoleJson, consoleLines, runConsoleBench } from './console.js';
import { e2eJson, e2eLines, runE2eBench } from './e2e.js';
import { mewsPollJson, mewsPollLines, runMewsPollBench } from './mews-poll.js';
import { pollJson, pollLines, runPollBench } from './poll.js';
import { runTickBench, tickJson, tickLines } from './tick.js';
import { runTransferBench, transferJson, transferLines } from './transfer.js';

const BENCHES = ['poll', 'transfer', 'e2e', 'tick', 'bundle', 'coldStart', 'console', 'mewsPoll'] as const;
type Bench = (typeof BENCHES)[number];

interface Options {
  readonly json: boolean;
  readonly quick: boolean;
  readonly only: readonly Bench[];
  /** Sizes of the bundle bench in MiB (total of its 8 files). */
  readonly bundleMiB?: readonly number[];
}

export function parseArgs(argv: readonly string[]): Options {
  let json = false;
  let quick = false;
  const only: Bench[] = [];
  let bundleMiB: number[] | undefined;
  const isBench = (v: string | undefined): v is Bench => (BENCHES as readonly string[]).includes(v ?? '');
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--json') json = true;
    else if (arg === '--quick') quick = true;
    else if (arg === '--bundle-mib' || arg.startsWith('--bundle-mib=')) {
      const value = arg === '--bundle-mib' ? (argv[++i] ?? '') : arg.slice('--bundle-mib='.length);
      bundleMiB = value.split(',').map(Number);
      if (bundleMiB.length === 0 || bundleMiB.some((m) => !Number.isInteger(m) || m < 8 || m % 8 !== 0))
        throw new Error(`--bundle-mib takes sizes in MiB, multiples of 8 (got ${JSON.stringify(value)})`);
    } else if (arg === '--only' || arg.startsWith('--only=')) {
      const value = arg === '--only' ? argv[++i] : arg.slice('--only='.length);
      if (!isBench(value)) throw new Error(`--only takes one of ${BENCHES.join(', ')} (got ${JSON.stringify(value ?? '')})`);
      if (!only.includes(value)) only.push(value);
    } else throw new Error(`unknown option ${JSON.stringify(arg)}; usage: npm run bench -- [--json] [--quick] [--only ${BENCHES.join('|')}]...`);
  }
  return { json, quick, only: only.length > 0 ? only : [...BENCHES], ...(bundleMiB ? { bundleMiB } : {}) };
}

async function main(): Promise<number> {
  const options = parseArgs(process.argv.slice(2));
  const say = (line: string) => (options.json ? process.stderr : process.stdout).write(line + '\n');
  const out: Record<string, unknown> = {};
  for (const bench of options.only) {
    if (bench === 'poll') {
      const result = runPollBench({ samples: options.quick ? 500 : 2000 });
      out['poll'] = pollJson(result);
      if (!options.json) pollLines(result).forEach(say);
    } else if (bench === 'transfer') {
      const result = await runTransferBench({ quick: options.quick, log: (line) => process.stderr.write(line + '\n') });
      out['transfer'] = transferJson(result);
      if (!options.json) transferLines(result).forEach(say);
    } else if (bench === 'bundle') {
      const result = await runBundleBench({ sizesMiB: options.bundleMiB ?? (options.quick ? [32, 128] : [256, 2048]), log: (line) => process.stderr.write(line + '\n') });
      out['bundle'] = bundleJson(result);
      if (!options.json) bundleLines(result).forEach(say);
    } else if (bench === 'coldStart') {
      const result = await runColdStartBench({ rounds: options.quick ? 1 : 3, log: (line) => process.stderr.write(line + '\n') });
      out['coldStart'] = coldStartJson(result);
      if (!options.json) coldStartLines(result).forEach(say);
    } else if (bench === 'tick') {
      const result = await runTickBench({ sizes: options.quick ? [100, 1000] : [1000, 10_000], log: (line) => process.stderr.write(line + '\n') });
      out['tick'] = tickJson(result);
      if (!options.json) tickLines(result).forEach(say);
    } else if (bench === 'mewsPoll') {
      const result = await runMewsPollBench({ tenants: options.quick ? [240, 160, 100] : [1200, 800, 500], log: (line) => process.stderr.write(line + '\n') });
      out['mewsPoll'] = mewsPollJson(result);
      if (!options.json) mewsPollLines(result).forEach(say);
    } else if (bench === 'console') {
      const result = await runConsoleBench({ consents: options.quick ? 100 : 1000, rounds: options.quick ? 2 : 5, log: (line) => process.stderr.write(line + '\n') });
      out['console'] = consoleJson(result);
      if (!options.json) consoleLines(result).forEach(say);
    } else {
      const result = await runE2eBench({ n: options.quick ? 20 : 200, log: (line) => process.stderr.write(line + '\n') });
      out['e2e'] = e2eJson(result);
      if (!options.json) e2eLines(result).forEach(say);
    }
  }
  if (options.json) process.stdout.write(JSON.stringify(out) + '\n');
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(1);
  },
);
