"""Equivariant MLPs for O(3), trained in PyTorch on the bases this library exports, beside plain
MLPs of about the same number of parameters, on two synthetic tasks generated here:

  invariant  five vectors x_1..x_5 in R^3 -> a scalar made of norms and dot products,
             f = sin|x1| - |x2|^3 / 6 + x1.x2 / (|x1||x2|) + cos(x3.x4) + x4.x5 / 2
             (O(3)-invariant);
  inertia    five point masses (m_i, x_i) -> the inertia tensor sum_i m_i (|x_i|^2 I - x_i x_i^T)
             (O(3)-equivariant: a rank-2 tensor, flattened row-major).

The equivariant models are configurations of the library's layers (equivariantLinear,
tensorSquare, gated; docs/operator-space.md). Their bases come from the library itself
(`node tools/pytorch/emlp-bases.mjs`): PyTorch trains the coefficients, W = sum_i c_i B_i, and
the coefficients are what the model files hold. Writes

  models/emlp-{invariant,inertia}.{json,safetensors}   the equivariant MLPs (group O(3))
  models/mlp-{invariant,inertia}.{json,safetensors}    plain MLPs (linear and ReLU layers)
  models/emlp-data.safetensors   the test sets (inputs, targets) and PyTorch's outputs on them
  models/emlp-reference.json     test errors, equivariance errors, parameter counts, settings

    /usr/bin/python3 tools/pytorch/emlp.py [--steps 3000] [--threads 1] [--train 1000] [--out models]

Written for this project from the equations of Finzi, Welling & Wilson (ICML 2021); no code of
theirs is used.
"""
import argparse
import json
import math
import os
import struct
import subprocess
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F

import reference as R

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
MODELS = os.path.join(ROOT, 'models')

# ----------------------------------------------------------------------------- the tasks


def invariant_task(rng, n):
    x = rng.standard_normal((n, 5, 3))
    nrm = np.linalg.norm(x, axis=2)
    dot = lambda i, j: np.sum(x[:, i] * x[:, j], axis=1)
    f = (np.sin(nrm[:, 0]) - nrm[:, 1] ** 3 / 6 + dot(0, 1) / (nrm[:, 0] * nrm[:, 1])
         + np.cos(dot(2, 3)) + dot(3, 4) / 2)
    return x.reshape(n, 15), f[:, None]


def inertia_task(rng, n):
    m = rng.uniform(0.5, 1.5, (n, 5))
    x = rng.standard_normal((n, 5, 3)) / math.sqrt(3)
    r2 = np.sum(x * x, axis=2)
    eye = np.eye(3)
    inertia = np.einsum('nk,nk,ij->nij', m, r2, eye) - np.einsum('nk,nki,nkj->nij', m, x, x)
    return np.concatenate([m, x.reshape(n, 15)], axis=1), inertia.reshape(n, 9)


def random_o3(rng):
    q = rng.standard_normal(4)
    w, a, b, c = q / np.linalg.norm(q)
    r = np.array([[1 - 2 * (b * b + c * c), 2 * (a * b - c * w), 2 * (a * c + b * w)],
                  [2 * (a * b + c * w), 1 - 2 * (a * a + c * c), 2 * (b * c - a * w)],
                  [2 * (a * c - b * w), 2 * (b * c + a * w), 1 - 2 * (a * a + b * b)]])
    return r if rng.uniform() < 0.5 else -r


def act_input(task, g, x):
    """O(3) on the inputs: vectors rotate (and reflect), masses stay."""
    if task == 'invariant':
        return (x.reshape(-1, 5, 3) @ g.T).reshape(-1, 15)
    return np.concatenate([x[:, :5], (x[:, 5:].reshape(-1, 5, 3) @ g.T).reshape(-1, 15)], axis=1)


def act_output(task, g, y):
    if task == 'invariant':
        return y
    return (g @ y.reshape(-1, 3, 3) @ g.T).reshape(-1, 9)


# ----------------------------------------------------------------------------- model configs

def emlp_config(task):
    if task == 'invariant':
        layers = [
            {'type': 'equivariantLinear', 'name': 'l1', 'in': '5*V', 'out': '8*V'},
            {'type': 'tensorSquare', 'name': 'sq', 'rep': '8*V'},
            {'type': 'equivariantLinear', 'name': 'l2', 'in': '8*V + (8*V)^2', 'out': '32*S + 8*V + 8'},
            {'type': 'gated', 'name': 'g2', 'rep': '32*S + 8*V'},
            {'type': 'equivariantLinear', 'name': 'l3', 'in': '32*S + 8*V', 'out': '32*S'},
            {'type': 'gated', 'name': 'g3', 'rep': '32*S'},
            {'type': 'equivariantLinear', 'name': 'l4', 'in': '32*S', 'out': '1'},
        ]
        rep_in = '5*V'
    else:
        layers = [
            {'type': 'equivariantLinear', 'name': 'l1', 'in': '5*S + 5*V', 'out': '8*S + 8*V'},
            {'type': 'tensorSquare', 'name': 'sq1', 'rep': '8*S + 8*V'},
            {'type': 'equivariantLinear', 'name': 'l2', 'in': '(8*S + 8*V) + (8*S + 8*V)^2', 'out': '16*S + 16*V + 16'},
            {'type': 'gated', 'name': 'g2', 'rep': '16*S + 16*V'},
            {'type': 'tensorSquare', 'name': 'sq2', 'rep': '16*S + 16*V'},
            {'type': 'equivariantLinear', 'name': 'l3', 'in': '(16*S + 16*V) + (16*S + 16*V)^2', 'out': 'V^2'},
        ]
        rep_in = '5*S + 5*V'
    return {'format': 'equivariant.model', 'version': 1, 'name': f'EMLP O(3) {task}', 'group': 'O(3)',
            'input': {'field': 'rep', 'rep': rep_in}, 'layers': layers}


