"""Exports an escnn or e2cnn model to this library's format: `export(module, input_shape, prefix)`
writes `prefix.json` (the config) and `prefix.safetensors` (the weights); `equivariant` then loads
them with `eq.loadModel` and computes the same outputs (docs/escnn.md lists what is supported).

`module` is an escnn/e2cnn `SequentialModule` (nested ones are flattened), optionally followed by
a plain PyTorch head: pass a list or `torch.nn.Sequential` whose first items are equivariant
modules and whose remaining items are `Flatten`, `Linear`, `ReLU`, `ELU`, `BatchNorm1d` or
`Dropout` (run on `geometric_tensor.tensor`). The model is put in eval mode and run once on a
random input of `input_shape` ([N, C, H, W]) to find every layer's spatial size.

Conventions that differ and how they are taken over:
- weights are the R2Conv basis coefficients; the library computes the same bases (escnn's or
  e2cnn's, named by the conv's `basis`). escnn's D_N and O(2) bases have arbitrary signs (a
  numerical SVD), so for those each coefficient is multiplied by the sign of its basis element's
  product with a fixed pseudo-random vector (`sign_probe`), the sign the library gives its element;
- per-field parameters (NormNonLinearity's biases, InnerBatchNorm's statistics) are written in
  field order (escnn groups them by field size);
- IIDBatchNorm2d's mean and bias are written per channel (the bias spread by the field's trivial
  columns of its change of basis).

    from equivariant_export import export
    export(model, (1, 1, 29, 29), 'models/c8')
An unsupported module raises UnsupportedModuleError naming it.
"""
import json
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import sign_probe, write_safetensors  # noqa: E402


class UnsupportedModuleError(Exception):
    pass


SUPPORTED = ('R2Conv, ReLU, ELU, PointwiseNonLinearity, NormNonLinearity, GatedNonLinearity1, InnerBatchNorm, '
             'IIDBatchNorm2d, GroupPooling, NormPool, PointwiseMaxPool(2D), PointwiseAvgPool(2D), '
             'PointwiseMaxPoolAntialiased(2D), PointwiseAvgPoolAntialiased(2D), PointwiseAdaptiveAvgPool(2D) and '
             'PointwiseAdaptiveMaxPool(2D) to 1x1, MaskModule, IdentityModule, SequentialModule; '
             'in the head: Flatten, Linear, ReLU, ELU, BatchNorm1d, Dropout')


def library_of(m):
    mod = type(m).__module__
    if mod.startswith('escnn'):
        return 'escnn'
    if mod.startswith('e2cnn'):
        return 'e2cnn'
    return 'torch'


def gspace_name(gs):
    """This library's name of an escnn/e2cnn gspace on the plane."""
    if getattr(gs, 'dimensionality', 2) != 2:
        raise UnsupportedModuleError(f'equivariant_export: gspace {gs.name} is not on the plane (R^2)')
    G = gs.fibergroup
    L = getattr(G, '_maximum_frequency', None) or 6
    if hasattr(gs, '_sg_id'):  # escnn: the stabiliser's id in O(2)
        axis2, N = gs._sg_id
        if axis2 is not None and abs(axis2 - math.pi) > 1e-9:
            raise UnsupportedModuleError(f'equivariant_export: {gs.name} reflects about another axis than escnn\'s default (pi/2); only x -> -x is supported')
        flip = axis2 is not None
    else:  # e2cnn
        cls = type(gs).__name__
        if cls not in ('Rot2dOnR2', 'FlipRot2dOnR2', 'TrivialOnR2'):
            raise UnsupportedModuleError(f'equivariant_export: e2cnn gspace {cls} is not supported (Rot2dOnR2, FlipRot2dOnR2, TrivialOnR2 are)')
        if cls == 'FlipRot2dOnR2' and abs(gs.axis - math.pi / 2) > 1e-9:
            raise UnsupportedModuleError(f'equivariant_export: {gs.name} reflects about another axis than pi/2; only x -> -x is supported')
        flip = cls == 'FlipRot2dOnR2'
        N = G.order() // (2 if flip else 1) if G.order() > 0 else -1
    if N == -1:
        return f"{'flipRot2dOnR2' if flip else 'rot2dOnR2'}(-1, {int(L)})"
    return f"{'flipRot2dOnR2' if flip else 'rot2dOnR2'}({int(N)})"


