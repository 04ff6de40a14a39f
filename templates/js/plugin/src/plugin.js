// {{name}}: a plugbox plugin. `handle("world")` returns "hello, world"; the
// greeting comes from the host's `greeting` config value when set.
//
// Imports are the plugin world's interfaces (wit/plugin.wit); the export
// `handle` returns a string for `ok` and throws for `err`.
import { log } from 'plugbox:plugin/log@0.1.0';
import { get } from 'plugbox:plugin/config@0.1.0';

export function handle(input) {
  if (input === '') {
    throw 'nobody to greet';
  }
  const greeting = get('greeting') ?? 'hello';
  log('info', `greeting ${input}`);
  return `${greeting}, ${input}`;
}
