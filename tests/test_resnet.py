"""Tests of mlnotes_lib.resnet: blocks against torch's functional ops, the identity at zero
residual weights, the figure-1 ordering, gradient measurements, bad input, and checkers."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from mlnotes_lib import resnet
from mlnotes_lib.data import load_digits
from mlnotes_lib.exercises import resnet as ex

pytestmark = pytest.mark.usefixtures("one_thread")


def _randomise_bn(module: torch.nn.Module, seed: int = 0) -> None:
    """Give every batch norm a non-trivial affine map and running statistics."""
    gen = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm1d | torch.nn.BatchNorm2d):
            c = m.num_features
            with torch.no_grad():
                m.weight.copy_(0.5 + torch.rand(c, generator=gen))
                m.bias.copy_(0.2 * torch.randn(c, generator=gen))
                m.running_mean.copy_(0.1 * torch.randn(c, generator=gen))
                m.running_var.copy_(0.5 + torch.rand(c, generator=gen))


def _bn(x, bn, training):
    return F.batch_norm(
        x,
        bn.running_mean.clone(),
        bn.running_var.clone(),
        bn.weight,
        bn.bias,
        training=training,
        momentum=bn.momentum,
        eps=bn.eps,
    )


def _reference_block(block, x, *, training, shortcut):
    """The block written out with torch.nn.functional, from the block's own parameters."""
    c1, c2 = block.layer1, block.layer2
    h = F.relu(_bn(F.conv2d(x, c1.weight, stride=block.stride, padding=1), block.bn1, training))
    h = _bn(F.conv2d(h, c2.weight, padding=1), block.bn2, training)
    if not shortcut:
        return F.relu(h)
    if isinstance(block.shortcut, torch.nn.Identity):
        return F.relu(h + x)
    conv, bn = block.shortcut
    return F.relu(h + _bn(F.conv2d(x, conv.weight, stride=block.stride), bn, training))


# ------------------------------------------------------------------------- blocks
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize(
    ("cls", "args"),
    [
        (resnet.ResidualBlock, (4,)),
        (resnet.ResidualBlock, (4, 6, 2)),
        (resnet.ResidualBlock, (4, 4, 2)),
        (resnet.PlainBlock, (4,)),
        (resnet.PlainBlock, (4, 6, 2)),
    ],
)
def test_block_matches_functional_torch_forward_and_backward(cls, args, training):
    torch.manual_seed(0)
    block = cls(*args).double()
    _randomise_bn(block)
    block.train(training)
    x = torch.randn(3, 4, 7, 7, dtype=torch.float64, requires_grad=True)
    ours = block(x)
    ref = _reference_block(block, x, training=training, shortcut=cls is resnet.ResidualBlock)
    torch.testing.assert_close(ours, ref)
    dy = torch.randn_like(ours)
    params = list(block.parameters())
    g_ours = torch.autograd.grad(ours, [x, *params], dy)
    g_ref = torch.autograd.grad(ref, [x, *params], dy)
    torch.testing.assert_close(g_ours, g_ref)


def test_residual_block_keeps_the_shape():
    x = torch.randn(2, 8, 5, 6)
    assert resnet.ResidualBlock(8)(x).shape == x.shape
    assert resnet.PlainBlock(8)(x).shape == x.shape
    assert isinstance(resnet.ResidualBlock(8).shortcut, torch.nn.Identity)


@pytest.mark.parametrize(("h", "stride"), [(7, 2), (8, 2), (9, 3), (5, 1)])
def test_projection_shortcut_changes_channels_and_resolution(h, stride):
    block = resnet.ResidualBlock(3, 5, stride=stride)
    out = block(torch.randn(2, 3, h, h))
    size = (h - 1) // stride + 1
    assert out.shape == (2, 5, size, size)
    conv = block.shortcut[0]
    assert conv.kernel_size == (1, 1) and conv.stride == (stride, stride)


def test_identity_shortcut_has_no_parameters_and_projection_has_1x1_plus_bn():
    same = sum(p.numel() for p in resnet.ResidualBlock(8).parameters())
    plain = sum(p.numel() for p in resnet.PlainBlock(8).parameters())
    assert same == plain == 9 * 8 * 8 * 2 + 4 * 8
    proj = sum(p.numel() for p in resnet.ResidualBlock(8, 16, 2).parameters())
    assert proj == 9 * 8 * 16 + 9 * 16 * 16 + 4 * 16 + 8 * 16 + 2 * 16


