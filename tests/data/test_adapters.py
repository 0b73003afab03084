"""Any torch Dataset of (image, target) tuples or torchgeo-style dicts plugs in as a TensorDataset."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

from archlab.data import TensorSplit
from archlab.data.adapters import from_torch_dataset


class Tuples(Dataset):
    """torchvision style: (uint16 C×H×W tensor, int class) with extra trailing fields."""

    def __init__(self, n: int, seed: int) -> None:
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randint(0, 1000, (n, 4, 5, 5), generator=g).to(torch.uint16)
        self.y = torch.randint(0, 3, (n,), generator=g)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int):
        return self.x[i], int(self.y[i]), f"file{i}.tif"


class Dicts(Dataset):
    """torchgeo style: {'image': float numpy H×W×... , 'label': long multi-hot}."""

    def __init__(self, n: int, k: int = 5, bad: dict | None = None) -> None:
        rng = np.random.default_rng(n)
        self.images = rng.random((n, 2, 6, 6)).astype(np.float32)
        self.labels = torch.from_numpy(rng.integers(0, 2, (n, k)))
        self.bad = bad or {}

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        if i in self.bad:
            return self.bad[i]
        return {"image": self.images[i], "label": self.labels[i], "mask": None}


def test_tuple_dataset_single_label_with_computed_statistics() -> None:
    train, test = Tuples(10, 0), Tuples(4, 1)
    ds = from_torch_dataset(train, test, ["a", "b", "c"])
    assert ds.task == "single_label" and ds.num_classes == 3 and ds.input_size == (4, 5, 5)
    x, y = ds.train[3]
    assert torch.equal(x, train.x[3]) and y.dtype == torch.int64 and int(y) == int(train.y[3])
    xf = train.x.double()
    assert torch.allclose(torch.tensor(ds.mean, dtype=torch.float64), xf.mean(dim=(0, 2, 3)))
    std = xf.permute(1, 0, 2, 3).reshape(4, -1).std(dim=1, unbiased=False)
    assert torch.allclose(torch.tensor(ds.std, dtype=torch.float64), std)
    assert ds.bands == ["band1", "band2", "band3", "band4"] and ds.scale == 1.0


def test_torchgeo_dict_dataset_multi_label_in_memory() -> None:
    ds = from_torch_dataset(Dicts(6), Dicts(3), list("vwxyz"), val=Dicts(2), bands=["B04", "B08"],
                            mean=[0.5, 0.5], std=[0.3, 0.3], in_memory=True)  # fmt: skip
    assert ds.task == "multi_label" and isinstance(ds.train, TensorSplit) and isinstance(ds.val, TensorSplit)
    assert (
        ds.train.x.shape == (6, 2, 6, 6) and ds.train.y.shape == (6, 5) and ds.train.y.dtype == torch.float32
    )
    lazy = from_torch_dataset(Dicts(6), Dicts(3), list("vwxyz"), mean=[0.5, 0.5], std=[0.3, 0.3])
    for i in range(6):
        x, y = lazy.train[i]
        assert torch.equal(x, ds.train.x[i]) and torch.equal(y, ds.train.y[i])
    assert torch.equal(ds.train.y, Dicts(6).labels.float())


def test_two_dimensional_image_gets_a_channel_axis() -> None:
    d = Dicts(3, bad={1: {"image": np.zeros((6, 6), np.float32), "label": torch.tensor([1, 0, 0, 0, 0])}})
    ds = from_torch_dataset(Dicts(3), d, list("vwxyz"), mean=[0.0, 0.0], std=[1.0, 1.0], task="multi_label")
    assert ds.test[1][0].shape == (1, 6, 6)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"image": np.zeros((2, 6, 6))}, "sample 1 is a dict without key\\(s\\) label"),
        (
            {"image": np.zeros((2, 6, 6)), "label": torch.ones(4)},
            "multi-hot target has 4 entries, expected 5",
        ),
        ({"image": np.zeros((2, 6, 6)), "label": torch.tensor([0, 2, 0, 0, 1])}, "must hold only 0 and 1"),
        ("just a string", "sample 1 is a str; expected \\(image, target\\)"),
    ],
)
def test_bad_samples_raise(bad, message: str) -> None:
    ds = from_torch_dataset(Dicts(3), Dicts(3, bad={1: bad}), list("vwxyz"), mean=[0, 0], std=[1, 1])
    with pytest.raises(ValueError, match=message):
        ds.test[1]


def test_single_label_index_out_of_range_and_bad_arguments() -> None:
    ds = from_torch_dataset(Tuples(5, 0), Tuples(5, 1), ["a", "b"], mean=[0] * 4, std=[1] * 4)
    bad = [i for i in range(5) if int(Tuples(5, 1).y[i]) == 2]
    with pytest.raises(ValueError, match="class index 2 outside 0..1"):
        ds.test[bad[0]]
    with pytest.raises(ValueError, match="give both mean and std"):
        from_torch_dataset(Tuples(5, 0), Tuples(5, 1), ["a", "b", "c"], mean=[0] * 4)
    with pytest.raises(ValueError, match="bands lists 2 names but the images have 4 channels"):
        from_torch_dataset(Tuples(5, 0), Tuples(5, 1), ["a", "b", "c"], bands=["x", "y"])
