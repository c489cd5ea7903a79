/**
 * The client SDK as a Node user gets it: `npm pack ./deploy/sdk` builds and packs dtm-redis-client;
 * the tarball holds the compiled client, its declarations, lua/client/, README and licence, and
 * nothing else; it installs into an empty project with undici as its only dependency and without
 * a warning; the project imports it as ESM and runs a saga against a running coordinator; and a
 * small TypeScript file type-checks against its declarations (and a wrong call does not).
 * Needs npm and the registry (or npm's cache) for undici.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { startBusi, type Busi } from '../fixtures/busi.js';
import { startTestApp, type TestApp } from '../fixtures/app.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const root = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string; dependencies: Record<string, string> };
const sdk = JSON.parse(readFileSync(join(ROOT, 'deploy/sdk/package.json'), 'utf8')) as {
  name: string;
  version: string;
  dependencies: Record<string, string>;
  peerDependencies: Record<string, string>;
  peerDependenciesMeta: Record<string, { optional?: boolean }>;
};
const work = mkdtempSync(join(tmpdir(), 'dtm-sdk-pack-'));
const consumer = join(work, 'consumer');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end (bounded), never throwing: the test looks at the code and output. */
function run(cmd: string, args: string[], cwd: string, timeoutMs = 180_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      { cwd, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, npm_config_update_notifier: 'false' } },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

let dtm: TestApp;
let busi: Busi;
let tarball = '';
t.before(async () => {
  dtm = await startTestApp({ poll: true });
  busi = await startBusi();
});
t.teardown(async () => {
  await dtm.stop();
  await busi.close();
  rmSync(work, { recursive: true, force: true });
});

t.test('the package: undici its one dependency, the drivers optional peers, the version the coordinator has', async (t) => {
  t.equal(sdk.version, root.version, 'released with the coordinator: one version');
  t.strictSame(sdk.dependencies, { undici: root.dependencies['undici'] }, 'undici only, the version the coordinator pins');
  t.strictSame(Object.keys(sdk.peerDependencies).sort(), ['@types/pg', 'ioredis', 'mysql2', 'pg'], 'the drivers are peers');
  t.ok(
    Object.keys(sdk.peerDependencies).every((p) => sdk.peerDependenciesMeta[p]?.optional === true),
    'every peer is optional',
  );
});

t.test('npm pack ./deploy/sdk builds a tarball of the client, its types, lua/client, README and licence only', async (t) => {
  const packed = await run('npm', ['pack', './deploy/sdk', '--pack-destination', work], ROOT);
  t.equal(packed.code, 0, `npm pack succeeds${packed.code === 0 ? '' : `: ${packed.stderr}`}`);
  tarball = join(work, `${sdk.name}-${sdk.version}.tgz`);
  const list = await run('tar', ['tzf', tarball], work);
  t.equal(list.code, 0, 'the tarball is there');
  const files = list.stdout.trim().split('\n').sort();
  for (const f of ['package/package.json', 'package/README.md', 'package/LICENSE', 'package/dist/src/client/index.js', 'package/dist/src/client/index.d.ts']) {
    t.ok(files.includes(f), `has ${f}`);
  }
  t.ok(files.includes('package/dist/src/client/barrier/redis.js') && files.includes('package/dist/src/client/barrier/redis.d.ts'), 'has the barriers');
  t.strictSame(
    files.filter((f) => f.startsWith('package/lua/')),
    readdirSync(join(ROOT, 'lua/client'))
      .filter((f) => f.endsWith('.lua'))
      .map((f) => `package/lua/client/${f}`)
      .sort(),
    'has every lua/client script, and no other Lua',
  );
  const allowed = /^package\/(package\.json|README\.md|LICENSE|dist\/src\/client\/.+\.(js|d\.ts)|lua\/client\/[^/]+\.lua)$/;
  t.strictSame(
    files.filter((f) => !allowed.test(f)),
    [],
    'nothing else: no sources, tests, bench, CI files, maps or build script',
  );
});

