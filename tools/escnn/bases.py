"""Writes the kernel-basis fixtures from escnn and e2cnn themselves (test/fixtures/escnn/):

  basis-sizes.json    the number of basis elements (R2Conv weights) for many settings, from both
                      libraries, which the library's own bases must match (test/steerable-basis.test.ts)
  bases.json          a few settings whose sampled bases are stored in bases.safetensors
  bases.safetensors   R2Conv.expand_parameters() for every unit weight: [D, C_out, C_in, k, k]

    /work/venv-escnn/bin/python tools/escnn/bases.py
(a venv with escnn and e2cnn over Debian's python3-torch: see docs/escnn.md).
"""
import json
import os
import warnings

import numpy as np
import torch

from common import gspace, lib, rep, write_safetensors

warnings.filterwarnings('ignore')
OUT = os.path.join(os.path.dirname(__file__), '..', '..', 'test', 'fixtures', 'escnn')


def conv(library, space, ins, outs, kernel, **kw):
    gs = gspace(library, space)
    _, nn = lib(library)
    ti = nn.FieldType(gs, [rep(gs, r) for r in ins])
    to = nn.FieldType(gs, [rep(gs, r) for r in outs])
    return nn.R2Conv(ti, to, kernel, **kw)


def sizes():
    cases = []
    spaces = ['trivialOnR2()', 'rot2dOnR2(1)', 'rot2dOnR2(2)', 'rot2dOnR2(3)', 'rot2dOnR2(4)', 'rot2dOnR2(5)', 'rot2dOnR2(6)',
              'rot2dOnR2(8)', 'rot2dOnR2(16)', 'flipRot2dOnR2(2)', 'flipRot2dOnR2(3)', 'flipRot2dOnR2(4)', 'flipRot2dOnR2(6)',
              'flipRot2dOnR2(8)']
    for s in spaces:
        finite = True
        for k in (3, 5, 7):
            pairs = [(['trivial'], ['trivial']), (['trivial'], ['regular']), (['regular'], ['trivial']), (['regular'], ['regular'])]
            for ins, outs in pairs:
                cases.append({'space': s, 'in': ins, 'out': outs, 'kernel': k})
        cases.append({'space': s, 'in': ['regular'], 'out': ['regular'], 'kernel': 9})
        cases.append({'space': s, 'in': ['trivial'], 'out': ['trivial'], 'kernel': 9})
    # Irreps, quotients, mixed types, dilation, cutoffs, sigma.
    extra = [
        ('rot2dOnR2(8)', ['irrep_1', 'irrep_2'], ['irrep_0', 'irrep_3', 'irrep_4'], 5, {}),
        ('rot2dOnR2(8)', ['quotient[2]'], ['regular', 'quotient[4]'], 5, {}),
        ('rot2dOnR2(6)', ['irrep_3', 'irrep_1'], ['irrep_2'], 7, {}),
        ('rot2dOnR2(8)', ['regular'], ['regular'], 5, {'dilation': 2}),
        ('rot2dOnR2(8)', ['regular'], ['regular'], 5, {'frequencies_cutoff': 1.5}),
        ('rot2dOnR2(8)', ['regular'], ['regular'], 5, {'frequencies_cutoff': -2.}),
        ('rot2dOnR2(8)', ['regular'], ['regular'], 5, {'frequencies_cutoff': -3.}),
        ('rot2dOnR2(8)', ['regular'], ['regular'], 5, {'sigma': 0.5}),
        ('rot2dOnR2(8)', ['regular'], ['regular'], 6, {}),
        ('rot2dOnR2(4)', ['regular'], ['regular'], 4, {}),
        ('flipRot2dOnR2(4)', ['irrep_1,1', 'irrep_0,2'], ['irrep_1,0', 'irrep_1,2', 'irrep_1,1'], 5, {}),
        ('flipRot2dOnR2(8)', ['quotient[(None, 4)]'], ['regular', 'quotient[(0, 4)]'], 5, {}),
        ('flipRot2dOnR2(4)', ['quotient[(0, 2)]'], ['quotient[(0, 1)]'], 5, {}),
        ('flipRot2dOnR2(4)', ['regular'], ['regular'], 5, {'dilation': 2}),
        ('rot2dOnR2(-1, 3)', ['irrep_0', 'irrep_1'], ['irrep_0', 'irrep_1'], 5, {}),
        ('rot2dOnR2(-1, 3)', ['irrep_0', 'irrep_1'], ['irrep_0', 'irrep_1'], 7, {}),
        ('rot2dOnR2(-1, 3)', ['irrep_0', 'irrep_1', 'irrep_2', 'irrep_3'], ['irrep_0', 'irrep_1', 'irrep_2', 'irrep_3'], 5, {}),
        ('rot2dOnR2(-1, 3)', ['irrep_0', 'irrep_1', 'irrep_2', 'irrep_3'], ['irrep_0', 'irrep_1', 'irrep_2', 'irrep_3'], 7, {}),
        ('rot2dOnR2(-1, 3)', ['irrep_0'], ['irrep_0', 'irrep_1', 'irrep_2', 'irrep_3'], 7, {}),
        ('rot2dOnR2(-1, 6)', ['irrep_2'], ['irrep_5'], 9, {}),
        ('flipRot2dOnR2(-1, 3)', ['irrep_0,0', 'irrep_1,0', 'irrep_1,1'], ['irrep_0,0', 'irrep_1,0', 'irrep_1,1'], 5, {}),
        ('flipRot2dOnR2(-1, 3)', ['irrep_0,0', 'irrep_1,0', 'irrep_1,1', 'irrep_1,2', 'irrep_1,3'], ['irrep_0,0', 'irrep_1,0', 'irrep_1,1', 'irrep_1,2', 'irrep_1,3'], 7, {}),
    ]
    for s, ins, outs, k, kw in extra:
        cases.append({'space': s, 'in': ins, 'out': outs, 'kernel': k, **({'options': kw} if kw else {})})
    for c in cases:
        for library in ('escnn', 'e2cnn'):
            if library == 'e2cnn' and (c['space'] == 'rot2dOnR2(1)' or 'quotient' in ''.join(c['in'] + c['out'])):
                continue  # e2cnn rejects N = 1; its quotient bases differ (not supported for import)
            m = conv(library, c['space'], c['in'], c['out'], c['kernel'], **c.get('options', {}))
            c[library] = int(m.weights.numel())
        print(c, flush=True)
    return cases


