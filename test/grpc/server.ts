/**
 * The gRPC front door against a fake DtmService, through a grpc-js client built from our proto:
 * every method, the DtmRequest → body mapping (bytes byte-exact, Steps "null", absent options,
 * int64), every error → status mapping, the 4 MiB limit, malformed bytes and unknown methods,
 * reflection, overload, observation, logging and graceful shutdown.
 */
import { Writable } from 'node:stream';
import { credentials, loadPackageDefinition, status, type GrpcObject, type ServiceClientConstructor } from '@grpc/grpc-js';
import { loadFileDescriptorSetFromBuffer, loadSync, type MessageTypeDefinition } from '@grpc/proto-loader';
import { pino } from 'pino';
import t from 'tap';
import {
  BadRequestError,
  FailureError,
  InternalError,
  OngoingError,
  OverloadedError,
  PayloadTooLargeError,
  StoreContractError,
  StoreUnavailableError,
} from '../../src/errors.js';
import { startGrpcServer, type GrpcServer } from '../../src/grpc/server.js';
import type { DtmService, WorkflowState } from '../../src/grpc/service.js';
import { dtmGrpcClient, type DtmGrpcClient } from '../fixtures/grpc-dtm-client.js';

type Method = keyof DtmService;

/** A DtmService that records its calls and answers with `answers[method]` (default: success). */
function fakeService() {
  const calls: { method: Method; args: unknown[] }[] = [];
  const answers: Partial<Record<Method, (...args: unknown[]) => unknown>> = {};
  const run = (method: Method, args: unknown[], dflt: unknown): unknown => {
    calls.push({ method, args });
    const a = answers[method];
    return a === undefined ? dflt : a(...args);
  };
  const newState: WorkflowState = { transaction: { gid: 'w1', status: 'prepared', rollback_reason: '' }, progresses: [] };
  const service: DtmService = {
    newGid: () => run('newGid', [], 'Gid22charactersLongXYZ') as string,
    prepare: async (body) => void (await run('prepare', [body], undefined)),
    submit: async (body) => void (await run('submit', [body], undefined)),
    abort: async (body) => void (await run('abort', [body], undefined)),
    registerBranch: async (fields, payload) => void (await run('registerBranch', [fields, payload], undefined)),
    prepareWorkflow: async (body) => (await run('prepareWorkflow', [body], newState)) as WorkflowState,
    subscribe: async (topic, url, remark) => void (await run('subscribe', [topic, url, remark], undefined)),
    unsubscribe: async (topic, url) => void (await run('unsubscribe', [topic, url], undefined)),
    deleteTopic: async (topic) => void (await run('deleteTopic', [topic], undefined)),
  };
  return {
    service,
    calls,
    answers,
    reset() {
      calls.length = 0;
      for (const k of Object.keys(answers)) delete answers[k as Method];
    },
  };
}

/** A pino logger whose lines land in `lines`. */
function memoryLogger() {
  const lines: { level: number; msg: string; [k: string]: unknown }[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l !== '') lines.push(JSON.parse(l));
      cb();
    },
  });
  return { log: pino({ level: 'debug' }, stream), lines };
}

const fake = fakeService();
const logs = memoryLogger();
const observed: [string, boolean, number][] = [];
let server: GrpcServer;
let client: DtmGrpcClient;

t.before(async () => {
  server = await startGrpcServer({ service: fake.service, log: logs.log, observe: (api, ok, s) => observed.push([api, ok, s]), host: '127.0.0.1', port: 0 });
  client = dtmGrpcClient(`127.0.0.1:${server.port}`);
});
t.teardown(async () => {
  client.close();
  await server.close(1000);
});
t.beforeEach(() => {
  fake.reset();
  observed.length = 0;
  logs.lines.length = 0;
});

/** Bytes that are not UTF-8: NUL, a lone continuation byte, a truncated sequence, 0xff. */
const BINARY = Buffer.from([0x00, 0x80, 0xc3, 0x28, 0xff, 0x00, 0x0a]);

