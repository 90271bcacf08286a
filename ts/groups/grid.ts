/**
 * The wallpaper groups `p4 = Z^2 x| C4` and `p4m = Z^2 x| D4` of Cohen & Welling (and `z2`, the
 * translations alone), acting on square pixel grids.
 *
 * An element is `{ point, tx, ty }`: the point-group element (an index of `C4` or `D4`, see
 * group.ts: `m*4 + r` is rotation by `r * 90` degrees counter-clockwise after `m` mirrors
 * `x -> -x`), followed by the integer translation `(tx, ty)`. Coordinates are `x` to the right
 * and `y` up, so on an image `[.., H, W]` the rotation `r = 1` is `torch.rot90(img, 1, (-2, -1))`
 * and the mirror is `torch.flip(img, [-1])`. On a finite grid the point group acts about the
 * grid's centre, exactly: that is what `act` and the equivariance checks use.
 */
import { ArgumentError, ShapeError } from '../core/errors.js';
import { gather } from '../core/ops.js';
import { expectTensor, type Tensor } from '../core/tensor.js';
import { withTable } from '../core/cache.js';
import { describe } from '../core/limits.js';
import { cyclic, dihedral, type FiniteGroup, type Group } from './finite.js';

export interface GridElement {
  readonly point: number;
  readonly tx: number;
  readonly ty: number;
}

export class GridGroup implements Group<GridElement> {
  readonly identity: GridElement = { point: 0, tx: 0, ty: 0 };
  /** Rotations (and mirrors) about the origin: `C4` for p4, `D4` for p4m. */
  readonly pointGroup: FiniteGroup;

  constructor(readonly name: 'z2' | 'p4' | 'p4m') {
    this.pointGroup = name === 'z2' ? cyclic(1) : name === 'p4' ? cyclic(4) : dihedral(4);
  }

  /** Size of the point group (4 or 8): the length of the group axis of a feature map. */
  get pointOrder(): number {
    return this.pointGroup.order;
  }

  /**
   * The rotations (and mirrors) about the origin, as elements with zero translation: what
   * `act` applies about a grid's centre and what `checkEquivariance` ranges over.
   */
  elements(): GridElement[] {
    return this.pointGroup.elements().map((point) => this.element(point));
  }

  /** The element `{ point, tx, ty }`, checked. */
  element(point: number, tx = 0, ty = 0): GridElement {
    return this.check({ point, tx, ty });
  }

  /** The rotation by `quarterTurns * 90` degrees counter-clockwise (no mirror, no translation). */
  rotation(quarterTurns: number): GridElement {
    if (!Number.isInteger(quarterTurns)) throw new ArgumentError(`${this.name}.rotation: expected a whole number of quarter turns, got ${describe(quarterTurns)}`);
    const r = ((quarterTurns % 4) + 4) % 4;
    if (this.name === 'z2' && r !== 0) throw new ArgumentError('z2 has no rotations (translations only)');
    return this.element(r);
  }

  /** The integer 2x2 matrix `[a, b, c, d]` of a point-group element on `(x, y)`. */
  matrix(point: number): [number, number, number, number] {
    this.pointGroup.check(point, 'point-group element');
    const r = point % 4, m = point >= 4 ? 1 : 0;
    // R^r with R = [[0,-1],[1,0]] (counter-clockwise), after M^m with M = [[-1,0],[0,1]].
    const rot: [number, number, number, number][] = [[1, 0, 0, 1], [0, -1, 1, 0], [-1, 0, 0, -1], [0, 1, -1, 0]];
    const [a, b, c, d] = rot[r];
    return m ? [-a, b, -c, d] : [a, b, c, d];
  }

  check(g: unknown, what = 'an element'): GridElement {
    const e = g as GridElement;
    if (e === null || typeof e !== 'object' || !Number.isInteger(e.tx) || !Number.isInteger(e.ty)) {
      throw new ArgumentError(`${this.name}: ${what} is { point, tx, ty } with integer translations (make one with ${this.name}.element(point, tx, ty) or ${this.name}.rotation(r)), got ${typeof g === 'number' ? `the number ${g}` : describe(g)}`);
    }
    this.pointGroup.check(e.point, 'point');
    return e;
  }

  compose(g: GridElement, h: GridElement): GridElement {
    this.check(g);
    this.check(h);
    const [a, b, c, d] = this.matrix(g.point);
    return { point: this.pointGroup.compose(g.point, h.point), tx: g.tx + a * h.tx + b * h.ty, ty: g.ty + c * h.tx + d * h.ty };
  }

  inverse(g: GridElement): GridElement {
    this.check(g);
    const inv = this.pointGroup.inverse(g.point);
    const [a, b, c, d] = this.matrix(inv);
    return { point: inv, tx: -(a * g.tx + b * g.ty), ty: -(c * g.tx + d * g.ty) };
  }

