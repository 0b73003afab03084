"""In-memory datasets: scikit-learn's digits, MNIST from ../shared/datasets, split and download errors."""

from __future__ import annotations

import socket
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from archlab.config import DataConfig, build_config, load_config
from archlab.data import TensorSplit, list_datasets, load_dataset
from archlab.data.datasets import carve_split, channel_stats


def rows(split: TensorSplit) -> Counter:
    """The multiset of (image, label) of a split, as bytes."""
    return Counter(x.numpy().tobytes() + bytes([int(y)]) for x, y in zip(split.x, split.y))


# ---- digits ---------------------------------------------------------------------------------------


def test_digits_sizes_types_and_range() -> None:
    ds = load_dataset(DataConfig())
    assert (len(ds.train), len(ds.test)) == (1437, 360)  # 1,797 images, 20 % held out
    assert ds.train.x.shape == (1437, 1, 8, 8) and ds.train.x.dtype == torch.uint8
    assert ds.train.y.dtype == torch.int64 and ds.test.y.dtype == torch.int64
    assert ds.input_size == (1, 8, 8) and ds.num_classes == 10
    assert ds.classes == [str(i) for i in range(10)] and ds.bands == ["gray"] and ds.val is None
    # Values 0..16 scaled by 255/16: the brightest pixel is exactly 255, every value a multiple of 255/16.
    x = torch.cat([ds.train.x, ds.test.x]).double()
    assert int(x.max()) == 255 and int(x.min()) == 0
    assert torch.equal(x, torch.round(torch.round(x * 16 / 255) * 255 / 16))


def test_digits_split_covers_every_image_once() -> None:
    """train + test is scikit-learn's 1,797 images, each exactly once (as a multiset of image, label)."""
    from sklearn.datasets import load_digits

    ds = load_dataset(DataConfig())
    full = load_digits()
    images = np.rint(full.images * (255.0 / 16.0)).astype(np.uint8)
    expected = Counter(img.tobytes() + bytes([int(y)]) for img, y in zip(images, full.target))
    assert rows(ds.train) + rows(ds.test) == expected


def test_digits_test_split_is_stratified() -> None:
    ds = load_dataset(DataConfig())
    train, test = torch.bincount(ds.train.y, minlength=10), torch.bincount(ds.test.y, minlength=10)
    share = test.double() / (train + test).double()
    assert torch.all((share - 0.2).abs() < 0.01), share


def test_digits_split_depends_on_split_seed_only() -> None:
    """Runs with different run.seed (and any global RNG state) compare on the same test set."""
    splits = []
    for run_seed in (0, 7):
        torch.manual_seed(run_seed + 100)
        np.random.seed(run_seed + 100)
        cfg = build_config({}, [f"run.seed={run_seed}"])
        splits.append(load_dataset(cfg.data))
    assert torch.equal(splits[0].test.x, splits[1].test.x) and torch.equal(splits[0].test.y, splits[1].test.y)
    assert torch.equal(splits[0].train.x, splits[1].train.x)
    other = load_dataset(build_config({}, ["data.split_seed=1"]).data)
    assert not torch.equal(other.test.y, splits[0].test.y)


def test_train_statistics_are_those_of_the_train_split() -> None:
    ds = load_dataset(DataConfig())
    x = ds.train.x.numpy().astype(np.float64) / 255.0
    assert ds.mean == pytest.approx([x.mean()], abs=1e-12)
    assert ds.std == pytest.approx([x.std(ddof=1)], abs=1e-12)


def test_channel_stats_per_channel() -> None:
    x = torch.zeros(2, 3, 2, 2, dtype=torch.uint8)
    x[:, 1] = 255
    x[0, 2], x[1, 2] = 0, 255
    mean, std = channel_stats(x, 255.0)
    assert mean == pytest.approx([0.0, 1.0, 0.5])
    assert std[0] == pytest.approx(1e-6) and std[1] == pytest.approx(1e-6)  # clamped, never 0
    assert std[2] == pytest.approx(np.std([0] * 4 + [1] * 4, ddof=1))


def test_val_split_is_carved_from_train() -> None:
    ds = load_dataset(DataConfig(val_split=0.1))
    assert ds.val is not None and (len(ds.train), len(ds.val), len(ds.test)) == (1293, 144, 360)
    assert rows(ds.train) + rows(ds.val) == rows(load_dataset(DataConfig()).train)  # val came out of train


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_bad_fractions(fraction: float) -> None:
    split = TensorSplit(torch.zeros(10, 1, 2, 2, dtype=torch.uint8), torch.arange(10) % 2)
    with pytest.raises(ValueError, match="data.test_split must be a fraction between 0 and 1"):
        carve_split(split, fraction, 0, "data.test_split")


