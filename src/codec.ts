/** The one msgpack codec for stored blobs. Plain maps and arrays only, so Lua's cmsgpack can read them. */
import { Packr } from 'msgpackr';

const packr = new Packr({ useRecords: false, encodeUndefinedAsNil: true });

export function pack(value: unknown): Buffer {
  return packr.pack(value);
}

export function unpack(buf: Buffer): unknown {
  return packr.unpack(buf);
}
