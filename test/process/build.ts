/**
 * src/tools/build.js, as `npm run build` and `npm start`'s prestart run it, in a scratch project:
 * with --if-changed it compiles when dist/ is missing or the sources' content changed, and
 * otherwise exits at once without loading TypeScript. Runs that must not compile are made without
 * the scratch project's node_modules: had they reached for tsc, they would fail. Also
 * `npm start -- --version` in this repository: prestart and the argument pass-through work.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const project = mkdtempSync(join(tmpdir(), 'dtm-build-'));
t.teardown(() => rmSync(project, { recursive: true, force: true }));

const src = (name: string): string => join(project, 'src', name);
mkdirSync(join(project, 'src', 'tools'), { recursive: true });
copyFileSync(join(repo, 'src', 'tools', 'build.js'), join(project, 'src', 'tools', 'build.js'));
writeFileSync(join(project, 'package.json'), '{ "type": "module" }\n');
writeFileSync(
  join(project, 'tsconfig.json'),
  JSON.stringify({ compilerOptions: { target: 'es2022', module: 'nodenext', strict: true, skipLibCheck: true, types: [], noEmit: true }, include: ['src'] }),
);
const buildConfig = JSON.stringify({ extends: './tsconfig.json', compilerOptions: { noEmit: false, outDir: 'dist', rootDir: '.' } });
writeFileSync(join(project, 'tsconfig.build.json'), buildConfig);
writeFileSync(src('main.ts'), 'export const answer: number = 1;\n');
writeFileSync(src('util.ts'), 'export const util = 1;\n');

const modules = join(project, 'node_modules');
const withTypeScript = (): void => {
  if (!existsSync(modules)) symlinkSync(join(repo, 'node_modules'), modules);
};
const withoutTypeScript = (): void => rmSync(modules, { force: true });

function build(...args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, ['src/tools/build.js', ...args], { cwd: project, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stderr: r.stderr };
}
/** True when `--if-changed` finds dist/ current: it exits 0 without TypeScript, printing nothing. */
function current(): boolean {
  withoutTypeScript();
  const r = build('--if-changed');
  return r.status === 0 && r.stderr === '';
}
const emitted = (): string => readFileSync(join(project, 'dist', 'src', 'main.js'), 'utf8');
const stamp = join(project, 'dist', '.build-hash');

t.test('--if-changed builds when there is no dist/, then not again while the sources are the same', async (t) => {
  t.notOk(current(), 'no dist/: not current');
  withTypeScript();
  const first = build('--if-changed');
  t.equal(first.status, 0, 'built');
  t.match(first.stderr, 'building dist/ (there is none yet)');
  t.match(emitted(), 'answer = 1', 'dist/ holds the compiled source');
  t.ok(existsSync(stamp), 'and the hash of what it was built from');
  t.ok(current(), 'then current: exits 0 at once, without TypeScript');
  const later = new Date(Date.now() + 60_000);
  utimesSync(src('main.ts'), later, later);
  t.ok(current(), 'a touch that changes no content changes nothing');
});

t.test('every kind of source change makes dist/ stale; undoing it makes it current again', async (t) => {
  const changes: [what: string, change: () => void, undo: () => void][] = [
    [
      'an edit',
      () => writeFileSync(src('main.ts'), 'export const answer: number = 2;\n'),
      () => writeFileSync(src('main.ts'), 'export const answer: number = 1;\n'),
    ],
    ['an added file', () => writeFileSync(src('extra.ts'), 'export {};\n'), () => unlinkSync(src('extra.ts'))],
    ['a deleted file', () => unlinkSync(src('util.ts')), () => writeFileSync(src('util.ts'), 'export const util = 1;\n')],
    ['a renamed file', () => renameSync(src('util.ts'), src('util2.ts')), () => renameSync(src('util2.ts'), src('util.ts'))],
    [
      'a tsconfig change',
      () => writeFileSync(join(project, 'tsconfig.build.json'), buildConfig.replace('"rootDir"', '"sourceMap":true,"rootDir"')),
      () => writeFileSync(join(project, 'tsconfig.build.json'), buildConfig),
    ],
  ];
  for (const [what, change, undo] of changes) {
    change();
    t.notOk(current(), `${what}: stale`);
    undo();
    t.ok(current(), `${what} undone: current`);
  }
});

t.test('a stale dist/ is rebuilt; a failed compile leaves no hash, so the next start tries again', async (t) => {
  writeFileSync(src('main.ts'), 'export const answer: number = "three";\n');
  withTypeScript();
  const failed = build('--if-changed');
  t.not(failed.status, 0, 'the type error fails the build');
  t.match(failed.stderr, 'rebuilding dist/');
  t.notOk(existsSync(stamp), 'no hash');
  writeFileSync(src('main.ts'), 'export const answer: number = 3;\n');
  t.notOk(current(), 'not current, though dist/ has output');
  // npm run build compiles whatever the state, and records the hash for the next start.
  withTypeScript();
  t.equal(build().status, 0, 'built');
  t.match(emitted(), 'answer = 3', 'from the fixed source');
  t.ok(current(), 'and current');
  rmSync(join(project, 'dist', 'src', 'main.js'));
  t.notOk(current(), 'a dist/ missing its entry point is stale');
  withoutTypeScript();
  t.not(build().status, 0, 'without --if-changed it reaches for the compiler even when current');
});

t.test('npm start -- --version: prestart, then main.js with the arguments', async (t) => {
  const r = spawnSync('npm', ['start', '--silent', '--', '--version'], { cwd: repo, encoding: 'utf8', timeout: 300_000 });
  const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { version: string };
  t.equal(r.status, 0, r.stderr);
  t.equal(r.stdout.trim().split('\n').at(-1), pkg.version, 'prints the version');
});
