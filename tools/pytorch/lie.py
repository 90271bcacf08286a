"""A PyTorch reference for equivariant's point-cloud models (LieConv, LieTransformer).

Written from the equations (docs/groups.md, docs/model-format.md), not from the papers' code:

- lift: each point becomes `samples` group elements. T(d): the translation to the point; SE(2):
  rotations by theta0 + 2 pi s / samples (theta0 = 2 pi u - pi, one uniform u per point);
  SE(3): Haar-random rotations (a unit quaternion from four normal numbers, each normal number
  sqrt(-2 ln(1 - u1)) cos(2 pi u2)); SO(2): the rotation taking (|x|, 0) to x; SO(3): the
  rotation taking |x| e3 to x after a uniform turn about e3. The uniform numbers come from
  mulberry32 seeded with the layer's seed, the stream restarted for each cloud and drawn only by
  its present points, in point order.
- the relative element of a pair (g, g'): log(g^-1 g') (T(d): the translation; SE(2):
  [theta, V(theta)^-1 t]; SE(3): [omega, V(omega)^-1 t]), plus the orbits |x|, |x'| for SO(d);
- neighbourhoods: every element of the same cloud ('global'), or the k nearest by
  alpha |rotation part| + (1 - alpha) |translation part| of the log (ties by index), itself
  included;
- lieConv: out(g) = W vec(mean_j f(g'_j) (x) psi(rel_j)) + b, psi an MLP with Swish after
  every layer (vec index c * basis + k);
- attention (per head h): logit = q_h(f(g)).k_h(f(g')) / sqrt(d) + MLP_h(rel) (or the
  product), normalised over the neighbours (softmax; dot_product = divided by the count;
  norm_exp = exp divided by the count), times v_h(f(g')); q, k, v affine maps;
- the LieTransformer block: h = f + W_O att(LN_1 f) + b_O; y = h + W_2 silu(W_1 LN_2 h + b_1) + b_2;
- globalPool: mean (or max) over each cloud's present elements.

Everything runs in the dtype of the parameters (float64 for the fixtures, float32 to train);
the group elements and logs are always float64.
"""
import math

import torch
import torch.nn.functional as F

GROUPS = {
    # name: (d, n, algebra dim, affine, rotates, orbit)
    'T(2)': (2, 3, 2, True, False, False),
    'T(3)': (3, 4, 3, True, False, False),
    'SO(2)': (2, 2, 1, False, True, True),
    'SE(2)': (2, 3, 3, True, True, False),
    'SO(3)': (3, 3, 3, False, True, True),
    'SE(3)': (3, 4, 6, True, True, False),
}


def coords_width(group):
    d, n, a, affine, rotates, orbit = GROUPS[group]
    return a + (2 if orbit else 0)


# ----------------------------------------------------------------------------- random numbers

class Mulberry32:
    """The library's seeded uniform generator, bit for bit."""

    def __init__(self, seed):
        self.s = seed & 0xFFFFFFFF

    def next(self):
        self.s = (self.s + 0x6D2B79F5) & 0xFFFFFFFF
        t = self.s
        t = ((t ^ (t >> 15)) * (t | 1)) & 0xFFFFFFFF
        t ^= (t + (((t ^ (t >> 7)) * (t | 61)) & 0xFFFFFFFF)) & 0xFFFFFFFF
        return ((t ^ (t >> 14)) & 0xFFFFFFFF) / 4294967296.0

    def gauss(self):
        a, b = self.next(), self.next()
        return math.sqrt(-2.0 * math.log(1.0 - a)) * math.cos(2.0 * math.pi * b)


# ----------------------------------------------------------------------------- SO(3) helpers

def hat(w):
    x, y, z = w
    return [[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]]


