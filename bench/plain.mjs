// A loaded equivariant model as the plain conv net every general-purpose engine can run: each
// group convolution becomes an ordinary convolution over its expanded filter bank (batch norm
// folded in), and pooling over the group axis becomes a reshape and a max. This is how the
// peers are measured (../shared/docs/workloads.md).
import * as eq from '../dist/index.js';

/** `[{ op: 'conv', weight (OIHW), shape, bias, pad: [top, bottom], stride, relu }, { op: 'maxpool', size, stride }, ...]`. */
export function plainOps(model) {
  const layers = model.network.layers;
  const ops = [];
  for (let i = 0; i < layers.length; i++) {
    const l = layers[i];
    if (l instanceof eq.nn.Phi) {
      const bn = layers[i + 1] instanceof eq.nn.BatchNorm ? layers[i + 1] : undefined;
      const reluAt = i + (bn ? 2 : 1);
      const relu = layers[reluAt] instanceof eq.nn.Relu;
      const { weight, shape, bias } = l.expandedFilters(bn?.affine());
      const k = l.omega.size;
      const p = l.omega.padding === 'valid' ? [0, 0] : l.omega.padding === 'same' ? [Math.floor((k - 1) / 2), k - 1 - Math.floor((k - 1) / 2)] : [l.omega.padding, l.omega.padding];
      ops.push({ op: 'conv', weight, shape, bias: bias ?? new Float32Array(shape[0]), pad: p, stride: l.omega.stride, relu, groupAxis: l.groupAxis });
      i = relu ? reluAt : bn ? i + 1 : i;
    } else if (l instanceof eq.nn.Relu) ops.push({ op: 'relu' });
    else if (l instanceof eq.nn.Pool2d && l.type === 'maxPool2d') ops.push({ op: 'maxpool', size: l.size, stride: l.stride });
    else if (l instanceof eq.nn.GroupPool && l.reduce === 'max') ops.push({ op: 'groupmax' });
    else if (l instanceof eq.nn.GlobalPool && l.reduce === 'max') ops.push({ op: 'globalmax' });
    else throw new Error(`plainOps: no plain equivalent for ${l.label()} here`);
  }
  return ops;
}

/** FLOPs of the convolutions (a multiply-add counts 2) for a batch of `n` images of `h x w`. */
export function convFlops(ops, n, h, w) {
  let flops = 0;
  for (const o of ops) {
    if (o.op === 'conv') {
      const [co, ci, kh, kw] = o.shape;
      h = Math.floor((h + o.pad[0] + o.pad[1] - kh) / o.stride) + 1;
      w = Math.floor((w + o.pad[0] + o.pad[1] - kw) / o.stride) + 1;
      flops += 2 * n * co * h * w * ci * kh * kw;
    } else if (o.op === 'maxpool') {
      h = Math.floor((h - o.size) / o.stride) + 1;
      w = Math.floor((w - o.size) / o.stride) + 1;
    }
  }
  return flops;
}