@pytest.mark.parametrize("training", [True, False])
def test_residual_block_is_exactly_the_identity_when_last_bn_weight_is_zero(training):
    torch.manual_seed(0)
    block = resnet.ResidualBlock(6)
    _randomise_bn(block)
    with torch.no_grad():
        block.bn2.weight.zero_()
        block.bn2.bias.zero_()
    block.train(training)
    x = torch.relu(torch.randn(4, 6, 5, 5))  # a previous block's output: nonnegative
    assert torch.equal(block.branch(x), torch.zeros_like(x))
    assert torch.equal(block(x), x)


def test_mlp_residual_block_is_the_identity_and_plain_block_dies_at_zero_weight():
    torch.manual_seed(0)
    res, plain = resnet.ResidualMLPBlock(5), resnet.PlainMLPBlock(5)
    for b in (res, plain):
        torch.nn.init.zeros_(b.bn2.weight)
    x = torch.relu(torch.randn(8, 5))
    assert torch.equal(res(x), x)
    assert torch.equal(plain(x), torch.zeros_like(x))  # relu(beta) = relu(0): no signal


def test_mlp_blocks_match_functional_torch():
    torch.manual_seed(1)
    block = resnet.ResidualMLPBlock(5).double()
    _randomise_bn(block)
    x = torch.randn(6, 5, dtype=torch.float64, requires_grad=True)
    h = F.relu(_bn(F.linear(x, block.layer1.weight), block.bn1, True))
    ref = F.relu(_bn(F.linear(h, block.layer2.weight), block.bn2, True) + x)
    ours = block(x)
    torch.testing.assert_close(ours, ref)
    torch.testing.assert_close(
        torch.autograd.grad(ours.sum(), x)[0], torch.autograd.grad(ref.sum(), x)[0]
    )


# ------------------------------------------------- pre-activation and bottleneck blocks
def _preact_reference(block, x, training):
    """x + conv(relu(bn(conv(relu(bn(x)))))), written out with torch.nn.functional."""
    h = F.relu(_bn(x, block.bn1, training))
    h = F.conv2d(h, block.conv1.weight, padding=1)
    h = F.relu(_bn(h, block.bn2, training))
    return x + F.conv2d(h, block.conv2.weight, padding=1)


def _bottleneck_reference(block, x, training):
    """relu(bn(conv1x1(relu(bn(conv3x3(relu(bn(conv1x1(x))))))) + x), with F.*."""
    h = F.relu(_bn(F.conv2d(x, block.conv1.weight), block.bn1, training))
    h = F.relu(_bn(F.conv2d(h, block.conv2.weight, padding=1), block.bn2, training))
    return F.relu(_bn(F.conv2d(h, block.conv3.weight), block.bn3, training) + x)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize(
    ("make", "reference"),
    [
        (lambda: resnet.PreActResidualBlock(4), _preact_reference),
        (lambda: resnet.BottleneckBlock(6, 3), _bottleneck_reference),
    ],
    ids=["preact", "bottleneck"],
)
def test_new_blocks_match_functional_torch_forward_and_backward(make, reference, training):
    torch.manual_seed(0)
    block = make().double()
    _randomise_bn(block)
    block.train(training)
    c = next(block.parameters()).shape[1] if isinstance(block, resnet.BottleneckBlock) else 4
    x = torch.randn(3, c, 6, 5, dtype=torch.float64, requires_grad=True)
    ours, ref = block(x), reference(block, x, training)
    assert ours.shape == x.shape
    torch.testing.assert_close(ours, ref)
    dy = torch.randn_like(ours)
    params = list(block.parameters())
    torch.testing.assert_close(
        torch.autograd.grad(ours, [x, *params], dy), torch.autograd.grad(ref, [x, *params], dy)
    )


def test_new_blocks_register_their_modules_in_the_order_they_run():
    names = [type(m).__name__ for m in resnet.PreActResidualBlock(4).children()]
    assert names == ["BatchNorm2d", "ReLU", "Conv2d", "BatchNorm2d", "ReLU", "Conv2d"]
    b = resnet.BottleneckBlock(8, 2)
    names = [type(m).__name__ for m in b.children()]
    assert names == ["Conv2d", "BatchNorm2d", "ReLU"] * 2 + ["Conv2d", "BatchNorm2d", "ReLU"]
    assert [m.kernel_size for m in b.children() if isinstance(m, torch.nn.Conv2d)] == [
        (1, 1),
        (3, 3),
        (1, 1),
    ]