# Settings whose full bases are stored: small ones, covering every group kind and both libraries.
STORED = [
    ('escnn', 'rot2dOnR2(4)', ['regular'], ['regular'], 3, {}),
    ('escnn', 'rot2dOnR2(8)', ['trivial'], ['regular'], 5, {}),
    ('escnn', 'rot2dOnR2(8)', ['irrep_1', 'irrep_2'], ['irrep_0', 'irrep_3', 'irrep_4'], 5, {}),
    ('escnn', 'rot2dOnR2(6)', ['quotient[2]'], ['regular'], 3, {}),
    ('escnn', 'rot2dOnR2(5)', ['regular'], ['regular'], 5, {'dilation': 2}),
    ('escnn', 'rot2dOnR2(-1, 3)', ['irrep_0', 'irrep_1', 'irrep_2'], ['irrep_0', 'irrep_1', 'irrep_3'], 5, {}),
    ('escnn', 'flipRot2dOnR2(4)', ['regular'], ['regular'], 3, {}),
    ('escnn', 'flipRot2dOnR2(3)', ['irrep_0,0', 'irrep_1,1'], ['irrep_1,0', 'irrep_1,1'], 5, {}),
    ('escnn', 'flipRot2dOnR2(4)', ['quotient[(0, 2)]'], ['quotient[(None, 2)]'], 3, {}),
    ('escnn', 'flipRot2dOnR2(-1, 3)', ['irrep_0,0', 'irrep_1,0', 'irrep_1,1'], ['irrep_0,0', 'irrep_1,1', 'irrep_1,2'], 5, {}),
    ('e2cnn', 'rot2dOnR2(4)', ['regular'], ['regular'], 3, {}),
    ('e2cnn', 'rot2dOnR2(8)', ['irrep_1', 'irrep_2'], ['irrep_0', 'irrep_3', 'irrep_4'], 5, {}),
    ('e2cnn', 'rot2dOnR2(-1, 3)', ['irrep_0', 'irrep_1', 'irrep_2'], ['irrep_0', 'irrep_1', 'irrep_3'], 5, {}),
    ('e2cnn', 'flipRot2dOnR2(4)', ['regular'], ['regular'], 3, {}),
    ('e2cnn', 'flipRot2dOnR2(3)', ['irrep_0,0', 'irrep_1,1'], ['irrep_1,0', 'irrep_1,1'], 5, {}),
    ('e2cnn', 'flipRot2dOnR2(-1, 3)', ['irrep_0,0', 'irrep_1,0', 'irrep_1,1'], ['irrep_0,0', 'irrep_1,1', 'irrep_1,2'], 5, {'maximum_offset': 0}),
]


def stored():
    meta, tensors = [], {}
    for i, (library, s, ins, outs, k, kw) in enumerate(STORED):
        m = conv(library, s, ins, outs, k, **kw)
        D = m.weights.numel()
        filters = []
        with torch.no_grad():
            for d in range(D):
                w = torch.zeros(D)
                w[d] = 1
                m.weights.data = w
                f, _ = m.expand_parameters()
                filters.append(f.detach().double().numpy())
        name = f'case{i}'
        tensors[name] = np.stack(filters)
        opts = {('maximumOffset' if key == 'maximum_offset' else key): v for key, v in kw.items()}
        meta.append({'name': name, 'library': library, 'space': s, 'in': ins, 'out': outs, 'kernel': k, 'options': opts, 'dim': D})
        print(meta[-1], flush=True)
    # The quotient representations' changes of basis (escnn), to check ours against.
    quot = {}
    for s, names in [('rot2dOnR2(8)', ['quotient[2]', 'quotient[4]']), ('rot2dOnR2(6)', ['quotient[2]', 'quotient[3]']),
                     ('flipRot2dOnR2(4)', ['quotient[(None, 2)]', 'quotient[(0, 2)]', 'quotient[(0, 1)]', 'quotient[(1, 2)]']),
                     ('flipRot2dOnR2(8)', ['quotient[(None, 4)]', 'quotient[(0, 4)]', 'quotient[(1, 1)]'])]:
        gs = gspace('escnn', s)
        for n in names:
            r = rep(gs, n)
            key = f'Q {s} {n}'
            tensors[key] = r.change_of_basis
            quot[key] = [list(i) if isinstance(i, tuple) else i for i in r.irreps]
    return meta, tensors, quot


def main():
    os.makedirs(OUT, exist_ok=True)
    meta, tensors, quot = stored()
    write_safetensors(os.path.join(OUT, 'bases.safetensors'), tensors)
    with open(os.path.join(OUT, 'bases.json'), 'w') as f:
        json.dump({'cases': meta, 'quotients': quot}, f, indent=1)
    cases = sizes()
    with open(os.path.join(OUT, 'basis-sizes.json'), 'w') as f:
        json.dump({'generated_by': '/work/venv-escnn/bin/python tools/escnn/bases.py', 'cases': cases}, f, indent=1)


if __name__ == '__main__':
    main()