t.test('NewGid answers the service gid', async (t) => {
  const r = await client.call('NewGid', {});
  t.equal(r.code, status.OK);
  t.same(r.reply, { Gid: 'Gid22charactersLongXYZ' });
  t.same(
    observed.map(([api, ok]) => [api, ok]),
    [['newgid', true]],
  );
});

t.test('a saga DtmRequest becomes the HTTP body, payload bytes byte-exact', async (t) => {
  const r = await client.call('Submit', {
    Gid: 'g1',
    TransType: 'saga',
    TransOptions: { WaitResult: true, TimeoutToFail: 30, RetryInterval: 5, RequestTimeout: 7, RetryLimit: 3, BranchHeaders: { 'x-tenant': 'a' } },
    CustomedData: '{"concurrent":true}',
    BinPayloads: [BINARY, Buffer.alloc(0)],
    QueryPrepared: 'localhost:1/q.Q/Q',
    Steps: '[{"action":"h:1/b.B/A","compensate":"h:1/b.B/AR"},{"action":"h:1/b.B/C","compensate":"h:1/b.B/CR"}]',
  });
  t.equal(r.code, status.OK, r.details);
  t.equal(fake.calls.length, 1);
  t.equal(fake.calls[0]!.method, 'submit');
  const body = fake.calls[0]!.args[0] as Record<string, unknown>;
  const payloads = body['payloads'] as Buffer[];
  t.ok(Buffer.isBuffer(payloads[0]), 'payloads are Buffers');
  t.equal(payloads[0]!.toString('hex'), BINARY.toString('hex'), 'invalid UTF-8 and NUL survive');
  t.equal(payloads[1]!.length, 0, 'an empty payload is kept as one');
  t.same(
    { ...body, payloads: payloads.map((p) => p.toString('hex')) },
    {
      protocol: 'grpc',
      gid: 'g1',
      trans_type: 'saga',
      wait_result: true,
      timeout_to_fail: 30,
      retry_interval: 5,
      request_timeout: 7,
      retry_limit: 3,
      branch_headers: { 'x-tenant': 'a' },
      custom_data: '{"concurrent":true}',
      payloads: [BINARY.toString('hex'), ''],
      query_prepared: 'localhost:1/q.Q/Q',
      steps: [
        { action: 'h:1/b.B/A', compensate: 'h:1/b.B/AR' },
        { action: 'h:1/b.B/C', compensate: 'h:1/b.B/CR' },
      ],
    },
  );
  t.equal(Object.keys(body).length, 13, 'nothing else');
});

t.test('proto3 zero values are absent, like omitted JSON fields; absent TransOptions is all defaults', async (t) => {
  await client.call('Prepare', { Gid: 'g2', TransType: 'tcc', Steps: 'null' });
  await client.call('Prepare', { Gid: 'g3', TransType: 'xa', Steps: '', TransOptions: { WaitResult: false, TimeoutToFail: 0, BranchHeaders: {} } });
  await client.call('Prepare', {});
  t.same(
    fake.calls.map((c) => c.args[0]),
    [{ protocol: 'grpc', gid: 'g2', trans_type: 'tcc' }, { protocol: 'grpc', gid: 'g3', trans_type: 'xa' }, { protocol: 'grpc' }],
  );
});

t.test('int64 options arrive as numbers, whatever form the client encoded', async (t) => {
  await client.call('Prepare', { Gid: 'g', TransType: 'msg', TransOptions: { TimeoutToFail: '12', RetryInterval: 2 ** 40, RetryLimit: '-1' } });
  const body = fake.calls[0]!.args[0] as Record<string, unknown>;
  t.equal(body['timeout_to_fail'], 12);
  t.equal(body['retry_interval'], 2 ** 40);
  t.equal(body['retry_limit'], -1, 'a negative value is passed on for the validator to refuse');
});

