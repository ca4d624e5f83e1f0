"""DCGAN training speed: images per second at batch 128 for the paper's 64×64 model.

Ours is :func:`mlnotes_lib.experiments.dcgan.train_step` on
:class:`~mlnotes_lib.dcgan.Generator` and
:class:`~mlnotes_lib.dcgan.Discriminator` (ngf = ndf = 64, nc = 3) in channels-last memory
order. The reference is the same architecture written the straightforward way: two plain
``nn.Sequential`` stacks with default settings (biases everywhere, out-of-place
activations, contiguous tensors), ``F.binary_cross_entropy`` losses and the usual
training step. Both do exactly the same updates (same losses, same optimiser); ours
differs only in how the work is laid out:

- channels-last activations, which oneDNN's convolutions on CPUs (and cuDNN's on tensor
  cores) prefer;
- no bias in convolutions that batch norm follows (it would be cancelled anyway);
- in-place ReLU / LeakyReLU;
- the discriminator's weights frozen during the generator's step, so backpropagation
  through D computes only the input gradient.

Timings alternate ours and the reference after a warm-up step of each, and report the
median of the repeats, so both see the same machine load.
"""

from __future__ import annotations

import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from mlnotes_lib import dcgan
from mlnotes_lib.experiments import dcgan as xdcgan
from timing import render_rows

BATCH = 128
IMAGE_SIZE = 64
REPEATS = 2


def _reference_nets(nz=100, ngf=64, ndf=64, nc=3):
    G = nn.Sequential(
        nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0),
        nn.BatchNorm2d(ngf * 8),
        nn.ReLU(),
        nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1),
        nn.BatchNorm2d(ngf * 4),
        nn.ReLU(),
        nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1),
        nn.BatchNorm2d(ngf * 2),
        nn.ReLU(),
        nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1),
        nn.BatchNorm2d(ngf),
        nn.ReLU(),
        nn.ConvTranspose2d(ngf, nc, 4, 2, 1),
        nn.Tanh(),
    )
    D = nn.Sequential(
        nn.Conv2d(nc, ndf, 4, 2, 1),
        nn.LeakyReLU(0.2),
        nn.Conv2d(ndf, ndf * 2, 4, 2, 1),
        nn.BatchNorm2d(ndf * 2),
        nn.LeakyReLU(0.2),
        nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1),
        nn.BatchNorm2d(ndf * 4),
        nn.LeakyReLU(0.2),
        nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1),
        nn.BatchNorm2d(ndf * 8),
        nn.LeakyReLU(0.2),
        nn.Conv2d(ndf * 8, 1, 4, 1, 0),
        nn.Sigmoid(),
    )
    return G, D


def _reference_step(G, D, opt_g, opt_d, real, z):
    fake = G(z[:, :, None, None])
    d_real = D(real).view(-1)
    d_fake = D(fake.detach()).view(-1)
    d_loss = 0.5 * (
        F.binary_cross_entropy(d_real, torch.ones_like(d_real))
        + F.binary_cross_entropy(d_fake, torch.zeros_like(d_fake))
    )
    opt_d.zero_grad()
    d_loss.backward()
    opt_d.step()
    out = D(fake).view(-1)
    g_loss = F.binary_cross_entropy(out, torch.ones_like(out))
    opt_g.zero_grad()
    g_loss.backward()
    opt_g.step()
    return d_loss.item(), g_loss.item()


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def rows() -> list[dict]:
    torch.manual_seed(0)
    real = torch.rand(BATCH, 3, IMAGE_SIZE, IMAGE_SIZE) * 2 - 1
    z = torch.randn(BATCH, 100)

    G = dcgan.Generator(nz=100, ngf=64, nc=3, image_size=IMAGE_SIZE)
    D = dcgan.Discriminator(nc=3, ndf=64, image_size=IMAGE_SIZE)
    G.apply(dcgan.weights_init)
    D.apply(dcgan.weights_init)
    G.to(memory_format=torch.channels_last)
    D.to(memory_format=torch.channels_last)
    opts = dcgan.make_optimizers(G, D)
    real_cl = real.contiguous(memory_format=torch.channels_last)

    Gr, Dr = _reference_nets()
    Gr.apply(dcgan.weights_init)
    Dr.apply(dcgan.weights_init)
    opts_r = (
        torch.optim.Adam(Gr.parameters(), lr=2e-4, betas=(0.5, 0.999)),
        torch.optim.Adam(Dr.parameters(), lr=2e-4, betas=(0.5, 0.999)),
    )

    def ours():
        xdcgan.train_step(G, D, *opts, real_cl, z)

    def ref():
        _reference_step(Gr, Dr, *opts_r, real, z)

    ours()  # warm-up: allocations, oneDNN kernel selection
    ref()
    t_ours, t_ref = [], []
    for _ in range(REPEATS):
        t_ours.append(_timed(ours))
        t_ref.append(_timed(ref))
    return [
        {
            "what": f"DCGAN training, 64x64 model (ngf=ndf=64), batch {BATCH}, CPU",
            "ours": BATCH / statistics.median(t_ours),
            "ref": BATCH / statistics.median(t_ref),
            "unit": "img/s",
            "target": "ours >= 1.0x the plain nn.Sequential reference",
        }
    ]


if __name__ == "__main__":
    print(render_rows(rows()))