def field_spec(ftype):
    """Runs of equal representation names: [name or [name, count], ...]."""
    out, reps = [], [r.name for r in ftype.representations]
    i = 0
    while i < len(reps):
        j = i
        while j < len(reps) and reps[j] == reps[i]:
            j += 1
        out.append(reps[i] if j - i == 1 else [reps[i], j - i])
        i = j
    return out


def pair(v, what):
    if isinstance(v, (tuple, list)):
        if len(set(v)) != 1:
            raise UnsupportedModuleError(f'equivariant_export: {what} {v} is not square')
        return int(v[0])
    return int(v)


def clean(v):
    return float(f'{float(v):.7g}')


def default_rings(k, dil):
    n, R = math.ceil(k / 2), (k - 1) // 2
    return [(i * R / (n - 1) if n > 1 else 0.0) * dil for i in range(n)]


def default_sigma(rings):
    return [0.005 if r == 0 else (0.4 if i == len(rings) - 1 else 0.6) for i, r in enumerate(rings)]


def default_frequencies(rings, k):
    R = k // 2
    return [0 if r == 0 else min(2 * r, 2 if r == R else 2 * r - (r + 1) % 2) for r in rings]


def mask_sigma(m, size, margin):
    """The width of a MaskModule's fall-off, read back from its mask (the module does not keep
    it): outside the radius `t`, the mask is `exp((t - r) / sigma^2)` at squared radius `r`."""
    mask = m.mask.detach().double().reshape(-1).numpy()
    if mask.size != size * size:
        raise UnsupportedModuleError(f'equivariant_export: a MaskModule of {mask.size} values is not a {size}x{size} mask')
    c = (size - 1) / 2
    t = (c - margin / 100.0 * c) ** 2
    found = []
    for idx, v in enumerate(mask):
        y, x = divmod(idx, size)
        r = (x - c) ** 2 + (y - c) ** 2
        if r > t and 1e-30 < v < 1 - 1e-9:
            found.append(math.sqrt((r - t) / -math.log(v)))
    if not found:
        return 2.0
    sigma = float(np.median(found))
    return 2.0 if abs(sigma - 2.0) < 1e-6 else round(sigma, 6)


def e2cnn_max_offset(m, path):
    """e2cnn's `maximum_offset` of an R2Conv, which the module does not keep: every irreps
    pair's angular basis holds it (`max_offset`). None when the conv was built without it."""
    found = set()

    def walk(o, depth):
        if depth > 6:
            return
        if hasattr(o, 'max_offset'):
            found.add(o.max_offset)
            return
        items = o.values() if isinstance(o, dict) else o if isinstance(o, (list, tuple)) else vars(o).values() if 'kernels' in type(o).__module__ else []
        for v in items:
            if isinstance(v, (dict, list, tuple)) or 'kernels' in type(v).__module__:
                walk(v, depth + 1)

    for block in m._basisexpansion.children():
        walk(block.basis, 0)
    if len(found) > 1:
        raise UnsupportedModuleError(f'equivariant_export: {path} (R2Conv) has bases with different maximum offsets {sorted(found, key=str)}')
    return next(iter(found)) if found else None


