// Bundles ts/ into dist/index.js (ESM, with .d.ts), the .wasm beside it.
import typescript from '@rollup/plugin-typescript';
import { readFileSync, mkdirSync, copyFileSync } from 'node:fs';

/** The source loads './gen/equivariant_bg.wasm'; the bundle loads the copy next to itself. */
function wasmBeside() {
  const from = './gen/equivariant_bg.wasm';
  return {
    name: 'wasm-beside',
    transform(code, id) {
      if (!id.endsWith('/ts/wasm.ts') || !code.includes(from)) return null;
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
  input: 'ts/index.ts',
  output: { dir: 'dist', format: 'es', sourcemap: true, entryFileNames: 'index.js' },
  external: [/^node:/],
  plugins: [wasmBeside(), typescript({ tsconfig: './tsconfig.json' })],
};
