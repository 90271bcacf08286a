"""Shared helpers of the escnn/e2cnn tools: gspaces by this library's names, representations by
escnn's names, and a safetensors writer (float32, or float64 converted)."""
import numpy as np


def lib(name):
    """The escnn or e2cnn modules: (gspaces, nn)."""
    if name == 'escnn':
        from escnn import gspaces, nn
    else:
        from e2cnn import gspaces, nn
    return gspaces, nn


def gspace(library, name):
    """A gspace from this library's config name (rot2dOnR2(8), flipRot2dOnR2(-1, 6), trivialOnR2())."""
    gspaces, _ = lib(library)
    import re
    if name == 'trivialOnR2()':
        return gspaces.trivialOnR2() if library == 'escnn' else gspaces.TrivialOnR2()
    m = re.match(r'^(rot2dOnR2|flipRot2dOnR2)\((-?\d+)(?:,\s*(\d+))?\)$', name)
    kind, N, L = m.group(1), int(m.group(2)), m.group(3)
    kw = {'maximum_frequency': int(L)} if L is not None else {}
    if library == 'escnn':
        return (gspaces.rot2dOnR2 if kind == 'rot2dOnR2' else gspaces.flipRot2dOnR2)(N, **kw)
    return (gspaces.Rot2dOnR2 if kind == 'rot2dOnR2' else gspaces.FlipRot2dOnR2)(N, **kw)


def rep(gs, name):
    """A representation of gspace `gs` by its escnn name (regular, trivial, irrep_k, irrep_j,k, quotient[...])."""
    import re
    if name == 'regular':
        return gs.regular_repr
    if name == 'trivial':
        return gs.trivial_repr
    m = re.match(r'^irrep_(\d+)(?:,(\d+))?$', name)
    if m:
        ids = [int(v) for v in m.groups() if v is not None]
        return gs.irrep(*ids)
    m = re.match(r'^quotient\[(?:(\d+)|\((None|\d+), (\d+)\))\]$', name)
    if m:
        if m.group(1) is not None:
            return gs.quotient_repr(int(m.group(1)))
        return gs.quotient_repr((None if m.group(2) == 'None' else int(m.group(2)), int(m.group(3))))
    raise ValueError(f'unknown representation {name}')


def write_safetensors(path, tensors, metadata=None):
    """tools/pytorch/reference.py's writer, for numpy arrays (float64 rounded once to float32)."""
    import importlib.util
    import os
    import torch
    spec = importlib.util.spec_from_file_location('pytorch_reference', os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'pytorch', 'reference.py'))
    reference = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reference)
    reference.write_safetensors(path, {k: torch.from_numpy(np.ascontiguousarray(np.asarray(v, dtype=np.float64))) for k, v in tensors.items()}, metadata)


def sign_probe(n):
    """The fixed pseudo-random vector of ts/gspaces/kernels.ts signProbe (same integer hash)."""
    t = np.arange(n, dtype=np.uint64) + 1
    x = (t * np.uint64(0x9e3779b1)) & np.uint64(0xffffffff)
    x = x ^ (x >> np.uint64(16))
    x = (x * np.uint64(0x85ebca6b)) & np.uint64(0xffffffff)
    x = x ^ (x >> np.uint64(13))
    return x.astype(np.float64) / 4294967296.0 - 0.5
