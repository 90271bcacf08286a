/**
 * Field types: how a group acts on a tensor, `(u . f)(x) = rho(u) f(u^-1 x)`.
 *
 * A layer declares the field type of its input and output (as escnn's `FieldType` does), which is
 * what makes its equivariance checkable. For finite groups the action only moves entries around:
 * the facade builds the permutation once per (group element, shape) as an index table in wasm
 * memory, cached, and the gather kernel applies it to every image and channel. Actions through a
 * matrix (a representation on vector features, a Lie group on points) go through the GEMM.
 */
import { ArgumentError, ShapeError } from './errors.js';
import { FiniteGroup } from './group.js';
import { GridGroup } from './grid.js';
import { LieGroup, type LieElement } from './lie.js';
import type { Representation } from './reps.js';
import { Tensor, expectTensor, tensor } from './tensor.js';
import { IndexTable, gather } from './ops.js';
import { matmulRows, packMatrix } from './gemm.js';

const cache = new Map<string, IndexTable>();
const MAX_CACHED_BYTES = 64 * 1024 * 1024;
let cachedBytes = 0;

function table(key: string, build: () => Int32Array): IndexTable {
  let t = cache.get(key);
  if (t && !t.disposed) {
    cache.delete(key); // re-insert: the Map's order is least recently used first
    cache.set(key, t);
    return t;
  }
  const idx = build();
  t = new IndexTable(idx, false);
  // Not owned by any tidy scope: the cache owns it.
  for (const [k, old] of cache) {
    if (cachedBytes + t.bytes <= MAX_CACHED_BYTES) break;
    cachedBytes -= old.bytes;
    old.dispose();
    cache.delete(k);
  }
  cache.set(key, t);
  cachedBytes += t.bytes;
  return t;
}

/** Frees the cached index tables (they are rebuilt on demand). */
export function clearCaches(): void {
  for (const t of cache.values()) t.dispose();
  cache.clear();
  cachedBytes = 0;
}

/** Bytes held by cached index tables. */
export function cacheBytes(): number {
  return cachedBytes;
}

const fmt = (s: readonly number[]) => `[${s.join(', ')}]`;

export type AnyGroup = FiniteGroup | GridGroup | LieGroup;

/** How a group acts on tensors of one layout. */
export abstract class FieldType<E = unknown> {
  constructor(
    readonly group: AnyGroup,
    readonly channels: number,
  ) {
    if (!Number.isInteger(channels) || channels < 1) throw new ArgumentError(`field type: channels must be a positive integer, got ${channels}`);
  }
  /** The layout, e.g. `[N, 10, 4, H, W]`. */
  abstract layout(): string;
  /** Throws a ShapeError unless `x` has this layout. */
  abstract check(x: Tensor, what: string): void;
  /** `u . x`, a new tensor. */
  abstract act(u: E, x: Tensor): Tensor;
  /** The elements an exhaustive check ranges over (finite groups). */
  elements(): E[] {
    const G = this.group;
    if (G instanceof LieGroup) throw new ArgumentError(`${G.name} is infinite: give elements as a number of random samples or a list`);
    return G.elements() as E[];
  }
  label(u: E): string {
    return (this.group as { label(u: E): string }).label(u);
  }
  describe(): string {
    return `${this.layout()} (${this.kind()})`;
  }
  protected abstract kind(): string;
}

function expectRank(x: Tensor, rank: number, layout: string, what: string, field: string) {
  expectTensor(x, what);
  if (x.rank !== rank) throw new ShapeError(`${what}: expected ${layout} for ${field}, got ${fmt(x.shape)}`);
}

function gridCheck(G: GridGroup, x: Tensor, hAxis: number, what: string) {
  const h = x.shape[hAxis], w = x.shape[hAxis + 1];
  if (h !== w) throw new ShapeError(`${what}: ${G.name} acts on square grids (rotations by 90 degrees about the centre), got a ${h} x ${w} grid in ${fmt(x.shape)}`);
}

/** Scalar fields on a square grid, `[N, C, H, W]`: `(u . f)(p) = f(u^-1 p)`. */
export class ImageField extends FieldType<number> {
  constructor(readonly group: GridGroup, channels: number) {
    super(group, channels);
  }
  layout() {
    return `[N, ${this.channels}, H, W]`;
  }
  protected kind() {
    return `${this.channels} scalar fields on Z^2 under ${this.group.name}`;
  }
  check(x: Tensor, what: string) {
    expectRank(x, 4, this.layout(), what, this.kind());
    if (x.shape[1] !== this.channels) throw new ShapeError(`${what}: has ${x.shape[1]} channels, expected ${this.channels} (${this.kind()}); got ${fmt(x.shape)}`);
    gridCheck(this.group, x, 2, what);
  }
  act(u: number, x: Tensor): Tensor {
    this.check(x, `${this.group.name}.act`);
    const G = this.group;
    G.pointGroup.check(u, 'element');
    const [n, c, h, w] = x.shape;
    return gather(x, table(`${G.name}/img/${u}/${h}x${w}`, () => G.pixelTable(u, h, w)), n * c);
  }
}

