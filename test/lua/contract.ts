/**
 * The contract between lua/ and its TypeScript definitions: every script's header (KEYS, ARGV,
 * Returns) matches its definition, the code reads only what the header declares, the record
 * schema and the type and status lists are the same on both sides, and no script spells a hash
 * field or a key name of its own.
 */
import { readdirSync, readFileSync } from 'node:fs';
import t from 'tap';
import { ReplyTag } from '../../src/store/replies.js';
import { BRANCH_FIELD, BRANCH_STATUS_CODE, KV_FIELD, TRANS_FIELD } from '../../src/store/schema.js';
import { luaDir, SCRIPTS, scriptSource } from '../../src/store/scripts.js';
import { TransStatus, TransType } from '../../src/types.js';
import { startTestRedis, type TestRedis } from '../fixtures/redis.js';

let redis: TestRedis;
t.before(async () => {
  redis = await startTestRedis();
});
t.teardown(async () => {
  await redis.stop();
});

const read = (file: string): string => readFileSync(`${luaDir()}${file}`, 'utf8');
const PRELUDE = read('lib/prelude.lua');

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

/** Code without its `--` comments (Lua strings here never hold `--`). */
function code(source: string): string {
  return source.replace(/--.*$/gm, '');
}

/** Every single-quoted string literal of some Lua code. */
function literals(lua: string): string[] {
  return [...code(lua).matchAll(/'([^'\n]*)'/g)].map((m) => m[1]!);
}

/** `KEYS[i] role` declarations of a header, as [index, role]. */
function headerKeys(source: string): [number, string][] {
  return [...header(source).matchAll(/KEYS\[(\d+)\]\s+(\w+)/g)].map((m) => [Number(m[1]), m[2]!]);
}

/** `ARGV[i] name` and `ARGV[i..] name` declarations of a header. */
function headerArgv(source: string): { index: number; rest: boolean; name: string }[] {
  return [...header(source).matchAll(/ARGV\[(\d+)(\.\.)?\]\s+(\w+)/g)].map((m) => ({ index: Number(m[1]), rest: m[2] !== undefined, name: m[3]! }));
}

