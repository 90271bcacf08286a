"""A reference implementation of equivariant's layers in PyTorch (Debian python3-torch 1.13).

Written independently of the TypeScript library, with torch ops only: filter banks expanded by
torch.rot90 / torch.flip / torch.roll and applied by torch.nn.functional.conv2d, group
convolutions on finite groups by advanced indexing of the Cayley table. It is the oracle the
library's golden fixtures come from, and it trains the demo models. Run it with /usr/bin/python3
(Debian's torch is not seen by other interpreters).

Conventions (docs/groups.md): p4's point group C4 = {r^0..r^3}, r turning counter-clockwise,
acting on an image as torch.rot90(x, r, dims=(-2, -1)); p4m's point group D4 has element
m*4 + r = rotation r after m mirrors (torch.flip(x, [-1])). Feature maps on the group are
[N, C, |P|, H, W].
"""
import itertools
import json
import math
import struct

import torch
import torch.nn.functional as F


# ----------------------------------------------------------------------------- groups

def cyclic_table(n):
    return [[(a + b) % n for b in range(n)] for a in range(n)]


def dihedral_table(n):
    def mul(a, b):
        m1, r1, m2, r2 = a // n, a % n, b // n, b % n
        return (m1 ^ m2) * n + (r1 + (-r2 if m1 else r2)) % n
    return [[mul(a, b) for b in range(2 * n)] for a in range(2 * n)]


def symmetric_table(n):
    perms = list(itertools.permutations(range(n)))  # lexicographic, identity first
    index = {p: i for i, p in enumerate(perms)}
    return [[index[tuple(a[b[i]] for i in range(n))] for b in perms] for a in perms]


def group_table(name):
    kind, n = name[0], int(name[1:])
    return {'C': cyclic_table, 'D': dihedral_table, 'S': symmetric_table}[kind](n)


def inverses(table):
    return [row.index(0) for row in table]


def point_group(group):
    return group_table({'z2': 'C1', 'p4': 'C4', 'p4m': 'D4'}[group])


def point_order(group):
    return {'z2': 1, 'p4': 4, 'p4m': 8}[group]


def transform(x, g):
    """The point-group element g acting on the last two (spatial) axes."""
    if g >= 4:
        x = torch.flip(x, [-1])
    return torch.rot90(x, g % 4, dims=(-2, -1))


# ----------------------------------------------------------------------------- layers

def expand_lifting(psi, group):
    """psi [out, in, k, k] -> [out * |P|, in, k, k]: row (co, g) is psi transformed by g."""
    n = point_order(group)
    bank = torch.stack([transform(psi, g) for g in range(n)], dim=1)  # [out, n, in, k, k]
    return bank.reshape(psi.shape[0] * n, psi.shape[1], psi.shape[2], psi.shape[3])


def expand_group(psi, group):
    """psi [out, in, |P|, k, k] -> [out * |P|, in * |P|, k, k]:
    row (co, g), column (ci, s) is (g . psi[co, ci, g^-1 s])."""
    table = point_group(group)
    inv = inverses(table)
    n = len(table)
    out, cin, _, k, _ = psi.shape
    if group in ('z2', 'p4'):
        # For a cyclic group g^-1 s = s - g: a roll of the group axis.
        rows = [transform(torch.roll(psi, shifts=g, dims=2), g) for g in range(n)]
    else:
        rows = [transform(psi[:, :, [table[inv[g]][s] for s in range(n)]], g) for g in range(n)]
    bank = torch.stack(rows, dim=1)  # [out, n, in, n, k, k]
    return bank.reshape(out * n, cin * n, k, k)


def same_padding(k):
    top = (k - 1) // 2
    return (top, k - 1 - top)


def conv(x, weight, bias, padding, stride):
    if padding == 'same':
        top, bottom = same_padding(weight.shape[-1])
        x = F.pad(x, (top, bottom, top, bottom))
        padding = 0
    elif padding == 'valid':
        padding = 0
    return F.conv2d(x, weight, bias, stride=stride, padding=padding)


def lifting_conv(x, psi, bias, group, padding='valid', stride=1):
    n = point_order(group)
    b = None if bias is None else bias.repeat_interleave(n)
    y = conv(x, expand_lifting(psi, group), b, padding, stride)
    return y.reshape(y.shape[0], psi.shape[0], n, y.shape[-2], y.shape[-1])


def group_conv(x, psi, bias, group, padding='valid', stride=1):
    n = point_order(group)
    xs = x.reshape(x.shape[0], x.shape[1] * n, x.shape[-2], x.shape[-1])
    b = None if bias is None else bias.repeat_interleave(n)
    y = conv(xs, expand_group(psi, group), b, padding, stride)
    return y.reshape(y.shape[0], psi.shape[0], n, y.shape[-2], y.shape[-1])