/** Fields on the group p4/p4m, `[N, C, |P|, H, W]`: `(u . f)(g, p) = f(u^-1 g, u^-1 p)`. */
export class GridField extends FieldType<number> {
  constructor(readonly group: GridGroup, channels: number) {
    super(group, channels);
  }
  layout() {
    return `[N, ${this.channels}, ${this.group.pointOrder}, H, W]`;
  }
  protected kind() {
    return `${this.channels} x regular(${this.group.pointGroup.name}) fields on ${this.group.name}`;
  }
  check(x: Tensor, what: string) {
    expectRank(x, 5, this.layout(), what, this.kind());
    if (x.shape[1] !== this.channels || x.shape[2] !== this.group.pointOrder) {
      throw new ShapeError(`${what}: expected ${this.layout()} (${this.kind()}), got ${fmt(x.shape)}`);
    }
    gridCheck(this.group, x, 3, what);
  }
  act(u: number, x: Tensor): Tensor {
    this.check(x, `${this.group.name}.act`);
    const G = this.group, P = G.pointGroup;
    P.check(u, 'element');
    const [n, c, o, h, w] = x.shape;
    return gather(x, table(`${G.name}/grid/${u}/${h}x${w}`, () => {
      const pix = G.pixelTable(u, h, w);
      const inv = P.inverse(u);
      const t = new Int32Array(o * h * w);
      for (let g = 0; g < o; g++) {
        const src = P.compose(inv, g) * h * w;
        for (let i = 0; i < h * w; i++) t[g * h * w + i] = src + pix[i];
      }
      return t;
    }), n * c);
  }
}

/** Regular fields on a finite group, `[N, C, |G|]`: `(u . f)(g) = f(u^-1 g)`. */
export class RegularField extends FieldType<number> {
  constructor(readonly group: FiniteGroup, channels: number) {
    super(group, channels);
  }
  layout() {
    return `[N, ${this.channels}, ${this.group.order}]`;
  }
  protected kind() {
    return `${this.channels} x regular(${this.group.name})`;
  }
  check(x: Tensor, what: string) {
    expectRank(x, 3, this.layout(), what, this.kind());
    if (x.shape[1] !== this.channels || x.shape[2] !== this.group.order) throw new ShapeError(`${what}: expected ${this.layout()} (${this.kind()}), got ${fmt(x.shape)}`);
  }
  act(u: number, x: Tensor): Tensor {
    this.check(x, `${this.group.name}.act`);
    const G = this.group;
    G.check(u);
    const inv = G.inverse(u);
    const [n, c] = x.shape;
    return gather(x, table(`${G.name}#${G.order}/reg/${u}`, () => Int32Array.from(G.elements(), (g) => G.compose(inv, g))), n * c);
  }
}

/** Invariant features, `[N, C, ...]`: the group acts trivially. `channels = 0`: any number. */
export class InvariantField extends FieldType<unknown> {
  constructor(group: AnyGroup, channels: number) {
    super(group, channels === 0 ? 1 : channels);
    this.anyChannels = channels === 0;
  }
  private readonly anyChannels: boolean;
  get width(): number {
    return this.anyChannels ? 0 : this.channels;
  }
  layout() {
    return `[N, ${this.anyChannels ? 'C' : this.channels}, ...]`;
  }
  protected kind() {
    return `${this.anyChannels ? '' : `${this.channels} `}invariant features`;
  }
  check(x: Tensor, what: string) {
    expectTensor(x, what);
    if (x.rank < 2 || (!this.anyChannels && x.shape[1] !== this.channels)) throw new ShapeError(`${what}: expected ${this.layout()} (${this.kind()}), got ${fmt(x.shape)}`);
  }
  act(u: unknown, x: Tensor): Tensor {
    this.check(x, 'act');
    if (this.group instanceof LieGroup) this.group.check(u);
    else if (this.group instanceof GridGroup) this.group.pointGroup.check(u);
    else this.group.check(u);
    const inner = x.size / x.shape[0] || 1;
    return gather(x, table(`identity/${inner}`, () => Int32Array.from({ length: inner }, (_, i) => i)), x.shape[0] === 0 ? 0 : x.shape[0]);
  }
}

