"""Writes the golden fixtures under test/fixtures/ from the PyTorch reference.

Each case is a model in the library's format (a one-layer model for each layer type, and the
full P4CNN and a p4m variant): NAME.json (the config), NAME.safetensors (the weights) and
NAME.io.safetensors (an input and PyTorch's output for it).

    /usr/bin/python3 tools/pytorch/fixtures.py
"""
import json
import os

import torch

import reference as R
import lie as L

OUT = os.path.join(os.path.dirname(__file__), '..', '..', 'test', 'fixtures')


def model(group, field, channels, layers, size=None, name=None):
    for i, l in enumerate(layers):
        l.setdefault('name', f'layers.{i}')
    cfg = {'format': 'equivariant.model', 'version': 1, 'name': name or layers[0]['type'], 'group': group,
           'input': {'field': field, 'channels': channels}, 'layers': layers}
    if size:
        cfg['input']['size'] = size
    return cfg


def write(name, config, input_shape, seed, positive=False):
    g = torch.Generator().manual_seed(seed)
    params = R.init_params(config, seed)
    x = torch.randn(input_shape, generator=g)
    if positive:
        x = x.abs()
    with torch.no_grad():
        y = R.model_forward(config, x, params)
    with open(os.path.join(OUT, f'{name}.json'), 'w') as f:
        json.dump(config, f, indent=1)
    R.write_safetensors(os.path.join(OUT, f'{name}.safetensors'), params)
    R.write_safetensors(os.path.join(OUT, f'{name}.io.safetensors'), {'input': x, 'output': y})
    print(f'{name}: input {list(x.shape)} -> output {list(y.shape)}')


def write_cloud(name, config, B, P, seed, sizes=None):
    """A point-cloud case: random points (kept off the origin), features and, with `sizes`, a mask."""
    g = torch.Generator().manual_seed(seed)
    d = L.GROUPS[config['group']][0]
    params = L.init_params(config, seed)
    points = torch.randn(B, P, d, generator=g, dtype=torch.float64) * 1.5
    points = points + 0.2 * torch.sign(points)
    points = points.float()
    features = torch.randn(B, P, config['input']['channels'], generator=g).float()
    mask = None
    io = {'points': points, 'features': features}
    if sizes:
        mask = torch.zeros(B, P)
        for b, n in enumerate(sizes):
            mask[b, :n] = 1
        io['mask'] = mask
    with torch.no_grad():
        y = L.model_forward(config, points.double(), features.double(), mask, params)
    io['output'] = y.float()
    with open(os.path.join(OUT, f'{name}.json'), 'w') as f:
        json.dump(config, f, indent=1)
    R.write_safetensors(os.path.join(OUT, f'{name}.safetensors'), {k: v.float() for k, v in params.items()})
    R.write_safetensors(os.path.join(OUT, f'{name}.io.safetensors'), io)
    print(f'{name}: points {list(points.shape)} -> output {list(y.shape)}')