class Exporter:
    def __init__(self):
        self.layers = []
        self.tensors = {}
        self.group = None
        self.names = set()

    def name(self, base):
        n, i = base, 1
        while n in self.names:
            i += 1
            n = f'{base}_{i}'
        self.names.add(n)
        return n

    def add(self, layer, base=None, params=None):
        if params is not None or base is not None:
            layer['name'] = self.name(base or layer['type'])
        for k, v in (params or {}).items():
            self.tensors[f"{layer['name']}.{k}"] = np.asarray(v, dtype=np.float64)
        self.layers.append(layer)
        return layer

    # ---- equivariant modules -------------------------------------------------------------------
    def r2conv(self, m, path):
        lib = library_of(m)
        if getattr(m, 'groups', 1) != 1:
            raise UnsupportedModuleError(f'equivariant_export: {path} (R2Conv) has groups={m.groups}; only groups=1 is supported')
        if getattr(m, 'padding_mode', 'zeros') != 'zeros':
            raise UnsupportedModuleError(f"equivariant_export: {path} (R2Conv) pads with '{m.padding_mode}'; only zero padding is supported")
        k, stride = pair(m.kernel_size, 'kernel'), pair(m.stride, 'stride')
        pad, dil = pair(m.padding, 'padding'), pair(m.dilation, 'dilation')
        info = list(m._basisexpansion.get_basis_info())
        fkey = 'irrep:frequency' if lib == 'escnn' else 'frequency'
        rings = {}
        for a in info:
            key = (clean(a['radius']), clean(a['sigma']))
            rings[key] = max(rings.get(key, 0), int(abs(a[fkey])))
        keys = sorted(rings)
        layer = {'type': 'r2conv', 'in': field_spec(m.in_type), 'out': field_spec(m.out_type), 'kernel': k}
        if pad:
            layer['padding'] = pad
        if stride != 1:
            layer['stride'] = stride
        if dil != 1:
            layer['dilation'] = dil
        if m.bias is None:
            layer['bias'] = False
        if lib == 'e2cnn':
            layer['basis'] = 'e2cnn'
        r, s, f = [a for a, _ in keys], [b for _, b in keys], [rings[q] for q in keys]
        if r != default_rings(k, dil):
            layer['rings'] = r
        if s != default_sigma(r):
            layer['sigma'] = s
        if f != default_frequencies(r, k):
            layer['frequencies'] = f
        if lib == 'e2cnn':
            offset = e2cnn_max_offset(m, path)
            if offset is not None:
                layer['maximumOffset'] = offset
        w = m.weights.detach().double().numpy().copy()
        if lib == 'escnn' and gspace_name(m.in_type.gspace).startswith('flip'):
            # escnn's D_N and O(2) elements carry an SVD's sign: take each with the canonical one.
            sd = m.state_dict()
            for name, (a, b) in m._basisexpansion._weights_ranges.items():
                key = [kk for kk in sd if kk.endswith('sampled_basis') and kk.startswith('_basisexpansion.') and name_match(kk, name)]
                if len(key) != 1:
                    raise UnsupportedModuleError(f'equivariant_export: {path}: cannot find the sampled basis of block {name}')
                B = sd[key[0]].double().numpy()
                D = B.shape[0]
                probe = sign_probe(B[0].size)
                signs = np.where(B.reshape(D, -1) @ probe < 0, -1.0, 1.0)
                block = w[a:b].reshape(-1, D)
                w[a:b] = (block * signs[None, :]).reshape(-1)
        params = {'weights': w}
        if m.bias is not None:
            params['bias'] = m.bias.detach().double().numpy()
        return self.add(layer, 'conv', params)

    def norm_nonlinearity(self, m, path):
        fn = {v: k for k, v in {'n_relu': torch.relu, 'n_sigmoid': torch.sigmoid}.items()}.get(m._function)
        if fn is None:
            fn = 'n_softplus' if m._function is torch.nn.functional.softplus else 'squash'
        layer = {'type': 'normNonlinearity', 'in': field_spec(m.in_type), 'function': fn}
        if m.log_bias is None:
            if fn != 'squash':
                layer['bias'] = False
            return self.add(layer, 'norm_act')
        sizes = [r.size for r in m.in_type.representations]
        order = sorted(range(len(sizes)), key=lambda i: (sizes[i], i))
        lb = m.log_bias.detach().double().numpy().reshape(-1)
        b = np.zeros(len(sizes))
        for k_, f in enumerate(order):
            b[f] = math.exp(lb[k_])
        return self.add(layer, 'norm_act', {'bias': b})

    def gated(self, m, path):
        gates = []
        # Recover the labels: gates are the fields whose channels feed the gate indices.
        gi = m.gates_indices
        gate_channels = set(range(int(gi[0]), int(gi[1]))) if (len(gi) == 2 and m._contiguous.get('gate', False)) else set(int(v) for v in gi)
        off = 0
        for r in m.in_type.representations:
            gates.append('gate' if off in gate_channels else 'gated')
            off += r.size
        layer = {'type': 'gatedNonlinearity', 'in': field_spec(m.in_type), 'gates': gates}
        if not m.drop_gates:
            layer['dropGates'] = False
        return self.add(layer, 'gate', {'bias': m.bias.detach().double().numpy().reshape(-1)})

    def inner_bn(self, m, path):
        t = m.in_type
        sizes = [r.size for r in t.representations]
        F = len(sizes)
        stats = {k: np.zeros(F) for k in ('weight', 'bias', 'running_mean', 'running_var')}
        seen = {}
        eps = None
        for f, s in enumerate(sizes):
            bn = getattr(m, f'batch_norm_[{s}]')
            j = seen.get(s, 0)
            seen[s] = j + 1
            stats['weight'][f] = bn.weight[j].item() if bn.affine else 1.0
            stats['bias'][f] = bn.bias[j].item() if bn.affine else 0.0
            stats['running_mean'][f] = bn.running_mean[j].item()
            stats['running_var'][f] = bn.running_var[j].item()
            eps = bn.eps
        layer = {'type': 'innerBatchNorm', 'in': field_spec(t)}
        if eps != 1e-5:
            layer['eps'] = eps
        return self.add(layer, 'bn', stats)

    def iid_bn(self, m, path):
        t = m.in_type
        C, F = t.size, len(t)
        mean, bias = np.zeros(C), np.zeros(C)
        var, weight = np.ones(F), np.ones(F)
        count, off = {}, 0
        for f, r in enumerate(t.representations):
            e = m._escape_name(r.name)
            j = count.get(r.name, 0)
            count[r.name] = j + 1
            var[f] = getattr(m, f'{e}_running_var')[j].item()
            if m.affine:
                weight[f] = getattr(m, f'{e}_weight')[j].item()
            if m._has_trivial[r.name]:
                mean[off:off + r.size] = getattr(m, f'{e}_running_mean')[j].detach().double().numpy()
                if m.affine:
                    Q = getattr(m, f'{e}_change_of_basis').detach().double().numpy()
                    bias[off:off + r.size] = Q @ getattr(m, f'{e}_bias')[j].detach().double().numpy()
            off += r.size
        layer = {'type': 'iidBatchNorm', 'in': field_spec(t)}
        if m.eps != 1e-5:
            layer['eps'] = m.eps
        return self.add(layer, 'bn', {'weight': weight, 'bias': bias, 'running_mean': mean, 'running_var': var})

    @staticmethod
    def blur_sigma(filt):
        f = filt[0, 0].detach().double().numpy()
        c = (f.shape[0] - 1) // 2
        return clean(math.sqrt(-1 / (2 * math.log(f[c, c + 1] / f[c, c]))))


