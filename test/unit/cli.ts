import t from 'tap';
import { readFileSync } from 'node:fs';
import { parseCli, UsageError, USAGE } from '../../src/cli.js';
import { packageVersion } from '../../src/version.js';
import { ConfigError } from '../../src/config.js';

t.test('the flags that run the coordinator', async (t) => {
  const rows: [argv: string[], configFile: string | undefined, workers: number | undefined][] = [
    [[], undefined, undefined],
    [['-c', 'conf.yml'], 'conf.yml', undefined],
    [['--config', 'conf.yml'], 'conf.yml', undefined],
    [['--config=conf.yml'], 'conf.yml', undefined],
    [['--workers', '4'], undefined, 4],
    [['--workers=4'], undefined, 4],
    [['--workers', '256', '-c', 'x.yml'], 'x.yml', 256],
  ];
  for (const [argv, configFile, workers] of rows) t.strictSame(parseCli(argv), { action: 'run', configFile, workers }, argv.join(' ') || '(none)');
});

t.test('help and version', async (t) => {
  for (const argv of [['--help'], ['-h'], ['-c', 'x.yml', '--help']]) t.strictSame(parseCli(argv), { action: 'help' }, argv.join(' '));
  for (const argv of [['--version'], ['-v']]) t.strictSame(parseCli(argv), { action: 'version' }, argv.join(' '));
  t.match(USAGE, /^Usage: /, 'the usage text starts with Usage:');
  for (const flag of ['--config', '--workers', '--help', '--version']) t.match(USAGE, flag, `the usage names ${flag}`);
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  t.equal(packageVersion(), pkg.version, "the version is package.json's");
});

t.test('anything else is a UsageError; a bad --workers value a ConfigError naming --workers', async (t) => {
  for (const argv of [['--bogus'], ['-x'], ['stray'], ['-c'], ['--workers'], ['--help=yes']]) {
    t.throws(() => parseCli(argv), UsageError, argv.join(' '));
  }
  for (const raw of ['0', '257', '1.5', 'two', '', ' ']) {
    t.throws(() => parseCli(['--workers', raw]), { name: 'ConfigError', key: '--workers' }, `--workers ${JSON.stringify(raw)}`);
    t.throws(() => parseCli(['--workers', raw]), ConfigError);
  }
});