def so3_exp(w):
    t = math.sqrt(sum(v * v for v in w))
    a = 1 - t * t / 6 if t < 1e-4 else math.sin(t) / t
    b = 0.5 - t * t / 24 if t < 1e-4 else (1 - math.cos(t)) / (t * t)
    K = hat(w)
    K2 = [[sum(K[i][m] * K[m][j] for m in range(3)) for j in range(3)] for i in range(3)]
    return [[(1.0 if i == j else 0.0) + a * K[i][j] + b * K2[i][j] for j in range(3)] for i in range(3)]


def matmul3(A, B):
    return [[sum(A[i][m] * B[m][j] for m in range(3)) for j in range(3)] for i in range(3)]


def align_e3(p):
    """A rotation taking e3 to the unit vector p."""
    axis = [-p[1], p[0], 0.0]
    s = math.sqrt(axis[0] ** 2 + axis[1] ** 2)
    angle = math.atan2(s, p[2])
    if s > 1e-12:
        return so3_exp([v / s * angle for v in axis])
    return so3_exp([0.0, 0.0, 0.0]) if p[2] > 0 else so3_exp([math.pi, 0.0, 0.0])


def random_rotation(rng):
    q = [rng.gauss() for _ in range(4)]
    nq = math.sqrt(sum(v * v for v in q))
    w, x, y, z = [v / nq for v in q]
    return [
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ]


# ----------------------------------------------------------------------------- lifting

def lift_clouds(group, points, mask, samples, seed):
    """points [B, P, d] -> elements [B P samples, n, n] (float64), cloud ids (-1 for padding), orbits."""
    d, n, _, affine, rotates, has_orbit = GROUPS[group]
    pts = points.detach().to(torch.float64).tolist()
    B, P = len(pts), len(pts[0])
    present = [[True] * P for _ in range(B)] if mask is None else [[v == 1 for v in row] for row in mask.tolist()]
    elements, cloud, orbit = [], [], []
    two_pi = 2 * math.pi
    eye = [[1.0 if i == j else 0.0 for j in range(n)] for i in range(n)]
    for b in range(B):
        rng = Mulberry32(seed)
        for p in range(P):
            x = list(pts[b][p]) + [0.0] * (3 - d)
            if not present[b][p]:
                for _ in range(samples):
                    elements.append(eye)
                    cloud.append(-1)
                    orbit.append(0.0)
                continue
            r = math.sqrt(sum(v * v for v in x))
            offset = 0.0
            for s in range(samples):
                if group in ('T(2)', 'T(3)'):
                    R = [[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]]
                elif group == 'SE(2)':
                    if s == 0:
                        offset = two_pi * rng.next() - math.pi
                    th = offset + two_pi * s / samples
                    R = [[math.cos(th), -math.sin(th), 0.0], [math.sin(th), math.cos(th), 0.0], [0.0, 0.0, 1.0]]
                elif group == 'SE(3)':
                    R = random_rotation(rng)
                elif group == 'SO(2)':
                    th = math.atan2(x[1], x[0])
                    R = [[math.cos(th), -math.sin(th), 0.0], [math.sin(th), math.cos(th), 0.0], [0.0, 0.0, 1.0]]
                else:  # SO(3)
                    phi = two_pi * rng.next() - math.pi
                    R = matmul3(align_e3([v / r for v in x]), so3_exp([0.0, 0.0, phi]))
                g = [row[:] for row in eye]
                for i in range(d):
                    for j in range(d):
                        g[i][j] = R[i][j]
                    if affine:
                        g[i][d] = x[i]
                elements.append(g)
                cloud.append(b)
                orbit.append(r)
    return torch.tensor(elements, dtype=torch.float64), torch.tensor(cloud), torch.tensor(orbit, dtype=torch.float64)


# ----------------------------------------------------------------------------- logs

