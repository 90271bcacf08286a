#!/usr/bin/env node
// Command line: `npx equivariant <command>`. Commands: demo, bench.

const [cmd = 'help', ...args] = process.argv.slice(2);
const commands = {
  demo: () => import('./demo.mjs'),
  help: null,
};
if (!commands[cmd]) {
  console.log(`usage: equivariant <command>\n\n  demo   run the demonstration (the main job)\n`);
  process.exit(cmd === 'help' ? 0 : 2);
}
await (await commands[cmd]()).main(args);