def mlp_config(task, d_in, d_out, hidden):
    return {'format': 'equivariant.model', 'version': 1, 'name': f'MLP {task}', 'group': 'O(3)',
            'input': {'field': 'invariant', 'channels': d_in},
            'layers': [{'type': 'linear', 'name': 'fc1', 'in': d_in, 'out': hidden}, {'type': 'relu'},
                       {'type': 'linear', 'name': 'fc2', 'in': hidden, 'out': hidden}, {'type': 'relu'},
                       {'type': 'linear', 'name': 'fc3', 'in': hidden, 'out': d_out}]}

# ----------------------------------------------------------------------------- the library's bases


def read_safetensors_any(path):
    """safetensors with F32, F64 and I32 tensors, as torch tensors."""
    with open(path, 'rb') as f:
        raw = f.read()
    n = struct.unpack('<Q', raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    types = {'F32': torch.float32, 'F64': torch.float64, 'I32': torch.int32}
    out = {}
    for name, e in header.items():
        if name == '__metadata__':
            continue
        b, end = e['data_offsets']
        out[name] = torch.frombuffer(bytearray(data[b:end]), dtype=types[e['dtype']]).reshape(e['shape']) if end > b else torch.zeros(e['shape'], dtype=types[e['dtype']])
    return out


def export_bases(config):
    """Runs the library's exporter on a config: (plan, bases)."""
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, 'config.json')
        with open(path, 'w') as f:
            json.dump(config, f)
        t0 = time.time()
        subprocess.run(['node', os.path.join(ROOT, 'tools', 'pytorch', 'emlp-bases.mjs'), path, os.path.join(d, 'bases')], check=True)
        with open(os.path.join(d, 'bases.json')) as f:
            plan = json.load(f)
        return plan, read_safetensors_any(os.path.join(d, 'bases.safetensors')), time.time() - t0


class EMLP(torch.nn.Module):
    """The library's layers in torch: W = sum_i c_i B_i from the exported sparse bases."""

    def __init__(self, plan, bases, seed):
        super().__init__()
        self.plan = plan['layers']
        gen = torch.Generator().manual_seed(seed)
        self.weights = torch.nn.ParameterDict()
        self.sparse = {}
        for l in self.plan:
            if l['type'] != 'equivariantLinear':
                continue
            key = l['name']
            std = math.sqrt(l['out'] / max(1, l['weight']))
            self.weights[key + '__weight'] = torch.nn.Parameter(torch.randn(l['weight'], generator=gen) * std)
            if l['bias']:
                self.weights[key + '__bias'] = torch.nn.Parameter(torch.zeros(l['bias']))
            for part in ('basis', 'bias_basis'):
                if f'{key}.{part}.index' in bases:
                    self.sparse[(key, part)] = (bases[f'{key}.{part}.index'].long(), bases[f'{key}.{part}.element'].long(),
                                                bases[f'{key}.{part}.value'].float())

    def dense(self, l, part, coeff, size):
        index, element, value = self.sparse[(l['name'], part)]
        return torch.zeros(size).index_add(0, index, value * coeff[element])

    def forward(self, x):
        for l in self.plan:
            if l['type'] == 'equivariantLinear':
                W = self.dense(l, 'basis', self.weights[l['name'] + '__weight'], l['out'] * l['in']).reshape(l['out'], l['in'])
                x = x @ W.T
                if l['bias']:
                    x = x + self.dense(l, 'bias_basis', self.weights[l['name'] + '__bias'], l['out'])
            elif l['type'] == 'tensorSquare':
                x = torch.cat([x, (x[:, :, None] * x[:, None, :]).reshape(x.shape[0], -1)], dim=1)
            else:  # gated
                parts = []
                for b in l['blocks']:
                    v = x[:, b['start']:b['start'] + b['len']]
                    parts.append(F.silu(v) if b['gate'] is None else torch.sigmoid(x[:, b['gate']:b['gate'] + 1]) * v)
                x = torch.cat(parts, dim=1)
        return x

    def tensors(self):
        return {k.replace('__', '.'): v.detach() for k, v in self.weights.items()}


