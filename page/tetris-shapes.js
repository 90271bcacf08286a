// The eight 3D Tetris shapes of e3nn's Tetris example (unit cubes at integer coordinates), in
// the one pose the demo models were trained on, and random poses: a Haar-random rotation (a unit
// quaternion of four normal numbers) and a normal translation. Shared by `npm run demo -- tetris`
// and the page.
import { groups } from '../dist/index.js';

export const LABELS = ['chiral_shape_1', 'chiral_shape_2', 'square', 'line', 'corner', 'L', 'T', 'zigzag'];

export const SHAPES = [
  [[0, 0, 0], [0, 0, 1], [1, 0, 0], [1, 1, 0]],
  [[0, 0, 0], [0, 0, 1], [1, 0, 0], [1, -1, 0]],
  [[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]],
  [[0, 0, 0], [0, 0, 1], [0, 0, 2], [0, 0, 3]],
  [[0, 0, 0], [0, 0, 1], [0, 1, 0], [1, 0, 0]],
  [[0, 0, 0], [0, 0, 1], [0, 0, 2], [0, 1, 0]],
  [[0, 0, 0], [0, 0, 1], [0, 0, 2], [0, 1, 1]],
  [[0, 0, 0], [1, 0, 0], [1, 1, 0], [2, 1, 0]],
];

/** A seeded uniform generator in [0, 1) (the library's mulberry32). */
export const rng = (seed) => groups.seededRng(seed);

const gauss = (u) => Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());

/** The rotation matrix (row-major 3x3) of a unit quaternion `[w, x, y, z]`. */
export function quaternionMatrix([w, x, y, z]) {
  return [
    1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
    2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
    2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y),
  ];
}

/** A random pose `{ R, t }`: Haar-random rotation, translation with `scale` normal components. */
export function randomPose(u, scale = 3) {
  const q = [gauss(u), gauss(u), gauss(u), gauss(u)];
  const n = Math.hypot(...q);
  return { R: quaternionMatrix(q.map((v) => v / n)), t: [gauss(u) * scale, gauss(u) * scale, gauss(u) * scale] };
}

/** `R p + t` for each point of a shape. */
export function place(shape, { R, t }) {
  return shape.map(([x, y, z]) => [0, 1, 2].map((i) => R[3 * i] * x + R[3 * i + 1] * y + R[3 * i + 2] * z + t[i]));
}
