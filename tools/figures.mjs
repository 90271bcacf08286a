#!/usr/bin/env node
// Figures for the docs, drawn by the library itself. Usage: node tools/figures.mjs
//   docs/img/p4m-transforms.svg: an asymmetric image and its 8 transforms under p4m's point group.
import { writeFileSync, mkdirSync } from 'node:fs';
import * as eq from '../dist/index.js';

const root = new URL('..', import.meta.url).pathname;

/** A 12x12 image of the letter F with a dot: no symmetry, so all 8 transforms differ. */
function letterF(n = 12) {
  const img = new Float32Array(n * n);
  const set = (i, j, v = 1) => (img[i * n + j] = v);
  for (let i = 2; i < 10; i++) set(i, 3);
  for (let j = 3; j < 9; j++) set(2, j);
  for (let j = 3; j < 7; j++) set(5, j);
  set(9, 8, 0.5);
  return img;
}

/** One image as SVG rectangles. */
function cells(img, n, x0, y0, px) {
  let s = '';
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
    const v = img[i * n + j];
    const g = Math.round(255 * (1 - v));
    s += `<rect x="${x0 + j * px}" y="${y0 + i * px}" width="${px}" height="${px}" fill="rgb(${g},${g},${g})"/>`;
  }
  return s + `<rect x="${x0}" y="${y0}" width="${n * px}" height="${n * px}" fill="none" stroke="#888"/>`;
}

export async function p4mFigure() {
  await eq.init();
  const n = 12, px = 8, gap = 28, G = eq.groups.p4m();
  const img = letterF(n);
  const size = n * px;
  const W = 4 * (size + gap) + gap, H = 2 * (size + gap + 18) + gap;
  let svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="13">`;
  svg += `<rect width="${W}" height="${H}" fill="white"/>`;
  eq.tidy(() => {
    const x = eq.tensor(img, [1, 1, n, n]);
    for (const u of G.elements()) {
      const out = G.act(u, x).toArray();
      const col = u % 4, row = Math.floor(u / 4);
      const x0 = gap + col * (size + gap), y0 = gap + row * (size + gap + 18);
      svg += cells(out, n, x0, y0, px);
      svg += `<text x="${x0 + size / 2}" y="${y0 + size + 16}" text-anchor="middle">${u} = ${G.label(u)}</text>`;
    }
  });
  svg += '</svg>\n';
  mkdirSync(`${root}docs/img`, { recursive: true });
  writeFileSync(`${root}docs/img/p4m-transforms.svg`, svg);
  return svg;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await p4mFigure();
  console.log('wrote docs/img/p4m-transforms.svg');
}