def _so3_log(R):
    """Axis times angle of rotations [E, 3, 3] (angle in [0, pi])."""
    vee = torch.stack([R[:, 2, 1] - R[:, 1, 2], R[:, 0, 2] - R[:, 2, 0], R[:, 1, 0] - R[:, 0, 1]], -1)
    c = (R[:, 0, 0] + R[:, 1, 1] + R[:, 2, 2] - 1) / 2
    t = torch.atan2(vee.norm(dim=-1) / 2, c)
    small = vee / 2 * (1 + t * t / 6).unsqueeze(-1)
    regular = vee * (t / (2 * torch.sin(t).clamp_min(1e-300))).unsqueeze(-1)
    out = torch.where((t < 1e-4).unsqueeze(-1), small, regular)
    near = (math.pi - t <= 0.1).nonzero().flatten().tolist()
    for e in near:  # the axis from the symmetric part, where the antisymmetric part vanishes
        r, ce = R[e], c[e].item()
        aa = lambda i, j: ((r[i, j] + r[j, i]).item() / 2 - (ce if i == j else 0.0)) / (1 - ce)
        diag = [aa(0, 0), aa(1, 1), aa(2, 2)]
        i = max(range(3), key=lambda k: (diag[k], -k))
        col = torch.tensor([aa(0, i), aa(1, i), aa(2, i)], dtype=torch.float64)
        axis = col / col.norm()
        along = float((axis * vee[e]).sum())
        flip = along < 0 if vee[e].norm() > 1e-7 else axis[i] < 0
        out[e] = (-axis if flip else axis) * t[e]
    return out


def _planar_angle(R):
    th = torch.atan2(R[:, 1, 0], R[:, 0, 0])
    return torch.where(th <= -math.pi + 1e-9, torch.full_like(th, math.pi), th)


def rel_log(group, gi, gj):
    """log(gi^-1 gj) for element pairs [E, n, n] -> [E, a] (float64)."""
    d, n, a, affine, rotates, _ = GROUPS[group]
    Ri, Rj = gi[:, :d, :d], gj[:, :d, :d]
    R = Ri.transpose(1, 2) @ Rj
    t = (Ri.transpose(1, 2) @ (gj[:, :d, d] - gi[:, :d, d]).unsqueeze(-1)).squeeze(-1) if affine else None
    if group in ('T(2)', 'T(3)'):
        return t
    if group == 'SO(2)':
        return _planar_angle(R).unsqueeze(-1)
    if group == 'SE(2)':
        th = _planar_angle(R)
        sm = th.abs() < 1e-4
        A = torch.where(sm, 1 - th * th / 6, torch.sin(th) / torch.where(sm, torch.ones_like(th), th))
        Bv = torch.where(sm, th / 2 - th ** 3 / 24, (1 - torch.cos(th)) / torch.where(sm, torch.ones_like(th), th))
        s = A * A + Bv * Bv
        return torch.stack([th, (A * t[:, 0] + Bv * t[:, 1]) / s, (-Bv * t[:, 0] + A * t[:, 1]) / s], -1)
    w = _so3_log(R)
    if group == 'SO(3)':
        return w
    th = w.norm(dim=-1)
    sm = th < 1e-4
    ths = torch.where(sm, torch.ones_like(th), th)
    k = torch.where(sm, 1 / 12 + th * th / 720, (1 - ths * torch.sin(ths) / (2 * (1 - torch.cos(ths)))) / (ths * ths))
    K = torch.zeros(w.shape[0], 3, 3, dtype=torch.float64)
    K[:, 0, 1], K[:, 0, 2], K[:, 1, 0], K[:, 1, 2], K[:, 2, 0], K[:, 2, 1] = -w[:, 2], w[:, 1], w[:, 2], -w[:, 0], -w[:, 1], w[:, 0]
    Vinv = torch.eye(3, dtype=torch.float64) - K / 2 + k.view(-1, 1, 1) * (K @ K)
    return torch.cat([w, (Vinv @ t.unsqueeze(-1)).squeeze(-1)], -1)


