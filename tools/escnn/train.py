"""Trains the steerable demo models on upright Fashion-MNIST with e2cnn and exports them.

Three networks of one layout, trained on the first 20,000 upright training images (four epochs)
with no rotation augmentation: regular fields of C8, of C16, and of D8 (rotations and the
reflection x -> -x). Layout (chosen for approximate invariance between right angles,
docs/demo.md): a disk mask (the inscribed disk, which every rotation keeps) and a Gaussian blur
(sigma 1) of the input, a 7x7 steerable convolution, one halving of the resolution by a 2x2 mean
and a blurred subsampling (linear, unlike a max over a square window), two 5x5 and a 3x3
convolution at 14x14, inner batch norm and ReLU after each, band-limited kernels
(frequencies_cutoff -3), group pooling, the mean over a disk, and a two-layer head without batch
norm (which would amplify the remaining rotation errors). Two parts of it carry most of the
accuracy between right angles:
  - the disk mask after every inner nonlinearity: zero padding otherwise leaves each feature
    map a square support, which only right angles keep;
  - each regular field's orientation frequencies cut after every nonlinearity (`lowpass`: to
    <= 4 for C16, the default, and <= 2 for C8 and D8, `--orient-lowpass 2`), so a turn by a
    fraction of the group's step moves a smooth orientation response rather than a kinked one.

Each model is evaluated in PyTorch on the test set rotated by every multiple of 15 degrees
(tools/pytorch/train.py's rotate()), and the script writes

  models/{c8,c16,d8}-fashion.{json,safetensors}   (exported by equivariant_export.export)
  models/steerable-reference.json                 accuracies per angle, settings, timings
  models/steerable-predictions.bin                uint8 [model (c8, c16, d8)][angle][image]

    /work/venv-escnn/bin/python tools/escnn/train.py [--epochs 4] [--limit 20000] [--threads 2] [--models c8,c16,d8]

The shipped models were trained one per process on one thread, so that each is reproducible on
its own: `--threads 1 --models c16`, `--threads 1 --models c8 --orient-lowpass 2` and the same
for d8.
"""
import argparse
import json
import os
import sys
import time
import warnings

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from equivariant_export import export  # noqa: E402


