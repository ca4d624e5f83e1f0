"""``mlnotes-dcgan``: a run on an image folder, exact resume, torchrun/DDP, bad input, sampling.

Every run is tiny (32×32, ngf = ndf = 8, batch 16, a few steps) on a folder of a few hundred
PNGs the tests draw themselves, and writes only under pytest's tmp_path.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mlnotes_lib.cli import _runtime as rtm
from mlnotes_lib.cli import dcgan as cli
from mlnotes_lib.dcgan import Generator

TINY = ["--image-size", "32", "--ngf", "8", "--ndf", "8", "--batch-size", "16"]
QUIET = ["--no-progress", "--workers", "0", "--threads", "1"]
METRICS = ("d_loss", "g_loss", "d_real", "d_fake")


def _draw(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A bright disc on a dark background, (h, w, 3) uint8."""
    yy, xx = np.mgrid[:h, :w]
    cy, cx, r = rng.uniform(0.3, 0.7) * h, rng.uniform(0.3, 0.7) * w, rng.uniform(0.15, 0.3) * h
    disc = (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
    fg, bg = rng.integers(128, 256, 3), rng.integers(0, 64, 3)
    return np.where(disc[..., None], fg, bg).astype(np.uint8)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """240 readable 32×32 PNGs in sub-folders, 3 JPEG/WebP of other shapes, 2 corrupt files."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for i in range(240):
        sub = root / f"set{i % 3}" / ("deep" if i % 2 else "")
        sub.mkdir(parents=True, exist_ok=True)
        Image.fromarray(_draw(rng, 32, 32)).save(sub / f"{i}.png")
    Image.fromarray(_draw(rng, 40, 56)).save(root / "wide.JPG")
    Image.fromarray(_draw(rng, 64, 48)).save(root / "tall.webp")
    Image.fromarray(_draw(rng, 20, 20)).save(root / "small.jpeg")
    (root / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    buf = io.BytesIO()
    Image.fromarray(_draw(rng, 32, 32)).save(buf, format="JPEG")
    (root / "cut.jpg").write_bytes(buf.getvalue()[:30])  # a header and nothing else
    (root / "notes.txt").write_text("not an image, not counted")
    return root


def train(out: Path, data, *extra: str) -> int:
    return cli.main(["train", "--data", str(data), "--out", str(out), *TINY, *QUIET, *extra])


def records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


def curve(run: Path) -> np.ndarray:
    """(steps, 4): d_loss, g_loss, D(x), D(G(z)) of every logged step."""
    return np.array([[r[k] for k in METRICS] for r in records(run) if "d_loss" in r])


@pytest.fixture(scope="module")
def trained(folder, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("trained") / "run"
    every = ["--log-every", "1", "--sample-every", "2", "--checkpoint-every", "2"]
    assert train(run, folder, "--steps", "4", *every, "--workers", "2") == 0
    return run


def test_a_cpu_run_on_an_image_folder_writes_log_samples_and_checkpoints(trained, capsys):
    assert sorted(p.name for p in trained.parent.iterdir()) == ["run"]  # nothing outside
    names = {str(p.relative_to(trained)) for p in trained.rglob("*") if p.is_file()}
    assert names == {
        "run.json",
        "checkpoint.pt",
        "log.jsonl",
        "generator.pt",
        "samples/step_000002.png",
        "samples/step_000004.png",
    }
    log = records(trained)
    start = log[0]
    assert start["event"] == "start" and start["images"] == 243 and start["skipped_files"] == 2
    assert {Path(p).name for p in start["skipped"]} == {"broken.png", "cut.jpg"}
    steps = [r for r in log if "d_loss" in r]
    assert [r["step"] for r in steps] == [1, 2, 3, 4]
    assert all(0 < r["d_real"] < 1 and 0 < r["d_fake"] < 1 and r["images_per_s"] > 0 for r in steps)
    assert np.isfinite(curve(trained)).all()
    ckpt = torch.load(trained / "checkpoint.pt", weights_only=True)
    assert ckpt["step"] == 4 and ckpt["arch"] == {
        "image_size": 32,
        "nc": 3,
        "nz": 100,
        "ngf": 8,
        "ndf": 8,
    }
    G = Generator(nz=100, ngf=8, nc=3, image_size=32)
    G.load_state_dict(torch.load(trained / "generator.pt", weights_only=True))
    with Image.open(trained / "samples" / "step_000004.png") as im:
        assert im.size == (8 * 34 + 2, 8 * 34 + 2) and im.mode == "RGB"  # 64 images, 2 px gaps


def test_resume_is_bit_identical_to_an_uninterrupted_run(folder, tmp_path):
    # 15 batches of 16 per epoch: stop mid-epoch at step 5, resume across the epoch boundary
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert train(straight, folder, "--steps", "17", "--log-every", "1") == 0
    assert train(split, folder, "--steps", "5", "--log-every", "1") == 0
    assert train(split, folder, "--steps", "17", "--log-every", "1", "--resume") == 0
    a = torch.load(straight / "checkpoint.pt", weights_only=True)
    b = torch.load(split / "checkpoint.pt", weights_only=True)
    assert (a["step"], a["epoch"], a["batch"]) == (b["step"], b["epoch"], b["batch"]) == (17, 1, 2)
    for net in ("G", "D"):
        assert all(torch.equal(a[net][k], b[net][k]) for k in a[net]), net
    for opt in ("opt_g", "opt_d"):
        for i, state in a[opt]["state"].items():
            assert all(torch.equal(state[k], b[opt]["state"][i][k]) for k in state), opt
    assert torch.equal(a["gen_z"], b["gen_z"])
    np.testing.assert_array_equal(curve(straight), curve(split))  # the log is continued too


def test_a_kill_during_a_save_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    rtm.atomic_save({"step": 1, "w": torch.ones(3)}, path)

    def dies_half_way(obj, f):
        f.write(b"half a checkpoint")
        raise KeyboardInterrupt  # as a kill arrives during the write

    monkeypatch.setattr(torch, "save", dies_half_way)
    with pytest.raises(KeyboardInterrupt):
        rtm.atomic_save({"step": 2, "w": torch.zeros(3)}, path)
    monkeypatch.undo()
    assert torch.load(path, weights_only=True)["step"] == 1


def test_sample_writes_a_grid(trained, tmp_path):
    out = tmp_path / "grid.png"
    assert cli.main(["sample", str(trained), "--n", "10", "--out", str(out), "--nrow", "5"]) == 0
    with Image.open(out) as im:
        assert im.size == (5 * 34 + 2, 2 * 34 + 2)
        a = np.asarray(im)
    assert a.std() > 1, "generated images, not a blank page"


def test_bf16_autocast_runs_on_the_cpu(folder, tmp_path):
    # the mixed-precision code path of the GPU (autocast, float32 losses), on the CPU
    assert train(tmp_path / "run", folder, "--steps", "2", "--amp", "bf16", "--log-every", "1") == 0
    assert records(tmp_path / "run")[0]["amp"] == "bfloat16"
    assert np.isfinite(curve(tmp_path / "run")).all()


# ------------------------------------------------------------------------ torchrun and DDP


def _torchrun(out: Path, data: Path, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    cmd += ["-m", "mlnotes_lib.cli.dcgan", "train", "--data", str(data), "--out", str(out)]
    tmp = out.parent / f"tmp_{out.name}"  # torchrun's own log folders land here, not in /tmp
    tmp.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TMPDIR": str(tmp)}
    args = [*TINY, "--no-progress", "--workers", "0", "--log-every", "1", *extra]
    return subprocess.Popen(
        cmd + args,
        cwd=out.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, so a failed test can end it whole
    )


@pytest.mark.slow
def test_two_gloo_processes_stay_identical_and_follow_one_process(folder, tmp_path):
    """2 processes x 8 images against 1 process x 16: the same global batches and noise.

    With --sync-bn both runs compute the same function and only the order of float sums
    differs. Measured on this folder: at most 1.2e-7 over the 6 steps; on the digits, where
    Adam's first, normalised steps amplify rounding in near-zero gradients, up to 1.4e-4.
    The tolerance 1e-3 covers both and is still 10x below the gap of per-process batch norm.
    With per-process batch norm (the default) each half-batch is normalised by its own
    statistics, a different function: measured gaps are at most 0.010 (g_loss) over these 6
    steps, against step-to-step changes of 0.014-0.038; 0.05 allows 5x that.
    """
    steps = ["--steps", "6", "--checkpoint-every", "2"]
    runs = {name: tmp_path / name for name in ("per_process_bn", "sync_bn", "one")}
    for run in runs.values():
        run.parent.mkdir(exist_ok=True)
    procs = {
        "per_process_bn": _torchrun(runs["per_process_bn"], folder, *steps),
        "sync_bn": _torchrun(runs["sync_bn"], folder, *steps, "--sync-bn"),
    }
    try:
        assert train(runs["one"], folder, *steps, "--log-every", "1") == 0
        for name, proc in procs.items():
            output = proc.communicate(timeout=300)[0].decode()
            assert proc.returncode == 0, f"{name}: {output[-3000:]}"
    finally:
        for proc in procs.values():
            if proc.poll() is None:  # the launcher and its workers, started by this test
                os.killpg(proc.pid, signal.SIGKILL)
    for name in procs:
        checkpoints = [r for r in records(runs[name]) if r.get("event") == "checkpoint"]
        assert [r["step"] for r in checkpoints] == [2, 4, 6]
        assert all(len(r["param_sha256"]) == 2 and r["ranks_identical"] for r in checkpoints)
        assert torch.load(runs[name] / "checkpoint.pt", weights_only=True)["world_size"] == 2
    one = curve(runs["one"])
    assert one.shape == (6, 4)
    np.testing.assert_allclose(curve(runs["sync_bn"]), one, atol=1e-3, rtol=0)
    np.testing.assert_allclose(curve(runs["per_process_bn"]), one, atol=0.05, rtol=0)


# ------------------------------------------------------------------------------ bad input


def _fails(capsys, argv: list[str], pattern: str) -> None:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mlnotes-dcgan: error: "), err
    assert re.search(pattern, lines[0]), lines[0]


def _args(out: Path, data, *extra: str) -> list[str]:
    return ["train", "--data", str(data), "--out", str(out), *TINY, *QUIET, "--steps", "1", *extra]


def test_a_missing_or_empty_data_folder_is_refused(capsys, tmp_path):
    out = tmp_path / "run"
    _fails(capsys, _args(out, tmp_path / "nope"), r"no such folder")
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    _fails(capsys, _args(out, tmp_path / "empty"), r"no \.jpg/\.png/\.webp images")
    assert not out.exists(), "a refused run writes nothing"


def test_a_folder_of_only_corrupt_images_is_refused(capsys, tmp_path):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "a.png").write_bytes(b"garbage")
    (tmp_path / "bad" / "b.jpg").write_bytes(b"")
    _fails(capsys, _args(tmp_path / "run", tmp_path / "bad"), r"none of the 2 image files")


@pytest.mark.parametrize("size", ["48", "8", "0"])
def test_an_image_size_that_is_not_a_power_of_two_of_at_least_16_is_refused(capsys, size, folder):
    argv = _args(Path("unused"), folder)
    argv[argv.index("--image-size") + 1] = size
    _fails(capsys, argv, r"--image-size must be a power of two >= 16")


def test_a_batch_smaller_than_the_number_of_processes_is_refused(capsys, monkeypatch, folder):
    monkeypatch.setenv("WORLD_SIZE", "4")  # as torchrun --nproc_per_node=4 would set it
    argv = _args(Path("unused"), folder)
    argv[argv.index("--batch-size") + 1] = "2"
    _fails(capsys, argv, r"--batch-size 2 is smaller than the 4 processes")
    assert not torch.distributed.is_initialized(), "refused before joining a process group"
    argv[argv.index("--batch-size") + 1] = "6"
    _fails(capsys, argv, r"divisible by the 4 processes")


def test_resume_needs_a_readable_checkpoint_of_the_same_architecture(capsys, tmp_path, trained):
    _fails(
        capsys,
        _args(tmp_path / "fresh", "digits", "--resume"),
        r"no checkpoint\.pt in .*without --resume",
    )
    argv = _args(trained, "digits", "--resume")
    argv[argv.index("--ngf") + 1] = "16"
    _fails(capsys, argv, r"different architecture \(--ngf 8, not 16\)")
    (tmp_path / "corrupt").mkdir()
    (tmp_path / "corrupt" / "checkpoint.pt").write_bytes(b"half a checkpoint")
    _fails(capsys, _args(tmp_path / "corrupt", "digits", "--resume"), r"cannot read")


def test_an_out_folder_holding_another_run_needs_resume_or_overwrite(capsys, tmp_path, trained):
    _fails(capsys, _args(trained, "digits"), r"already holds a run: add --resume")
    _fails(capsys, _args(trained, "digits", "--resume", "--overwrite"), r"give one")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("keep me")
    _fails(capsys, _args(tmp_path / "mine", "digits"), r"not empty and holds no run")


def test_overwrite_replaces_only_the_runs_own_files(tmp_path, folder):
    run = tmp_path / "run"
    assert train(run, folder, "--steps", "1") == 0
    (run / "thesis.tex").write_text("keep me")
    assert train(run, folder, "--steps", "2", "--overwrite") == 0
    assert (run / "thesis.tex").read_text() == "keep me"
    assert [r["step"] for r in records(run) if "d_loss" in r] == [2]  # default --log-every 50


def test_a_torchvision_dataset_without_torchvision_names_the_install(capsys, tmp_path):
    try:
        import torchvision  # noqa: F401
    except Exception:
        _fails(capsys, _args(tmp_path / "run", "CIFAR10"), r"pip install torchvision")
    else:
        pytest.skip("torchvision is installed: the missing-package message cannot be shown")


def test_cuda_without_a_gpu_is_refused(capsys, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    argv = _args(tmp_path / "run", "digits", "--device", "cuda")
    _fails(capsys, argv, r"--device cuda: no CUDA device")
    _fails(capsys, _args(tmp_path / "run", "digits", "--amp", "fp16"), r"fp16 needs a CUDA")
    assert not (tmp_path / "run").exists(), "a refused run writes nothing"


def test_the_module_exits_with_2_and_one_line_without_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "mlnotes_lib.cli.dcgan", *_args(tmp_path / "r", tmp_path / "x")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "no such folder" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_help_lists_every_option_with_its_default():
    parser = cli.build_parser()
    train_parser = parser._subparsers._group_actions[0].choices["train"]
    text = train_parser.format_help()
    assert "--sync-bn" in text and "per process" in text and "torchrun" in text
    for action in train_parser._actions:
        if action.dest == "help":
            continue
        assert action.option_strings[0] in text
        assert "Default:" in action.help, action.option_strings


# --------------------------------------------------------------------------------- CUDA


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (none here)")
@pytest.mark.parametrize("amp", ["auto", "fp16"])
def test_cuda_mixed_precision_trains(folder, tmp_path, amp):
    run = tmp_path / "run"
    assert train(run, folder, "--steps", "3", "--device", "cuda", "--amp", amp) == 0
    start = records(run)[0]
    want = {"fp16": "float16"}.get(amp, "bfloat16" if torch.cuda.is_bf16_supported() else "float16")
    assert start["amp"] == want and start["channels_last"] and start["device"] == "cuda:0"
    assert np.isfinite(curve(run)).all()