t.test('workflow Submit carries ReqExtra; Abort carries RollbackReason', async (t) => {
  await client.call('Submit', {
    Gid: 'w',
    TransType: 'workflow',
    Steps: 'null',
    ReqExtra: { status: 'failed', rollback_reason: 'no stock FAILURE', result: '' },
  });
  await client.call('Abort', { Gid: 't', TransType: 'tcc', Steps: 'null', RollbackReason: 'try said no' });
  t.same(fake.calls[0]!.args[0], {
    protocol: 'grpc',
    gid: 'w',
    trans_type: 'workflow',
    req_extra: { status: 'failed', rollback_reason: 'no stock FAILURE', result: '' },
  });
  t.equal(fake.calls[1]!.method, 'abort');
  t.same(fake.calls[1]!.args[0], { protocol: 'grpc', gid: 't', trans_type: 'tcc', rollback_reason: 'try said no' });
});

t.test('Steps that are not JSON are InvalidArgument, and the service is not called', async (t) => {
  const r = await client.call('Submit', { Gid: 'g', TransType: 'saga', Steps: '[{' });
  t.equal(r.code, status.INVALID_ARGUMENT);
  t.match(r.details, /^\[DTM_BAD_STEPS\] /);
  t.equal(fake.calls.length, 0);
  t.same(
    observed.map(([api, ok]) => [api, ok]),
    [['submit', false]],
  );
});

t.test('RegisterBranch: the Data map plus gid/trans_type/branch_id, the payload as bytes, Op ignored', async (t) => {
  await client.call('RegisterBranch', {
    Gid: 'g',
    TransType: 'tcc',
    BranchID: '01',
    Op: 'ignored',
    Data: { confirm: 'h:1/b.B/Confirm', cancel: 'h:1/b.B/Cancel', gid: 'not this one', data: 'not the payload' },
    BusiPayload: BINARY,
  });
  await client.call('RegisterBranch', { Gid: 'x', TransType: 'xa', BranchID: '02', Data: { url: 'h:1/b.B/Xa' } });
  const [fields, payload] = fake.calls[0]!.args as [Record<string, string>, Buffer];
  t.same(fields, { confirm: 'h:1/b.B/Confirm', cancel: 'h:1/b.B/Cancel', gid: 'g', trans_type: 'tcc', branch_id: '01' });
  t.equal(payload.toString('hex'), BINARY.toString('hex'));
  const [xaFields, xaPayload] = fake.calls[1]!.args as [Record<string, string>, Buffer];
  t.same(xaFields, { url: 'h:1/b.B/Xa', gid: 'x', trans_type: 'xa', branch_id: '02' });
  t.ok(Buffer.isBuffer(xaPayload) && xaPayload.length === 0, 'a missing payload is an empty Buffer');
});

t.test('PrepareWorkflow answers the transaction and its progresses, bin_data byte-exact', async (t) => {
  const fresh = await client.call('PrepareWorkflow', { Gid: 'w1', TransType: 'workflow', Steps: 'null', CustomedData: '{"name":"wf","data":""}' });
  t.equal(fresh.code, status.OK, fresh.details);
  t.same(fresh.reply, { Transaction: { Gid: 'w1', Status: 'prepared', RollbackReason: '', Result: '' }, Progresses: [] });
  t.same(fake.calls[0]!.args[0], { protocol: 'grpc', gid: 'w1', trans_type: 'workflow', custom_data: '{"name":"wf","data":""}' });

  fake.answers.prepareWorkflow = () => ({
    transaction: { gid: 'w2', status: 'failed', rollback_reason: 'x FAILURE', result: 'cmVzdWx0' },
    progresses: [
      { status: 'succeed', bin_data: BINARY, branch_id: '01', op: 'action' },
      { status: 'failed', bin_data: Buffer.alloc(0), branch_id: '02', op: 'action' },
    ],
  });
  const stored = await client.call('PrepareWorkflow', { Gid: 'w2', TransType: 'workflow' });
  t.same(stored.reply.Transaction, { Gid: 'w2', Status: 'failed', RollbackReason: 'x FAILURE', Result: 'cmVzdWx0' });
  const p = stored.reply.Progresses as { Status: string; BinData: Buffer; BranchID: string; Op: string }[];
  t.equal(p.length, 2);
  t.equal(p[0]!.BinData.toString('hex'), BINARY.toString('hex'));
  t.same({ ...p[0], BinData: undefined }, { Status: 'succeed', BinData: undefined, BranchID: '01', Op: 'action' });
  t.same({ ...p[1], BinData: p[1]!.BinData.length }, { Status: 'failed', BinData: 0, BranchID: '02', Op: 'action' });
});