class MLP(torch.nn.Module):
    def __init__(self, d_in, hidden, d_out, seed):
        super().__init__()
        torch.manual_seed(seed)
        self.fc1, self.fc2, self.fc3 = torch.nn.Linear(d_in, hidden), torch.nn.Linear(hidden, hidden), torch.nn.Linear(hidden, d_out)

    def forward(self, x):
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))

    def tensors(self):
        return {f'{k}': v.detach() for k, v in self.state_dict().items()}


def count(model):
    return sum(p.numel() for p in model.parameters())


def train(model, x, y, steps, lr, batch, seed):
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps, eta_min=lr / 100)
    n = x.shape[0]
    for step in range(steps):
        idx = torch.randint(0, n, (batch,), generator=gen)
        loss = F.mse_loss(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return float(loss)


def errors(task, model, x_test, y_test, rng, elements=20):
    with torch.no_grad():
        pred = model(torch.tensor(x_test, dtype=torch.float32)).double().numpy()
        mse = float(np.mean((pred - y_test) ** 2))
        rel = float(np.sqrt(mse / np.mean((y_test - y_test.mean(axis=0)) ** 2)))
        eq_err = []
        for _ in range(elements):
            g = random_o3(rng)
            moved = model(torch.tensor(act_input(task, g, x_test), dtype=torch.float32)).double().numpy()
            eq_err.append(np.max(np.abs(moved - act_output(task, g, pred))) / np.max(np.abs(pred)))
    return pred, {'mse': mse, 'relativeRmse': rel, 'equivarianceError': float(np.max(eq_err))}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--steps', type=int, default=3000)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--train', type=int, default=1000)
    ap.add_argument('--test', type=int, default=1000)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--out', default=MODELS, help='directory to write the models, data and reference to')
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    reference = {'settings': {'steps': args.steps, 'train': args.train, 'test': args.test, 'seed': args.seed, 'threads': args.threads,
                              'optimiser': 'Adam, lr 3e-3 cosine-annealed to 3e-5, batch 128, MSE', 'torch': torch.__version__},
                 'tasks': {}}
    data = {}
    for t, task in enumerate(['invariant', 'inertia']):
        rng = np.random.default_rng(args.seed + 10 * t)
        gen = invariant_task if task == 'invariant' else inertia_task
        x_train, y_train = gen(rng, args.train)
        x_test, y_test = gen(rng, args.test)
        xt, yt = torch.tensor(x_train, dtype=torch.float32), torch.tensor(y_train, dtype=torch.float32)
        config = emlp_config(task)
        plan, bases, export_s = export_bases(config)
        emlp = EMLP(plan, bases, seed=args.seed + 1)
        # A plain MLP with two hidden layers of about the same number of parameters.
        p, d_in, d_out = count(emlp), x_train.shape[1], y_train.shape[1]
        hidden = max(4, int((-(d_in + d_out + 2) + math.sqrt((d_in + d_out + 2) ** 2 + 4 * (p - d_out))) / 2))
        mlp = MLP(d_in, hidden, d_out, seed=args.seed + 2)
        result = {'exportSeconds': export_s}
        for name, model in (('emlp', emlp), ('mlp', mlp)):
            t0 = time.time()
            final = train(model, xt, yt, args.steps, 3e-3, 128, seed=args.seed + 3)
            seconds = time.time() - t0
            pred, err = errors(task, model, x_test, y_test, np.random.default_rng(args.seed + 99))
            result[name] = {'parameters': count(model), 'trainSeconds': seconds, 'finalTrainLoss': final, **err}
            if name == 'mlp':
                result[name]['hidden'] = hidden
            data[f'{task}.{name}'] = torch.tensor(pred, dtype=torch.float32)
            print(f'{task:9s} {name:4s} params {count(model):6d}  test MSE {err["mse"]:.4g}  relative RMSE {err["relativeRmse"]:.3f}  '
                  f'equivariance error {err["equivarianceError"]:.2e}  ({seconds:.0f} s)', flush=True)
        data[f'{task}.x'] = torch.tensor(x_test, dtype=torch.float32)
        data[f'{task}.y'] = torch.tensor(y_test, dtype=torch.float32)
        reference['tasks'][task] = result
        with open(os.path.join(args.out, f'emlp-{task}.json'), 'w') as f:
            json.dump(config, f, indent=1)
        R.write_safetensors(os.path.join(args.out, f'emlp-{task}.safetensors'), emlp.tensors())
        with open(os.path.join(args.out, f'mlp-{task}.json'), 'w') as f:
            json.dump(mlp_config(task, d_in, d_out, hidden), f, indent=1)
        R.write_safetensors(os.path.join(args.out, f'mlp-{task}.safetensors'), mlp.tensors())
    R.write_safetensors(os.path.join(args.out, 'emlp-data.safetensors'), data)
    with open(os.path.join(args.out, 'emlp-reference.json'), 'w') as f:
        json.dump(reference, f, indent=1)


if __name__ == '__main__':
    main()