def test_bottleneck_has_fewer_weights_than_two_3x3_convolutions():
    def conv_weights(m):
        return sum(c.weight.numel() for c in m.modules() if isinstance(c, torch.nn.Conv2d))

    bottle, basic = resnet.BottleneckBlock(256, 64), resnet.ResidualBlock(256)
    assert conv_weights(bottle) == 256 * 64 + 9 * 64 * 64 + 64 * 256
    assert conv_weights(basic) == 2 * 9 * 256 * 256
    bn_params = 2 * (64 + 64 + 256)
    assert sum(p.numel() for p in bottle.parameters()) == conv_weights(bottle) + bn_params


def test_preact_network_shapes_and_gradients_reach_every_block():
    torch.manual_seed(0)
    for kind, x in [("mlp", torch.randn(8, 64)), ("conv", torch.randn(8, 1, 8, 8))]:
        net = resnet.make_network(3, True, preact=True, kind=kind, width=4)
        assert net(x).shape == (8, 10)
        assert len(resnet._blocks(net)) == 3
        assert len(resnet._weight_layers(net)) == resnet.num_weight_layers(3)
    g = resnet.block_input_gradient_norms(
        resnet.make_network(4, True, preact=True, width=8),
        torch.randn(32, 64),
        torch.zeros(32, dtype=torch.long),
    )
    assert g.shape == (4,) and (g > 0).all()


# ----------------------------------------------------------------------- networks
@pytest.mark.parametrize("residual", [False, True])
@pytest.mark.parametrize("depth", [1, 4])
def test_make_network_shapes_and_layer_count(depth, residual):
    mlp = resnet.make_network(depth, residual)
    assert mlp(torch.randn(5, 64)).shape == (5, 10)
    conv = resnet.make_network(depth, residual, kind="conv", width=4)
    assert conv(torch.randn(5, 1, 8, 8)).shape == (5, 10)
    for net in (mlp, conv):
        assert len(resnet._weight_layers(net)) == resnet.num_weight_layers(depth) == 2 * depth + 2


def test_zero_init_residual_network_computes_stem_then_head():
    torch.manual_seed(0)
    net = resnet.make_network(6, True, zero_init_residual=True)
    x = torch.randn(10, 64)
    stem, head = net[:3], net[-1]
    torch.testing.assert_close(net(x), head(stem(x)))
    assert all(float(b.bn2.weight.detach().abs().max()) == 0 for b in resnet._blocks(net))
    # Plain networks ignore the flag: zero weights would make every block output 0.
    plain = resnet.make_network(2, False, zero_init_residual=True)
    assert all(bool((b.bn2.weight == 1).all()) for b in resnet._blocks(plain))


# ------------------------------------------------------------- gradients at init
def test_layer_gradient_norms_match_autograd():
    torch.manual_seed(0)
    net = resnet.make_network(3, True, width=8)
    x, y = torch.randn(16, 64), torch.randint(0, 10, (16,))
    ours = resnet.layer_gradient_norms(net, x, y)
    net.zero_grad()
    F.cross_entropy(net(x), y).backward()
    layers = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    ref = torch.stack([m.weight.grad.norm() for m in layers])
    assert ours.shape == (resnet.num_weight_layers(3),)
    torch.testing.assert_close(ours, ref)


def test_block_input_gradient_norms_match_autograd_and_are_flat_for_identity_blocks():
    torch.manual_seed(0)
    x, y = torch.randn(32, 64), torch.randint(0, 10, (32,))
    net = resnet.make_network(4, True, width=8)
    ours = resnet.block_input_gradient_norms(net, x, y)
    h = net[:3](x)
    acts = []
    for block in net[3:-1]:
        h.retain_grad()
        acts.append(h)
        h = block(h)
    F.cross_entropy(net[-1](h), y).backward()
    torch.testing.assert_close(ours, torch.stack([a.grad.norm() for a in acts]))
    flat = resnet.make_network(4, True, width=8, zero_init_residual=True)
    g = resnet.block_input_gradient_norms(flat, x, y)
    assert g.shape == (4,)
    torch.testing.assert_close(g, g[-1].expand(4), rtol=1e-6, atol=0)


