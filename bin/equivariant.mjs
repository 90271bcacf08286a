#!/usr/bin/env node
// Command line: `npx equivariant <command>`. Commands: demo, bench, check, basis, emlp, batch, worker.

const [cmd = 'help', ...args] = process.argv.slice(2);
const commands = {
  demo: () => import('./demo.mjs'),
  bench: () => import('./bench.mjs'),
  check: () => import('./check.mjs'),
  basis: () => import('./basis.mjs'),
  emlp: () => import('./emlp.mjs'),
  batch: () => import('./batch.mjs'),
  worker: () => import('./worker.mjs'),
  help: null,
};
if (!commands[cmd]) {
  console.log(`usage: equivariant <command> [options]

  demo    rotated Fashion-MNIST: accuracy by angle for a P4CNN, a plain CNN and steerable C8,
          C16 and D8 CNNs, equivariance errors, agreement with PyTorch, throughput, an SVG plot
          (the full test set takes about 25 minutes on 2 cores; --limit 1000 about two)
          [--limit N] [--workers N] [--out DIR]
  demo tetris
          3D Tetris shapes under 1,000 random rotations and translations each: accuracy of an
          SE(3) LieTransformer, an SE(3) LieConv and a plain point transformer trained in one
          pose, invariance errors, throughput, and an SVG plot
          [--poses N] [--workers N] [--out DIR]
  bench   the standard workloads (PEAK, GEMM, L1, L2, P4CNN at batch 64 and 1) with the peers if installed;
          prints tables and writes JSON (docs/bench.md)
          [--passes N] [--json FILE] [--only GEMM,L1,L2,P4CNN,P4CNN-1] [--no-peers]
  check   equivariance of a model over every element of its group, on a random input (point
          clouds: random elements, the layers after the lift with the lifted elements moved;
          steerable models: the elements exact on the pixel grid, --all also reports the others)
          --config model.json --weights model.safetensors [--batch N] [--size H] [--tolerance T]
          [--points P] [--elements K] [--all]
  basis   the space of equivariant linear maps between two representations: dimension, time,
          a summary of the basis   <group> <repIn> <repOut> [--json FILE] [--method M] [--print]
          e.g. basis S4 perm*perm*perm perm*perm*perm   (basis --help: groups and representations)
  emlp    the shipped equivariant MLPs (O(3)) beside plain MLPs: test error, equivariance error,
          agreement with PyTorch   [--json FILE]
  batch   runs a model over every item of a data set (safetensors, .npy, IDX; gzipped or not) and
          writes the outputs in order as tensor 'output' of Y.safetensors; resumable (docs/scaling.md)
          --config M.json --weights M.safetensors --input X --output Y.safetensors
          [--tensor NAME] [--batch 256] [--workers N] [--overwrite]
          [--queue redis://HOST:PORT [--name JOB] [--window 64] [--attempts 3] [--redis-timeout 30]]
          (--queue: across machines, through BullMQ on Redis)
  worker  serves the chunks of queued batch jobs with a local pool, until stopped
          --queue redis://HOST:PORT [--workers N] [--concurrency C] [--stall-timeout 30] [--quiet]
`);
  process.exit(['help', '--help', '-h'].includes(cmd) ? 0 : 2);
}
try {
  await (await commands[cmd]()).main(args);
} catch (e) {
  // The library's own errors say what was expected and what was got: print just that.
  if (e && typeof e.name === 'string' && /Error$/.test(e.name) && e.constructor?.name !== 'Error' && !(e instanceof TypeError)) {
    console.error(`equivariant ${cmd}: ${e.name}: ${e.message}`);
    process.exit(2);
  }
  // A file the command could not read or write (a missing directory, a directory given for a
  // file, no permission): the system's one line says which and why.
  if (e && typeof e.code === 'string' && typeof e.syscall === 'string') {
    console.error(`equivariant ${cmd}: ${e.message}`);
    process.exit(1);
  }
  throw e;
}