/** The tags a header's `Returns` section names: `{'TAG'` after "Returns". */
function headerReturns(source: string): string[] {
  const h = header(source);
  const at = h.indexOf('Returns');
  return at === -1 ? [] : [...new Set([...h.slice(at).matchAll(/\{'([A-Z_]+)'/g)].map((m) => m[1]!))].sort();
}

/** Reply tags a Lua source returns: `return { 'TAG'` and `table.insert(x, 1, 'TAG')`. */
function replyTags(source: string): string[] {
  const tags = [...source.matchAll(/return\s*\{\s*'([A-Z_]+)'/g), ...source.matchAll(/table\.insert\(\s*\w+\s*,\s*1\s*,\s*'([A-Z_]+)'\s*\)/g)].map(
    (m) => m[1]!,
  );
  return [...new Set(tags)].sort();
}

/** The reply tags each prelude function returns, by function name. */
const PRELUDE_TAGS = new Map(
  [...PRELUDE.matchAll(/^local function (\w+)\(([\s\S]*?)^end$/gm)].map((m) => [m[1]!, replyTags(m[2]!)] as const).filter(([, tags]) => tags.length > 0),
);

/** The tags a script can return: its own, and those of the prelude functions it calls. */
function scriptTags(source: string): string[] {
  const fromPrelude = [...PRELUDE_TAGS].filter(([fn]) => new RegExp(`\\b${fn}\\(`).test(code(source))).flatMap(([, tags]) => tags);
  return [...new Set([...replyTags(source), ...fromPrelude])].sort();
}

/** A `local NAME = { k = 'v', … }` (or `{ k = true, … }`) table of the prelude, as an object. */
function preludeTable(name: string): Record<string, string> {
  const m = new RegExp(`^local ${name} = \\{([^}]*)\\}`, 'm').exec(PRELUDE);
  if (m === null) throw new Error(`no table ${name} in the prelude`);
  const entries = [...m[1]!.matchAll(/\[?(\w+(?:\.\w+)?)\]?\s*=\s*('([^']*)'|true)/g)].map((e) => [e[1]!, e[3] ?? 'true'] as const);
  return Object.fromEntries(entries);
}

const sorted = (xs: Iterable<string>): string[] => [...xs].sort();

t.test('every .lua file in lua/ is a defined script, and every definition has a file', async (t) => {
  const files = readdirSync(luaDir())
    .filter((f) => f.endsWith('.lua'))
    .map((f) => f.slice(0, -4))
    .sort();
  t.strictSame(files, SCRIPTS.map((s) => s.name).sort(), 'lua/*.lua and SCRIPTS name the same scripts');
});

for (const def of SCRIPTS) {
  t.test(`${def.name}: shebang, header and definition agree, and it loads`, async (t) => {
    const source = read(`${def.name}.lua`);
    const firstLine = source.slice(0, source.indexOf('\n'));
    t.match(firstLine, /^#!lua( flags=[\w,-]+)?$/, 'the first line is the #!lua shebang');
    t.match(source.split('\n')[1], new RegExp(`^--\\[\\[ ${def.name}: `), 'the header title is the script name');

    const keys = headerKeys(source);
    t.strictSame(
      keys.map(([i]) => i),
      keys.map((_, i) => i + 1),
      'KEYS are declared in order from 1',
    );
    t.strictSame(
      keys.map(([, role]) => role),
      [...def.keys],
      'the header KEYS roles are the definition key roles, in order',
    );

    const lua = body(source);
    const usedKeys = [...lua.matchAll(/KEYS\[(\d+)\]/g)].map((m) => Number(m[1]));
    t.ok(
      usedKeys.every((i) => i >= 1 && i <= def.keys.length),
      `the code reads only declared KEYS (${[...new Set(usedKeys)].join(', ')})`,
    );

    const argv = headerArgv(source);
    t.strictSame(
      argv.map((a) => a.index),
      argv.map((_, i) => i + 1),
      'ARGV are declared in order from 1',
    );
    t.strictSame(
      argv.map((a) => (a.rest ? `...${a.name}` : a.name)),
      [...def.argv],
      'the header ARGV names (and its variadic tail) are the definition argument names, in order',
    );
    const last = argv.at(-1);
    const declared = last === undefined ? 0 : last.index;
    const usedArgv = [...lua.matchAll(/\b(?:num|str|oneOf)\((\d+)/g), ...lua.matchAll(/ARGV\[(\d+)\]/g), ...lua.matchAll(/readBranchUpdates\((\d+)/g)].map(
      (m) => Number(m[1]),
    );
    t.ok(
      // Reads past the last declaration are fine only inside a declared variadic tail.
      usedArgv.every((i) => i >= 1 && (i <= declared || last?.rest === true)),
      `the code reads only declared ARGV (up to ${declared}, reads ${[...new Set(usedArgv)].sort((a, b) => a - b).join(', ')})`,
    );
    // Variadic tails: branch update pairs from ARGV[n], or `#ARGV - n` blobs from ARGV[n + 1].
    const variadicFrom = [
      ...[...lua.matchAll(/readBranchUpdates\((\d+)/g)].map((m) => Number(m[1])),
      ...[...lua.matchAll(/#ARGV\s*-\s*(\d+)/g)].map((m) => Number(m[1]) + 1),
    ];
    for (const start of variadicFrom) {
      t.ok(last?.rest === true && last.index === start, `the variadic ARGV[${start}..] is declared as such`);
    }

    t.strictSame(scriptTags(source), sorted(def.replies), 'the code (with the prelude functions it calls) returns exactly the tags the definition lists');
    t.strictSame(headerReturns(source), sorted(def.replies), 'the header Returns names exactly the tags the definition lists');
    for (const tag of def.replies) t.ok(Object.hasOwn(ReplyTag, tag), `reply tag ${tag} is in ReplyTag`);

    const sha = await redis.client.script('LOAD', scriptSource(def.name));
    t.match(sha, /^[0-9a-f]{40}$/, 'SCRIPT LOAD accepts the spliced source');
    t.ok(scriptSource(def.name).startsWith(`${firstLine}\n`), 'the prelude is spliced after the shebang line');
  });
}

t.test("the prelude's record schema is src/store/schema.ts", async (t) => {
  t.strictSame(preludeTable('F'), { ...TRANS_FIELD }, 'F is TRANS_FIELD');
  t.strictSame(preludeTable('BF'), { ...BRANCH_FIELD }, 'BF is BRANCH_FIELD');
  t.strictSame(preludeTable('KF'), { ...KV_FIELD }, 'KF is KV_FIELD');
  t.strictSame(preludeTable('CODE'), { ...BRANCH_STATUS_CODE }, 'CODE is BRANCH_STATUS_CODE');
});

t.test("the prelude's status and type lists are src/types.ts's", async (t) => {
  t.strictSame(sorted(Object.keys(preludeTable('STATUSES'))), sorted(Object.values(TransStatus)), 'STATUSES is TransStatus');
  t.strictSame(sorted(Object.keys(preludeTable('TRANS_TYPES'))), sorted(Object.values(TransType)), 'TRANS_TYPES is TransType');
  t.strictSame(sorted(Object.keys(preludeTable('FINAL'))), ['failed', 'succeed'], 'FINAL is the final statuses');
});

t.test('no script spells a hash field or a branch status code: they come from the prelude tables', async (t) => {
  const spelled = new Set<string>([
    ...Object.values(TRANS_FIELD),
    ...Object.values(BRANCH_FIELD),
    ...Object.values(KV_FIELD),
    ...Object.values(BRANCH_STATUS_CODE),
  ]);
  // The tables themselves are the one place: drop them from the prelude before looking.
  const preludeCode = PRELUDE.replace(/^local (F|BF|KF|CODE) = \{[^}]*\}/gm, '');
  for (const [file, source] of [['lib/prelude.lua', preludeCode], ...SCRIPTS.map((d) => [`${d.name}.lua`, body(read(`${d.name}.lua`))])] as const) {
    const found = literals(source).filter((l) => spelled.has(l));
    t.strictSame(found, [], `${file}: no field or code literal${found.length > 0 ? ` (found ${found.join(', ')})` : ''}`);
  }
});

t.test('no script builds a key name: every key comes in KEYS, spelled by keys.ts', async (t) => {
  for (const def of SCRIPTS) {
    const source = body(read(`${def.name}.lua`));
    // A key segment literal (':g:', ':idx', ':r:', …) or a concatenation onto a key.
    const segments = literals(source).filter((l) => /^:\w*:?$/.test(l));
    t.strictSame(segments, [], `${def.name}: no key segment literal`);
    t.notMatch(code(source), /\b(trans|due|idx|fin|kv|kvIdx|tag)\s*\.\./, `${def.name}: nothing is appended to a key`);
  }
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

t.test('every reply tag of the prelude is in ReplyTag', async (t) => {
  const tags = [...new Set([...PRELUDE_TAGS.values()].flat())];
  t.ok(tags.length > 0, `the prelude returns tags (${tags.join(', ')})`);
  t.strictSame(
    tags.filter((tag) => !Object.hasOwn(ReplyTag, tag)),
    [],
    'no tag outside ReplyTag',
  );
});

t.test('the scripts are defined as commands with their Buffer variants', async (t) => {
  const client = redis.client as unknown as Record<string, unknown>;
  for (const def of SCRIPTS) {
    t.equal(typeof client[def.name], 'function', `${def.name} is defined`);
    t.equal(typeof client[`${def.name}Buffer`], 'function', `${def.name}Buffer is defined`);
  }
});

t.test('a script without its shebang is refused by the loader', async (t) => {
  t.throws(() => scriptSource('lib/prelude'), /must start with a #!lua shebang/, 'the prelude alone is not a script');
});