def _pytorch_train():
    """tools/pytorch/train.py (the data loader, the rotation the demo uses, the evaluation)."""
    import importlib.util
    sys.path.insert(0, os.path.join(HERE, '..', 'pytorch'))
    spec = importlib.util.spec_from_file_location('pytorch_train', os.path.join(HERE, '..', 'pytorch', 'train.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


_T = _pytorch_train()
ANGLES, load, rotate, evaluate = _T.ANGLES, _T.load, _T.rotate, _T.evaluate

warnings.filterwarnings('ignore')
ROOT = os.path.join(HERE, '..', '..')

# Regular fields per layer (channels = fields x |group|).
WIDTHS = {'c8': (4, 8, 8, 32), 'c16': (2, 4, 4, 16), 'd8': (2, 4, 4, 16)}
GROUPS = {'c8': ('rot', 8), 'c16': ('rot', 16), 'd8': ('flip', 8)}


def lowpass(t, L):
    """A fixed 1x1 convolution that keeps each regular field's orientation frequencies <= L.

    A nonlinearity on a regular field makes orientation frequencies up to the group's Nyquist
    one; a turn by a fraction of the group's step then moves those samples by a fraction, which
    the next layers (and the maximum of the group pooling) see as a different input. Projecting
    onto the low frequencies keeps every later layer's orientation response smooth. It is an
    R2Conv (on each field a circulant for C_N, the isotypic projection for D_N; the kernel basis
    at radius 0 holds both), frozen, so the exporter and the library run it as any other convolution.
    """
    from e2cnn import nn
    G = t.gspace.fibergroup
    N = G.order()
    conv = nn.R2Conv(t, t, 1, bias=False)
    if type(t.gspace).__name__ == 'Rot2dOnR2':
        # The cosine form the shipped models were built with; the D_N branch's character sum
        # gives the same projector to 2e-15 (the least-squares solve below varies that much from
        # run to run in the coefficients that should be zero).
        d = torch.arange(N, dtype=torch.float64)
        diff = d[:, None] - d[None, :]
        P = sum(torch.cos(2 * np.pi * k * diff / N) for k in range(-L, L + 1)) / N
    else:
        # D_N: the sum of the projectors onto the isotypic parts whose rotation frequency is <= L,
        # each sum_g chi(g) rho_reg(g) scaled so that it squares to itself.
        reg = G.regular_representation
        P = torch.zeros(N, N, dtype=torch.float64)
        for irr in G.irreps.values():
            if irr.attributes['frequency'] <= L:
                M = sum(np.trace(irr(g)) * reg(g) for g in G.elements)
                P += torch.from_numpy(M * np.trace(M) / np.trace(M @ M))
        assert (P @ P - P).abs().max() < 1e-9
    w = torch.zeros_like(conv.weights, dtype=torch.float64)
    with torch.no_grad():
        # The basis is linear: expand each unit weight, find the field pair it lives on, and
        # solve the diagonal blocks for P (the off-diagonal ones stay zero).
        blocks = {}
        for j in range(w.numel()):
            conv.weights.zero_()
            conv.weights[j] = 1
            f = conv.expand_parameters()[0][:, :, 0, 0].double()
            nz = f.abs().reshape(f.shape[0] // N, N, f.shape[1] // N, N).sum(dim=(1, 3)).nonzero()
            assert len(nz) == 1
            o, i = nz[0].tolist()
            if o == i:
                blocks.setdefault(o, []).append((j, f[o * N:(o + 1) * N, i * N:(i + 1) * N].reshape(-1)))
        for o, elems in blocks.items():
            A = torch.stack([e for _, e in elems], dim=1)
            sol = torch.linalg.lstsq(A, P.reshape(-1, 1)).solution[:, 0]
            assert (A @ sol - P.reshape(-1)).abs().max() < 1e-9
            for (j, _), v in zip(elems, sol):
                w[j] = v
        conv.weights.copy_(w.float())
    conv.weights.requires_grad_(False)
    return conv


class Net(torch.nn.Module):
    def __init__(self, key, hidden=64, blur=1.0, margin=0.0, pool_sigma=1.0, end_mask=True, pool='avg', cutoff=-3.0, widths=None, downs=1, k4=3, head_bn=False, max_freq=None, act='relu', act_blur=0.0, inner_mask=False, orient_lowpass=0):
        super().__init__()
        from e2cnn import gspaces, nn
        kind, N = GROUPS[key]
        gs = gspaces.Rot2dOnR2(N) if kind == 'rot' else gspaces.FlipRot2dOnR2(N)
        f1, f2, f3, f4 = widths or WIDTHS[key]
        reg = lambda n: nn.FieldType(gs, [gs.regular_repr] * n)
        t0 = nn.FieldType(gs, [gs.trivial_repr])
        t1, t2, t3, t4 = reg(f1), reg(f2), reg(f3), reg(f4)
        layers = [nn.MaskModule(t0, 28, margin=margin)]
        if blur:
            layers.append(nn.PointwiseAvgPoolAntialiased(t0, sigma=blur, stride=1))
        def down(t):
            # Halve the resolution. 'avg': a 2x2 mean (stride 1) then a Gaussian blur sampled
            # every other pixel (linear, so closer to rotation equivariant than a max over a
            # square window); 'max': escnn's anti-aliased max pooling.
            if pool == 'avg':
                return [nn.PointwiseAvgPool(t, 2, stride=1), nn.PointwiseAvgPoolAntialiased(t, sigma=pool_sigma, stride=2)]
            return [nn.PointwiseMaxPoolAntialiased(t, 2, stride=2, sigma=pool_sigma)]
        def fco(k):
            # e2cnn's rule (-1, -2, -3, or f * radius), capped at max_freq when given.
            if max_freq is None:
                return cutoff
            from e2cnn.nn.modules.r2_conv import r2convolution as r2
            rule = {-1.0: r2._manual_fco1, -2.0: r2._manual_fco2, -3.0: r2._manual_fco3}.get(float(cutoff))
            rule = rule(k // 2) if rule else (lambda r: cutoff * r)
            return lambda r: min(rule(r), max_freq)
        conv = lambda a, b, k, p: nn.R2Conv(a, b, k, padding=p, bias=False, frequencies_cutoff=fco(k))
        # ELU is smooth, so it makes fewer frequencies above the grid's than ReLU's kink.
        nl0 = (lambda t: nn.ELU(t)) if act == 'elu' else (lambda t: nn.ReLU(t))
        # Only where the rotations' highest frequency N/2 is above the cutoff.
        smooth = bool(orient_lowpass) and N // 2 > orient_lowpass

        def after(t, size=None):
            # The nonlinearity and what follows it; `size` (the maps' side) for inner layers only.
            mods = [nl0(t)]
            if size and act_blur:
                # Takes out the high frequencies the kink makes, which the next layer's sampled
                # kernels would otherwise alias into orientation-dependent responses.
                mods.append(nn.PointwiseAvgPoolAntialiased(t, sigma=act_blur, stride=1))
            if size and inner_mask:
                # Zero padding makes every feature map's support a square, which a rotation by
                # other than a right angle does not keep: back to the inscribed disk.
                mods.append(nn.MaskModule(t, size, margin=0))
            if smooth:
                mods.append(lowpass(t, orient_lowpass))
            return mods
        inner = 28 >> min(downs, 1)
        layers += [
            conv(t0, t1, 7, 3), nn.InnerBatchNorm(t1), *after(t1, 28), *(down(t1) if downs > 0 else []),
            conv(t1, t2, 5, 2), nn.InnerBatchNorm(t2), *after(t2, inner),
            conv(t2, t3, 5, 2), nn.InnerBatchNorm(t3), *after(t3, inner), *(down(t3) if downs > 1 else []),
            conv(t3, t4, k4, k4 // 2), nn.InnerBatchNorm(t4), *after(t4),
        ]
        tg = nn.FieldType(gs, [gs.trivial_repr] * f4)
        layers.append(nn.GroupPooling(t4))
        if end_mask:
            layers.append(nn.MaskModule(tg, {0: 28, 1: 14}.get(downs, 7), margin=0))
        layers.append(nn.PointwiseAdaptiveAvgPool(tg, 1))
        self.body = nn.SequentialModule(*layers)
        self.in_type = t0
        self.head = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(f4, hidden), *([torch.nn.BatchNorm1d(hidden)] if head_bn else []), torch.nn.ELU(), torch.nn.Linear(hidden, 10))

    def forward(self, x):
        from e2cnn.nn import GeometricTensor
        return self.head(self.body(GeometricTensor(x, self.in_type)).tensor)

    def parts(self):
        return [self.body, *self.head]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--epochs', type=int, default=4)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--limit', type=int, default=20000, help='train on the first N images only (0: all 60,000)')
    ap.add_argument('--models', default='c8,c16,d8')
    ap.add_argument('--blur', type=float, default=1.0)
    ap.add_argument('--mask-margin', type=float, default=0.0, help="MaskModule's margin in percent of the radius (0: the disk every rotation keeps)")
    ap.add_argument('--pool-sigma', type=float, default=1.0)
    ap.add_argument('--end-mask', type=int, default=1)
    ap.add_argument('--pool', default='avg', choices=['avg', 'max'])
    ap.add_argument('--cutoff', type=float, default=-3.0, help="R2Conv's frequencies_cutoff")
    ap.add_argument('--max-freq', type=float, default=None, help='cap on the harmonics of every ring')
    ap.add_argument('--widths', default='', help='regular fields per layer, e.g. 2,4,4,16 (default per model)')
    ap.add_argument('--downs', type=int, default=1, help='halvings of the resolution (0, 1 or 2)')
    ap.add_argument('--k4', type=int, default=3, help='kernel size of the last convolution')
    ap.add_argument('--head-bn', type=int, default=0, help='a batch norm in the head (it amplifies what is left of rotation errors)')
    ap.add_argument('--act', default='relu', choices=['relu', 'elu'], help='the nonlinearity after each convolution')
    ap.add_argument('--act-blur', type=float, default=0.0, help='sigma of a blur after each inner nonlinearity (0: none)')
    ap.add_argument('--inner-mask', type=int, default=1, help='a disk mask after each inner nonlinearity (0: none)')
    ap.add_argument('--orient-lowpass', type=int, default=4, help="keep each regular field's orientation frequencies <= this after each nonlinearity (where the rotations' N/2 is above it: C16 at 4, C8 and D8 at 2; 0: off)")
    ap.add_argument('--lr', type=float, default=3e-3, help='Adam learning rate (a tenth of it in the last epoch)')
    ap.add_argument('--out', default=os.path.join(ROOT, 'models'))
    ap.add_argument('--test-limit', type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    xtr, ytr = load('train')
    xte, yte = load('test')
    if args.limit:
        xtr, ytr = xtr[:args.limit], ytr[:args.limit]
    if args.test_limit:
        xte, yte = xte[:args.test_limit], yte[:args.test_limit]
    rotated = {a: rotate(xte, a) for a in ANGLES}
    keys = args.models.split(',')
    # The command as run, with every option that differs from its default (so it can be pasted).
    command = '/work/venv-escnn/bin/python tools/escnn/train.py ' + ' '.join(f'--{k.replace("_", "-")} {v}' for k, v in vars(args).items() if k != 'out' and v != ap.get_default(k))
    path = os.path.join(args.out, 'steerable-reference.json')
    report = json.load(open(path)) if os.path.exists(path) and keys != list(GROUPS) else {}
    report.update({'command': command, 'torch': torch.__version__, 'library': 'e2cnn 0.2.3', 'epochs': args.epochs, 'batch': 64,
                   'optimizer': f'Adam, lr {args.lr:g}, then {args.lr / 10:g} in the last epoch', 'angles': ANGLES, 'widths': WIDTHS})
    report.setdefault('models', {})
    preds_path = os.path.join(args.out, 'steerable-predictions.bin')
    n = len(yte)
    all_preds = np.fromfile(preds_path, dtype=np.uint8).reshape(len(GROUPS), len(ANGLES), -1) if os.path.exists(preds_path) and keys != list(GROUPS) else np.zeros((len(GROUPS), len(ANGLES), n), dtype=np.uint8)
    for key in keys:
        widths = tuple(int(v) for v in args.widths.split(',')) if args.widths else None
        net = Net(key, blur=args.blur, margin=args.mask_margin, pool_sigma=args.pool_sigma, end_mask=bool(args.end_mask), pool=args.pool, cutoff=args.cutoff, widths=widths, downs=args.downs, k4=args.k4, head_bn=bool(args.head_bn), max_freq=args.max_freq, act=args.act, act_blur=args.act_blur, inner_mask=bool(args.inner_mask), orient_lowpass=args.orient_lowpass)
        count = sum(p.numel() for p in net.parameters() if p.requires_grad)
        opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=args.lr)
        g = torch.Generator().manual_seed(0)
        t0 = time.time()
        for epoch in range(args.epochs):
            if epoch == args.epochs - 1 and args.epochs > 1:
                for group in opt.param_groups:
                    group['lr'] = args.lr / 10
            net.train()
            order = torch.randperm(len(xtr), generator=g)
            total = 0.0
            for i in range(0, len(order), 64):
                idx = order[i:i + 64]
                loss = F.cross_entropy(net(xtr[idx]), ytr[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += loss.item() * len(idx)
            acc, _ = evaluate(net, xte, yte)
            print(f'{key} epoch {epoch + 1}: loss {total / len(order):.4f}, test accuracy {acc:.4f} ({time.time() - t0:.0f} s)', flush=True)
        seconds = round(time.time() - t0)
        accs = {}
        for ai, a in enumerate(ANGLES):
            acc, p = evaluate(net, rotated[a], yte)
            accs[a] = round(acc * 100, 2)
            all_preds[list(GROUPS).index(key), ai, :len(p)] = p.numpy().astype(np.uint8)
        print(key, 'accuracy by angle:', accs, 'worst', min(accs.values()), flush=True)
        net.eval()
        export(net.parts(), (1, 1, 28, 28), os.path.join(args.out, f'{key}-fashion'))
        report['models'][key] = {'group': GROUPS[key], 'widths': WIDTHS[key], 'parameters': count, 'train_seconds': seconds, 'accuracy': accs}
        all_preds.tofile(preds_path)
        with open(path, 'w') as f:
            json.dump(report, f, indent=1)


if __name__ == '__main__':
    main()
