/**
 * Builds dist/ (`npm run build`): the server with tsc, and the admin console with Vite
 * (src/console/ → dist/console/). With `--if-changed` (`npm start`'s prestart) it builds only
 * when the sources changed since the last build, so a start, or a restart after a crash, does not
 * pay for loading the compiler (about a second idle, a minute on a loaded 2-core host) when dist/
 * is current. Plain JavaScript: it runs before anything is compiled.
 *
 * "Changed" is decided by content: a SHA-256 over the path and bytes of every file under src/ and
 * the tsconfig files, recorded in dist/.build-hash after a successful build. Edits, added,
 * deleted and renamed files all change it; a touch or a checkout of the same content does not.
 * Hashing the ~0.5 MB of sources takes a few milliseconds.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative, sep } from 'node:path';
import process from 'node:process';

/** The project root: npm runs scripts there. */
const root = process.cwd();
const INPUTS = ['src', 'tsconfig.json', 'tsconfig.build.json'];
const STAMP = join(root, 'dist', '.build-hash');
/** A file the build must have produced; its absence means dist/ is incomplete. */
const ENTRY = join(root, 'dist', 'src', 'main.js');
/** The console's Vite configuration (a project without it has no console to build) and the page it produces. */
const CONSOLE_CONFIG = join(root, 'src', 'console', 'vite.config.js');
const CONSOLE_ENTRY = join(root, 'dist', 'console', 'index.html');
const hasConsole = existsSync(CONSOLE_CONFIG);

/** The files of an input (a file, or every file under a directory), relative to the root, '/'-separated. */
function files(input) {
  let entries;
  try {
    entries = readdirSync(join(root, input), { withFileTypes: true, recursive: true });
  } catch (err) {
    if (err.code === 'ENOTDIR') return [input];
    if (err.code === 'ENOENT') return [];
    throw err;
  }
  return entries
    .filter((e) => e.isFile())
    .map((e) =>
      relative(root, join(e.parentPath ?? e.path, e.name))
        .split(sep)
        .join('/'),
    )
    .sort();
}

/** The hash of every input's path and content. */
function fingerprint() {
  const hash = createHash('sha256');
  for (const input of INPUTS) {
    for (const file of files(input)) {
      hash.update(`${file}\0`);
      hash.update(readFileSync(join(root, file)));
      hash.update('\0');
    }
  }
  return hash.digest('hex');
}

const ifChanged = process.argv.includes('--if-changed');
const current = fingerprint();
const built = existsSync(ENTRY) && (!hasConsole || existsSync(CONSOLE_ENTRY));
if (ifChanged && built && existsSync(STAMP) && readFileSync(STAMP, 'utf8').trim() === current) process.exit(0);

if (ifChanged) process.stderr.write(existsSync(ENTRY) ? 'sources changed since the last build: rebuilding dist/\n' : 'building dist/ (there is none yet)\n');
const tsc = createRequire(join(root, 'package.json')).resolve('typescript/bin/tsc');
// From here dist/ is being rewritten: a failed or interrupted build must not look current.
rmSync(STAMP, { force: true });
// tsc never deletes: without this, the output of a source deleted or renamed since would linger.
rmSync(join(root, 'dist', 'src'), { recursive: true, force: true });
const result = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
if (result.status !== 0) process.exit(result.status ?? 1);
// The console: Vite bundles src/console/ (Preact, TypeScript) into dist/console/, which it empties first.
if (hasConsole) {
  try {
    const { build } = await import('vite');
    await build({ configFile: CONSOLE_CONFIG, logLevel: 'warn' });
  } catch (err) {
    process.stderr.write(`the console build failed: ${err.message}\n`);
    process.exit(1);
  }
}
mkdirSync(join(root, 'dist'), { recursive: true });
writeFileSync(STAMP, `${current}\n`);