def name_match(state_key, pair_name):
    """Whether a sampled_basis key belongs to block `pair_name` (escnn escapes '.' as '^')."""
    inner = state_key[len('_basisexpansion.'):-len('.sampled_basis')]
    want = f'block_expansion_{pair_name}'
    return inner == want or inner == want.replace('.', '^') or inner.replace('^', '.') == want


def dumps(config):
    """The config as JSON, one layer per line."""
    head = {k: v for k, v in config.items() if k != 'layers'}
    lines = [f'  {json.dumps(k)}: {json.dumps(v)}' for k, v in head.items()]
    layers = ',\n'.join(f'    {json.dumps(l)}' for l in config['layers'])
    return '{\n' + ',\n'.join(lines) + ',\n  "layers": [\n' + layers + '\n  ]\n}\n'


def export(module, input_shape, prefix, io=False, seed=0):
    """Writes prefix.json and prefix.safetensors (and with io=True prefix.io.safetensors holding a
    random input and the library's output for it). Returns the config."""
    parts = list(module) if isinstance(module, (list, tuple, torch.nn.Sequential)) else [module]
    eqv, head = [], []
    for p in parts:
        (eqv if library_of(p) != 'torch' and not head else head).append(p)
    if not eqv:
        raise UnsupportedModuleError('equivariant_export: the model must start with an escnn or e2cnn module')
    flat = []

    def walk(m, path):
        if type(m).__name__ == 'SequentialModule':
            for n, c in m._modules.items():
                walk(c, f'{path}.{n}' if path else n)
        else:
            flat.append((path, m))
    for i, p in enumerate(eqv):
        walk(p, str(i) if len(eqv) > 1 else '')
    for m in list(eqv) + list(head):
        m.eval()
    lib = library_of(flat[0][1])
    in_type = flat[0][1].in_type
    if lib == 'escnn':
        from escnn.nn import GeometricTensor
    else:
        from e2cnn.nn import GeometricTensor
    g = torch.Generator().manual_seed(seed)
    x0 = torch.randn(*input_shape, generator=g)
    ex = Exporter()
    gs = in_type.gspace
    config = {'format': 'equivariant.model', 'version': 1, 'name': os.path.basename(prefix), 'group': gspace_name(gs),
              'input': {'field': 'r2', 'channels': in_type.size, 'reps': field_spec(in_type), 'size': list(input_shape[2:])},
              'layers': ex.layers}
    x = GeometricTensor(x0, in_type)
    with torch.no_grad():
        for path, m in flat:
            cls = type(m).__name__
            H = x.tensor.shape[-1]
            if cls == 'R2Conv':
                ex.r2conv(m, path)
            elif cls == 'ReLU':
                ex.add({'type': 'relu'})
            elif cls == 'ELU':
                ex.add({'type': 'elu', **({'alpha': m.alpha} if getattr(m, 'alpha', 1.0) != 1.0 else {})})
            elif cls == 'PointwiseNonLinearity':
                fn = {torch.relu: 'relu', torch.sigmoid: 'sigmoid', torch.tanh: 'tanh', torch.nn.functional.elu: 'elu'}.get(m._function)
                if fn is None:
                    raise UnsupportedModuleError(f'equivariant_export: {path} (PointwiseNonLinearity) uses a function other than p_relu, p_elu, p_sigmoid, p_tanh')
                ex.add({'type': 'pointwiseNonlinearity', 'function': fn})
            elif cls == 'NormNonLinearity':
                ex.norm_nonlinearity(m, path)
            elif cls == 'GatedNonLinearity1':
                ex.gated(m, path)
            elif cls == 'InnerBatchNorm':
                ex.inner_bn(m, path)
            elif cls == 'IIDBatchNorm2d':
                ex.iid_bn(m, path)
            elif cls == 'GroupPooling':
                ex.add({'type': 'groupPooling', 'in': field_spec(m.in_type)})
            elif cls == 'NormPool':
                ex.add({'type': 'normPool', 'in': field_spec(m.in_type)})
            elif cls in ('PointwiseMaxPool', 'PointwiseMaxPool2D', 'PointwiseAvgPool', 'PointwiseAvgPool2D'):
                if pair(m.padding, 'padding') != 0 or getattr(m, 'ceil_mode', False) or pair(getattr(m, 'dilation', 1), 'dilation') != 1:
                    raise UnsupportedModuleError(f'equivariant_export: {path} ({cls}) with padding, dilation or ceil_mode is not supported')
                ex.add({'type': 'maxPool2d' if 'Max' in cls else 'avgPool2d', 'size': pair(m.kernel_size, 'kernel'), 'stride': pair(m.stride, 'stride')})
            elif cls in ('PointwiseMaxPoolAntialiased', 'PointwiseMaxPoolAntialiased2D'):
                if getattr(m, 'ceil_mode', False):
                    raise UnsupportedModuleError(f'equivariant_export: {path} ({cls}) with ceil_mode is not supported')
                if pair(m.kernel_size, 'kernel') != 2 or pair(m.padding, 'padding') != 0 or pair(getattr(m, 'dilation', 1), 'dilation') != 1:
                    raise UnsupportedModuleError(f'equivariant_export: {path} ({cls}) is supported with a 2x2 window, no padding and no dilation only')
                ex.add({'type': 'maxPoolAntialiased', 'size': 2, 'stride': pair(m.stride, 'stride'), 'sigma': Exporter.blur_sigma(m.filter)})
            elif cls in ('PointwiseAvgPoolAntialiased', 'PointwiseAvgPoolAntialiased2D'):
                fs = m.filter.shape[-1]
                layer = {'type': 'avgPoolAntialiased', 'stride': pair(m.stride, 'stride'), 'sigma': Exporter.blur_sigma(m.filter)}
                if pair(m.padding, 'padding') != (fs - 1) // 2:
                    layer['padding'] = pair(m.padding, 'padding')
                ex.add(layer)
            elif cls in ('PointwiseAdaptiveAvgPool', 'PointwiseAdaptiveAvgPool2D', 'PointwiseAdaptiveMaxPool', 'PointwiseAdaptiveMaxPool2D'):
                if pair(m.output_size, 'output size') != 1 or x.tensor.shape[-1] != x.tensor.shape[-2]:
                    raise UnsupportedModuleError(f'equivariant_export: {path} ({cls}) is supported to a 1x1 output of a square map only')
                ex.add({'type': 'maxPool2d' if 'Max' in cls else 'avgPool2d', 'size': H, 'stride': H})
            elif cls == 'MaskModule':
                layer = {'type': 'mask', 'size': int(m.S) if hasattr(m, 'S') else H}
                if getattr(m, 'margin', 0):
                    layer['margin'] = float(m.margin)
                sigma = mask_sigma(m, layer['size'], float(getattr(m, 'margin', 0)))
                if sigma != 2.0:
                    layer['sigma'] = sigma
                ex.add(layer)
            elif cls == 'IdentityModule':
                pass
            else:
                raise UnsupportedModuleError(f'equivariant_export: {cls} (at {path or "the top"}) is not supported; supported: {SUPPORTED}')
            x = m(x)
        t = x.tensor
        for i, m in enumerate(head):
            cls = type(m).__name__
            where = f'head[{i}]'
            if cls == 'Flatten' or (cls == 'AdaptiveAvgPool2d' and t.dim() == 4):
                if t.dim() == 4:
                    if t.shape[-1] * t.shape[-2] != 1:
                        raise UnsupportedModuleError(f'equivariant_export: {where} ({cls}) flattens a {t.shape[-2]}x{t.shape[-1]} map, which is not invariant; pool to 1x1 first')
                    ex.add({'type': 'globalPool', 'reduce': 'mean'})
                    t = t.reshape(t.shape[0], -1)
                    continue
            elif cls == 'Linear':
                p = {'weight': m.weight.detach().double().numpy()}
                if m.bias is not None:
                    p['bias'] = m.bias.detach().double().numpy()
                ex.add({'type': 'linear', 'in': m.in_features, 'out': m.out_features, **({} if m.bias is not None else {'bias': False})}, 'fc', p)
            elif cls == 'ReLU':
                ex.add({'type': 'relu'})
            elif cls == 'ELU':
                ex.add({'type': 'elu', **({'alpha': m.alpha} if m.alpha != 1.0 else {})})
            elif cls == 'BatchNorm1d':
                ex.add({'type': 'batchNorm', 'channels': m.num_features, 'eps': m.eps}, 'bn1d', {
                    'weight': m.weight.detach().double().numpy() if m.affine else np.ones(m.num_features),
                    'bias': m.bias.detach().double().numpy() if m.affine else np.zeros(m.num_features),
                    'running_mean': m.running_mean.double().numpy(), 'running_var': m.running_var.double().numpy()})
            elif cls == 'Dropout':
                pass
            else:
                raise UnsupportedModuleError(f'equivariant_export: {cls} (at {where}) is not supported in the head; supported: {SUPPORTED}')
            t = m(t)
    d = os.path.dirname(prefix)
    if d:
        os.makedirs(d, exist_ok=True)
    with open(f'{prefix}.json', 'w') as f:
        f.write(dumps(config))
    write_safetensors(f'{prefix}.safetensors', ex.tensors, {'exported_from': lib})
    if io:
        write_safetensors(f'{prefix}.io.safetensors', {'input': x0.double().numpy(), 'output': t.double().numpy()})
    return config