def test_plain_gradients_explode_towards_the_input_residual_ones_grow_slowly():
    X, y = load_digits(flatten=True)
    ratio, weight_ratio = {}, {}
    for v, kw in resnet.VARIANTS.items():
        torch.manual_seed(0)
        net = resnet.make_network(16, width=16, **kw)
        g = resnet.block_input_gradient_norms(net, X[:256], y[:256])
        w = resnet.layer_gradient_norms(net, X[:256], y[:256])
        ratio[v], weight_ratio[v] = float(g[0] / g[-1]), float(w[0] / w[-1])
    assert ratio["plain"] > 100 and weight_ratio["plain"] > 100
    assert ratio["residual"] < ratio["plain"] / 5 and weight_ratio["residual"] < 10
    assert ratio["residual, zero-init"] == pytest.approx(1.0, rel=1e-6)


def test_block_output_stds_grow_only_in_residual_networks_with_unit_bn_weight():
    torch.manual_seed(0)
    x = torch.randn(256, 64)
    std = {
        v: resnet.block_output_stds(resnet.make_network(12, **kw, width=16), x)
        for v, kw in resnet.VARIANTS.items()
    }
    assert std["residual"][-1] > 2 * std["residual"][0]
    assert std["plain"][-1] < 1.5 * std["plain"][0]
    zero = std["residual, zero-init"]
    torch.testing.assert_close(zero, zero[:1].expand(12))


# ------------------------------------------------------------------------- fits
def test_power_law_and_exponential_fits_recover_their_parameters():
    from mlnotes_lib.experiments import resnet as xr

    depths = [2, 4, 8, 16]
    assert xr.power_law_exponent(depths, [3 * d**1.3 for d in depths]) == pytest.approx(1.3)
    assert xr.growth_per_block(depths, [0.5 * 1.7**d for d in depths]) == pytest.approx(1.7)
    with pytest.raises(ValueError, match=r"\bdepths\b"):
        xr.power_law_exponent([2], [1.0])


# ---------------------------------------------------------------------- training
def test_depth_experiment_takes_a_config_and_the_old_keywords_alike():
    from mlnotes_lib.experiments import resnet as xr

    X, y = load_digits(flatten=True)
    cfg = xr.DepthConfig(depths=[1], variants=["plain"], steps=5, width=4)
    new = xr.depth_experiment(X, y, config=cfg)
    old = resnet.depth_experiment(X, y, [1], variants=["plain"], steps=5, width=4)
    assert torch.equal(new.curves["plain", 1], old.curves["plain", 1])
    assert new.settings["steps"] == 5 and new.depths == [1] and new.variants == ["plain"]
    with pytest.raises(ValueError, match=r"\boverrides\b"):
        xr.depth_experiment(X, y, config=cfg, depth=3)


def test_train_classifier_is_deterministic_lowers_the_loss_and_restores_threads():
    X, y = load_digits(flatten=True)
    before = torch.get_num_threads()
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        net = resnet.make_network(1, True, width=8)
        runs.append(resnet.train_classifier(net, X, y, steps=30, seed=3))
    assert torch.get_num_threads() == before
    assert runs[0].shape == (30,)
    assert torch.equal(runs[0], runs[1])
    assert runs[0][-5:].mean() < 0.5 * runs[0][:5].mean()


