/**
 * The README's quick start works as written (issue 10 item 7): its curl commands, parsed out of
 * README.md, run against a coordinator and `npm run example`'s transfer service (the built
 * dist/src/example/main.js as a real process), and each answer contains what the README shows
 * under the command. Only the two ports change (the test takes free ones): the rest is replayed
 * byte for byte, so the test breaks when the README or the service drifts.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { freePort } from '../../src/store/embedded-redis.js';
import { startTestApp, waitFor, type TestApp } from '../fixtures/app.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const README = readFileSync(`${ROOT}README.md`, 'utf8');
const EXAMPLE = `${ROOT}dist/src/example/main.js`;

/** A curl command of the README and the JSON the README shows it answering. */
interface Step {
  command: string;
  expected: unknown[];
}

/** The quick start section: from its heading to the next heading of the same or a higher level. */
function quickStart(): string {
  const start = README.indexOf('### Quick start');
  if (start < 0) throw new Error('README.md has no "### Quick start" section');
  const rest = README.slice(start + 1);
  const end = rest.search(/\n#{2,3} /);
  return end < 0 ? rest : rest.slice(0, end);
}

/** The curl commands of the section's sh blocks, each with the `# {…}` answers below it. */
function steps(section: string): Step[] {
  const out: Step[] = [];
  for (const [, block] of section.matchAll(/```sh\n([\s\S]*?)```/g)) {
    const lines = block!.split('\n');
    for (let i = 0; i < lines.length; i++) {
      if (!lines[i]!.startsWith('curl ')) continue;
      let command = lines[i]!;
      // A command goes on while a single-quoted string is open.
      while ((command.match(/'/g) ?? []).length % 2 === 1 && i + 1 < lines.length) command += `\n${lines[++i]}`;
      const step: Step = { command, expected: [] };
      while (lines[i + 1]?.startsWith('# {')) step.expected.push(JSON.parse(lines[++i]!.slice(2)));
      out.push(step);
    }
  }
  return out;
}

/** Shell words: single quotes literal, double quotes with \" and \\, bare words. */
function words(command: string): string[] {
  const out: string[] = [];
  const re = /'([^']*)'|"((?:[^"\\]|\\.)*)"|([^\s'"]+)/g;
  let word: string | undefined;
  let last = 0;
  for (const m of command.matchAll(re)) {
    const piece = m[1] ?? m[2]?.replace(/\\(["\\])/g, '$1') ?? m[3]!;
    // Pieces with no space between them are one word (e.g. -d'…').
    if (word !== undefined && m.index === last) word += piece;
    else {
      if (word !== undefined) out.push(word);
      word = piece;
    }
    last = m.index + m[0].length;
  }
  if (word !== undefined) out.push(word);
  return out;
}

/** What a curl command of the README asks: -s, -X/-XPOST and -d are the options it may use. */
function request(command: string): { method: string; url: string; body: string | undefined } {
  const [curl, ...args] = words(command);
  if (curl !== 'curl') throw new Error(`not a curl command: ${command}`);
  let method: string | undefined;
  let body: string | undefined;
  let url: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-s') continue;
    else if (a === '-X') method = args[++i];
    else if (a.startsWith('-X')) method = a.slice(2);
    else if (a === '-d') body = args[++i];
    else if (a.startsWith('-')) throw new Error(`the test does not know curl's ${a}: ${command}`);
    else url = a;
  }
  if (url === undefined) throw new Error(`no URL in ${command}`);
  return { method: method ?? (body === undefined ? 'GET' : 'POST'), url: /^https?:\/\//.test(url) ? url : `http://${url}`, body };
}

/** True when `actual` has everything `expected` has (objects by key, arrays element by element). */
function contains(actual: unknown, expected: unknown): boolean {
  if (Array.isArray(expected)) return Array.isArray(actual) && expected.every((e, i) => contains(actual[i], e));
  if (typeof expected === 'object' && expected !== null) {
    return typeof actual === 'object' && actual !== null && Object.entries(expected).every(([k, v]) => contains((actual as Record<string, unknown>)[k], v));
  }
  return actual === expected;
}

let dtm: TestApp;
let examplePort: number;
let example: ReturnType<typeof spawn>;
let exampleOut = '';
t.before(async () => {
  dtm = await startTestApp();
  examplePort = await freePort();
  example = spawn(process.execPath, [EXAMPLE], { env: { ...process.env, EXAMPLE_PORT: String(examplePort) }, stdio: ['ignore', 'pipe', 'pipe'] });
  example.stdout!.on('data', (d: Buffer) => (exampleOut += d.toString()));
  example.stderr!.on('data', (d: Buffer) => (exampleOut += d.toString()));
  await waitFor(() => exampleOut.includes('transfer service on') || example.exitCode !== null, 20_000, 'the example service');
  if (example.exitCode !== null) throw new Error(`the example service exited: ${exampleOut}`);
});
t.teardown(async () => {
  example?.kill('SIGTERM');
  await dtm?.stop();
});

t.test('npm run example runs the built transfer service (built first if the sources changed)', async (t) => {
  const { scripts } = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { scripts: Record<string, string> };
  t.equal(scripts['example'], 'node dist/src/example/main.js', 'the script');
  t.equal(scripts['preexample'], 'node src/tools/build.js --if-changed', 'built on demand, as npm start is');
  t.match(exampleOut, `transfer service on http://127.0.0.1:${examplePort}/api/busi (alice 100, bob 0)`, 'it says where it listens');
  const section = quickStart();
  t.match(section, /^npm start\b/m, 'the quick start starts the coordinator with npm start');
  t.match(section, /^npm run example\b/m, 'and the service with npm run example');
  t.match(section, /on :8081/, 'on the port the README uses');
});

t.test("the README's curl commands answer as the README shows: a transfer, then a rollback", async (t) => {
  const all = steps(quickStart());
  t.ok(all.length >= 5, `${all.length} curl commands`);
  t.notMatch(quickStart(), /http:\/\/busi\//, 'no unresolvable busi host');
  const ports = (s: string): string => s.replaceAll('localhost:36789', `localhost:${dtm.app.port()}`).replaceAll('localhost:8081', `localhost:${examplePort}`);
  const outcomes: string[] = [];
  for (const step of all) {
    const r = request(ports(step.command));
    const res = await fetch(r.url, { method: r.method, ...(r.body !== undefined ? { body: r.body } : {}) });
    const text = await res.text();
    let answer: unknown;
    try {
      answer = JSON.parse(text);
    } catch {
      answer = text;
    }
    const first = step.command.split('\n')[0]!;
    t.ok(step.expected.length > 0, `the README shows what ${first} answers`);
    for (const expected of step.expected) {
      const want = JSON.parse(ports(JSON.stringify(expected))) as unknown;
      t.ok(contains(answer, want), `${first}\n  answers ${text.slice(0, 300)}\n  which has ${JSON.stringify(want)}`);
    }
    if (r.url.endsWith('/submit')) outcomes.push((answer as { dtm_result?: string }).dtm_result ?? '?');
  }
  t.strictSame(outcomes, ['SUCCESS', 'FAILURE'], 'a success, then a rollback');
  t.match(exampleOut, /TransOutRevert gid=transfer-2 .* → 200 \{"alice":70,"bob":30\}/, 'the rollback refunded alice (the service logged it)');
});
