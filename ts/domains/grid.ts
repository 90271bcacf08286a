/**
 * A square grid under p4, p4m or z2: features on the group `[N, C, |P|, H, W]` (element
 * `(p, y, x)` at position `p H W + y W + x`) or images on the plane `[N, C, H, W]` (the input of
 * a lifting layer: `|P|` = 1). A neighbourhood is a spatial window, as a convolution's: for
 * output `(p, oy, ox)` the inputs `(s, iy, ix)` inside the window, every `s`. The relative
 * element `g^-1 g'` has a point part `q = p^-1 s` and a spatial part, the window offset turned
 * back by `p^-1`: its table index is `(q k + i) k + j` (a position of the kernel `kappa`), its
 * coordinates `[one-hot(q), dx, dy]` (pixels, x right and y up, from the window's centre).
 * Lists are built once per grid, shape and window, and cached.
 */
import { ArgumentError, ShapeError } from '../core/errors.js';
import { U32Buffer } from '../core/buffers.js';
import { withCached } from '../core/cache.js';
import { convGeometry, type Padding } from '../core/ops.js';
import { limits } from '../core/limits.js';
import { cachedTensor } from '../core/tensor.js';
import type { GridGroup } from '../groups/grid.js';
import { Neighbourhood, specKey, type NeighbourSpec } from './neighbourhood.js';

export interface Window {
  size: number;
  padding: Padding;
  stride: number;
}

export class GridDomain {
  readonly kind = 'grid';
  constructor(readonly group: GridGroup) {}

  /** The window of a specification. */
  window(spec: NeighbourSpec, where: string): Window {
    specKey(spec, where);
    if (spec === 'global' || !('window' in spec)) throw new ArgumentError(`${where}: on ${this.group.name}, neighbours are a spatial window { window, padding, stride }, got ${JSON.stringify(spec)}`);
    const { window: size, padding = 'valid', stride = 1 } = spec;
    if (padding !== 'same' && padding !== 'valid' && !(Number.isInteger(padding) && (padding as number) >= 0 && (padding as number) < size)) {
      throw new ArgumentError(`${where}: padding must be 'same', 'valid' or an integer in 0..${size - 1}, got ${String(padding)}`);
    }
    if (!Number.isInteger(stride) || stride < 1) throw new ArgumentError(`${where}: stride must be a positive integer, got ${String(stride)}`);
    return { size, padding, stride };
  }

  /** Output size for an `h x w` input. */
  output(win: Window, h: number, w: number, where: string): { ho: number; wo: number; padTop: number; padLeft: number } {
    const g = convGeometry(h, w, win.size, win.stride, win.padding);
    if (g.ho < 1 || g.wo < 1) throw new ShapeError(`${where}: a ${win.size}x${win.size} window with padding ${win.padding} does not fit a ${h}x${w} input`);
    return g;
  }

  /**
   * Runs `use` with the (cached) neighbourhood of window `win` on an `h x w` input, from fields
   * on the group (`lift` false) or images (`lift` true).
   */
  with<R>(win: Window, lift: boolean, h: number, w: number, where: string, use: (n: Neighbourhood) => R): R {
    const G = this.group, P = G.pointGroup, n = P.order, k = win.size;
    const S = lift ? 1 : n;
    const { ho, wo, padTop, padLeft } = this.output(win, h, w, where);
    const key = `nbhd/${lift ? 'lift' : 'group'}/${h}x${w}/${k}/${String(win.padding)}/${win.stride}`;
    return withCached(G, key, () => {
      const mOut = n * ho * wo;
      const offsets = new Uint32Array(mOut + 1);
      // Only taps inside the input are listed: at most min(k, h) x min(k, w) of them per output.
      const cap = mOut * S * Math.min(k, h) * Math.min(k, w);
      const max = limits().maxNeighbourPairs;
      if (cap > max) throw new ArgumentError(`${where}: a ${k}x${k} window on a ${h}x${w} input lists up to ${cap} pairs, over the limit of ${max} (limits.maxNeighbourPairs)`);
      const indices = new Uint32Array(cap), rel = new Uint32Array(cap);
      const width = (lift ? 0 : S) + 2;
      const coords = new Float32Array(cap * width);
      let at = 0;
      for (let p = 0; p < n; p++) {
        const pinv = P.inverse(p);
        const [a, b, c, d] = G.matrix(pinv);
        for (let oy = 0; oy < ho; oy++) for (let ox = 0; ox < wo; ox++) {
          const top = oy * win.stride - padTop, left = ox * win.stride - padLeft;
          // The window's centre in doubled pixel coordinates (half-integer for even sizes).
          const cy2 = 2 * top + (k - 1), cx2 = 2 * left + (k - 1);
          for (let s = 0; s < S; s++) {
            const q = lift ? 0 : P.compose(pinv, s);
            for (let iy = Math.max(0, top); iy < Math.min(h, top + k); iy++) for (let ix = Math.max(0, left); ix < Math.min(w, left + k); ix++) {
              const X = 2 * ix - cx2, Y = cy2 - 2 * iy;
              const X2 = a * X + b * Y, Y2 = c * X + d * Y;
              const jj = (X2 + (k - 1)) / 2, ii = (k - 1 - Y2) / 2;
              indices[at] = (s * h + iy) * w + ix;
              rel[at] = (q * k + ii) * k + jj;
              if (!lift) coords[at * width + q] = 1;
              coords[at * width + width - 2] = X2 / 2;
              coords[at * width + width - 1] = Y2 / 2;
              at++;
            }
          }
          offsets[p * ho * wo + oy * wo + ox + 1] = at;
        }
      }
      return new Neighbourhood(mOut, S * h * w, new U32Buffer(offsets, false), new U32Buffer(indices.subarray(0, at), false), at,
        { buffer: new U32Buffer(rel.subarray(0, at), false), size: S * k * k },
        { buffer: cachedTensor(coords.subarray(0, at * width), [at, width]), width });
    }, use);
  }
}