def finite_group_conv(x, kappa, bias, group):
    """x [N, in, |G|], kappa [out, in, |G|]: y[n, co, g] = sum kappa[co, ci, g^-1 h] x[n, ci, h]."""
    table = torch.tensor(group_table(group))
    inv = torch.tensor(inverses(group_table(group)))
    idx = table[inv]  # idx[g, h] = g^-1 h
    K = kappa[:, :, idx]  # [out, in, g, h]
    y = torch.einsum('oigh,nih->nog', K, x)
    return y if bias is None else y + bias[None, :, None]


def group_attention(x, p, group, heads, dim, content):
    """x [N, in, |G|]: softmax over g' of q(g).k(g')/sqrt(dim) + position[head, g^-1 g'], times W_V f(g')."""
    table = torch.tensor(group_table(group))
    rel = table[torch.tensor(inverses(group_table(group)))]  # rel[g, h] = g^-1 h
    n_img, _, n = x.shape
    project = lambda w: torch.einsum('oc,ncg->nog', w, x)
    logits = p['position'][:, rel].unsqueeze(0).expand(n_img, -1, -1, -1)  # [N, heads, g, g']
    if content:
        q = project(p['query']).reshape(n_img, heads, dim, n)
        k = project(p['key']).reshape(n_img, heads, dim, n)
        logits = logits + torch.einsum('nhdg,nhdk->nhgk', q, k) / math.sqrt(dim)
    a = torch.softmax(logits, dim=-1)
    v = project(p['value']).reshape(n_img, heads, -1, n)
    return torch.einsum('nhgk,nhck->nhcg', a, v).reshape(n_img, -1, n)


def batch_norm(x, p, eps):
    return F.batch_norm(x.reshape(x.shape[0], x.shape[1], -1), p['running_mean'], p['running_var'], p['weight'], p['bias'], False, 0.0, eps).reshape(x.shape)


def pool2d(x, size, stride, reduce):
    lead = x.shape[:-2]
    y = x.reshape(-1, 1, x.shape[-2], x.shape[-1])
    y = F.max_pool2d(y, size, stride) if reduce == 'max' else F.avg_pool2d(y, size, stride)
    return y.reshape(*lead, y.shape[-2], y.shape[-1])


def group_pool(x, reduce):
    return x.amax(dim=2) if reduce == 'max' else x.mean(dim=2)


def global_pool(x, reduce):
    y = x.reshape(*x.shape[:-2], -1)
    return y.amax(dim=-1) if reduce == 'max' else y.mean(dim=-1)


# ----------------------------------------------------------------------------- models

def parameter_shapes(layer, group):
    t = layer['type']
    n = point_order(group) if group in ('z2', 'p4', 'p4m') else len(group_table(group))
    if t in ('liftingConv', 'groupConv'):
        k = layer.get('kernel', 3)
        if group in ('z2', 'p4', 'p4m'):
            w = [layer['out'], layer['in'], k, k] if t == 'liftingConv' else [layer['out'], layer['in'], n, k, k]
        else:
            w = [layer['out'], layer['in'], n]
        return {'weight': w, **({'bias': [layer['out']]} if layer.get('bias', True) else {})}
    if t == 'groupAttention':
        hd = layer.get('heads', 1) * layer.get('dim', 8)
        return {'query': [hd, layer['in']], 'key': [hd, layer['in']], 'value': [layer['out'], layer['in']], 'position': [layer.get('heads', 1), n]}
    if t == 'batchNorm':
        c = [layer['channels']]
        return {'weight': c, 'bias': c, 'running_mean': c, 'running_var': c}
    if t == 'linear':
        return {'weight': [layer['out'], layer['in']], **({'bias': [layer['out']]} if layer.get('bias', True) else {})}
    return {}


