#!/usr/bin/env node
// Command line: `npx equivariant <command>`. Commands: demo, bench.

const [cmd = 'help', ...args] = process.argv.slice(2);
const commands = {
  demo: () => import('./demo.mjs'),
  bench: () => import('./bench.mjs'),
  help: null,
};
if (!commands[cmd]) {
  console.log(`usage: equivariant <command> [options]

  demo    rotated Fashion-MNIST: accuracy by angle for a P4CNN and a plain CNN, equivariance
          error, agreement with PyTorch, throughput, and an SVG plot
          [--limit N] [--workers N] [--out DIR]
  bench   the standard workloads (PEAK, GEMM, L1, L2, P4CNN) with the peers when installed;
          prints tables and writes JSON (docs/bench.md)
          [--passes N] [--json FILE] [--only GEMM,L1,L2,P4CNN] [--no-peers]
`);
  process.exit(cmd === 'help' ? 0 : 2);
}
await (await commands[cmd]()).main(args);

