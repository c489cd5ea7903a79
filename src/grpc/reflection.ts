/**
 * File descriptors fit for server reflection. proto-loader derives them from protobufjs, which
 * leaves out what strict clients (grpcurl, via Go's protodesc) need to link them (grpc-node issue
 * 2595): the imports are not listed, google/protobuf/empty.proto is named `google_protobuf.proto`,
 * map entry messages lack their `Entry` suffix, and type references are relative. This rewrites
 * the descriptors of our protos accordingly, so that `grpcurl describe` and calls through it work
 * without a .proto file, as against DTM.
 */
import { loadSync, type MessageTypeDefinition, type PackageDefinition } from '@grpc/proto-loader';

interface FieldDesc {
  name: string;
  typeName?: string;
}
interface MessageDesc {
  name: string;
  field?: FieldDesc[];
  nestedType?: MessageDesc[];
  enumType?: { name: string }[];
  options?: { mapEntry?: boolean };
}
interface FileDesc {
  name: string;
  package?: string;
  dependency?: string[];
  messageType?: MessageDesc[];
  enumType?: { name: string }[];
  service?: { name: string; method?: { inputType?: string; outputType?: string }[] }[];
}

const FileDescriptorProto = loadSync('google/protobuf/descriptor.proto', { keepCase: true, enums: String, longs: Number, defaults: false })[
  'google.protobuf.FileDescriptorProto'
] as MessageTypeDefinition<FileDesc, FileDesc>;

/** The one well-known file our protos import, under its real name. */
const EMPTY_FILE = 'google/protobuf/empty.proto';

/** Every message and enum of a file by full name (with the leading dot). */
function declaredTypes(file: FileDesc): Set<string> {
  const out = new Set<string>();
  const walk = (scope: string, messages: MessageDesc[] = [], enums: { name: string }[] = []): void => {
    for (const e of enums) out.add(`${scope}.${e.name}`);
    for (const m of messages) {
      out.add(`${scope}.${m.name}`);
      walk(`${scope}.${m.name}`, m.nestedType, m.enumType);
    }
  };
  walk(file.package ? `.${file.package}` : '', file.messageType, file.enumType);
  return out;
}

/** Resolves a relative reference from `scope` outwards, as protoc does. */
function resolve(ref: string, scope: string, known: ReadonlySet<string>): string {
  if (ref.startsWith('.')) return ref;
  for (let s = scope; ; s = s.slice(0, s.lastIndexOf('.'))) {
    const candidate = `${s}.${ref}`;
    if (known.has(candidate)) return candidate;
    if (s === '') throw new Error(`reflection descriptors: cannot resolve type ${ref} from ${scope}`);
  }
}

/** Map entries get their `Entry` suffix, and every type reference becomes fully qualified. */
function fixMessages(messages: MessageDesc[] | undefined, scope: string, known: Set<string>): void {
  for (const m of messages ?? []) {
    const here = `${scope}.${m.name}`;
    for (const n of m.nestedType ?? []) {
      if (n.options?.mapEntry !== true || n.name.endsWith('Entry')) continue;
      const old = n.name;
      n.name = `${old}Entry`;
      known.delete(`${here}.${old}`);
      known.add(`${here}.${n.name}`);
      for (const f of m.field ?? []) if (f.typeName === old) f.typeName = n.name;
    }
    fixMessages(m.nestedType, here, known);
    for (const f of m.field ?? []) if (f.typeName !== undefined && f.typeName !== '') f.typeName = resolve(f.typeName, here, known);
  }
}

function fixFile(file: FileDesc, others: ReadonlyMap<string, string>): FileDesc {
  if (file.package === 'google.protobuf') {
    const names = (file.messageType ?? []).map((m) => m.name);
    if (names.length !== 1 || names[0] !== 'Empty') throw new Error(`reflection descriptors: only google.protobuf.Empty is supported, got ${names.join(', ')}`);
    return { ...file, name: EMPTY_FILE };
  }
  const scope = file.package ? `.${file.package}` : '';
  const known = new Set([...declaredTypes(file), ...others.keys()]);
  fixMessages(file.messageType, scope, known);
  // Every file a reference lands in is a dependency.
  const deps = new Set<string>();
  const note = (full: string): void => {
    const from = others.get(full);
    if (from !== undefined) deps.add(from);
  };
  const visit = (m: MessageDesc): void => {
    for (const f of m.field ?? []) if (f.typeName) note(f.typeName);
    for (const n of m.nestedType ?? []) visit(n);
  };
  for (const m of file.messageType ?? []) visit(m);
  for (const svc of file.service ?? []) {
    for (const method of svc.method ?? []) {
      if (method.inputType) note((method.inputType = resolve(method.inputType, scope, known)));
      if (method.outputType) note((method.outputType = resolve(method.outputType, scope, known)));
    }
  }
  return { ...file, dependency: [...deps] };
}

/**
 * The package definition to give @grpc/reflection: `def` with every message type's
 * `fileDescriptorProtos` rewritten (see the file comment).
 */
export function reflectionPackage(def: PackageDefinition): PackageDefinition {
  // proto-loader gives every type of a load the same list: rewrite each list once.
  const fixed = new Map<Buffer[], Buffer[]>();
  const fixList = (list: Buffer[]): Buffer[] => {
    let out = fixed.get(list);
    if (out === undefined) {
      const files = list.map((b) => FileDescriptorProto.deserialize(b));
      // The types of the well-known files, by full name → their file.
      const others = new Map<string, string>();
      for (const f of files) if (f.package === 'google.protobuf') for (const t of declaredTypes(f)) others.set(t, EMPTY_FILE);
      out = files.map((f) => FileDescriptorProto.serialize(fixFile(f, others)));
      fixed.set(list, out);
    }
    return out;
  };
  const out: PackageDefinition = {};
  for (const [name, d] of Object.entries(def)) {
    // Message and enum types carry the list; services do not.
    const list = (d as { fileDescriptorProtos?: unknown }).fileDescriptorProtos;
    out[name] = Array.isArray(list) ? ({ ...d, fileDescriptorProtos: fixList(list as Buffer[]) } as typeof d) : d;
  }
  return out;
}