t.test('topic methods pass their strings', async (t) => {
  await client.call('Subscribe', { Topic: 'orders', URL: 'h:1/b.B/A', Remark: 'r' });
  await client.call('Unsubscribe', { Topic: 'orders', URL: 'h:1/b.B/A' });
  await client.call('DeleteTopic', { Topic: 'orders' });
  await client.call('Subscribe', {});
  t.same(
    fake.calls.map((c) => [c.method, ...c.args]),
    [
      ['subscribe', 'orders', 'h:1/b.B/A', 'r'],
      ['unsubscribe', 'orders', 'h:1/b.B/A'],
      ['deleteTopic', 'orders'],
      ['subscribe', '', '', ''],
    ],
  );
  t.same(
    observed.map(([api, ok]) => [api, ok]),
    [
      ['subscribe', true],
      ['unsubscribe', true],
      ['deletetopic', true],
      ['subscribe', true],
    ],
  );
});

t.test('errors map to the statuses DTM sends, messages kept whole', async (t) => {
  const cases: [unknown, status, string][] = [
    [new FailureError("current status 'succeed', cannot prepare. FAILURE"), status.ABORTED, "current status 'succeed', cannot prepare. FAILURE"],
    [new OngoingError('url:x ONGOING'), status.FAILED_PRECONDITION, 'url:x ONGOING'],
    [new BadRequestError('[DTM_BAD_GID] gid is required'), status.INVALID_ARGUMENT, '[DTM_BAD_GID] gid is required'],
    [new PayloadTooLargeError(10), status.INVALID_ARGUMENT, '[DTM_BODY_TOO_LARGE] request body exceeds 10 bytes'],
    [new StoreUnavailableError('redis down'), status.UNAVAILABLE, '[DTM_STORE_UNAVAILABLE] redis down'],
    [new OverloadedError(), status.UNAVAILABLE, '[DTM_OVERLOADED] too many requests in flight, retry later'],
    [new InternalError('no TransGlobal with gid: g found'), status.UNKNOWN, 'no TransGlobal with gid: g found'],
    [new StoreContractError('bad reply'), status.UNKNOWN, '[DTM_STORE_CONTRACT] bad reply'],
    [new TypeError("Cannot read properties of undefined (reading 'x')"), status.INTERNAL, "Cannot read properties of undefined (reading 'x')"],
    ['a thrown string', status.INTERNAL, 'a thrown string'],
  ];
  for (const [err, code, details] of cases) {
    fake.answers.abort = async () => {
      throw err;
    };
    const r = await client.call('Abort', { Gid: 'g', TransType: 'msg' });
    t.same([r.code, r.details], [code, details], String(err));
  }
  t.ok(
    observed.every(([api, ok]) => api === 'abort' && !ok),
    'each counts as a failed abort',
  );
});

t.test('a synchronous throw (newGid) is Internal, logged as a bug; DtmErrors of the store are logged, state errors are not', async (t) => {
  fake.answers.newGid = () => {
    throw new RangeError('entropy exhausted');
  };
  const r = await client.call('NewGid', {});
  t.same([r.code, r.details], [status.INTERNAL, 'entropy exhausted']);
  fake.answers.submit = () => Promise.reject(new StoreUnavailableError('redis down'));
  await client.call('Submit', { Gid: 'g' });
  fake.answers.submit = () => Promise.reject(new FailureError('x FAILURE'));
  await client.call('Submit', { Gid: 'g' });
  const errors = logs.lines.filter((l) => l.level === 50);
  t.equal(errors.length, 2);
  t.same([errors[0]!.msg, errors[0]!['api']], ['grpc call failed unexpectedly', 'newgid']);
  t.match(errors[0]!['err'], { message: 'entropy exhausted' });
  t.same([errors[1]!.msg, errors[1]!['api'], errors[1]!['err']], ['grpc call failed', 'submit', '[DTM_STORE_UNAVAILABLE] redis down']);
});

