"""mlnotes_lib.conv against torch: output sizes, padding values and gradients, bad input."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from mlnotes_lib import conv
from mlnotes_lib.exercises import conv as ex
from mlnotes_lib.experiments import conv as runs


@pytest.mark.parametrize(("s", "d"), [(1, 1), (2, 1), (3, 2), (2, 3)])
def test_conv_output_size_matches_nn_conv2d(s, d):
    for w, f, p in itertools.product(range(1, 12), range(1, 6), range(0, 3)):
        layer = nn.Conv2d(1, 1, f, stride=s, padding=p, dilation=d)
        if d * (f - 1) + 1 > w + 2 * p:
            with pytest.raises(ValueError, match=r"^f: the kernel .* is larger than the padded"):
                conv.conv_output_size(w, f, p, s, d)
            with pytest.raises(RuntimeError):
                layer(torch.zeros(1, 1, w, w))
            continue
        assert conv.conv_output_size(w, f, p, s, d) == layer(torch.zeros(1, 1, w, w)).shape[-1]


@pytest.mark.parametrize(("s", "d"), [(1, 1), (2, 1), (3, 1), (2, 2), (1, 3)])
def test_conv_transpose_output_size_matches_nn_conv_transpose2d(s, d):
    checked = 0
    for w, f, p, op in itertools.product(range(1, 9), range(1, 6), range(0, 3), range(0, 3)):
        if op >= max(s, d):
            with pytest.raises(ValueError, match=r"^output_padding must be smaller"):
                conv.conv_transpose_output_size(w, f, p, s, op, d)
            continue
        expected = s * (w - 1) - 2 * p + d * (f - 1) + op + 1
        if expected < 1:
            with pytest.raises(ValueError, match=r"^p: padding \d+ removes the whole output"):
                conv.conv_transpose_output_size(w, f, p, s, op, d)
            continue
        layer = nn.ConvTranspose2d(1, 1, f, stride=s, padding=p, output_padding=op, dilation=d)
        got = layer(torch.zeros(1, 1, w, w)).shape[-1]
        assert conv.conv_transpose_output_size(w, f, p, s, op, d) == got
        checked += 1
    assert checked > 100


def test_notes_transposed_formula_is_the_special_case():
    for w, f, p, s in itertools.product(range(1, 8), range(1, 6), range(0, 2), range(1, 4)):
        if s * (w - 1) + f - 2 * p >= 1:
            assert conv.conv_transpose_output_size(w, f, p, s) == s * (w - 1) + f - 2 * p


def test_output_padding_recovers_every_input_size_that_shares_an_output():
    f, p, s = 3, 1, 2
    for w in range(3, 20):
        o = conv.conv_output_size(w, f, p, s)
        op = (w + 2 * p - f) % s
        assert conv.conv_transpose_output_size(o, f, p, s, output_padding=op) == w


@pytest.mark.parametrize("mode", conv.PAD_MODES)
@pytest.mark.parametrize("pad", [0, 1, (1, 2, 0, 3), (3, 0, 2, 1), (5, 7, 5, 3)])
def test_pad2d_matches_f_pad_forward_and_backward(mode, pad):
    x = torch.randn(2, 3, 6, 8, dtype=torch.float64, requires_grad=True)
    pad4 = (pad,) * 4 if isinstance(pad, int) else pad
    ours = conv.pad2d(x, pad, mode)
    ref = F.pad(x, pad4, mode=conv.TORCH_PAD_MODE[mode])
    torch.testing.assert_close(ours, ref, rtol=0, atol=0)
    g = torch.randn_like(ref)
    (g_ours,) = torch.autograd.grad(ours, x, g)
    (g_ref,) = torch.autograd.grad(ref, x, g)
    torch.testing.assert_close(g_ours, g_ref)


@pytest.mark.parametrize("mode", conv.PAD_MODES)
def test_pad2d_handles_any_leading_dims_and_integer_dtypes(mode):
    x = torch.arange(5 * 7).reshape(5, 7)
    ref = F.pad(x[None, None].double(), (2, 3, 1, 4), mode=conv.TORCH_PAD_MODE[mode])[0, 0].long()
    assert torch.equal(conv.pad2d(x, (2, 3, 1, 4), mode), ref)
    y = torch.randn(2, 2, 2, 4, 5)
    assert conv.pad2d(y, 1, mode).shape == (2, 2, 2, 6, 7)


def test_reflection_letter_table_matches_the_notes():
    rows = runs.pad_letters(runs.letter_grid(6, 8), 2, "reflect")
    text = ["".join(r[:2]) + " " + "".join(r[2:-2]) + " " + "".join(r[-2:]) for r in rows]
    assert text == [
        "SR QRSTUVWX WV",
        "KJ IJKLMNOP ON",
        "CB ABCDEFGH GF",
        "KJ IJKLMNOP ON",
        "SR QRSTUVWX WV",
        "aZ YZabcdef ed",
        "ih ghijklmn ml",
        "qp opqrstuv ut",
        "ih ghijklmn ml",
        "aZ YZabcdef ed",
    ]


def test_pad_indices_by_hand():
    assert conv.pad_indices(5, 2, 2, "reflect").tolist() == [2, 1, 0, 1, 2, 3, 4, 3, 2]
    assert conv.pad_indices(5, 2, 2, "replicate").tolist() == [0, 0, 0, 1, 2, 3, 4, 4, 4]
    assert conv.pad_indices(5, 2, 2, "circular").tolist() == [3, 4, 0, 1, 2, 3, 4, 0, 1]
    assert conv.pad_indices(5, 2, 2, "zeros").tolist() == [-1, -1, 0, 1, 2, 3, 4, -1, -1]


# --- bad input: one test per rule, each checking the argument is named ---------------------


def test_kernel_larger_than_padded_input_is_rejected():
    with pytest.raises(ValueError, match=r"^f: the kernel .* is larger than the padded input"):
        conv.conv_output_size(4, 7, 1)
    with pytest.raises(ValueError, match=r"^f: the kernel \(effective size 7 with dilation 3\)"):
        conv.conv_output_size(5, 3, 0, 1, d=3)  # dilated span 7 > 5


@pytest.mark.parametrize("name", ["s", "d"])
def test_stride_or_dilation_below_one_is_rejected(name):
    for fn in (conv.conv_output_size, conv.conv_transpose_output_size):
        with pytest.raises(ValueError, match=rf"^{name} must be positive"):
            fn(8, 3, **{name: 0})


def test_negative_padding_is_rejected():
    with pytest.raises(ValueError, match=r"^p must be non-negative"):
        conv.conv_output_size(8, 3, p=-1)
    with pytest.raises(ValueError, match=r"^pad \(right\) must be non-negative"):
        conv.pad2d(torch.zeros(4, 4), (1, -1, 0, 0))


def test_non_integer_sizes_are_rejected():
    with pytest.raises(ValueError, match=r"^w must be an int"):
        conv.conv_output_size(8.0, 3)
    with pytest.raises(ValueError, match=r"^pad must be an int or \(left, right, top, bottom\)"):
        conv.pad2d(torch.zeros(4, 4), 1.5)


def test_unknown_mode_is_rejected():
    with pytest.raises(ValueError, match=r"^mode must be one of"):
        conv.pad2d(torch.zeros(4, 4), 1, "mirror")


def test_reflect_padding_not_smaller_than_input_is_rejected():
    with pytest.raises(ValueError, match=r"^pad: reflect padding .* must be smaller than"):
        conv.pad2d(torch.zeros(1, 3, 5), (0, 0, 3, 0), "reflect")
    with pytest.raises(RuntimeError):  # torch refuses too
        F.pad(torch.zeros(1, 1, 3, 5), (0, 0, 3, 0), mode="reflect")


def test_circular_padding_beyond_one_wrap_is_rejected():
    with pytest.raises(ValueError, match=r"^pad: circular padding .* must not exceed"):
        conv.pad2d(torch.zeros(1, 3, 5), (6, 0, 0, 0), "circular")


def test_output_padding_not_below_stride_or_dilation_is_rejected():
    with pytest.raises(ValueError, match=r"^output_padding must be smaller than max\(stride"):
        conv.conv_transpose_output_size(4, 3, 1, 2, output_padding=2)
    # allowed when smaller than the dilation, as torch allows it
    layer = nn.ConvTranspose2d(1, 1, 3, stride=1, padding=1, output_padding=1, dilation=2)
    expected = layer(torch.zeros(1, 1, 4, 4)).shape[-1]
    assert conv.conv_transpose_output_size(4, 3, 1, 1, output_padding=1, d=2) == expected


def test_pad2d_rejects_non_tensors_and_1d_input():
    with pytest.raises(ValueError, match=r"^x must be a torch\.Tensor"):
        conv.pad2d([[1, 2]], 1)
    with pytest.raises(ValueError, match=r"^x must have at least 2 dimensions"):
        conv.pad2d(torch.zeros(5), 1)


# --- exercise checkers ---------------------------------------------------------------------


def test_conv_size_checker_passes_a_correct_answer_and_names_mistakes():
    assert ex.check_conv_output_size(lambda w, f, p, s, d: (w + 2 * p - d * (f - 1) - 1) // s + 1)
    no_floor = ex.check_conv_output_size(
        lambda w, f, p, s, d: (w + 2 * p - d * (f - 1) - 1) / s + 1
    )
    assert not no_floor and no_floor.mistake == "a forgotten floor"
    no_dilation = ex.check_conv_output_size(lambda w, f, p, s, d: (w + 2 * p - f) // s + 1)
    assert no_dilation.mistake == "ignoring dilation"
    one_side = ex.check_conv_output_size(lambda w, f, p, s, d: (w + p - d * (f - 1) - 1) // s + 1)
    assert one_side.mistake == "padding on one side only"
    other = ex.check_conv_output_size(lambda w, f, p, s, d: 3)
    assert not other and other.mistake is None and "expected" in other.message


def test_reflect_checker_names_symmetric_padding():
    good = ex.check_reflect_index(lambda i, n: -i if i < 0 else (2 * (n - 1) - i if i >= n else i))
    assert good.passed
    sym = ex.check_reflect_index(lambda i, n: -i - 1 if i < 0 else (2 * n - 1 - i if i >= n else i))
    assert sym.mistake == "symmetric padding (edge repeated)"


def test_size_functions_accept_torch_argument_names():
    assert conv.conv_output_size(32, 3, padding=1, stride=2) == conv.conv_output_size(32, 3, 1, 2)
    assert conv.conv_output_size(9, 3, dilation=2) == 5
    assert conv.conv_transpose_output_size(4, 4, padding=1, stride=2) == 8
    with pytest.raises(ValueError, match=r"^padding: give p or padding, not both"):
        conv.conv_output_size(8, 3, 1, padding=1)


def test_pad_mode_map_names_a_torch_mode_for_every_mode():
    assert set(conv.TORCH_PAD_MODE) == set(conv.PAD_MODES)
    x = torch.randn(1, 1, 4, 5)
    for mode, torch_mode in conv.TORCH_PAD_MODE.items():
        torch.testing.assert_close(conv.pad2d(x, 2, mode), F.pad(x, (2,) * 4, mode=torch_mode))


def test_overlap_prediction_checker_accepts_any_rotation_and_explains_mistakes():
    assert ex.check_overlap_prediction([3, 2], f=5, s=2)
    assert ex.check_overlap_prediction([2, 3], f=5, s=2)
    assert ex.check_overlap_prediction([2, 2], f=4, s=2)
    wrong = ex.check_overlap_prediction([2.5], f=5, s=2)
    assert not wrong and wrong.mistake == "F / S everywhere" and "one period" in wrong.message
    assert not ex.check_overlap_prediction([2, 2], f=5, s=2)