def cloud_cases():
    t = lambda ty, **kw: {'type': ty, **kw}
    lift = lambda samples, seed=7: t('lift', samples=samples, seed=seed)
    block = lambda **kw: t('lieTransformerBlock', **kw)
    return [
        ('cloud_lift_pool_SE3', model('SE(3)', 'points', 3, [lift(3), t('linear', **{'in': 3, 'out': 4}), t('silu'), t('globalPool', reduce='mean')]), 3, 5, [5, 3, 4]),
        ('cloud_layer_norm_T3', model('T(3)', 'points', 4, [lift(1), t('layerNorm', channels=4, eps=1e-5), t('globalPool', reduce='max')]), 2, 6, None),
        ('cloud_coordinates_T3', model('T(3)', 'points', 2, [lift(1), t('coordinates'), t('linear', **{'in': 5, 'out': 3}), t('globalPool', reduce='mean')]), 2, 4, [4, 2]),
        ('lieconv_SE2_global', model('SE(2)', 'points', 2, [lift(4), t('lieConv', **{'in': 2, 'out': 5, 'hidden': [8, 8], 'basis': 6}), t('globalPool', reduce='mean')]), 2, 6, [6, 4]),
        ('lieconv_SE3_knn', model('SE(3)', 'points', 3, [lift(2), t('lieConv', **{'in': 3, 'out': 4, 'hidden': [16], 'basis': 5, 'neighbours': {'k': 5}}), t('globalPool', reduce='mean')]), 2, 7, None),
        ('lieconv_SO3_global', model('SO(3)', 'points', 2, [lift(2), t('lieConv', **{'in': 2, 'out': 3, 'hidden': [8], 'basis': 4}), t('globalPool', reduce='mean')]), 2, 5, [5, 3]),
        ('attention_SE3_knn', model('SE(3)', 'points', 3, [lift(2), t('phi', omega={'kind': 'attention', 'in': 3, 'out': 4, 'heads': 2, 'dim': 3, 'bias': True, 'location': 'mlp', 'hidden': [8, 8]}, neighbours={'k': 6}), t('globalPool', reduce='mean')]), 2, 6, None),
        ('lietransformer_SE3_knn', model('SE(3)', 'points', 8, [lift(2), block(dim=8, heads=2, neighbours={'k': 5}), t('globalPool', reduce='mean')]), 2, 6, [6, 5]),
        ('lietransformer_SE2_dot_product', model('SE(2)', 'points', 6, [lift(3), block(dim=6, heads=3, normalise='dot_product', combine='product', hidden=[8]), t('globalPool', reduce='mean')]), 2, 5, [5, 4]),
        ('lietransformer_T3_norm_exp', model('T(3)', 'points', 4, [lift(1), block(dim=4, heads=1, normalise='norm_exp', mlp=6), t('globalPool', reduce='mean')]), 2, 6, None),
        ('lietransformer_content_only_T3', model('T(3)', 'points', 2, [lift(1), t('coordinates'), t('linear', **{'in': 5, 'out': 8}), block(dim=8, heads=2, location='none'), t('globalPool', reduce='mean'), t('linear', **{'in': 8, 'out': 3})]), 3, 4, [4, 3, 2]),
        ('lietransformer_model', model('SE(3)', 'points', 1, [lift(4, 3), t('linear', **{'in': 1, 'out': 16}), block(dim=16, heads=4, neighbours={'k': 8}), block(dim=16, heads=4, neighbours={'k': 8}), t('layerNorm', channels=16), t('globalPool', reduce='mean'),
                                                            t('linear', **{'in': 16, 'out': 16}), t('silu'), t('linear', **{'in': 16, 'out': 8})], name='LieTransformer'), 3, 9, [9, 7, 8]),
        ('lieconv_model', model('SE(3)', 'points', 1, [lift(4, 3), t('linear', **{'in': 1, 'out': 8}), t('lieConv', **{'in': 8, 'out': 8, 'hidden': [16, 16], 'basis': 8}), t('silu'), t('lieConv', **{'in': 8, 'out': 8, 'hidden': [16, 16], 'basis': 8}), t('silu'), t('globalPool', reduce='mean'),
                                                     t('linear', **{'in': 8, 'out': 8})], name='LieConv'), 3, 6, [6, 4, 5]),
    ]


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    conv = lambda t, **kw: {'type': t, **kw}
    cases = [
        ('lifting_p4_same', model('p4', 'image', 2, [conv('liftingConv', **{'in': 2, 'out': 3, 'kernel': 3, 'padding': 'same', 'bias': True})]), [2, 2, 9, 9]),
        ('lifting_p4m_valid', model('p4m', 'image', 2, [conv('liftingConv', **{'in': 2, 'out': 3, 'kernel': 3, 'padding': 'valid', 'bias': True})]), [2, 2, 8, 8]),
        ('lifting_p4_k4_stride2', model('p4', 'image', 1, [conv('liftingConv', **{'in': 1, 'out': 2, 'kernel': 4, 'padding': 1, 'stride': 2, 'bias': False})]), [2, 1, 10, 10]),
        ('gconv_p4_valid', model('p4', 'grid', 2, [conv('groupConv', **{'in': 2, 'out': 3, 'kernel': 3, 'padding': 'valid', 'bias': True})]), [2, 2, 4, 8, 8]),
        ('gconv_p4_same', model('p4', 'grid', 3, [conv('groupConv', **{'in': 3, 'out': 2, 'kernel': 3, 'padding': 'same', 'bias': True})]), [1, 3, 4, 7, 7]),
        ('gconv_p4m_k4', model('p4m', 'grid', 2, [conv('groupConv', **{'in': 2, 'out': 3, 'kernel': 4, 'padding': 'valid', 'bias': False})]), [1, 2, 8, 6, 6]),
        ('gconv_p4m_stride2', model('p4m', 'grid', 2, [conv('groupConv', **{'in': 2, 'out': 2, 'kernel': 3, 'padding': 1, 'stride': 2, 'bias': True})]), [2, 2, 8, 9, 9]),
        ('gconv_D4', model('D4', 'regular', 2, [conv('groupConv', **{'in': 2, 'out': 3, 'bias': True})]), [3, 2, 8]),
        ('gconv_S3', model('S3', 'regular', 3, [conv('groupConv', **{'in': 3, 'out': 2, 'bias': True})]), [4, 3, 6]),
        ('gconv_C5', model('C5', 'regular', 1, [conv('groupConv', **{'in': 1, 'out': 4, 'bias': False})]), [2, 1, 5]),
        ('group_pool_max', model('p4', 'grid', 3, [conv('groupPool', reduce='max')]), [2, 3, 4, 5, 5]),
        ('group_pool_mean', model('p4m', 'grid', 2, [conv('groupPool', reduce='mean')]), [2, 2, 8, 4, 4]),
        ('group_pool_regular', model('D4', 'regular', 3, [conv('groupPool', reduce='max')]), [2, 3, 8]),
        ('max_pool', model('p4', 'grid', 2, [conv('maxPool2d', size=2, stride=2)]), [2, 2, 4, 8, 8]),
        ('avg_pool_odd', model('p4', 'grid', 2, [conv('avgPool2d', size=3, stride=2)]), [1, 2, 4, 9, 9]),
        ('global_pool_mean', model('p4', 'grid', 2, [conv('globalPool', reduce='mean')]), [2, 2, 4, 5, 5]),
        ('global_pool_max', model('p4', 'image', 3, [conv('globalPool', reduce='max')]), [2, 3, 6, 6]),
        ('relu', model('p4m', 'grid', 2, [conv('relu')]), [2, 2, 8, 3, 3]),
        ('batch_norm', model('p4', 'grid', 3, [conv('batchNorm', channels=3, eps=1e-3)]), [2, 3, 4, 5, 5]),
        ('linear', model('p4', 'invariant', 6, [conv('linear', **{'in': 6, 'out': 4, 'bias': True})]), [5, 6]),
        ('flatten_linear', model('p4', 'image', 2, [conv('globalPool', reduce='mean'), conv('flatten'), conv('linear', **{'in': 2, 'out': 3})]), [2, 2, 4, 4]),
        ('p4cnn', R.p4cnn_config('p4'), [4, 1, 28, 28]),
        ('p4mcnn', R.p4cnn_config('p4m', channels=7, name='P4MCNN'), [3, 1, 28, 28]),
        ('z2cnn', R.p4cnn_config('z2', channels=22, name='Z2CNN'), [3, 1, 28, 28]),
        ('attention_D4', model('D4', 'regular', 3, [conv('groupAttention', **{'in': 3, 'out': 4, 'heads': 2, 'dim': 5})]), [3, 3, 8]),
        ('attention_S3_position_only', model('S3', 'regular', 2, [conv('groupAttention', **{'in': 2, 'out': 3, 'heads': 1, 'dim': 4, 'content': False})]), [2, 2, 6]),
        ('attention_network_C6', model('C6', 'regular', 2, [conv('groupConv', **{'in': 2, 'out': 4}), conv('relu'), conv('groupAttention', **{'in': 4, 'out': 4, 'heads': 2, 'dim': 3}), conv('groupPool', reduce='max'), conv('linear', **{'in': 4, 'out': 3})]), [4, 2, 6]),
    ]
    for i, (name, cfg, shape) in enumerate(cases):
        write(name, cfg, shape, seed=1000 + i)
    for i, (name, cfg, B, P, sizes) in enumerate(cloud_cases()):
        write_cloud(name, cfg, B, P, seed=2000 + i, sizes=sizes)


if __name__ == '__main__':
    main()