t.test('it installs into an empty project with only undici beside it, and without a warning', async (t) => {
  t.ok(tarball !== '', 'packed');
  rmSync(consumer, { recursive: true, force: true });
  await run('mkdir', ['-p', consumer], work);
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'sdk-consumer', version: '1.0.0', private: true, type: 'module' }, null, 2));
  const installed = await run('npm', ['install', '--no-audit', '--no-fund', tarball], consumer);
  t.equal(installed.code, 0, `npm install succeeds${installed.code === 0 ? '' : `: ${installed.stderr}`}`);
  t.strictSame(
    installed.stderr.split('\n').filter((l) => /\bwarn|ERR/i.test(l)),
    [],
    'npm prints no warning',
  );
  // npm ls lists the optional peers too, as empty entries: only entries with a version are installed.
  type Tree = Record<string, { version?: string; dependencies?: Tree }>;
  const tree = JSON.parse((await run('npm', ['ls', '--all', '--json'], consumer)).stdout) as { dependencies?: Tree };
  const names: string[] = [];
  const walk = (deps: Tree | undefined): void => {
    for (const [name, d] of Object.entries(deps ?? {})) {
      if (d.version !== undefined) names.push(name);
      walk(d.dependencies);
    }
  };
  walk(tree.dependencies);
  t.strictSame(names.sort(), [sdk.name, 'undici'], 'the whole tree: the SDK and undici');
  t.strictSame(
    readdirSync(join(consumer, 'node_modules'))
      .filter((f) => !f.startsWith('.'))
      .sort(),
    [sdk.name, 'undici'],
    'and node_modules holds just those',
  );
  const js = readdirSync(join(consumer, 'node_modules', sdk.name, 'dist/src/client'), { recursive: true })
    .map(String)
    .filter((f) => f.endsWith('.js'))
    .map((f) => readFileSync(join(consumer, 'node_modules', sdk.name, 'dist/src/client', f), 'utf8'))
    .join('\n');
  t.notMatch(
    js,
    /from ['"](ioredis|mysql2|mysql2\/promise|pg)['"]|import\(['"](ioredis|mysql2|pg)/,
    'the compiled SDK never loads a driver (barriers use the caller’s client)',
  );
});

t.test('the installed SDK, imported as ESM, runs a saga against a running coordinator', async (t) => {
  writeFileSync(
    join(consumer, 'saga.mjs'),
    [
      "import { Saga, closeDtmHttp, genGid } from 'dtm-redis-client';",
      'const [dtm, busi] = process.argv.slice(2);',
      'const gid = genGid();',
      'await new Saga(dtm, gid)',
      '  .add(`${busi}/TransOut`, `${busi}/TransOutRevert`, { amount: 30 })',
      '  .add(`${busi}/TransIn`, `${busi}/TransInRevert`, { amount: 30 })',
      '  .waitResult()',
      '  .submit();',
      'await closeDtmHttp();',
      'console.log(gid);',
    ].join('\n'),
  );
  const saga = await run(process.execPath, ['saga.mjs', dtm.dtm, busi.url], consumer, 30_000);
  t.equal(saga.code, 0, `the script succeeds${saga.code === 0 ? '' : `: ${saga.stderr}`}`);
  const gid = saga.stdout.trim();
  t.match(gid, /^\S{10,}$/, 'it printed the gid');
  t.equal((await dtm.query(gid)).transaction?.status, 'succeed', 'the coordinator finished the saga');
  t.strictSame(
    busi.calls.filter((c) => c.query['gid'] === gid).map((c) => c.path.split('/').pop()),
    ['TransOut', 'TransIn'],
    'both actions ran',
  );
});

t.test('a TypeScript file type-checks against the declarations, and a wrong call does not', async (t) => {
  const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
  writeFileSync(
    join(consumer, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'es2022',
        module: 'nodenext',
        moduleResolution: 'nodenext',
        strict: true,
        noEmit: true,
        skipLibCheck: true,
        types: ['node'],
        typeRoots: [join(ROOT, 'node_modules/@types')],
      },
      files: ['check.ts'],
    }),
  );
  writeFileSync(
    join(consumer, 'check.ts'),
    [
      "import { Saga, Msg, FailureError, barrierFromQuery, type BranchBarrier, type TransOptions } from 'dtm-redis-client';",
      "const saga: Saga = new Saga('http://localhost:36789/api/dtmsvr', 'gid-1').add('http://busi/a', 'http://busi/b', { amount: 1 }).waitResult();",
      'const done: Promise<void> = saga.submit();',
      "const msg: Msg = new Msg('http://localhost:36789/api/dtmsvr', 'gid-2').add('http://busi/c', {});",
      "const b: BranchBarrier = barrierFromQuery(new URLSearchParams('trans_type=saga&gid=g&branch_id=01&op=action'));",
      'const id: string = b.nextBarrierId();',
      'const opts: TransOptions = { waitResult: true };',
      'const isFailure: boolean = new FailureError("x") instanceof Error;',
      'export { done, msg, id, opts, isFailure };',
    ].join('\n'),
  );
  const ok = await run(process.execPath, [tsc, '-p', 'tsconfig.json'], consumer, 120_000);
  t.equal(ok.code, 0, `tsc passes${ok.code === 0 ? '' : `: ${ok.stdout}${ok.stderr}`}`);
  writeFileSync(join(consumer, 'check.ts'), "import { Saga } from 'dtm-redis-client';\nexport const s = new Saga(42, 'gid');\n");
  const bad = await run(process.execPath, [tsc, '-p', 'tsconfig.json'], consumer, 120_000);
  t.not(bad.code, 0, 'a wrong argument type fails the check');
  t.match(bad.stdout, /check\.ts\(2,\d+\): error TS2345/, 'with the error at the call: the declarations were read');
});
