/**
 * Process entry: answers the command line (cli.ts), loads the configuration, and runs the
 * coordinator (coordinator.ts).
 */
import { parseCli, UsageError, USAGE } from './cli.js';
import { packageVersion } from './version.js';
import { ConfigError, loadConfig, type Config } from './config.js';

function fail(err: unknown): never {
  if (err instanceof UsageError) {
    process.stderr.write(`${err.message}\n\n${USAGE}`);
    process.exit(2);
  }
  if (err instanceof ConfigError) {
    process.stderr.write(`invalid configuration: ${err.message}\n`);
    process.exit(2);
  }
  throw err;
}

let config: Config;
try {
  const cli = parseCli(process.argv.slice(2));
  if (cli.action === 'help') {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  if (cli.action === 'version') {
    process.stdout.write(`${packageVersion()}\n`);
    process.exit(0);
  }
  config = loadConfig(process.env, cli.configFile === undefined ? [] : ['-c', cli.configFile]);
  if (cli.workers !== undefined) config = Object.freeze({ ...config, workers: cli.workers });
} catch (err) {
  fail(err);
}

// Loaded only now, so that --help, --version and a bad command line answer at once, without
// loading the server (or needing its native HTTP binary).
const { runCoordinator } = await import('./coordinator.js');
await runCoordinator(config);