/** Vector features `[N, C, dim]` transforming by a representation: `x -> rho(u) x`. */
export class RepField<E> extends FieldType<E> {
  constructor(readonly rep: Representation<E>, channels: number) {
    super(rep.group as unknown as AnyGroup, channels);
  }
  layout() {
    return `[N, ${this.channels}, ${this.rep.dim}]`;
  }
  protected kind() {
    return `${this.channels} x ${this.rep.name}`;
  }
  check(x: Tensor, what: string) {
    expectRank(x, 3, this.layout(), what, this.kind());
    if (x.shape[1] !== this.channels || x.shape[2] !== this.rep.dim) throw new ShapeError(`${what}: expected ${this.layout()} (${this.kind()}), got ${fmt(x.shape)}`);
  }
  act(u: E, x: Tensor): Tensor {
    this.check(x, 'act');
    const d = this.rep.dim, m = this.rep.matrix(u);
    // Row vectors: y = x rho^T.
    const t = new Float32Array(d * d);
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) t[j * d + i] = m[i * d + j];
    return applyMatrix(x, t, d, undefined);
  }
}

/** Point coordinates `[P, d]` or `[N, P, d]` under a Lie group: `x -> R x + t`. */
export class PointsField extends FieldType<LieElement> {
  constructor(readonly group: LieGroup) {
    super(group, 1);
  }
  layout() {
    return `[N, P, ${this.group.d}] or [P, ${this.group.d}]`;
  }
  protected kind() {
    return `points in R^${this.group.d} under ${this.group.name}`;
  }
  check(x: Tensor, what: string) {
    expectTensor(x, what);
    if ((x.rank !== 2 && x.rank !== 3) || x.shape[x.rank - 1] !== this.group.d) throw new ShapeError(`${what}: expected ${this.layout()} (${this.kind()}), got ${fmt(x.shape)}`);
  }
  act(g: LieElement, x: Tensor): Tensor {
    this.check(x, `${this.group.name}.act`);
    const G = this.group, d = G.d;
    G.check(g);
    const R = G.rotation(g);
    const rt = new Float32Array(d * d);
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) rt[j * d + i] = R[i * d + j];
    return applyMatrix(x, rt, d, Float32Array.from(G.translation(g)));
  }
}

/** `x` viewed as rows of length `d`, times `mt` (`d x d`), plus `bias`: a new tensor of x's shape. */
function applyMatrix(x: Tensor, mt: Float32Array, d: number, bias: Float32Array | undefined): Tensor {
  const w = tensor(mt, [d, d]);
  const b = bias ? tensor(bias, [d]) : undefined;
  try {
    const packed = packMatrix(w);
    try {
      return matmulRows(x, x.size / d, d, packed, { bias: b }, x.shape);
    } finally {
      packed.dispose();
    }
  } finally {
    w.dispose();
    b?.dispose();
  }
}

/** The field type a group's `act` uses for a tensor of this rank. */
export function defaultField(G: AnyGroup, x: Tensor): FieldType<unknown> {
  expectTensor(x, `${G}.act`);
  if (G instanceof GridGroup) {
    if (x.rank === 4) return new ImageField(G, x.shape[1]) as FieldType<unknown>;
    if (x.rank === 5) return new GridField(G, x.shape[1]) as FieldType<unknown>;
    throw new ShapeError(`${G.name}.act: expected an image [N, C, H, W] or a field on ${G.name} [N, C, ${G.pointOrder}, H, W], got ${fmt(x.shape)}`);
  }
  if (G instanceof FiniteGroup) {
    if (x.rank === 3 && x.shape[2] === G.order) return new RegularField(G, x.shape[1]) as FieldType<unknown>;
    throw new ShapeError(`${G.name}.act: expected a regular field [N, C, ${G.order}], got ${fmt(x.shape)}`);
  }
  return new PointsField(G) as FieldType<unknown>;
}

/** Constructors of field types, by what the features are. */
export const field = {
  image: (G: GridGroup, channels: number) => new ImageField(G, channels),
  grid: (G: GridGroup, channels: number) => new GridField(G, channels),
  regular: (G: FiniteGroup, channels: number) => new RegularField(G, channels),
  invariant: (G: AnyGroup, channels: number) => new InvariantField(G, channels),
  rep: <E>(rho: Representation<E>, channels: number) => new RepField(rho, channels),
  points: (G: LieGroup) => new PointsField(G),
};