def distance(group, v, qi, qj, alpha):
    d, n, a, affine, rotates, orbit = GROUPS[group]
    if group in ('T(2)', 'T(3)'):
        return v.norm(dim=-1)
    if group == 'SE(2)':
        return alpha * v[:, 0].abs() + (1 - alpha) * v[:, 1:3].norm(dim=-1)
    if group == 'SE(3)':
        return alpha * v[:, :3].norm(dim=-1) + (1 - alpha) * v[:, 3:6].norm(dim=-1)
    return alpha * v.norm(dim=-1) + (1 - alpha) * (qi - qj).abs()


# ----------------------------------------------------------------------------- neighbourhoods

class Lifted:
    def __init__(self, group, elements, cloud, orbit, batch):
        self.group, self.elements, self.cloud, self.orbit, self.batch = group, elements, cloud, orbit, batch
        self._nbhd = {}

    def neighbours(self, spec):
        """Pairs (i, j) of each element i with its neighbours j, and their relative coordinates."""
        key = repr(spec)
        if key in self._nbhd:
            return self._nbhd[key]
        M = len(self.cloud)
        I, J = [], []
        by_cloud = {}
        for e, c in enumerate(self.cloud.tolist()):
            if c >= 0:
                by_cloud.setdefault(c, []).append(e)
        group = self.group
        has_orbit = GROUPS[group][5]
        for c, members in sorted(by_cloud.items()):
            mem = torch.tensor(members)
            if spec == 'global':
                for i in members:
                    I += [i] * len(members)
                    J += members
                continue
            k = spec['k']
            if k > len(members):
                raise ValueError(f'k = {k} is larger than cloud {c} ({len(members)} elements)')
            alpha = spec.get('alpha', 0.2)
            gi = self.elements[mem].repeat_interleave(len(members), 0)
            gj = self.elements[mem].repeat(len(members), 1, 1)
            v = rel_log(group, gi, gj)
            q = self.orbit[mem]
            dist = distance(group, v, q.repeat_interleave(len(members)), q.repeat(len(members)), alpha).view(len(members), len(members))
            for r, i in enumerate(members):
                order = sorted(range(len(members)), key=lambda s: (dist[r, s].item(), members[s]))[:k]
                I += [i] * k
                J += [members[s] for s in order]
        I, J = torch.tensor(I, dtype=torch.long), torch.tensor(J, dtype=torch.long)
        coords = rel_log(group, self.elements[I], self.elements[J])
        if has_orbit:
            coords = torch.cat([coords, self.orbit[I].unsqueeze(-1), self.orbit[J].unsqueeze(-1)], -1)
        counts = torch.bincount(I, minlength=M)
        self._nbhd[key] = (I, J, coords, counts)
        return self._nbhd[key]


# ----------------------------------------------------------------------------- layers

def act(name, x):
    return {'silu': F.silu, 'swish': F.silu, 'relu': F.relu, 'none': lambda v: v}[name](x)


def head_mlp(x, params, prefix, layers, heads, acts):
    """Per-head MLPs side by side: x [E, in] -> [E, heads] (weights [heads, o, i] or [o, i])."""
    h = None
    for i in range(layers):
        w, b = params[f'{prefix}.{i}.weight'], params[f'{prefix}.{i}.bias']
        if heads == 1:
            w, b = w.unsqueeze(0), b.unsqueeze(0)
        h = torch.einsum('ei,hoi->eho', x, w) + b if i == 0 else torch.einsum('ehi,hoi->eho', h, w) + b
        h = act(acts[i], h)
    return h.squeeze(-1)


def mlp(x, params, prefix, layers, acts):
    for i in range(layers):
        x = act(acts[i], x @ params[f'{prefix}.{i}.weight'].T + params[f'{prefix}.{i}.bias'])
    return x


