"""Writes the interop fixtures under test/fixtures/escnn/models/: small escnn and e2cnn models
with random weights and batch-norm statistics, exported by equivariant_export.export with an
input and the library's own output for it (NAME.json, NAME.safetensors, NAME.io.safetensors).
test/steerable-interop.test.ts loads each and compares (<= 1e-5 relative), so CI needs no Python.

    /work/venv-escnn/bin/python tools/escnn/fixtures.py [--only NAME,...]
"""
import json
import os
import sys
import warnings

import torch

from equivariant_export import export

warnings.filterwarnings('ignore')
OUT = os.path.join(os.path.dirname(__file__), '..', '..', 'test', 'fixtures', 'escnn', 'models')


def randomize(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        # By name: escnn registers some parameters in an order that depends on string hashing.
        for name, p in sorted(model.named_parameters()):
            if not p.requires_grad:
                continue  # fixed values (MaskModule's mask, NormNonLinearity's eps)
            p.copy_(torch.randn(p.shape, generator=g) * (0.5 if 'bias' in name else 1.0))
        for name, b in sorted(model.named_buffers()):
            if name.endswith('running_var'):
                b.copy_(torch.rand(b.shape, generator=g) + 0.5)
            elif name.endswith('running_mean') and b.dim() == 1:
                b.copy_(torch.randn(b.shape, generator=g) * 0.3)
    # IIDBatchNorm's mean lives in each field's trivial subspace: project it.
    for m in model.modules():
        if type(m).__name__ == 'IIDBatchNorm2d':
            with torch.no_grad():
                for r in sorted(set(m.in_type.representations), key=lambda r: r.name):
                    e = m._escape_name(r.name)
                    if m._has_trivial[r.name]:
                        mean = getattr(m, f'{e}_running_mean')
                        P = getattr(m, f'{e}_avg')
                        mean.copy_(torch.randn(mean.shape, generator=g) @ P.T * 0.3)
    model.eval()
    return model


def escnn_models():
    from escnn import gspaces, nn
    out = {}
    # C4 regular, 3x3 (runs by Winograd), inner batch norm, max pool, group pooling.
    gs = gspaces.rot2dOnR2(4)
    t0 = nn.FieldType(gs, [gs.trivial_repr])
    t1 = nn.FieldType(gs, [gs.regular_repr] * 4)
    t2 = nn.FieldType(gs, [gs.regular_repr] * 6)
    out['escnn_c4_k3'] = (nn.SequentialModule(
        nn.R2Conv(t0, t1, 3, padding=1), nn.InnerBatchNorm(t1), nn.ReLU(t1),
        nn.R2Conv(t1, t2, 3, padding=1), nn.InnerBatchNorm(t2), nn.ReLU(t2),
        nn.PointwiseMaxPool2D(t2, 2), nn.R2Conv(t2, t2, 3), nn.ReLU(t2), nn.GroupPooling(t2)), (2, 1, 14, 14))
    # C8 regular, 5x5, mask, IID batch norm, ELU, anti-aliased pooling, a linear head.
    gs = gspaces.rot2dOnR2(8)
    t0 = nn.FieldType(gs, [gs.trivial_repr])
    t1 = nn.FieldType(gs, [gs.regular_repr] * 3)
    t2 = nn.FieldType(gs, [gs.regular_repr] * 4)
    tg = nn.FieldType(gs, [gs.trivial_repr] * 4)
    body = nn.SequentialModule(
        nn.MaskModule(t0, 17, margin=1), nn.R2Conv(t0, t1, 5, padding=2), nn.IIDBatchNorm2d(t1), nn.ELU(t1),
        nn.PointwiseMaxPoolAntialiased2D(t1, 2, stride=2), nn.R2Conv(t1, t2, 5, padding=1), nn.InnerBatchNorm(t2), nn.ReLU(t2),
        nn.PointwiseAvgPoolAntialiased2D(t2, sigma=0.66, stride=2), nn.GroupPooling(t2), nn.PointwiseAdaptiveAvgPool2D(tg, 1))
    out['escnn_c8_k5'] = ([body, torch.nn.Flatten(), torch.nn.Linear(4, 5), torch.nn.ELU(), torch.nn.BatchNorm1d(5), torch.nn.Linear(5, 3)], (2, 1, 17, 17))
    # C16 regular and a quotient, 7x7.
    gs = gspaces.rot2dOnR2(16)
    t0 = nn.FieldType(gs, [gs.trivial_repr])
    t1 = nn.FieldType(gs, [gs.regular_repr] * 2 + [gs.quotient_repr(4)])
    t2 = nn.FieldType(gs, [gs.regular_repr] * 2)
    out['escnn_c16_k7'] = (nn.SequentialModule(
        nn.R2Conv(t0, t1, 7, padding=3), nn.ReLU(t1), nn.R2Conv(t1, t2, 7, stride=2), nn.InnerBatchNorm(t2), nn.ReLU(t2), nn.GroupPooling(t2)), (2, 1, 15, 15))
    # D4 regular, 5x5 (escnn's numerically signed basis).
    gs = gspaces.flipRot2dOnR2(4)
    t0 = nn.FieldType(gs, [gs.trivial_repr])
    t1 = nn.FieldType(gs, [gs.regular_repr] * 3)
    t2 = nn.FieldType(gs, [gs.regular_repr] * 2 + [gs.quotient_repr((0, 2))])
    out['escnn_d4_k5'] = (nn.SequentialModule(
        nn.R2Conv(t0, t1, 5, padding=2), nn.InnerBatchNorm(t1), nn.ReLU(t1), nn.PointwiseAvgPool2D(t1, 2),
        nn.R2Conv(t1, t2, 5, padding=2), nn.ReLU(t2), nn.GroupPooling(t2)), (2, 1, 12, 12))
    # D8 regular, 3x3 and 5x5.
    gs = gspaces.flipRot2dOnR2(8)
    t0 = nn.FieldType(gs, [gs.trivial_repr])
    t1 = nn.FieldType(gs, [gs.regular_repr] * 2)
    out['escnn_d8_k5'] = (nn.SequentialModule(
        nn.R2Conv(t0, t1, 5, padding=2), nn.InnerBatchNorm(t1), nn.ReLU(t1), nn.R2Conv(t1, t1, 3, padding=1), nn.ReLU(t1), nn.GroupPooling(t1)), (2, 1, 11, 11))
    # SO(2): irreducible fields with norm and gated nonlinearities, norm pooling, 5x5 and 7x7.
    gs = gspaces.rot2dOnR2(-1, maximum_frequency=3)
    t0 = nn.FieldType(gs, [gs.trivial_repr])
    irr = [gs.irrep(0), gs.irrep(1), gs.irrep(2), gs.irrep(1), gs.irrep(3)]
    t1 = nn.FieldType(gs, irr)
    gates = nn.FieldType(gs, [gs.trivial_repr] * 3)
    gated = nn.FieldType(gs, [gs.irrep(1), gs.irrep(2), gs.irrep(1)])
    t2 = gates + gated
    out['escnn_so2_k5_k7'] = (nn.SequentialModule(
        nn.R2Conv(t0, t1, 7, padding=3), nn.IIDBatchNorm2d(t1), nn.NormNonLinearity(t1, 'n_relu'),
        nn.R2Conv(t1, t2, 5, padding=2), nn.GatedNonLinearity1(t2), nn.R2Conv(gated, t1, 5), nn.NormNonLinearity(t1, 'n_sigmoid'), nn.NormPool(t1)), (2, 1, 13, 13))
    # O(2): irreducible fields with the norm nonlinearity.
    gs = gspaces.flipRot2dOnR2(-1, maximum_frequency=3)
    t0 = nn.FieldType(gs, [gs.trivial_repr])
    t1 = nn.FieldType(gs, [gs.irrep(0, 0), gs.irrep(1, 1), gs.irrep(1, 2), gs.irrep(1, 1)])
    t2 = nn.FieldType(gs, [gs.irrep(0, 0), gs.irrep(1, 0), gs.irrep(1, 1), gs.irrep(1, 2)])
    out['escnn_o2_k5'] = (nn.SequentialModule(
        nn.R2Conv(t0, t1, 5, padding=2), nn.NormNonLinearity(t1, 'n_relu'), nn.R2Conv(t1, t2, 5, padding=2), nn.NormPool(t2)), (2, 1, 11, 11))
    return out


def e2cnn_models():
    from e2cnn import gspaces, nn
    out = {}
    gs = gspaces.Rot2dOnR2(8)
    t0 = nn.FieldType(gs, [gs.trivial_repr])
    t1 = nn.FieldType(gs, [gs.regular_repr] * 3)
    out['e2cnn_c8_k5'] = (nn.SequentialModule(
        nn.R2Conv(t0, t1, 5, padding=2), nn.InnerBatchNorm(t1), nn.ReLU(t1), nn.PointwiseMaxPoolAntialiased(t1, 2, stride=2),
        nn.R2Conv(t1, t1, 5, padding=2), nn.ReLU(t1), nn.GroupPooling(t1)), (2, 1, 14, 14))
    gs = gspaces.FlipRot2dOnR2(8)
    t0 = nn.FieldType(gs, [gs.trivial_repr])
    t1 = nn.FieldType(gs, [gs.regular_repr] * 2)
    out['e2cnn_d8_k3'] = (nn.SequentialModule(
        nn.R2Conv(t0, t1, 3, padding=1), nn.InnerBatchNorm(t1), nn.ReLU(t1), nn.R2Conv(t1, t1, 3, padding=1), nn.ReLU(t1), nn.GroupPooling(t1)), (2, 1, 10, 10))
    gs = gspaces.Rot2dOnR2(-1, maximum_frequency=3)
    t0 = nn.FieldType(gs, [gs.trivial_repr])
    t1 = nn.FieldType(gs, [gs.irrep(0), gs.irrep(1), gs.irrep(2)])
    out['e2cnn_so2_k7'] = (nn.SequentialModule(
        nn.R2Conv(t0, t1, 7, padding=3), nn.NormNonLinearity(t1, 'n_relu'), nn.R2Conv(t1, t1, 5, padding=2), nn.NormPool(t1)), (2, 1, 11, 11))
    # maximum_offset, which the module does not keep: the exporter reads it from the bases. C6, a
    # group no other fixture uses: built after the C8 fixtures above, a C8 version of this model
    # came out of e2cnn without the offset in its bases (and so with the full basis).
    gs = gspaces.Rot2dOnR2(6)
    t0 = nn.FieldType(gs, [gs.trivial_repr])
    t1 = nn.FieldType(gs, [gs.regular_repr] * 2)
    out['e2cnn_c6_offset'] = (nn.SequentialModule(
        nn.R2Conv(t0, t1, 5, padding=2), nn.ReLU(t1), nn.R2Conv(t1, t1, 5, padding=2, maximum_offset=0), nn.GroupPooling(t1)), (2, 1, 9, 9))
    # The steerable demo's layout: a disk mask after an inner nonlinearity and a 1x1 convolution
    # between regular fields (the basis at radius 0 only: the circulants).
    gs = gspaces.Rot2dOnR2(16)
    t0 = nn.FieldType(gs, [gs.trivial_repr])
    t1 = nn.FieldType(gs, [gs.regular_repr] * 2)
    out['e2cnn_c16_mask_k1'] = (nn.SequentialModule(
        nn.R2Conv(t0, t1, 5, padding=2), nn.ReLU(t1), nn.MaskModule(t1, 9, margin=0), nn.R2Conv(t1, t1, 1), nn.ReLU(t1),
        nn.GroupPooling(t1)), (2, 1, 9, 9))
    return out


def unsupported():
    """The exporter's error for a module it does not support (kept as a fixture)."""
    from escnn import gspaces, nn
    from equivariant_export import UnsupportedModuleError
    gs = gspaces.rot2dOnR2(4)
    t0 = nn.FieldType(gs, [gs.trivial_repr])
    t1 = nn.FieldType(gs, [gs.regular_repr] * 2)
    model = nn.SequentialModule(nn.R2Conv(t0, t1, 3, padding=1), nn.ReLU(t1), nn.R2Upsampling(t1, 2))
    try:
        export(model, (1, 1, 8, 8), os.path.join(OUT, 'unsupported'))
    except UnsupportedModuleError as e:
        return {'module': 'R2Upsampling', 'error': type(e).__name__, 'message': str(e)}
    raise AssertionError('the exporter accepted R2Upsampling')


def main():
    # --only NAME[,NAME]: write just those models (each keeps its seed: its place in the list).
    only = sys.argv[sys.argv.index('--only') + 1].split(',') if '--only' in sys.argv else None
    os.makedirs(OUT, exist_ok=True)
    if only is None:
        with open(os.path.join(OUT, 'unsupported.json'), 'w') as f:
            json.dump(unsupported(), f, indent=1)
    models = {**escnn_models(), **e2cnn_models()}
    for i, (name, (model, shape)) in enumerate(models.items()):
        if only is not None and name not in only:
            continue
        mods = model if isinstance(model, list) else [model]
        for m in mods:
            randomize(m, 100 + i)
        export(mods if isinstance(model, list) else model, shape, os.path.join(OUT, name), io=True, seed=i)
        print('wrote', name, flush=True)


if __name__ == '__main__':
    main()
