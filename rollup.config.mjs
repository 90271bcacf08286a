// Bundles ts/ into dist/index.js and dist/worker.js (ESM, with .d.ts; comlink bundled in, so the
// same files load in Node and in a browser page without a bundler), the .wasm beside them.
import typescript from '@rollup/plugin-typescript';
import { nodeResolve } from '@rollup/plugin-node-resolve';
import { readFileSync, mkdirSync, copyFileSync, rmSync } from 'node:fs';

/** The source loads '../gen/equivariant_bg.wasm'; the bundle loads the copy next to itself. */
function wasmBeside() {
  const from = '../gen/equivariant_bg.wasm';
  return {
    name: 'wasm-beside',
    buildStart() {
      // Chunk names carry content hashes: start from an empty dist/ so old ones never ship.
      rmSync('dist', { recursive: true, force: true });
    },
    transform(code, id) {
      if (!id.endsWith('/ts/core/wasm.ts') || !code.includes(from)) return null;
      return { code: code.replace(from, './equivariant_bg.wasm'), map: null };
    },
    generateBundle() {
      this.emitFile({ type: 'asset', fileName: 'equivariant_bg.wasm', source: readFileSync('ts/gen/equivariant_bg.wasm') });
    },
    writeBundle() {
      // Declarations of the wasm-bindgen glue, referenced by dist/wasm.d.ts.
      mkdirSync('dist/gen', { recursive: true });
      copyFileSync('ts/gen/equivariant.d.ts', 'dist/gen/equivariant.d.ts');
    },
  };
}

export default {
  input: { index: 'ts/index.ts', worker: 'ts/runtime/worker.ts' },
  // Chunks stay in dist/ so `new URL('./equivariant_bg.wasm', import.meta.url)` finds the module.
  output: { dir: 'dist', format: 'es', sourcemap: true, entryFileNames: '[name].js', chunkFileNames: '[name]-[hash].js' },
  external: [/^node:/],
  plugins: [wasmBeside(), nodeResolve({ browser: false, preferBuiltins: true }), typescript({ tsconfig: './tsconfig.json' })],
};