def normalise(logit, I, counts, how, M):
    """Normalises logits [E, H] over each element's neighbours."""
    H = logit.shape[1]
    cnt = counts[I].to(logit.dtype).unsqueeze(-1)
    if how == 'softmax':
        mx = torch.full((M, H), -math.inf, dtype=logit.dtype).scatter_reduce(0, I.unsqueeze(-1).expand(-1, H), logit, 'amax', include_self=True)
        e = torch.exp(logit - mx[I])
        z = torch.zeros(M, H, dtype=logit.dtype).index_add(0, I, e)
        return e / z[I]
    if how in ('dot_product', 'mean'):
        return logit / cnt
    if how == 'norm_exp':
        return torch.exp(logit) / cnt
    return logit


def attention(x, lifted, p, prefix, o):
    """omega.attention on a lifted cloud: x [M, in] -> [M, out]."""
    M = x.shape[0]
    heads, dim = o.get('heads', 1), o.get('dim', 8)
    I, J, coords, counts = lifted.neighbours(o.get('neighbours', 'global'))
    coords = coords.to(x.dtype)
    lin = lambda name: x @ p[f'{prefix}{name}'].T + (p[f'{prefix}{name}_bias'] if f'{prefix}{name}_bias' in p else 0)
    q, k, v = lin('query').view(M, heads, dim), lin('key').view(M, heads, dim), lin('value')
    dv = v.shape[1] // heads
    v = v.view(M, heads, dv)
    logit = None
    if o.get('content', True):
        logit = (q[I] * k[J]).sum(-1) / math.sqrt(dim)
    if o.get('location', 'mlp') == 'mlp':
        hidden = o.get('hidden', [16, 16])
        a = o.get('activation', 'silu')
        loc = head_mlp(coords, p, f'{prefix}location', len(hidden) + 1, heads, [a] * (len(hidden) + 1))
        if logit is None:
            logit = loc
        elif o.get('combine', 'sum') == 'product':
            logit = logit * loc
        else:
            logit = logit + loc
    w = normalise(logit, I, counts, o.get('normalise', 'softmax'), M)
    out = torch.zeros(M, heads, dv, dtype=x.dtype).index_add(0, I, w.unsqueeze(-1) * v[J])
    return out.reshape(M, heads * dv)


def lie_conv(x, lifted, p, prefix, o):
    """LieConv on a lifted cloud: x [M, in] -> [M, out]."""
    M, C = x.shape
    hidden, basis = o.get('hidden', [32, 32]), o.get('basis', 16)
    a = o.get('activation', 'silu')
    I, J, coords, counts = lifted.neighbours(o.get('neighbours', 'global'))
    psi = mlp(coords.to(x.dtype), p, f'{prefix}psi', len(hidden) + 1, [a] * (len(hidden) + 1))  # [E, basis]
    pair = (x[J].unsqueeze(-1) * psi.unsqueeze(1)).reshape(-1, C * basis)
    s = torch.zeros(M, C * basis, dtype=x.dtype).index_add(0, I, pair)
    if o.get('normalise', 'mean') == 'mean':
        s = s / counts.clamp_min(1).to(x.dtype).unsqueeze(-1)
    y = s @ p[f'{prefix}weight'].T
    if o.get('bias', True):
        y = y + p[f'{prefix}bias']
    return y


def linear(x, p, prefix, bias=True):
    y = x @ p[f'{prefix}weight'].T
    return y + p[f'{prefix}bias'] if bias else y


def layer_norm(x, p, prefix, eps):
    return F.layer_norm(x, (x.shape[-1],), p[f'{prefix}weight'], p[f'{prefix}bias'], eps)


