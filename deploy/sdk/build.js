// Builds the SDK package in this folder (npm runs it before `npm pack`): compiles src/client/ into
// dist/src/client/ (the layout the Redis barrier expects, so it finds lua/client/ beside dist/),
// and copies the SDK's Lua scripts and the licence in.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import process from 'node:process';
import { fileURLToPath, URL } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const root = fileURLToPath(new URL('../..', import.meta.url));

for (const dir of ['dist', 'lua']) rmSync(`${here}${dir}`, { recursive: true, force: true });
const tsc = createRequire(`${root}package.json`).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', `${root}tsconfig.client.json`], { stdio: 'inherit' });
mkdirSync(`${here}lua/client`, { recursive: true });
for (const f of readdirSync(`${root}lua/client`)) if (f.endsWith('.lua')) copyFileSync(`${root}lua/client/${f}`, `${here}lua/client/${f}`);
copyFileSync(`${root}LICENSE`, `${here}LICENSE`);
