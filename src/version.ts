/** The package version (package.json), read once, without loading the server. */
import { readFileSync } from 'node:fs';

let version: string | undefined;

/** The version in package.json: `/version`, `--version`, the banner and every log line report it. */
export function packageVersion(): string {
  // `src/` in development and tests, `dist/src/` once built: package.json is at the package root.
  const url = new URL(import.meta.url.includes('/dist/src/') ? '../../package.json' : '../package.json', import.meta.url);
  version ??= (JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version;
  return version;
}
