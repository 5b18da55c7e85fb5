"""The paper's U-Net (DESIGN.md section 2), with base width and depth as parameters.

Structure, for depth ``D`` and base width ``w``::

    enc[0]:  conv3x3(in -> w) ReLU, conv3x3(w -> w) ReLU
    for i = 1..D:   pool[i-1] = AvgPool2d(2) then ReLU-free re-spike point,
                    enc[i]: conv3x3(w 2^(i-1) -> w 2^i) ReLU, conv3x3 ReLU
    for i = D-1..0: up[i]  = ConvTranspose2d(k=3, s=2, p=1, op=1) halving channels, ReLU
                    dec[i] = conv3x3(cat(skip_i, up_i)) ReLU, conv3x3 ReLU
    head: conv (1x1 for segmentation, 3x3 for denoising), no activation

No BatchNorm. Activation points (where a spiking neuron sits after conversion) are
named in :meth:`UNet.activation_names`. Inputs whose size does not divide by 2^depth
are padded (reflect) and cropped back in :meth:`forward`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class UNetConfig:
    in_channels: int = 1
    out_channels: int = 1
    base_width: int = 16
    depth: int = 4
    head_kernel: int = 3  # 3 for denoising, 1 for segmentation
    residual: bool = False  # denoising: the net predicts the noise
    activation: str = "relu"  # "relu" or "ilif" (integer-valued, docs/ilif.md)
    levels: int = 0  # I-LIF count levels D = 2^N - 1 (activation "ilif" only)

    def __post_init__(self) -> None:
        for name in ("in_channels", "out_channels", "base_width", "depth"):
            if getattr(self, name) < 1:
                raise ValueError(f"UNetConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.head_kernel not in (1, 3):
            raise ValueError(f"UNetConfig.head_kernel must be 1 or 3, got {self.head_kernel}")
        if self.activation not in ("relu", "ilif"):
            raise ValueError(f"UNetConfig.activation must be relu or ilif, got {self.activation!r}")
        if self.activation == "ilif":
            from lava_spikingunet.ann.ilif import levels_to_thresholds

            levels_to_thresholds(self.levels)
        elif self.levels:
            raise ValueError("UNetConfig.levels is for activation 'ilif' only")

    def to_dict(self) -> dict:
        return asdict(self)


def conv3x3(c_in: int, c_out: int) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, bias=True)


class DoubleConv(nn.Module):
    """Two 3x3 convs (padding 1, bias), each followed by ReLU."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv1 = conv3x3(c_in, c_out)
        self.conv2 = conv3x3(c_out, c_out)

    def forward(self, x: torch.Tensor, act1=F.relu, act2=F.relu, conv=None) -> torch.Tensor:
        """``conv(name, module, x)`` applies a conv (default: the module itself; the U-Net
        passes one that rounds the weights in weight-aware training)."""
        if conv is None:
            return act2(self.conv2(act1(self.conv1(x))))
        return act2(conv("conv2", self.conv2, act1(conv("conv1", self.conv1, x))))