t.test('a malformed message is Internal and counted; an unknown method is Unimplemented; the server lives on', async (t) => {
  // Field 1 with a length varint cut short.
  const bad = await client.raw('/dtmgimp.Dtm/Submit', Buffer.from([0x0a, 0xff]));
  t.equal(bad.code, status.INTERNAL);
  t.match(bad.details, /deserializ/i);
  // Field 31 with wire type 7, which does not exist.
  const wrongWire = await client.raw('/dtmgimp.Dtm/RegisterBranch', Buffer.from([0xff, 0x01]));
  t.equal(wrongWire.code, status.INTERNAL, 'an invalid wire type is refused');
  t.same(
    observed.map(([api, ok]) => [api, ok]),
    [
      ['submit', false],
      ['registerbranch', false],
    ],
  );
  t.equal(fake.calls.length, 0);
  const unknownMethod = await client.raw('/dtmgimp.Dtm/Query', Buffer.alloc(0));
  t.equal(unknownMethod.code, status.UNIMPLEMENTED);
  const unknownService = await client.raw('/nope.Nope/X', Buffer.from('garbage'));
  t.equal(unknownService.code, status.UNIMPLEMENTED);
  const ok = await client.call('NewGid', {});
  t.equal(ok.code, status.OK, 'still serving');
});

t.test('a request over 4 MiB is ResourceExhausted; one just under passes', async (t) => {
  // 10 bytes of field overhead around the payload: tag + 4-byte length, twice over.
  const under = await client.call('Submit', { Gid: 'g', BinPayloads: [Buffer.alloc(4 * 1024 * 1024 - 16, 1)] });
  t.equal(under.code, status.OK, under.details);
  t.equal((fake.calls[0]!.args[0] as { payloads: Buffer[] }).payloads[0]!.length, 4 * 1024 * 1024 - 16);
  const over = await client.call('Submit', { Gid: 'g', BinPayloads: [Buffer.alloc(4 * 1024 * 1024 + 1, 1)] });
  t.equal(over.code, status.RESOURCE_EXHAUSTED);
  t.equal(fake.calls.length, 1, 'the service never saw it');
});

t.test('the receive limit is configurable', async (t) => {
  const small = await startGrpcServer({ service: fake.service, log: logs.log, host: '127.0.0.1', port: 0, maxReceiveBytes: 1024 });
  const c = dtmGrpcClient(`127.0.0.1:${small.port}`);
  t.teardown(async () => {
    c.close();
    await small.close(500);
  });
  t.equal((await c.call('Submit', { Gid: 'g', CustomedData: 'x'.repeat(900) })).code, status.OK);
  t.equal((await c.call('Submit', { Gid: 'g', CustomedData: 'x'.repeat(1100) })).code, status.RESOURCE_EXHAUSTED);
});

t.test('calls beyond maxInflight are refused with Unavailable [DTM_OVERLOADED]', async (t) => {
  const limited = await startGrpcServer({ service: fake.service, log: logs.log, host: '127.0.0.1', port: 0, maxInflight: 1 });
  const c = dtmGrpcClient(`127.0.0.1:${limited.port}`);
  t.teardown(async () => {
    c.close();
    await limited.close(500);
  });
  let release!: () => void;
  fake.answers.submit = () => new Promise<void>((r) => (release = r));
  const first = c.call('Submit', { Gid: 'a' });
  while (limited.inflight() === 0) await new Promise((r) => setTimeout(r, 5));
  const second = await c.call('Submit', { Gid: 'b' });
  t.same([second.code, second.details], [status.UNAVAILABLE, '[DTM_OVERLOADED] too many requests in flight, retry later']);
  release();
  t.equal((await first).code, status.OK);
  t.equal(limited.inflight(), 0);
});

