"""Trains the demo models on Fashion-MNIST and exports them in equivariant's format.

Both are trained on the upright training images only (no rotation augmentation): the P4CNN of
Cohen & Welling (p4, 10 channels) and the same network over z2 (an ordinary CNN) with 22
channels, about the same number of parameters. Then both are evaluated on the test set rotated
by every multiple of 15 degrees (see rotate() for the resampling), and the script writes:

  models/p4cnn-fashion.{json,safetensors}, models/z2cnn-fashion.{json,safetensors}
  models/reference.json        accuracies per angle, parameter counts, settings, timings
  models/predictions.bin       PyTorch's predicted class for every test image at every angle
                               (uint8, [model (p4cnn, z2cnn)][angle index][image])

    /usr/bin/python3 tools/pytorch/train.py [--epochs 4] [--threads 2] [--limit N]
"""
import argparse
import gzip
import json
import math
import os
import struct
import time

import numpy as np
import torch
import torch.nn.functional as F

import reference as R

ROOT = os.path.join(os.path.dirname(__file__), '..', '..')
DATA = '/usr/share/datasets/fashion-mnist'
ANGLES = list(range(0, 360, 15))


def read_idx(path):
    with gzip.open(path, 'rb') as f:
        raw = f.read()
    zero, dtype, ndim = struct.unpack('>HBB', raw[:4])
    dims = struct.unpack('>' + 'I' * ndim, raw[4:4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(split):
    prefix = 'train' if split == 'train' else 't10k'
    x = read_idx(f'{DATA}/{prefix}-images-idx3-ubyte.gz').astype(np.float32) / 255.0
    y = read_idx(f'{DATA}/{prefix}-labels-idx1-ubyte.gz').astype(np.int64)
    return torch.from_numpy(x[:, None]), torch.from_numpy(y)


def rotate(x, angle):
    """Rotates images [N, 1, H, W] counter-clockwise by `angle` degrees about the centre.

    Multiples of 90 degrees are exact (torch.rot90, which is how p4 acts). Other angles resample
    bilinearly: output pixel (i, j) reads the input at the inverse-rotated point, with zeros
    outside the image. The same formula is in the library's demo (bin/data.mjs).
    """
    if angle % 90 == 0:
        return torch.rot90(x, (angle // 90) % 4, dims=(-2, -1))
    n = x.shape[-1]
    c = (n - 1) / 2
    t = math.radians(angle)
    co, si = math.cos(t), math.sin(t)
    i, j = np.meshgrid(np.arange(n, dtype=np.float64), np.arange(n, dtype=np.float64), indexing='ij')
    xx, yy = j - c, c - i
    xs, ys = co * xx + si * yy, -si * xx + co * yy
    js, is_ = xs + c, c - ys
    i0, j0 = np.floor(is_).astype(np.int64), np.floor(js).astype(np.int64)
    fi, fj = is_ - i0, js - j0
    img = x[:, 0].double().numpy()
    out = np.zeros_like(img)

    def at(ii, jj):
        ok = (ii >= 0) & (ii < n) & (jj >= 0) & (jj < n)
        v = np.zeros_like(img)
        v[:, ok] = img[:, ii[ok], jj[ok]]
        return v
    out = (at(i0, j0) * ((1 - fi) * (1 - fj)) + at(i0, j0 + 1) * ((1 - fi) * fj)
           + at(i0 + 1, j0) * (fi * (1 - fj)) + at(i0 + 1, j0 + 1) * (fi * fj))
    return torch.from_numpy(out.astype(np.float32))[:, None]


class Net(torch.nn.Module):
    """A model config with trainable parameters; batch norm in training mode updates statistics."""

    def __init__(self, config, seed):
        super().__init__()
        self.config = config
        params = R.init_params(config, seed)
        self.names = R.layer_names(config)
        self.trainable = torch.nn.ParameterDict()
        for key, v in params.items():
            layer = key.rsplit('.', 1)
            kind = layer[1]
            safe = key.replace('.', '__')
            if kind in ('running_mean', 'running_var'):
                self.register_buffer(safe, torch.zeros_like(v) if kind == 'running_mean' else torch.ones_like(v))
            elif kind == 'weight' and v.dim() == 1:  # batch-norm scale
                self.trainable[safe] = torch.nn.Parameter(torch.ones_like(v))
            elif kind == 'bias' and key.rsplit('.', 1)[0].startswith('bn'):
                self.trainable[safe] = torch.nn.Parameter(torch.zeros_like(v))
            else:
                self.trainable[safe] = torch.nn.Parameter(v.clone())

    def tensors(self):
        out = {k.replace('__', '.'): v for k, v in self.trainable.items()}
        out.update({k.replace('__', '.'): v for k, v in self.named_buffers()})
        return out

    def forward(self, x):
        tensors = self.tensors()
        for name, layer in zip(self.names, self.config['layers']):
            p = {k.split('.')[-1]: v for k, v in tensors.items() if k.rsplit('.', 1)[0] == name}
            if layer['type'] == 'batchNorm' and self.training:
                shape = x.shape
                x = F.batch_norm(x.reshape(shape[0], shape[1], -1), p['running_mean'], p['running_var'], p['weight'], p['bias'],
                                 True, 0.1, layer.get('eps', 1e-5)).reshape(shape)
            else:
                x = R.layer_forward(layer, x, p, self.config['group'])
        return x


def evaluate(net, x, y, batch=500):
    net.eval()
    preds = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            preds.append(net(x[i:i + batch]).argmax(1))
    p = torch.cat(preds)
    return (p == y).float().mean().item(), p


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--epochs', type=int, default=4)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--limit', type=int, default=0, help='train on the first N images only (for a quick try)')
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    xtr, ytr = load('train')
    xte, yte = load('test')
    if args.limit:
        xtr, ytr = xtr[:args.limit], ytr[:args.limit]
    rotated = {a: rotate(xte, a) for a in ANGLES}
    models = {
        'p4cnn': R.p4cnn_config('p4', channels=10, name='P4CNN (Fashion-MNIST)'),
        'z2cnn': R.p4cnn_config('z2', channels=22, name='Z2CNN (Fashion-MNIST)'),
    }
    report = {'command': '/usr/bin/python3 tools/pytorch/train.py ' + ' '.join(f'--{k} {v}' for k, v in vars(args).items()),
              'torch': torch.__version__, 'epochs': args.epochs, 'batch': 128, 'optimizer': 'Adam, lr 1e-3 then 1e-4 in the last epoch',
              'angles': ANGLES, 'models': {}}
    all_preds = []
    for name, cfg in models.items():
        net = Net(cfg, seed=1)
        count = sum(p.numel() for p in net.trainable.values())
        opt = torch.optim.Adam(net.trainable.values(), lr=1e-3)
        g = torch.Generator().manual_seed(0)
        t0 = time.time()
        for epoch in range(args.epochs):
            if epoch == args.epochs - 1 and args.epochs > 1:
                for group in opt.param_groups:
                    group['lr'] = 1e-4
            net.train()
            order = torch.randperm(len(xtr), generator=g)
            total = 0.0
            for i in range(0, len(order), 128):
                idx = order[i:i + 128]
                loss = F.cross_entropy(net(xtr[idx]), ytr[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += loss.item() * len(idx)
            acc, _ = evaluate(net, xte, yte)
            print(f'{name} epoch {epoch + 1}: loss {total / len(order):.4f}, test accuracy {acc:.4f} ({time.time() - t0:.0f} s)', flush=True)
        accs = {}
        preds = []
        for a in ANGLES:
            acc, p = evaluate(net, rotated[a], yte)
            accs[a] = round(acc * 100, 2)
            preds.append(p.numpy().astype(np.uint8))
        all_preds.append(np.stack(preds))
        print(name, 'accuracy by angle:', accs, flush=True)
        tensors = {k: v.detach() for k, v in net.tensors().items()}
        with open(os.path.join(ROOT, 'models', f'{name}-fashion.json'), 'w') as f:
            json.dump(cfg, f, indent=1)
        R.write_safetensors(os.path.join(ROOT, 'models', f'{name}-fashion.safetensors'), tensors, {'trained_on': 'Fashion-MNIST train, upright'})
        report['models'][name] = {'parameters': count, 'train_seconds': round(time.time() - t0), 'accuracy': accs}
    np.stack(all_preds).tofile(os.path.join(ROOT, 'models', 'predictions.bin'))
    with open(os.path.join(ROOT, 'models', 'reference.json'), 'w') as f:
        json.dump(report, f, indent=1)


if __name__ == '__main__':
    main()