class UNet(nn.Module):
    """Classic U-Net with avg-pool down, transposed-conv up and concat skips."""

    def __init__(self, config: UNetConfig | None = None, **kwargs) -> None:
        super().__init__()
        self.config = config if config is not None else UNetConfig(**kwargs)
        cfg = self.config
        widths = [cfg.base_width * 2**i for i in range(cfg.depth + 1)]
        self.widths = widths
        self.enc = nn.ModuleList([DoubleConv(cfg.in_channels, widths[0])])
        self.enc.extend(DoubleConv(widths[i - 1], widths[i]) for i in range(1, cfg.depth + 1))
        self.up = nn.ModuleList(
            nn.ConvTranspose2d(widths[i + 1], widths[i], 3, stride=2, padding=1, output_padding=1)
            for i in range(cfg.depth)
        )
        self.dec = nn.ModuleList(DoubleConv(2 * widths[i], widths[i]) for i in range(cfg.depth))
        self.head = nn.Conv2d(
            widths[0], cfg.out_channels, cfg.head_kernel, padding=cfg.head_kernel // 2
        )
        #: ``(key, weight) -> weight`` used in place of each conv's weight (weight-aware
        #: I-LIF training, :mod:`lava_spikingunet.ann.weight_quant`); not in the state dict
        self.weight_quant = None
        if cfg.activation == "ilif":
            from lava_spikingunet.ann.ilif import ILIF, point_key

            self.ilif = nn.ModuleDict(
                {point_key(n): ILIF(cfg.levels) for n in activation_points(cfg.depth)}
            )

    def _act(self, name: str):
        """The activation at point ``name``: ReLU (identity after a pool) or I-LIF."""
        if self.config.activation == "ilif":
            return self.ilif[name.replace(".", "_")]
        return (lambda h: h) if name.startswith("pool") else F.relu

    @property
    def size_multiple(self) -> int:
        return 2**self.config.depth

    def forward_unpadded(self, x: torch.Tensor) -> torch.Tensor:
        """Forward pass for inputs whose H and W divide by ``2**depth``."""
        q, act = self.weight_quant, self._act

        def conv(key: str, m: nn.Module, h: torch.Tensor) -> torch.Tensor:
            if q is None:
                return m(h)
            if isinstance(m, nn.ConvTranspose2d):
                w = q(key, m.weight)
                return F.conv_transpose2d(h, w, m.bias, m.stride, m.padding, m.output_padding)
            return F.conv2d(h, q(key, m.weight), m.bias, m.stride, m.padding)

        def in_block(prefix: str):
            """A block's convs (module hooks fire: calibration records through them)."""
            return None if q is None else (lambda k, m, h: conv(f"{prefix}.{k}", m, h))

        skips = []
        h = x
        for i, block in enumerate(self.enc):
            if i > 0:
                h = F.avg_pool2d(h, 2)
                if q is not None:  # the pool edge's rounded 1/4
                    quarter = torch.tensor(0.25, dtype=h.dtype)
                    h = h * (q(f"pool{i}", quarter) / 0.25)
                h = act(f"pool{i}")(h)
            h = block(h, act(f"enc{i}.c1"), act(f"enc{i}.c2"), in_block(f"enc{i}"))
            skips.append(h)
        for i in reversed(range(self.config.depth)):
            h = act(f"up{i}")(conv(f"up{i}", self.up[i], h))
            h = torch.cat([skips[i], h], dim=1)
            h = self.dec[i](h, act(f"dec{i}.c1"), act(f"dec{i}.c2"), in_block(f"dec{i}"))
        return conv("head", self.head, h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pad (reflect) to a multiple of ``2**depth``, run, crop back."""
        pad_h, pad_w = pad_amounts(x.shape[-2:], self.size_multiple)
        if pad_h or pad_w:
            mode = "reflect" if min(x.shape[-2:]) > max(pad_h, pad_w) else "replicate"
            x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
        y = self.forward_unpadded(x)
        if pad_h or pad_w:
            y = y[..., : y.shape[-2] - pad_h, : y.shape[-1] - pad_w]
        return y

    def count_macs(self, height: int, width: int) -> int:
        """Multiply-accumulates of one forward pass on an ``height x width`` frame."""
        total = 0

        def hook(module, inputs, output):
            nonlocal total
            if isinstance(module, nn.ConvTranspose2d):
                total += inputs[0][0].numel() * module.out_channels * module.kernel_size[0] ** 2
            elif isinstance(module, nn.Conv2d):
                k = module.kernel_size[0] * module.kernel_size[1]
                total += output[0].numel() * module.in_channels // module.groups * k

        handles = [
            m.register_forward_hook(hook)
            for m in self.modules()
            if isinstance(m, nn.Conv2d | nn.ConvTranspose2d)
        ]
        quant, self.weight_quant = self.weight_quant, None  # the hooks need module calls
        try:
            with torch.no_grad():
                self.forward_unpadded(torch.zeros(1, self.config.in_channels, height, width))
        finally:
            self.weight_quant = quant
            for h in handles:
                h.remove()
        return total


def activation_points(depth: int) -> list[str]:
    """Names of the U-Net's activation points in forward order."""
    names = ["enc0.c1", "enc0.c2"]
    for i in range(1, depth + 1):
        names += [f"pool{i}", f"enc{i}.c1", f"enc{i}.c2"]
    for i in reversed(range(depth)):
        names += [f"up{i}", f"dec{i}.c1", f"dec{i}.c2"]
    return names


def pad_amounts(hw: tuple[int, int] | torch.Size, multiple: int) -> tuple[int, int]:
    """Bottom/right padding that makes ``(H, W)`` divisible by ``multiple``."""
    h, w = int(hw[0]), int(hw[1])
    return (-h) % multiple, (-w) % multiple
