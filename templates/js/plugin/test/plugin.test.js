// Calls the built plugin ({{name}}.wasm, from `npm run build`) through
// plugbox, as a host would. Needs `plugbox` on PATH (or PLUGBOX=/path/to/plugbox).
// Run with `npm test`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const project = fileURLToPath(new URL('..', import.meta.url));
const plugin = '{{name}}.wasm';

function plugbox(...args) {
  assert.ok(existsSync(`${project}/${plugin}`), `${plugin} is missing: run \`npm run build\` first`);
  return execFileSync(process.env.PLUGBOX ?? 'plugbox', args, { cwd: project, encoding: 'utf8' });
}

test('handle greets its input', () => {
  assert.equal(plugbox('call', plugin, 'handle', '"world"'), '{"ok":"hello, world"}\n');
});

test('empty input is an error', () => {
  assert.equal(plugbox('call', plugin, 'handle', '""'), '{"err":"nobody to greet"}\n');
});

test('greeting comes from the manifest config', () => {
  assert.equal(
    plugbox('call', '--manifest', 'plugbox.toml', '{{name}}', 'handle', '"world"'),
    '{"ok":"hey, world"}\n',
  );
});