  /**
   * `u . x` for an element `u` without translation (a rotation or mirror about the grid's
   * centre): an image `[N, C, H, W]` is transformed in space, `(u . f)(p) = f(u^-1 p)`; a field on
   * the group `[N, C, |P|, H, W]` is also permuted along its group axis,
   * `(u . f)(g, p) = f(u^-1 g, u^-1 p)`. Both are one gather-kernel call with a cached table.
   */
  act(u: GridElement, x: Tensor): Tensor {
    this.check(u, 'u');
    if (u.tx !== 0 || u.ty !== 0) throw new ArgumentError(`${this.name}.act: a finite grid is transformed about its centre, so u must have no translation; got (${u.tx}, ${u.ty}) (translations would move content off the grid)`);
    expectTensor(x, `${this.name}.act`);
    const fmt = `[${x.shape.join(', ')}]`;
    if (x.rank !== 4 && x.rank !== 5) throw new ShapeError(`${this.name}.act: expected an image [N, C, H, W] or a field on ${this.name} [N, C, ${this.pointOrder}, H, W], got ${fmt}`);
    if (x.rank === 5 && x.shape[2] !== this.pointOrder) throw new ShapeError(`${this.name}.act: expected [N, ${x.shape[1]}, ${this.pointOrder}, H, W] for a field on ${this.name}, got ${fmt}`);
    const h = x.shape[x.rank - 2], w = x.shape[x.rank - 1];
    if (h !== w && this.pointOrder > 1) throw new ShapeError(`${this.name}.act: ${this.name} acts on square grids (rotations by 90 degrees about the centre), got a ${h} x ${w} grid in ${fmt}`);
    const p = u.point, P = this.pointGroup;
    if (x.rank === 4) return withTable(this, `img/${p}/${h}x${w}`, () => this.pixelTable(p, h, w), (t) => gather(x, t, x.shape[0] * x.shape[1]));
    const o = this.pointOrder;
    return withTable(this, `grid/${p}/${h}x${w}`, () => {
      const pix = this.pixelTable(p, h, w);
      const inv = P.inverse(p);
      const t = new Int32Array(o * h * w);
      for (let g = 0; g < o; g++) {
        const src = P.compose(inv, g) * h * w;
        for (let i = 0; i < h * w; i++) t[g * h * w + i] = src + pix[i];
      }
      return t;
    }, (t) => gather(x, t, x.shape[0] * x.shape[1]));
  }

  /** Where `g` sends the lattice point `(x, y)`. */
  apply(g: GridElement, x: number, y: number): [number, number] {
    this.check(g);
    const [a, b, c, d] = this.matrix(g.point);
    return [a * x + b * y + g.tx, c * x + d * y + g.ty];
  }

  label(g: GridElement): string {
    this.check(g);
    const p = this.pointGroup.label(g.point);
    return g.tx || g.ty ? `${p}, t=(${g.tx}, ${g.ty})` : p;
  }

  /**
   * The source index of every pixel of an `h x w` grid under point element `u`:
   * `out[i, j] = in[src]` with `(u . f)(p) = f(u^-1 p)`, about the grid centre.
   */
  pixelTable(u: number, h: number, w: number): Int32Array {
    if (!Number.isSafeInteger(h) || !Number.isSafeInteger(w) || h < 1 || w < 1 || h * w > 2 ** 28) throw new ArgumentError(`${this.name}.pixelTable: h and w must be positive integers with h x w at most 2^28, got ${describe(h)} x ${describe(w)}`);
    const inv = this.pointGroup.inverse(u);
    const [a, b, c, d] = this.matrix(inv);
    const out = new Int32Array(h * w);
    // Doubled coordinates keep the centre on the lattice for odd and even sizes.
    for (let i = 0; i < h; i++) {
      for (let j = 0; j < w; j++) {
        const X = 2 * j - (w - 1), Y = h - 1 - 2 * i;
        const X2 = a * X + b * Y, Y2 = c * X + d * Y;
        const jj = (X2 + (w - 1)) / 2, ii = (h - 1 - Y2) / 2;
        out[i * w + j] = ii * w + jj;
      }
    }
    return out;
  }

  toString(): string {
    return `${this.name} (Z^2 x| ${this.pointGroup.name})`;
  }
}

let z2Group: GridGroup | undefined;
let p4Group: GridGroup | undefined;
let p4mGroup: GridGroup | undefined;

/**
 * `z2`: translations only (the point group is trivial). A G-CNN over z2 is an ordinary CNN, so a
 * plain CNN is one more configuration of the same layers (features `[N, C, 1, H, W]`).
 */
export function z2(): GridGroup {
  return (z2Group ??= new GridGroup('z2'));
}

/** `p4`: translations and rotations by multiples of 90 degrees. */
export function p4(): GridGroup {
  return (p4Group ??= new GridGroup('p4'));
}

/** `p4m`: translations, rotations by multiples of 90 degrees, and mirrors. */
export function p4m(): GridGroup {
  return (p4mGroup ??= new GridGroup('p4m'));
}
