/**
 * The command line: `-c <file>`, `--workers <n>`, `--help`, `--version`. Everything else is
 * configured through the environment (config.ts); the flags are DTM's (`-c`, `-h`, `-v`)
 * plus `--workers`. Parsing is pure: main.ts prints and exits.
 */
import { parseArgs } from 'node:util';
import { ConfigError, MAX_WORKERS } from './config.js';

/** What the command line asks for. */
export type Cli =
  | { readonly action: 'help' }
  | { readonly action: 'version' }
  | {
      readonly action: 'run';
      /** The DTM-style YAML file given with `-c`, if any. */
      readonly configFile: string | undefined;
      /** `--workers N`, overriding DTM_WORKERS, if given. */
      readonly workers: number | undefined;
    };

/** A command line that is not ours (unknown flag, missing value, stray argument): print usage, exit 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export const USAGE = `Usage: npm start -- [options]   (or: node dist/src/main.js [options])

Runs the DTM-compatible transaction coordinator. Settings come from the environment
(README.md, "Configure"); a DTM-style YAML file given with -c overrides them.

Options:
  -c, --config <file>  read settings from a DTM-style YAML file
      --workers <n>    run n processes sharing the HTTP port (1-${MAX_WORKERS}; default DTM_WORKERS or 1)
  -h, --help           print this help and exit
  -v, --version        print the version and exit
`;

/**
 * Parses the arguments after `node main.js`.
 * @throws UsageError for anything unknown or malformed; ConfigError for a bad `--workers` value.
 */
export function parseCli(argv: readonly string[]): Cli {
  let values: { config?: string | undefined; workers?: string | undefined; help?: boolean | undefined; version?: boolean | undefined };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        config: { type: 'string', short: 'c' },
        workers: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help === true) return { action: 'help' };
  if (values.version === true) return { action: 'version' };
  return { action: 'run', configFile: values.config, workers: values.workers === undefined ? undefined : parseWorkers(values.workers) };
}

function parseWorkers(raw: string): number {
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(n) || n < 1 || n > MAX_WORKERS) {
    throw new ConfigError('--workers', `must be a whole number from 1 to ${MAX_WORKERS}, got ${JSON.stringify(raw)}`);
  }
  return n;
}