def block(x, lifted, p, prefix, c):
    dim, heads = c['dim'], c['heads']
    att = {'heads': heads, 'dim': c.get('dimHead', dim // heads), 'content': c.get('content', True), 'location': c.get('location', 'mlp'),
           'hidden': c.get('hidden', [16, 16]), 'activation': c.get('activation', 'silu'), 'normalise': c.get('normalise', 'softmax'),
           'combine': c.get('combine', 'sum'), 'neighbours': c.get('neighbours', 'global')}
    eps = c.get('eps', 1e-5)
    h = x + linear(attention(layer_norm(x, p, f'{prefix}ln1.', eps), lifted, p, f'{prefix}attention.', att), p, f'{prefix}out.')
    return h + linear(F.silu(linear(layer_norm(h, p, f'{prefix}ln2.', eps), p, f'{prefix}mlp.0.')), p, f'{prefix}mlp.1.')


def global_pool(x, lifted, reduce):
    import warnings
    warnings.filterwarnings('ignore', message='scatter_reduce')
    C = x.shape[1]
    keep = lifted.cloud >= 0
    ids = lifted.cloud[keep]
    xs = x[keep]
    if reduce == 'max':
        return torch.full((lifted.batch, C), -math.inf, dtype=x.dtype).scatter_reduce(0, ids.unsqueeze(-1).expand(-1, C), xs, 'amax', include_self=True)
    s = torch.zeros(lifted.batch, C, dtype=x.dtype).index_add(0, ids, xs)
    n = torch.bincount(ids, minlength=lifted.batch).clamp_min(1).to(x.dtype)
    return s / n.unsqueeze(-1)


# ----------------------------------------------------------------------------- shapes and models

def parameter_shapes(c, group, channels):
    """Parameters of one layer given its input channels; returns (shapes, output channels)."""
    t = c['type']
    a = coords_width(group)
    if t == 'linear':
        s = {'weight': [c['out'], c['in']]}
        if c.get('bias', True):
            s['bias'] = [c['out']]
        return s, c['out']
    if t == 'layerNorm':
        return {'weight': [c['channels']], 'bias': [c['channels']]}, channels
    if t == 'coordinates':
        return {}, channels + GROUPS[group][0]
    if t == 'lieConv':
        hidden, basis = c.get('hidden', [32, 32]), c.get('basis', 16)
        dims = [a] + hidden + [basis]
        s = {}
        for i in range(len(dims) - 1):
            s[f'psi.{i}.weight'], s[f'psi.{i}.bias'] = [dims[i + 1], dims[i]], [dims[i + 1]]
        s['weight'] = [c['out'], c['in'] * basis]
        if c.get('bias', True):
            s['bias'] = [c['out']]
        return s, c['out']
    if t == 'phi' and c['omega']['kind'] == 'attention':
        o = c['omega']
        heads, dh = o.get('heads', 1), o.get('dim', 8)
        s = {'query': [heads * dh, o['in']], 'key': [heads * dh, o['in']], 'value': [o['out'], o['in']]}
        if o.get('bias', False):
            s.update({'query_bias': [heads * dh], 'key_bias': [heads * dh], 'value_bias': [o['out']]})
        if o.get('location', 'mlp') == 'mlp':
            dims = [a] + o.get('hidden', [16, 16]) + [1]
            for i in range(len(dims) - 1):
                s[f'location.{i}.weight'] = [heads, dims[i + 1], dims[i]] if heads > 1 else [dims[i + 1], dims[i]]
                s[f'location.{i}.bias'] = [heads, dims[i + 1]] if heads > 1 else [dims[i + 1]]
        return s, o['out']
    if t == 'lieTransformerBlock':
        dim, heads = c['dim'], c['heads']
        dh, hidden, m = c.get('dimHead', dim // heads), c.get('hidden', [16, 16]), c.get('mlp', dim)
        s = {'ln1.weight': [dim], 'ln1.bias': [dim], 'attention.query': [heads * dh, dim], 'attention.key': [heads * dh, dim], 'attention.value': [dim, dim],
             'attention.query_bias': [heads * dh], 'attention.key_bias': [heads * dh], 'attention.value_bias': [dim]}
        if c.get('location', 'mlp') == 'mlp':
            dims = [a] + hidden + [1]
            for i in range(len(dims) - 1):
                s[f'attention.location.{i}.weight'] = [heads, dims[i + 1], dims[i]] if heads > 1 else [dims[i + 1], dims[i]]
                s[f'attention.location.{i}.bias'] = [heads, dims[i + 1]] if heads > 1 else [dims[i + 1]]
        s.update({'out.weight': [dim, dim], 'out.bias': [dim], 'ln2.weight': [dim], 'ln2.bias': [dim],
                  'mlp.0.weight': [m, dim], 'mlp.0.bias': [m], 'mlp.1.weight': [dim, m], 'mlp.1.bias': [dim]})
        return s, dim
    return {}, channels


def init_params(config, seed, dtype=torch.float64):
    """Random parameters for every layer, named `layerName.param` (PyTorch's Linear init; norms near 1)."""
    g = torch.Generator().manual_seed(seed)
    params, ch = {}, config['input']['channels']
    for i, c in enumerate(config['layers']):
        name = c.get('name', f'layers.{i}')
        shapes, ch = parameter_shapes(c, config['group'], ch)
        for k, s in shapes.items():
            if c['type'] == 'layerNorm' or k.startswith('ln'):
                v = (1 + 0.1 * torch.randn(s, generator=g)) if k.endswith('weight') else 0.1 * torch.randn(s, generator=g)
            else:
                bound = 0.3 if k.endswith('bias') else 1 / math.sqrt(s[-1])
                v = (torch.rand(s, generator=g) * 2 - 1) * bound
            params[f'{name}.{k}'] = v.to(dtype)
    return params


def model_forward(config, points, features, mask, params, lift_seed=None, cache=None):
    """A point-cloud model: {points [B, P, d], features [B, P, C], mask [B, P]} -> [B, classes].

    `cache` (a dict, for training on fixed points): the lifted cloud and its neighbourhoods are
    kept per lift seed and reused."""
    group = config['group']
    layers = config['layers']
    first = layers[0]
    assert first['type'] == 'lift', 'a point-cloud model starts with a lift layer'
    dtype = next(iter(params.values())).dtype if params else torch.float64
    B, P = points.shape[0], points.shape[1]
    S = first.get('samples', 1)
    seed = first.get('seed', 1) if lift_seed is None else lift_seed
    lifted = cache.get((seed, S)) if cache is not None else None
    if lifted is None:
        elements, cloud, orbit = lift_clouds(group, points, mask, S, seed)
        lifted = Lifted(group, elements, cloud, orbit, B)
        if cache is not None:
            cache[(seed, S)] = lifted
    elements = lifted.elements
    x = features.to(dtype).reshape(B * P, -1).repeat_interleave(S, 0)
    for i, c in enumerate(layers[1:], start=1):
        prefix = c.get('name', f'layers.{i}') + '.'
        t = c['type']
        if t == 'linear':
            x = linear(x, params, prefix, c.get('bias', True))
        elif t == 'relu':
            x = F.relu(x)
        elif t == 'silu':
            x = F.silu(x)
        elif t == 'layerNorm':
            x = layer_norm(x, params, prefix, c.get('eps', 1e-5))
        elif t == 'coordinates':
            d = GROUPS[group][0]
            x = torch.cat([x, elements[:, :d, d].to(dtype)], -1)
        elif t == 'lieConv':
            x = lie_conv(x, lifted, params, prefix, c)
        elif t == 'lieTransformerBlock':
            x = block(x, lifted, params, prefix, c)
        elif t == 'phi' and c['omega']['kind'] == 'attention':
            x = attention(x, lifted, params, prefix, {**c['omega'], 'neighbours': c.get('neighbours', 'global')})
        elif t == 'globalPool':
            x = global_pool(x, lifted, c.get('reduce', 'mean'))
        else:
            raise ValueError(f'layer {i}: {t} is not a point-cloud layer')
    return x
