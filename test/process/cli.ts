/**
 * The command line of `node dist/src/main.js`: --help and --version answer and exit 0 before any
 * configuration is read, a bad command line prints the usage and exits 2, and -c/--config reach
 * the configuration.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { USAGE } from '../../src/cli.js';

const MAIN = fileURLToPath(new URL('../../dist/src/main.js', import.meta.url));
const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
const dir = mkdtempSync(join(tmpdir(), 'dtm-cli-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

/** Runs main.js with `args`; LOG_LEVEL=loud would fail start-up if the configuration were read. */
function run(args: string[], env: Record<string, string> = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 15_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

t.test('--help and -h print the usage to stdout and exit 0, without reading the configuration', async (t) => {
  for (const flag of ['--help', '-h']) {
    t.strictSame(run([flag], { LOG_LEVEL: 'loud' }), { status: 0, stdout: USAGE, stderr: '' }, flag);
  }
});

t.test('--version and -v print the version and exit 0', async (t) => {
  for (const flag of ['--version', '-v']) {
    t.strictSame(run([flag], { LOG_LEVEL: 'loud' }), { status: 0, stdout: `${VERSION}\n`, stderr: '' }, flag);
  }
});

t.test('an unknown flag or a stray argument prints what is wrong and the usage to stderr, and exits 2', async (t) => {
  for (const [args, why] of [
    [['--bogus'], "Unknown option '--bogus'"],
    [['stray'], "Unexpected argument 'stray'"],
    [['-c'], 'argument missing'],
  ] as const) {
    const r = run([...args]);
    t.equal(r.status, 2, `${args.join(' ')}: exit 2`);
    t.equal(r.stdout, '', 'nothing on stdout');
    t.match(r.stderr, why, 'says what is wrong');
    t.ok(r.stderr.endsWith(USAGE), 'then the usage');
  }
});

t.test('a bad --workers value or configuration file exits 2 naming it', async (t) => {
  const workers = run(['--workers', '0']);
  t.equal(workers.status, 2);
  t.match(workers.stderr, 'invalid configuration: [DTM_CONFIG] --workers: must be a whole number from 1 to 256, got "0"');
  const missing = run(['-c', join(dir, 'missing.yml')]);
  t.equal(missing.status, 2);
  t.match(missing.stderr, 'invalid configuration: [DTM_CONFIG] -c: cannot read');
  // The long form reaches the configuration too: its bad value is reported under its YAML key.
  const file = join(dir, 'bad.yml');
  writeFileSync(file, 'RetryInterval: abc\n');
  const bad = run([`--config=${file}`]);
  t.equal(bad.status, 2);
  t.match(bad.stderr, `invalid configuration: [DTM_CONFIG] RetryInterval: must be a number, got "abc" (in ${file})`);
});
