/**
 * `omega`: what the general operator `[Phi f](g) = sum over g' of omega(f, g, g')` sums.
 *
 * Equivariance forces `omega` to see the input only relative to `g`. Each kind of `omega` is one
 * family of layers; `eq.nn.phi({ group, omega })` builds the layer, and the named layers
 * (`liftingConv`, `groupConv`) are these configurations under their usual names.
 *
 * - `omega.kernel`: `omega(f, g, g') = kappa(g^-1 g') f(g')`, a learned kernel on the group
 *   (group convolution) or, for `lift: true`, on the domain (`kappa(g^-1 x') f(x')`, lifting
 *   convolution). On p4/p4m the kernel has a finite spatial support of `size x size`.
 * - `omega.attention`: `omega(f, g, g') = softmax over g' of [q(f(g)).k(f(g'))/sqrt(d) +
 *   b(g^-1 g')] W_V f(g')`, group self-attention with a relative-position table `b` (per head),
 *   on the regular fields of a finite group. With `content: false` the logits are `b` alone and
 *   the operator is the group convolution with kernel `softmax(b) W_V` (Conclusion 1).
 */
import { ArgumentError } from '../core/errors.js';
import { checkAttentionOmegaOptions, checkKernelOmegaOptions } from '../core/limits.js';

export type Padding = 'same' | 'valid' | number;

/** `v` if it is a positive integer, else an ArgumentError naming `what`. */
function positiveInt(v: unknown, what: string): number {
  if (!Number.isInteger(v) || (v as number) < 1) throw new ArgumentError(`${what} must be a positive integer, got ${String(v)}`);
  return v as number;
}

export interface KernelOmegaOptions {
  /** Input channels (fields). */
  in: number;
  /** Output channels (fields). */
  out: number;
  /** Spatial support `size x size` (p4/p4m); default 3. Odd or even. */
  size?: number;
  /** `'valid'` (default), `'same'` (PyTorch's; the extra pixel goes bottom/right for even sizes), or pixels per side. */
  padding?: Padding;
  stride?: number;
  /** A learned bias per output field; default true. */
  bias?: boolean;
  /** Lift from the domain (an image on Z^2) onto the group; default false. */
  lift?: boolean;
}

/** `omega(f, g, g') = kappa(g^-1 g') f(g')`. */
export class KernelOmega {
  readonly kind = 'kernel';
  readonly in: number;
  readonly out: number;
  readonly size: number;
  readonly padding: Padding;
  readonly stride: number;
  readonly bias: boolean;
  readonly lift: boolean;

  constructor(o: KernelOmegaOptions) {
    checkKernelOmegaOptions(o);
    if (o === null || typeof o !== 'object') throw new ArgumentError('omega.kernel: options { in, out, size, padding, stride, bias, lift } are required');
    const posInt = (v: unknown, what: string) => positiveInt(v, `omega.kernel: ${what}`);
    this.in = posInt(o.in, 'in');
    this.out = posInt(o.out, 'out');
    this.size = posInt(o.size ?? 3, 'size');
    this.stride = posInt(o.stride ?? 1, 'stride');
    const p = o.padding ?? 'valid';
    if (p !== 'same' && p !== 'valid' && !(Number.isInteger(p) && (p as number) >= 0 && (p as number) < this.size)) {
      throw new ArgumentError(`omega.kernel: padding must be 'same', 'valid' or an integer in 0..${this.size - 1}, got ${String(p)}`);
    }
    if (p === 'same' && this.stride !== 1) throw new ArgumentError("omega.kernel: padding 'same' needs stride 1");
    this.padding = p;
    this.bias = o.bias ?? true;
    this.lift = o.lift ?? false;
  }

  config(): Record<string, unknown> {
    return { kind: this.kind, in: this.in, out: this.out, size: this.size, padding: this.padding, stride: this.stride, bias: this.bias, lift: this.lift };
  }
}

export interface AttentionOmegaOptions {
  /** Input channels (regular fields). */
  in: number;
  /** Output channels; split evenly over the heads. */
  out: number;
  /** Attention heads (default 1). */
  heads?: number;
  /** Query/key dimension per head (default 8). */
  dim?: number;
  /** Include the content term `q.k` (default true); without it, attention is a group convolution. */
  content?: boolean;
}

/** `omega(f, g, g') = softmax_g'(q(g).k(g')/sqrt(d) + b(g^-1 g')) W_V f(g')`. */
export class AttentionOmega {
  readonly kind = 'attention';
  readonly in: number;
  readonly out: number;
  readonly heads: number;
  readonly dim: number;
  readonly content: boolean;

  constructor(o: AttentionOmegaOptions) {
    checkAttentionOmegaOptions(o);
    if (o === null || typeof o !== 'object') throw new ArgumentError('omega.attention: options { in, out, heads, dim, content } are required');
    const posInt = (v: unknown, what: string) => positiveInt(v, `omega.attention: ${what}`);
    this.in = posInt(o.in, 'in');
    this.out = posInt(o.out, 'out');
    this.heads = posInt(o.heads ?? 1, 'heads');
    this.dim = posInt(o.dim ?? 8, 'dim');
    if (this.out % this.heads !== 0) throw new ArgumentError(`omega.attention: out (${this.out}) must be divisible by heads (${this.heads})`);
    this.content = o.content ?? true;
    if (typeof this.content !== 'boolean') throw new ArgumentError(`omega.attention: content must be a boolean, got ${String(o.content)}`);
  }

  config(): Record<string, unknown> {
    return { kind: this.kind, in: this.in, out: this.out, heads: this.heads, dim: this.dim, content: this.content };
  }
}

export type Omega = KernelOmega | AttentionOmega;

export const omega = {
  kernel: (options: KernelOmegaOptions) => new KernelOmega(options),
  attention: (options: AttentionOmegaOptions) => new AttentionOmega(options),
};
