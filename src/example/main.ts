/**
 * `npm run example`: the quick start's transfer service (transfer-service.ts) on EXAMPLE_PORT
 * (8081) of EXAMPLE_HOST (127.0.0.1), printing each branch call; SIGINT or SIGTERM stop it.
 */
import { startTransferService } from './transfer-service.js';

const port = Number(process.env['EXAMPLE_PORT'] ?? 8081);
const host = process.env['EXAMPLE_HOST'] ?? '127.0.0.1';
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write(`EXAMPLE_PORT must be a port number, got ${JSON.stringify(process.env['EXAMPLE_PORT'])}\n`);
  process.exit(2);
}

const service = await startTransferService({ port, host, log: (line) => process.stdout.write(`${line}\n`) });
process.stdout.write(`transfer service on ${service.url} (alice 100, bob 0); balances: GET ${service.url}/balances\n`);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void service.close().then(() => process.exit(0));
  });
}