/** Every type reference of a descriptor set, checked the way Go's protodesc links it. */
function unlinked(files: any[]): string[] {
  const problems: string[] = [];
  const declared = new Map<string, string>(); // full name → file
  const walk = (file: string, scope: string, messages: any[]): void => {
    for (const m of messages) {
      declared.set(`${scope}.${m.name}`, file);
      walk(file, `${scope}.${m.name}`, m.nestedType);
    }
  };
  for (const f of files) walk(f.name, `.${f.package}`, f.messageType);
  const check = (file: any, ref: string): void => {
    const from = declared.get(ref);
    if (!ref.startsWith('.') || from === undefined) problems.push(`${file.name}: unresolvable ${ref}`);
    else if (from !== file.name && !file.dependency.includes(from)) problems.push(`${file.name}: ${ref} is in ${from}, not imported`);
  };
  const fields = (file: any, messages: any[]): void => {
    for (const m of messages) {
      for (const f of m.field) {
        if (f.typeName) check(file, f.typeName);
        const entry = m.nestedType.find((n: any) => `${f.typeName}`.endsWith(`.${n.name}`));
        if (entry?.options?.mapEntry && entry.name !== `${f.name}Entry`) problems.push(`${file.name}: map entry ${entry.name} of ${f.name}`);
      }
      fields(file, m.nestedType);
    }
  };
  for (const f of files) {
    fields(f, f.messageType);
    for (const svc of f.service) for (const m of svc.method) for (const ref of [m.inputType, m.outputType]) check(f, ref);
  }
  return problems;
}

t.test('server reflection lists dtmgimp.Dtm and serves descriptors a dynamic client can use (v1alpha and v1)', async (t) => {
  const reflectionDir = new URL('../../node_modules/@grpc/reflection/build/proto/', import.meta.url).pathname;
  // Not `defaults: true`: it would give every field a oneof_index of 0.
  const descriptors = loadSync('google/protobuf/descriptor.proto', { keepCase: true, longs: String, enums: String, arrays: true });
  // protobufjs bundles descriptor.proto with camelCase field names (messageType, not message_type).
  const FileDescriptorProto = descriptors['google.protobuf.FileDescriptorProto'] as MessageTypeDefinition<any, any>;
  const FileDescriptorSet = descriptors['google.protobuf.FileDescriptorSet'] as MessageTypeDefinition<any, any>;
  for (const version of ['v1alpha', 'v1']) {
    const def = loadSync(`grpc/reflection/${version}/reflection.proto`, {
      keepCase: true,
      longs: String,
      enums: String,
      defaults: true,
      arrays: true,
      includeDirs: [reflectionDir],
    });
    const pkg = loadPackageDefinition(def) as { grpc: { reflection: Record<string, GrpcObject> } };
    const Reflection = pkg.grpc.reflection[version]!['ServerReflection'] as ServiceClientConstructor;
    const rc = new Reflection(`127.0.0.1:${server.port}`, credentials.createInsecure());
    const ask = (req: object): Promise<any> =>
      new Promise((resolve, reject) => {
        const stream = rc['ServerReflectionInfo']!() as NodeJS.ReadWriteStream & { write(o: object): boolean; end(): void };
        stream.on('data', (reply: unknown) => {
          resolve(reply);
          stream.end();
        });
        stream.on('error', reject);
        stream.write(req);
      });
    const filesOf = (reply: any): any[] => (reply.file_descriptor_response.file_descriptor_proto as Buffer[]).map((b) => FileDescriptorProto.deserialize(b));

    // grpcurl list
    const list = await ask({ list_services: '*' });
    t.same(
      list.list_services_response.service.map((s: { name: string }) => s.name),
      ['dtmgimp.Dtm'],
      `${version} lists the service`,
    );
    // grpcurl describe: the file of the symbol, then each import by name.
    const files = filesOf(await ask({ file_containing_symbol: 'dtmgimp.Dtm' }));
    const dtm = files.find((f) => f.name === 'dtmgimp.proto');
    t.same(dtm.dependency, ['google/protobuf/empty.proto'], `${version}: the import is declared`);
    t.same(
      dtm.service[0].method.map((m: { name: string }) => m.name),
      ['NewGid', 'Submit', 'Prepare', 'Abort', 'RegisterBranch', 'PrepareWorkflow', 'Subscribe', 'Unsubscribe', 'DeleteTopic'],
    );
    t.same(
      filesOf(await ask({ file_by_filename: 'google/protobuf/empty.proto' })).map((f) => f.name),
      ['google/protobuf/empty.proto'],
      `${version}: the import is served under its name`,
    );
    t.same(unlinked(files), [], `${version}: every reference links`);

    // grpcurl invoke: a client built from the downloaded descriptors alone.
    const dynamic = loadPackageDefinition(
      loadFileDescriptorSetFromBuffer(FileDescriptorSet.serialize({ file: files }), { keepCase: true, longs: String, defaults: true }),
    ) as { dtmgimp: GrpcObject };
    const Dtm = dynamic.dtmgimp['Dtm'] as ServiceClientConstructor;
    const dc = new Dtm(`127.0.0.1:${server.port}`, credentials.createInsecure());
    fake.reset();
    const reply = await new Promise<any>((resolve, reject) =>
      // protobufjs rebuilds a map field from descriptors as its repeated entries (same wire bytes).
      dc['Submit']!({ Gid: 'dyn', TransOptions: { BranchHeaders: [{ key: 'k', value: 'v' }] } }, (err: Error | null, r: unknown) =>
        err ? reject(err) : resolve(r),
      ),
    );
    t.same(reply, {}, `${version}: a call through the downloaded schema works`);
    t.same(fake.calls[0]!.args[0], { protocol: 'grpc', gid: 'dyn', branch_headers: { k: 'v' } });
    dc.close();
    rc.close();
  }
});