def layer_forward(layer, x, params, group):
    t = layer['type']
    if t == 'liftingConv':
        return lifting_conv(x, params['weight'], params.get('bias'), group, layer.get('padding', 'valid'), layer.get('stride', 1))
    if t == 'groupConv':
        if group in ('z2', 'p4', 'p4m'):
            return group_conv(x, params['weight'], params.get('bias'), group, layer.get('padding', 'valid'), layer.get('stride', 1))
        return finite_group_conv(x, params['weight'], params.get('bias'), group)
    if t == 'groupAttention':
        return group_attention(x, params, group, layer.get('heads', 1), layer.get('dim', 8), layer.get('content', True))
    if t == 'batchNorm':
        return batch_norm(x, params, layer.get('eps', 1e-5))
    if t == 'relu':
        return F.relu(x)
    if t in ('maxPool2d', 'avgPool2d'):
        size = layer.get('size', 2)
        return pool2d(x, size, layer.get('stride', size), 'max' if t == 'maxPool2d' else 'mean')
    if t == 'groupPool':
        return group_pool(x, layer.get('reduce', 'max'))
    if t == 'globalPool':
        return global_pool(x, layer.get('reduce', 'mean'))
    if t == 'linear':
        return F.linear(x, params['weight'], params.get('bias'))
    if t == 'flatten':
        return x.reshape(x.shape[0], -1)
    raise ValueError(f'unknown layer {t}')


def layer_names(config):
    return [l.get('name', f'layers.{i}') for i, l in enumerate(config['layers'])]


def model_forward(config, x, params):
    for name, layer in zip(layer_names(config), config['layers']):
        p = {k.split('.')[-1]: v for k, v in params.items() if k.rsplit('.', 1)[0] == name}
        x = layer_forward(layer, x, p, config['group'])
    return x


def init_params(config, seed, bn_stats=True):
    """Random parameters (He-normal convolutions; BN statistics that are not trivial)."""
    g = torch.Generator().manual_seed(seed)
    params = {}
    for name, layer in zip(layer_names(config), config['layers']):
        for key, shape in parameter_shapes(layer, config['group']).items():
            if layer['type'] == 'groupAttention':
                v = torch.randn(shape, generator=g) * (0.5 if key == 'position' else 1 / math.sqrt(shape[-1]))
            elif key == 'weight' and layer['type'] != 'batchNorm':
                fan_in = math.prod(shape[1:])
                v = torch.randn(shape, generator=g) * math.sqrt(2.0 / fan_in)
            elif key == 'running_var':
                v = torch.rand(shape, generator=g) * 1.5 + 0.5 if bn_stats else torch.ones(shape)
            elif key == 'weight':
                v = torch.rand(shape, generator=g) + 0.5
            else:
                v = torch.randn(shape, generator=g) * 0.1
            params[f'{name}.{key}'] = v.float()
    return params


def p4cnn_config(group='p4', channels=10, name='P4CNN'):
    """The P4CNN of Cohen & Welling 2016 (gconv_experiments, MNIST-rot): 28 -> 1."""
    layers = [{'type': 'liftingConv', 'name': 'conv1', 'in': 1, 'out': channels, 'kernel': 3, 'padding': 'valid', 'bias': False},
              {'type': 'batchNorm', 'name': 'bn1', 'channels': channels, 'eps': 2e-5}, {'type': 'relu'}]
    for i in range(2, 7):
        layers += [{'type': 'groupConv', 'name': f'conv{i}', 'in': channels, 'out': channels, 'kernel': 3, 'padding': 'valid', 'bias': False},
                   {'type': 'batchNorm', 'name': f'bn{i}', 'channels': channels, 'eps': 2e-5}, {'type': 'relu'}]
        if i == 2:
            layers.append({'type': 'maxPool2d', 'size': 2, 'stride': 2})
    layers += [{'type': 'groupConv', 'name': 'conv7', 'in': channels, 'out': 10, 'kernel': 4, 'padding': 'valid', 'bias': True},
               {'type': 'groupPool', 'reduce': 'max'}, {'type': 'globalPool', 'reduce': 'max'}]
    for i, l in enumerate(layers):
        l.setdefault('name', f'layers.{i}')
    return {'format': 'equivariant.model', 'version': 1, 'name': name, 'group': group,
            'input': {'field': 'image', 'channels': 1, 'size': [28, 28]}, 'layers': layers}


# ----------------------------------------------------------------------------- safetensors

def write_safetensors(path, tensors, metadata=None):
    header, offset, blobs = {}, 0, []
    if metadata:
        header['__metadata__'] = metadata
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().float()
        data = t.numpy().astype('<f4').tobytes() if hasattr(t, 'numpy') else None
        header[name] = {'dtype': 'F32', 'shape': list(t.shape), 'data_offsets': [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header, separators=(',', ':'))
    text += ' ' * ((8 - (8 + len(text)) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(text)))
        f.write(text.encode())
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    with open(path, 'rb') as f:
        raw = f.read()
    n = struct.unpack('<Q', raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    out = {}
    for name, e in header.items():
        if name == '__metadata__':
            continue
        b, end = e['data_offsets']
        out[name] = torch.frombuffer(bytearray(data[b:end]), dtype=torch.float32).reshape(e['shape'])
    return out