# ---------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: resnet.make_network(0, True), "depth"),
        (lambda: resnet.make_network(2, True, width=0), "width"),
        (lambda: resnet.make_network(2, True, kind="rnn"), "kind"),
        (lambda: resnet.make_network(2, True, in_features=0), "in_features"),
        (lambda: resnet.make_network(2, True, num_classes=0), "num_classes"),
        (lambda: resnet.num_weight_layers(0), "depth"),
        (lambda: resnet.ResidualBlock(0), "channels"),
        (lambda: resnet.ResidualBlock(4, 0), "out_channels"),
        (lambda: resnet.ResidualBlock(4, 4, 0), "stride"),
        (lambda: resnet.PlainBlock(0), "channels"),
        (lambda: resnet.ResidualMLPBlock(0), "features"),
        (lambda: resnet.PlainMLPBlock(-3), "features"),
        (lambda: resnet.ResidualBlock(2.5), "channels"),
        (lambda: resnet.PreActResidualBlock(0), "channels"),
        (lambda: resnet.PreActMLPBlock(0), "features"),
        (lambda: resnet.BottleneckBlock(0, 4), "channels"),
        (lambda: resnet.BottleneckBlock(8, 0), "bottleneck_channels"),
        (lambda: resnet.make_network(2, False, preact=True), "preact"),
    ],
)
def test_bad_construction_raises_value_error_naming_the_argument(call, name):
    with pytest.raises(ValueError, match=rf"\b{name}\b"):
        call()


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"steps": 0}, "steps"),
        ({"steps": 5, "batch_size": 1}, "batch_size"),
        ({"steps": 5, "batch_size": 100}, "batch_size"),
        ({"steps": 5, "batch_size": 8, "lr": 0.0}, "lr"),
        ({"steps": 5, "batch_size": 8, "momentum": 1.0}, "momentum"),
    ],
)
def test_bad_training_settings_raise_value_error_naming_the_argument(kwargs, name):
    net = resnet.make_network(1, True, width=4)
    with pytest.raises(ValueError, match=rf"\b{name}\b"):
        resnet.train_classifier(
            net, torch.randn(20, 64), torch.zeros(20, dtype=torch.long), **kwargs
        )


def test_mismatched_labels_raise_value_error_naming_y():
    net = resnet.make_network(1, True, width=4)
    with pytest.raises(ValueError, match=r"\by\b"):
        resnet.training_loss(net, torch.randn(20, 64), torch.zeros(19, dtype=torch.long))


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"depths": [0]}, "depths"),
        ({"depths": []}, "depths"),
        ({"depths": [1], "variants": ["dense"]}, "variants"),
        ({"depths": [1], "variants": "plain"}, "variants"),
    ],
)
def test_bad_experiment_settings_raise_value_error_naming_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=rf"\b{name}\b"):
        resnet.depth_experiment(torch.randn(20, 64), torch.zeros(20, dtype=torch.long), **kwargs)


# ----------------------------------------------------------------------- checkers
def test_block_parameter_count_reference_is_torchs_count():
    assert ex.block_parameter_count(16, 32, 2) == 9 * 16 * 32 + 9 * 32 * 32 + 16 * 32 + 6 * 32
    for case in ex._COUNT_CASES:
        assert ex._count(*case) == ex.block_parameter_count(*case)


def test_check_block_parameter_count_passes_the_reference_and_names_mistakes():
    assert ex.check_block_parameter_count(lambda a, b, s: ex._count(a, b, s))
    for mistake in ex._COUNT_MISTAKES:
        result = ex.check_block_parameter_count(mistake.fn)
        assert not result
        assert result.mistake == mistake.name


def test_shortcut_gradient_reference_is_the_product_of_one_plus_w():
    w = torch.tensor([0.5, -0.2, 0.1, 0.3], dtype=torch.float64)
    torch.testing.assert_close(ex.shortcut_gradient(w, 1), torch.prod(1 + w[1:]))


def test_check_shortcut_gradient_passes_the_formula_and_names_mistakes():
    assert ex.check_shortcut_gradient(lambda w, l: torch.prod(1 + w[l:]))
    for mistake in ex._GRAD_MISTAKES:
        result = ex.check_shortcut_gradient(mistake.fn)
        assert not result
        assert result.mistake == mistake.name
    assert not ex.check_shortcut_gradient(lambda w, l: 0.0).mistake


# ---------------------------------------------------------------- the long-budget run
def test_committed_long_run_shows_degradation_in_every_seed_and_stays_small():
    from mlnotes_lib.experiments import resnet as xr

    assert xr.LONG_RUN.stat().st_size < 100_000
    long = xr.load_long_run()
    final = {(r["variant"], r["blocks"], r["seed"]): r["final_training_loss"] for r in long["runs"]}
    seeds = long["settings"]["seeds"]
    assert len(seeds) >= 3 and long["settings"]["steps"] >= 10 * 150
    for s in seeds:
        assert final["plain", 15, s] > 100 * final["plain", 3, s]  # worse, not slower
    every = long["settings"]["curve_every"]
    assert all(len(r["curve"]) == long["settings"]["steps"] // every for r in long["runs"])