def test_carve_split_sizes_sorted_and_disjoint() -> None:
    split = TensorSplit(torch.arange(20, dtype=torch.uint8).view(20, 1, 1, 1), torch.arange(20) % 2)
    keep, held = carve_split(split, 0.25, 3, "x")
    assert (len(keep), len(held)) == (15, 5)
    k, h = keep.x.flatten().tolist(), held.x.flatten().tolist()
    assert k == sorted(k) and h == sorted(h) and sorted(k + h) == list(range(20))


def test_unknown_dataset_suggests_the_closest() -> None:
    assert {"digits", "mnist", "fashion_mnist", "cifar10", "cifar100"} <= set(list_datasets())
    with pytest.raises(ValueError, match=r"unknown dataset 'mnst'; did you mean 'mnist'"):
        load_dataset(DataConfig(name="mnst"))


# ---- MNIST ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mnist(mnist_root: Path):
    return load_dataset(DataConfig(name="mnist", root=str(mnist_root), download=False))


def test_mnist_from_shared_datasets(mnist) -> None:
    assert (len(mnist.train), len(mnist.test)) == (60_000, 10_000)
    assert mnist.train.x.shape == (60_000, 1, 28, 28) and mnist.train.x.dtype == torch.uint8
    assert mnist.input_size == (1, 28, 28) and mnist.num_classes == 10
    # Well-known facts of the MNIST files: the first labels, class counts and pixel statistics.
    assert mnist.train.y[:5].tolist() == [5, 0, 4, 1, 9] and mnist.test.y[:5].tolist() == [7, 2, 1, 0, 4]
    assert torch.bincount(mnist.test.y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert mnist.mean[0] == pytest.approx(0.1307, abs=1e-4) and mnist.std[0] == pytest.approx(
        0.3081, abs=1e-4
    )


def test_mnist_configs_read_shared_datasets_relative_to_the_repo(
    repo_root: Path, configs_dir: Path, monkeypatch: pytest.MonkeyPatch, mnist_root: Path, mnist
) -> None:
    """``--set data.root=../shared/datasets`` from the repository root reads the same files."""
    monkeypatch.chdir(repo_root)
    cfg = load_config(
        configs_dir / "mnist" / "net3.yaml", ["data.root=../shared/datasets", "data.download=false"]
    )
    ds = load_dataset(cfg.data)
    assert torch.equal(ds.test.x, mnist.test.x) and torch.equal(ds.train.y, mnist.train.y)


def test_missing_mnist_without_download_names_the_folder(tmp_path: Path) -> None:
    root = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError) as info:
        load_dataset(DataConfig(name="mnist", root=str(root), download=False))
    message = str(info.value)
    assert str(root) in message and "MNIST/raw/" in message and "data.download=true" in message
    assert "\n" not in message


class _OfflineMnist:
    """Stands in for torchvision's MNIST: nothing on disk, and the download fails like a machine offline."""

    calls: list[bool] = []

    def __init__(self, root: str, train: bool, download: bool) -> None:
        type(self).calls.append(download)
        if not download:
            raise RuntimeError("Dataset not found. You can use download=True to download it")
        raise OSError("[Errno 101] Network is unreachable")


class _DownloadingMnist:
    """Stands in for torchvision's MNIST: missing on disk, then 'downloaded'."""

    def __init__(self, root: str, train: bool, download: bool) -> None:
        if not download:
            raise RuntimeError("Dataset not found. You can use download=True to download it")
        n = 6 if train else 4
        self.data = torch.full((n, 28, 28), 3, dtype=torch.uint8)
        self.targets = torch.arange(n) % 10
        self.classes = [str(i) for i in range(10)]


def test_missing_mnist_offline_gives_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision

    monkeypatch.setattr(torchvision.datasets, "MNIST", _OfflineMnist)
    _OfflineMnist.calls = []
    before = socket.getdefaulttimeout()
    with pytest.raises(FileNotFoundError) as info:
        load_dataset(DataConfig(name="mnist", root=str(tmp_path / "data"), download=True))
    message = str(info.value)
    assert "could not be downloaded (OSError)" in message and str(tmp_path / "data") in message
    assert "MNIST/raw/" in message and "\n" not in message
    assert _OfflineMnist.calls == [False, True]  # looked on disk first, then tried the network
    assert socket.getdefaulttimeout() == before


def test_missing_mnist_with_network_downloads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision

    monkeypatch.setattr(torchvision.datasets, "MNIST", _DownloadingMnist)
    ds = load_dataset(DataConfig(name="mnist", root=str(tmp_path), download=True))
    assert (len(ds.train), len(ds.test)) == (6, 4) and ds.train.x.shape == (6, 1, 28, 28)
    assert ds.mean == pytest.approx([3 / 255])
