"""U-Net shapes, padding for odd sizes, and MAC counting."""

from __future__ import annotations

import pytest
import torch

from lava_spikingunet.ann.unet import UNet, UNetConfig, pad_amounts


@pytest.mark.parametrize("hw", [(16, 16), (17, 23), (41, 53), (5, 9), (1, 1)])
@pytest.mark.parametrize("depth", [1, 3])
def test_output_shape_any_size(hw, depth):
    net = UNet(UNetConfig(in_channels=3, out_channels=11, base_width=2, depth=depth))
    with torch.no_grad():
        y = net(torch.rand(2, 3, *hw))
    assert y.shape == (2, 11, *hw)


def test_padding_matches_unpadded_on_aligned_input():
    torch.manual_seed(0)
    net = UNet(UNetConfig(base_width=2, depth=2))
    x = torch.rand(1, 1, 12, 8)
    with torch.no_grad():
        assert torch.equal(net(x), net.forward_unpadded(x))


def test_pad_amounts():
    assert pad_amounts((17, 16), 8) == (7, 0)
    assert pad_amounts((584, 565), 16) == (8, 11)


def test_config_validation_and_dict():
    with pytest.raises(ValueError):
        UNetConfig(head_kernel=5)
    with pytest.raises(ValueError):
        UNetConfig(depth=0)
    cfg = UNetConfig(1, 1, 16, 3, 3, True)
    assert UNetConfig(**cfg.to_dict()) == cfg


def test_widths_params_and_macs():
    net = UNet(UNetConfig(base_width=16, depth=3))
    assert net.widths == [16, 32, 64, 128]
    assert sum(p.numel() for p in net.parameters()) == 535_633  # the baselines' size
    tiny = UNet(UNetConfig(base_width=1, depth=1))
    # enc 36+36, enc1 18+36, convT 2*9, dec 72+36, head 36 (worked by hand)
    assert tiny.count_macs(2, 2) == 288
