import { readdirSync, readFileSync } from 'node:fs';
import t from 'tap';
import { ReplyTag } from '../../src/store/replies.js';
import { luaDir, SCRIPTS, scriptSource } from '../../src/store/scripts.js';
import { startTestRedis, type TestRedis } from '../fixtures/redis.js';

let redis: TestRedis;
t.before(async () => {
  redis = await startTestRedis();
});
t.teardown(async () => {
  await redis.stop();
});

const read = (file: string): string => readFileSync(`${luaDir()}${file}`, 'utf8');

/** The header comment: from the shebang line to the first `]]`. */
function header(source: string): string {
  const end = source.indexOf(']]');
  return end === -1 ? '' : source.slice(0, end);
}

/** The code after the header comment. */
function body(source: string): string {
  const end = source.indexOf(']]');
  return end === -1 ? source : source.slice(end + 2);
}

/** `KEYS[i] role` declarations of a header, as [index, role]. */
function headerKeys(source: string): [number, string][] {
  return [...header(source).matchAll(/KEYS\[(\d+)\]\s+(\w+)/g)].map((m) => [Number(m[1]), m[2]!]);
}

/** `ARGV[i] name` and `ARGV[i..] name` declarations of a header. */
function headerArgv(source: string): { index: number; rest: boolean; name: string }[] {
  return [...header(source).matchAll(/ARGV\[(\d+)(\.\.)?\]\s+(\w+)/g)].map((m) => ({ index: Number(m[1]), rest: m[2] !== undefined, name: m[3]! }));
}

/** Reply tags a Lua source returns: `return { 'TAG'` and `table.insert(x, 1, 'TAG')`. */
function replyTags(source: string): string[] {
  const tags = [...source.matchAll(/return\s*\{\s*'([A-Z_]+)'/g), ...source.matchAll(/table\.insert\(\s*\w+\s*,\s*1\s*,\s*'([A-Z_]+)'\s*\)/g)].map(
    (m) => m[1]!,
  );
  return [...new Set(tags)].sort();
}

t.test('every .lua file in lua/ is a registered script, and every registered script has a file', async (t) => {
  const files = readdirSync(luaDir())
    .filter((f) => f.endsWith('.lua'))
    .map((f) => f.slice(0, -4))
    .sort();
  t.strictSame(files, SCRIPTS.map((s) => s.name).sort(), 'lua/*.lua and SCRIPTS name the same scripts');
});

for (const spec of SCRIPTS) {
  t.test(`${spec.name}: shebang, header and registry agree, and it loads`, async (t) => {
    const source = read(`${spec.name}.lua`);
    const firstLine = source.slice(0, source.indexOf('\n'));
    t.match(firstLine, /^#!lua( flags=[\w,-]+)?$/, 'the first line is the #!lua shebang');
    t.match(source.split('\n')[1], new RegExp(`^--\\[\\[ ${spec.name}: `), 'the header title is the script name');

    const keys = headerKeys(source);
    t.strictSame(
      keys.map(([i]) => i),
      keys.map((_, i) => i + 1),
      'KEYS are declared in order from 1',
    );
    t.strictSame(
      keys.map(([, role]) => role),
      [...spec.keys],
      'the header KEYS roles are the registry key roles, in order',
    );

    const code = body(source);
    const usedKeys = [...code.matchAll(/KEYS\[(\d+)\]/g)].map((m) => Number(m[1]));
    t.ok(
      usedKeys.every((i) => i >= 1 && i <= spec.keys.length),
      `the code reads only declared KEYS (${[...new Set(usedKeys)].join(', ')})`,
    );

    const argv = headerArgv(source);
    t.strictSame(
      argv.map((a) => a.index),
      argv.map((_, i) => i + 1),
      'ARGV are declared in order from 1',
    );
    t.ok(
      argv.slice(0, -1).every((a) => !a.rest),
      'only the last ARGV declaration may be variadic',
    );
    const last = argv.at(-1);
    const declared = last === undefined ? 0 : last.index;
    const usedArgv = [...code.matchAll(/\b(?:num|str|oneOf)\((\d+)/g), ...code.matchAll(/ARGV\[(\d+)\]/g), ...code.matchAll(/readBranchUpdates\((\d+)/g)].map(
      (m) => Number(m[1]),
    );
    t.ok(
      // Reads past the last declaration are fine only inside a declared variadic tail.
      usedArgv.every((i) => i >= 1 && (i <= declared || last?.rest === true)),
      `the code reads only declared ARGV (up to ${declared}, reads ${[...new Set(usedArgv)].sort((a, b) => a - b).join(', ')})`,
    );
    // Variadic tails: branch update pairs from ARGV[n], or `#ARGV - n` blobs from ARGV[n + 1].
    const variadicFrom = [
      ...[...code.matchAll(/readBranchUpdates\((\d+)/g)].map((m) => Number(m[1])),
      ...[...code.matchAll(/#ARGV\s*-\s*(\d+)/g)].map((m) => Number(m[1]) + 1),
    ];
    for (const start of variadicFrom) {
      t.ok(last?.rest === true && last.index === start, `the variadic ARGV[${start}..] is declared as such`);
    }

    const sha = await redis.client.script('LOAD', scriptSource(spec.name));
    t.match(sha, /^[0-9a-f]{40}$/, 'SCRIPT LOAD accepts the spliced source');
    t.ok(scriptSource(spec.name).startsWith(`${firstLine}\n`), 'the prelude is spliced after the shebang line');

    const tags = replyTags(source);
    t.ok(tags.length > 0, `it returns tagged replies (${tags.join(', ')})`);
    const header_ = header(source);
    for (const tag of tags) {
      t.ok(Object.hasOwn(ReplyTag, tag), `reply tag ${tag} is in ReplyTag`);
      t.ok(header_.includes(`'${tag}'`), `reply tag ${tag} is documented in the header`);
    }
  });
}

t.test('every reply tag in any Lua file, the prelude included, is in ReplyTag', async (t) => {
  const files = ['lib/prelude.lua', ...SCRIPTS.map((s) => `${s.name}.lua`)];
  const all = new Set(files.flatMap((f) => replyTags(read(f))));
  t.ok(all.size > 0, 'some tags found');
  t.strictSame(
    [...all].filter((tag) => !Object.hasOwn(ReplyTag, tag)),
    [],
    `no tag outside ReplyTag (${[...all].join(', ')})`,
  );
});

t.test('error replies carry a DTM_ code as first word', async (t) => {
  const files = ['lib/prelude.lua', ...SCRIPTS.map((s) => `${s.name}.lua`)];
  for (const f of files) {
    const codes = [...read(f).matchAll(/err\s*=\s*'([^' ]*)/g)].map((m) => m[1]!);
    t.ok(
      codes.every((c) => /^DTM_[A-Z_]+$/.test(c)),
      `${f}: ${codes.length === 0 ? 'no error replies' : [...new Set(codes)].join(', ')}`,
    );
  }
});

t.test('the scripts are defined as commands with their Buffer variants', async (t) => {
  const client = redis.client as unknown as Record<string, unknown>;
  for (const spec of SCRIPTS) {
    t.equal(typeof client[spec.name], 'function', `${spec.name} is defined`);
    t.equal(typeof client[`${spec.name}Buffer`], 'function', `${spec.name}Buffer is defined`);
  }
});

t.test('a script without its shebang is refused by the loader', async (t) => {
  t.throws(() => scriptSource('lib/prelude'), /must start with a #!lua shebang/, 'the prelude alone is not a script');
});
