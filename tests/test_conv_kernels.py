"""Our conv2d, conv_transpose2d and conv_matrix against torch, forward and backward; the
"same" padding, receptive-field and overlap-count arithmetic; bad input."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from mlnotes_lib import conv

STRIDES, PADDINGS, DILATIONS = (1, 2, 3, (1, 2)), (0, 1, (2, 0)), (1, (2, 1))
KERNELS = ((3, 3), (2, 4), (1, 1))


def _grads(out, inputs, g):
    return torch.autograd.grad(out, inputs, g)


def _settings(s):
    # Bias on alternate settings: each kernel shape meets both, at half the cost.
    for i, (p, d, k) in enumerate(itertools.product(PADDINGS, DILATIONS, KERNELS)):
        yield s, p, d, k, i % 2 == 1


@pytest.mark.parametrize("stride", STRIDES)
def test_conv2d_matches_f_conv2d_forward_and_backward(stride):
    gen = torch.Generator().manual_seed(0)
    checked = 0
    for s, p, d, k, with_bias in _settings(stride):
        x = torch.randn(2, 3, 9, 8, dtype=torch.float64, generator=gen, requires_grad=True)
        w = torch.randn(4, 3, *k, dtype=torch.float64, generator=gen, requires_grad=True)
        b = torch.randn(4, dtype=torch.float64, generator=gen, requires_grad=True)
        b = b if with_bias else None
        try:
            ref = F.conv2d(x, w, b, stride=s, padding=p, dilation=d)
        except RuntimeError:
            with pytest.raises(ValueError, match=r"^weight: the kernel spans"):
                conv.conv2d(x, w, b, stride=s, padding=p, dilation=d)
            continue
        ours = conv.conv2d(x, w, b, stride=s, padding=p, dilation=d)
        torch.testing.assert_close(ours, ref)
        g = torch.randn(ref.shape, dtype=torch.float64, generator=gen)
        inputs = (x, w) if b is None else (x, w, b)
        torch.testing.assert_close(_grads(ours, inputs, g), _grads(ref, inputs, g))
        checked += 1
    assert checked > 10


@pytest.mark.parametrize("block", [1, 7, 40])
def test_stride_1_convolutions_match_torch_when_worked_in_many_small_blocks(monkeypatch, block):
    """The stride-1 path works block by block of columns (1 MiB each); tiny blocks, with an
    uneven last one, give the same values and gradients (taps reach across block edges)."""
    monkeypatch.setattr(conv, "_BLOCK_ELEMENTS", block)
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(2, 3, 7, 6, dtype=torch.float64, generator=gen, requires_grad=True)
    for ours_fn, ref_fn, w_shape, kw in [
        (conv.conv2d, F.conv2d, (4, 3, 3, 2), {"padding": 1, "dilation": (1, 2)}),
        (conv.conv_transpose2d, F.conv_transpose2d, (3, 4, 3, 3), {"stride": 2, "padding": 1}),
    ]:
        w = torch.randn(*w_shape, dtype=torch.float64, generator=gen, requires_grad=True)
        ours, ref = ours_fn(x, w, **kw), ref_fn(x, w, **kw)
        torch.testing.assert_close(ours, ref)
        g = torch.randn(ref.shape, dtype=torch.float64, generator=gen)
        torch.testing.assert_close(_grads(ours, (x, w), g), _grads(ref, (x, w), g))


def test_conv2d_matches_nn_conv2d_in_float32_on_a_batch():
    layer = nn.Conv2d(16, 8, 3, padding=1)
    x = torch.randn(4, 16, 20, 20, requires_grad=True)
    ours = conv.conv2d(x, layer.weight, layer.bias, padding=1)
    ref = layer(x)
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-4)
    g = torch.randn_like(ref)
    params = (x, layer.weight, layer.bias)
    torch.testing.assert_close(
        _grads(ours, params, g), _grads(ref, params, g), rtol=1e-4, atol=1e-3
    )


@pytest.mark.parametrize("f", range(1, 7))
@pytest.mark.parametrize("d", [1, 2, 3])
def test_same_padding_is_where_torch_puts_it(f, d):
    x = torch.randn(1, 2, 11, 10, dtype=torch.float64)
    w = torch.randn(3, 2, f, f + 1, dtype=torch.float64)
    ref = F.conv2d(x, w, padding="same", dilation=d)
    torch.testing.assert_close(conv.conv2d(x, w, padding="same", dilation=d), ref)
    (top, bottom), (left, right) = conv.same_padding(f, d), conv.same_padding(f + 1, d)
    assert top + bottom == d * (f - 1) and right - left in (0, 1)
    manual = conv.conv2d(conv.pad2d(x, (left, right, top, bottom)), w, dilation=d)
    torch.testing.assert_close(manual, ref)
    layer = nn.Conv2d(2, 3, (f, f + 1), padding="same", dilation=d, bias=False)
    assert layer._reversed_padding_repeated_twice == [left, right, top, bottom]


@pytest.mark.parametrize("stride", STRIDES)
def test_conv_transpose2d_matches_f_conv_transpose2d_forward_and_backward(stride):
    gen = torch.Generator().manual_seed(1)
    checked = 0
    for (s, p, d, k, with_bias), op in itertools.product(_settings(stride), (0, 1)):
        x = torch.randn(2, 3, 4, 5, dtype=torch.float64, generator=gen, requires_grad=True)
        w = torch.randn(3, 2, *k, dtype=torch.float64, generator=gen, requires_grad=True)
        b = torch.randn(2, dtype=torch.float64, generator=gen) if with_bias else None
        kw = {"stride": s, "padding": p, "output_padding": op, "dilation": d}
        try:
            ref = F.conv_transpose2d(x, w, b, **kw)
        except RuntimeError:
            rule = r"^(output_padding must be smaller|padding \d removes the whole output)"
            with pytest.raises(ValueError, match=rule):
                conv.conv_transpose2d(x, w, b, **kw)
            continue
        if ref.numel() == 0:
            continue
        ours = conv.conv_transpose2d(x, w, b, **kw)
        torch.testing.assert_close(ours, ref)
        g = torch.randn(ref.shape, dtype=torch.float64, generator=gen)
        torch.testing.assert_close(_grads(ours, (x, w), g), _grads(ref, (x, w), g))
        checked += 1
    assert checked > 15


def test_the_gradient_of_conv2d_is_conv_transpose2d_of_the_output_gradient():
    x = torch.randn(2, 3, 9, 9, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 3, 3, 3, dtype=torch.float64)
    y = conv.conv2d(x, w, stride=2, padding=1)
    g = torch.randn_like(y)
    (gx,) = torch.autograd.grad(y, x, g)
    op = (9 + 2 - 3) % 2
    torch.testing.assert_close(
        gx, conv.conv_transpose2d(g, w, stride=2, padding=1, output_padding=op)
    )


@pytest.mark.parametrize(("s", "p", "d"), list(itertools.product((1, 2, 3), (0, 1, 2), (1, 2))))
def test_conv_matrix_is_conv2d_and_its_transpose_is_conv_transpose2d(s, p, d):
    kernel = torch.randn(3, 2, dtype=torch.float64)
    h, w = 7, 8
    c = conv.conv_matrix(kernel, (h, w), stride=s, padding=p, dilation=d)
    x = torch.randn(h, w, dtype=torch.float64)
    y = conv.conv2d(x[None, None], kernel[None, None], stride=s, padding=p, dilation=d)
    assert c.shape == (y.numel(), h * w)
    torch.testing.assert_close(c @ x.flatten(), y.flatten())
    v = torch.randn_like(y)
    # output_padding returns the rows and columns that the floor of the forward size dropped
    op = tuple((n + 2 * p - d * (k - 1) - 1) % s for n, k in zip((h, w), kernel.shape, strict=True))
    back = conv.conv_transpose2d(v, kernel[None, None], stride=s, padding=p, dilation=d,
                                 output_padding=op)  # fmt: skip
    torch.testing.assert_close((c.T @ v.flatten()).view(h, w), back[0, 0])


def test_conv_matrix_of_a_4x4_input_and_3x3_kernel_by_hand():
    c = conv.conv_matrix(torch.arange(1.0, 10.0).view(3, 3), (4, 4))
    assert c[0].tolist() == [1, 2, 3, 0, 4, 5, 6, 0, 7, 8, 9, 0, 0, 0, 0, 0]
    assert c[3].tolist() == [0, 0, 0, 0, 0, 1, 2, 3, 0, 4, 5, 6, 0, 7, 8, 9]
    kernel = torch.randn(3, 3, requires_grad=True)
    (conv.conv_matrix(kernel, (4, 4)).sum()).backward()
    assert kernel.grad.tolist() == [[4.0] * 3] * 3  # every tap appears once per output


def test_receptive_field_by_formula_and_by_autograd():
    stacks = [[(3, 1)] * 4, [(4, 2)] * 4 + [(4, 1)], [(7, 2), (3, 2)] + [(3, 1)] * 6,
              [(3, 1, 2), (3, 1, 4)], [(2, 2), (3, 1, 2), (1, 1)]]  # fmt: skip
    for layers in stacks:
        x = torch.ones(1, 1, 300, 300, dtype=torch.float64, requires_grad=True)
        h = x
        for f, s, *d in layers:
            h = conv.conv2d(h, torch.ones(1, 1, f, f, dtype=torch.float64), stride=s,
                            dilation=d[0] if d else 1)  # fmt: skip
        h[0, 0, h.shape[-2] // 2, h.shape[-1] // 2].backward()
        seen = (x.grad[0, 0].sum(0) != 0).nonzero().flatten()  # dilation leaves holes
        size = int(seen.max() - seen.min() + 1)
        jump = 1
        for _, s, *_ in layers:
            jump *= s
        assert conv.receptive_field(layers) == (size, jump), layers
    assert conv.receptive_field([(4, 2)] * 4 + [(4, 1)]) == (94, 16)
    assert conv.receptive_field([]) == (1, 1)


def test_overlap_counts_are_a_transposed_convolution_of_ones():
    for w, f, s, p, op in itertools.product((1, 3, 6), (1, 2, 3, 4, 5), (1, 2, 3), (0, 1), (0, 1)):
        if op >= s or s * (w - 1) + f - 2 * p + op < 1:
            continue
        ref = F.conv_transpose2d(torch.ones(1, 1, 1, w), torch.ones(1, 1, 1, f), stride=(1, s),
                                 padding=(0, p), output_padding=(0, op))  # fmt: skip
        counts = conv.overlap_counts(w, f, s, p, op)
        assert counts.dtype == torch.int64
        assert counts.tolist() == ref.flatten().round().long().tolist(), (w, f, s, p, op)


def test_overlap_counts_show_the_checkerboard_only_when_s_does_not_divide_f():
    assert conv.overlap_counts(8, 3, 2, p=1, output_padding=1).tolist()[2:-2] == [1, 2] * 6
    assert set(conv.overlap_counts(8, 4, 2, p=1).tolist()[2:-2]) == {2}
    assert set(conv.overlap_counts(8, 6, 3).tolist()[6:-6]) == {2}


# --- bad input: one rule per test, each message naming its argument ----------------------


def test_conv2d_rejects_channel_counts_that_do_not_match_weight():
    with pytest.raises(ValueError, match=r"^weight: expects 3 input channels"):
        conv.conv2d(torch.zeros(1, 2, 5, 5), torch.zeros(4, 3, 3, 3))
    with pytest.raises(ValueError, match=r"^weight: expects 3 input channels"):
        conv.conv_transpose2d(torch.zeros(1, 2, 5, 5), torch.zeros(3, 4, 3, 3))


def test_same_padding_with_a_stride_is_rejected_as_torch_does():
    with pytest.raises(ValueError, match=r"^padding='same' needs stride 1"):
        conv.conv2d(torch.zeros(1, 1, 5, 5), torch.zeros(1, 1, 3, 3), stride=2, padding="same")
    with pytest.raises(RuntimeError):
        F.conv2d(torch.zeros(1, 1, 5, 5), torch.zeros(1, 1, 3, 3), stride=2, padding="same")
    with pytest.raises(ValueError, match=r"^padding must be an int, a pair or 'same'"):
        conv.conv2d(torch.zeros(1, 1, 5, 5), torch.zeros(1, 1, 3, 3), padding="valid!")


def test_kernel_larger_than_the_padded_input_is_rejected_naming_weight():
    with pytest.raises(ValueError, match=r"^weight: the kernel spans 5x5 cells"):
        conv.conv2d(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 3, 3), dilation=2)


@pytest.mark.parametrize("name", ["stride", "dilation"])
def test_stride_or_dilation_below_one_is_rejected(name):
    x, w = torch.zeros(1, 1, 5, 5), torch.zeros(1, 1, 3, 3)
    for fn in (conv.conv2d, conv.conv_transpose2d):
        with pytest.raises(ValueError, match=rf"^{name} must be positive"):
            fn(x, w, **{name: 0})
    with pytest.raises(ValueError, match=rf"^{name} must be positive"):
        conv.conv_matrix(w[0, 0], (5, 5), **{name: (1, 0)})


def test_negative_padding_is_rejected():
    x, w = torch.zeros(1, 1, 5, 5), torch.zeros(1, 1, 3, 3)
    for fn in (conv.conv2d, conv.conv_transpose2d):
        with pytest.raises(ValueError, match=r"^padding must be non-negative"):
            fn(x, w, padding=-1)
    with pytest.raises(ValueError, match=r"^padding must be an int or a pair"):
        conv.conv2d(x, w, padding=(1, 1, 1))


def test_output_padding_not_below_stride_or_dilation_is_rejected():
    with pytest.raises(ValueError, match=r"^output_padding must be smaller than max\(stride"):
        conv.conv_transpose2d(torch.zeros(1, 1, 3, 3), torch.zeros(1, 1, 3, 3), stride=2,
                              output_padding=2)  # fmt: skip
    with pytest.raises(ValueError, match=r"^output_padding must be smaller"):
        conv.overlap_counts(4, 3, 2, output_padding=2)


def test_padding_that_removes_the_whole_output_is_rejected():
    with pytest.raises(ValueError, match=r"^padding 3 removes the whole output"):
        conv.conv_transpose2d(torch.zeros(1, 1, 1, 1), torch.zeros(1, 1, 2, 2), padding=3)


def test_malformed_tensors_and_bias_are_rejected():
    with pytest.raises(ValueError, match=r"^x must be a 4-D tensor"):
        conv.conv2d(torch.zeros(1, 5, 5), torch.zeros(1, 1, 3, 3))
    with pytest.raises(ValueError, match=r"^weight must be a 4-D tensor"):
        conv.conv2d(torch.zeros(1, 1, 5, 5), [[1.0]])
    with pytest.raises(ValueError, match=r"^bias must have shape \(4,\)"):
        conv.conv2d(torch.zeros(1, 1, 5, 5), torch.zeros(4, 1, 3, 3), torch.zeros(3))
    with pytest.raises(ValueError, match=r"^weight must be a 2-D tensor"):
        conv.conv_matrix(torch.zeros(1, 3, 3), (4, 4))


def test_same_padding_and_receptive_field_reject_bad_layers():
    with pytest.raises(ValueError, match=r"^f must be positive"):
        conv.same_padding(0)
    with pytest.raises(ValueError, match=r"^layers\[1\] must be \(f, s\) or \(f, s, d\)"):
        conv.receptive_field([(3, 1), (3,)])
    with pytest.raises(ValueError, match=r"^s must be positive"):
        conv.receptive_field([(3, 0)])
    with pytest.raises(ValueError, match=r"^layers must be a sequence"):
        conv.receptive_field(3)
