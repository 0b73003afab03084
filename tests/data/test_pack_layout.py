"""The device-side assembly of native-resolution groups equals the GeoTIFF path's nearest upsampling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from archlab.data.bigearthnet import PATCH_SIZE, S2_BANDS, native_size
from archlab.data.geotiff import upsample_nearest
from archlab.data.pack.samples import BandLayout

DEVICES = [
    "cpu",
    pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA")),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("side", [120, 60, 40, 30, 24, 20, 15, 12, 10, 8, 6, 5, 4, 3, 2, 1])
def test_assembly_is_i_div_k_for_every_divisor(side: int, device: str) -> None:
    g = torch.randint(0, 65535, (3, 2, side, side), dtype=torch.int32).to(torch.uint16)
    layout = BandLayout(["a", "b"], {"a": side, "b": side}, 120)
    out = layout.assemble([g.to(device)]).cpu()
    want = np.stack([[upsample_nearest(g[i, j].numpy(), 120) for j in range(2)] for i in range(3)])
    assert out.dtype == torch.float32 and out.shape == (3, 2, 120, 120)
    assert torch.equal(out, torch.from_numpy(want.astype(np.float32)))


def test_bigearthnet_groups_and_channel_order() -> None:
    bands = ["B12", "B01", "B04", "B8A", "B09", "B02"]
    layout = BandLayout(bands, {b: native_size(b) for b in S2_BANDS}, PATCH_SIZE)
    assert layout.groups == [(120, [2, 5]), (60, [0, 3]), (20, [1, 4])]
    rng = np.random.default_rng(0)
    groups = [rng.integers(0, 10_000, (4, len(ch), s, s), dtype=np.uint16) for s, ch in layout.groups]
    out = layout.assemble([torch.from_numpy(g) for g in groups])
    for (_side, channels), g in zip(layout.groups, groups):
        for j, c in enumerate(channels):
            for i in range(4):
                assert np.array_equal(out[i, c].numpy(), upsample_nearest(g[i, j], 120).astype(np.float32))


def test_a_side_that_does_not_divide_the_grid_is_one_line() -> None:
    with pytest.raises(ValueError, match=r"bands B05 \(7x7\) do not divide the 120x120 grid evenly"):
        BandLayout(["B02", "B05"], {"B02": 120, "B05": 7}, 120)
