/**
 * The source uploaded to Cloud Functions: the compiled `dist/functions`, package.json without
 * scripts (nothing to build remotely) and the lock file, staged in `dist/deploy-source`. Its
 * SHA-256 (over file names and contents, in a fixed order) labels each function, so a deploy only
 * rebuilds a function whose code changed.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';

export const REPO_ROOT = join(import.meta.dirname, '..', '..');
export const SOURCE_DIR = join(REPO_ROOT, 'dist', 'deploy-source');

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && !e.name.endsWith('.map'))
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

/** Compiles the functions (`npm run build`) and stages the upload; returns its hash (16 hex). */
export function buildAndStage(print: (line: string) => void): string {
  print('building: npm run build');
  execFileSync('npm', ['run', '-s', 'build'], { cwd: REPO_ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
  rmSync(SOURCE_DIR, { recursive: true, force: true });
  mkdirSync(join(SOURCE_DIR, 'dist'), { recursive: true });
  cpSync(join(REPO_ROOT, 'dist', 'functions'), join(SOURCE_DIR, 'dist', 'functions'), { recursive: true, filter: (src) => !src.endsWith('.map') });
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as Record<string, unknown>;
  delete pkg['scripts'];
  writeFileSync(join(SOURCE_DIR, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
  cpSync(join(REPO_ROOT, 'package-lock.json'), join(SOURCE_DIR, 'package-lock.json'));
  return sourceHash();
}

/** The staged source's hash, or `unbuilt` when nothing is staged (a dry run builds nothing). */
export function sourceHash(): string {
  if (!existsSync(join(SOURCE_DIR, 'package.json'))) return 'unbuilt';
  const hash = createHash('sha256');
  for (const file of filesUnder(SOURCE_DIR)) {
    hash.update(relative(SOURCE_DIR, file));
    hash.update('\0');
    hash.update(readFileSync(file));
    hash.update('\0');
  }
  return hash.digest('hex').slice(0, 16);
}
