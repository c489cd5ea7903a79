/**
 * Loads our `.proto` files (dtm-grpc.md §1) with @grpc/proto-loader. The files stay in `src/grpc/`
 * and are read from there at run time, from `src/` in development and tests and from `dist/src/`
 * once built, the way `lua/` is found (src/store/scripts.ts): the build copies nothing.
 */
import { fileURLToPath } from 'node:url';
import { loadSync, type Options, type PackageDefinition, type ServiceDefinition } from '@grpc/proto-loader';

// `src/grpc/` in development and tests, `dist/src/grpc/` once built: the protos stay in `src/grpc/`.
const PROTO_DIR = fileURLToPath(new URL(import.meta.url.includes('/dist/src/') ? '../../../src/grpc/' : './', import.meta.url));

/** The directory holding `dtmgimp.proto` and `workflow.proto` (works from `src/` and `dist/src/`). */
export function protoDir(): string {
  return PROTO_DIR;
}

/**
 * How messages become objects: DTM's field names as written (`Gid`, `BinPayloads`), int64 as JS
 * numbers (seconds and counts, far below 2^53), bytes as Buffers, and no defaults filled in, so
 * that a field the client left at its proto3 zero is simply absent.
 */
const LOADER_OPTIONS: Options = { keepCase: true, longs: Number, enums: String, defaults: false, oneofs: false, includeDirs: [PROTO_DIR] };

/** Loads one of our proto files by name (e.g. `dtmgimp.proto`). */
function loadProto(file: string): PackageDefinition {
  return loadSync(file, LOADER_OPTIONS);
}

let dtm: PackageDefinition | undefined;

/** The `dtmgimp` package (service `dtmgimp.Dtm` and its messages), loaded once. */
export function dtmPackage(): PackageDefinition {
  dtm ??= loadProto('dtmgimp.proto');
  return dtm;
}

/** The `dtmgimp.Dtm` service definition: paths and (de)serializers of its nine methods. */
export function dtmServiceDefinition(): ServiceDefinition {
  return dtmPackage()['dtmgimp.Dtm'] as ServiceDefinition;
}
