"""Benchmark: ``train_gan`` on the chapter's toy problem against a plain hand-written loop.

``rows()`` times, in the same run, 200 iterations of Algorithm 1 (k = 1, minibatch 128,
non-saturating generator cost) on the two-Gaussian toy problem with the toy MLPs, once
with ``mlnotes_lib.gan.train_gan`` (which validates its inputs, records the history and
the generator's gradient norm, and uses Adam's fused kernel) and once with the loop one
writes from the paper: ``nn.BCELoss``, default ``torch.optim.Adam``, nothing recorded but
the two losses. Ours also skips the discriminator's weight gradients during the generator's
step (they are not needed). Both run on one thread. Seconds per 200 iterations, median of 3 repeats
after a warm-up. Target: ours no slower than 1.1x the plain loop.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from mlnotes_lib import gan
from mlnotes_lib._common import num_threads
from mlnotes_lib.experiments import gan as xgan
from timing import median_seconds, render_rows

STEPS = 200
BATCH = 128


def _median_seconds(fn: Callable[[], object], repeats: int = 3) -> float:
    return median_seconds(fn, repeats=repeats)


def _plain_loop(G: nn.Module, D: nn.Module, sample_data, sample_z) -> list[float]:
    """Algorithm 1, k = 1, as most tutorials write it."""
    bce = nn.BCELoss()
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-3, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-3, betas=(0.5, 0.999))
    ones, zeros = torch.ones(BATCH), torch.zeros(BATCH)
    g_losses = []
    for _ in range(STEPS):
        x = sample_data(BATCH)
        fake = G(sample_z(BATCH)).detach()
        loss_d = 0.5 * bce(D(x), ones) + 0.5 * bce(D(fake), zeros)
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        loss_g = bce(D(G(sample_z(BATCH))), ones)
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        g_losses.append(loss_g.item())
    return g_losses


def rows() -> list[dict]:
    with num_threads(1):
        sample_data = gan.mixture_sampler(xgan.TOY_MEANS, xgan.TOY_STD)

        def sample_z(m: int) -> torch.Tensor:
            return torch.randn(m, xgan.TOY_NZ)

        def nets():
            torch.manual_seed(0)
            return gan.toy_generator(xgan.TOY_NZ), gan.toy_discriminator(1)

        def ours() -> None:
            G, D = nets()
            xgan.train_gan(G, D, sample_data, sample_z, STEPS, 1, lr=2e-3, batch_size=BATCH)

        def ref() -> None:
            G, D = nets()
            _plain_loop(G, D, sample_data, sample_z)

        t_ours = _median_seconds(ours)
        t_ref = _median_seconds(ref)
    return [
        {
            "what": f"train_gan toy GAN, {STEPS} iterations k=1 batch {BATCH} (1 thread)",
            "ours": t_ours,
            "ref": t_ref,
            "unit": "s",
            "target": "ours <= 1.1x plain loop",
        }
    ]


if __name__ == "__main__":
    print(render_rows(rows()))