t.test('graceful shutdown: a call in flight finishes, new calls are refused, close resolves after it', async (t) => {
  const s = await startGrpcServer({ service: fake.service, log: logs.log, host: '127.0.0.1', port: 0 });
  const c = dtmGrpcClient(`127.0.0.1:${s.port}`);
  t.teardown(() => c.close());
  let release!: () => void;
  fake.answers.submit = () => new Promise<void>((r) => (release = r));
  const inFlight = c.call('Submit', { Gid: 'slow' });
  while (s.inflight() === 0) await new Promise((r) => setTimeout(r, 5));
  let closed = false;
  const first = s.close(5000);
  t.equal(s.close(), first, 'close is idempotent');
  const closing = first.then(() => (closed = true));
  await new Promise((r) => setTimeout(r, 100));
  t.equal(closed, false, 'still draining');
  const late = await c.call('NewGid', {}, 2000);
  t.not(late.code, status.OK, 'no new call is served while draining');
  release();
  const r = await inFlight;
  t.equal(r.code, status.OK, 'the call in flight completed');
  await closing;
  t.equal(closed, true);
});

t.test('forced shutdown: a call still running at the deadline is cancelled, close resolves at the deadline', async (t) => {
  const s = await startGrpcServer({ service: fake.service, log: logs.log, host: '127.0.0.1', port: 0 });
  const c = dtmGrpcClient(`127.0.0.1:${s.port}`);
  t.teardown(() => c.close());
  fake.answers.submit = () => new Promise<void>(() => {});
  const stuck = c.call('Submit', { Gid: 'stuck' }, 5000);
  while (s.inflight() === 0) await new Promise((r) => setTimeout(r, 5));
  const started = Date.now();
  await s.close(200);
  const took = Date.now() - started;
  t.ok(took >= 190 && took < 1500, `closed at the deadline (${took} ms)`);
  const r = await stuck;
  t.not(r.code, status.OK);
  t.ok(
    logs.lines.some((l) => l.level === 40 && /shutdown deadline/.test(l.msg)),
    'the forced cancel is logged',
  );
});
