"""The SpikingJelly peer benchmark: the module rewrite is exact, the comparison runs."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("spikingjelly")

from benchmarks import peer_spikingjelly as P  # noqa: E402
from lava_spikingunet.ann.unet import UNet  # noqa: E402


def tiny_unet(seed: int = 0, **kw) -> UNet:
    torch.manual_seed(seed)
    return UNet(base_width=4, depth=2, residual=True, **kw).eval()


def calib_batches(seed: int = 1) -> list[list[torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [[torch.rand(4, 1, 16, 16, generator=g), torch.zeros(1)]]


@pytest.mark.parametrize("head_kernel", [1, 3])
def test_module_unet_equals_float_unet(head_kernel: int) -> None:
    unet = tiny_unet(head_kernel=head_kernel)
    x = torch.randn(3, 1, 16, 16)
    with torch.no_grad():
        assert torch.equal(P.ModuleUNet(unet).eval()(x), unet(x))
    assert P.rewrite_max_abs_diff(unet, x) == 0.0


def test_conversion_attempts_record_why_the_plain_unet_fails() -> None:
    unet = tiny_unet()
    x = torch.randn(1, 1, 16, 16)
    before = unet(x).detach()
    attempts = P.conversion_attempts(unet, calib_batches())
    assert [a["ok"] for a in attempts] == [False, False, False, True]
    assert "Proxy" in attempts[0]["error"]
    assert "relu" in attempts[1]["error"]
    assert "avg_pool2d" in attempts[2]["error"]
    assert attempts[3]["neurons"] == 3 * 2 + 2 + 2 * 2  # enc, up, dec ReLUs (depth 2)
    assert torch.equal(unet(x).detach(), before)  # converting left the U-Net alone


def test_runner_prefix_equals_shorter_run() -> None:
    unet = tiny_unet()
    snn = P.convert_spikingjelly(P.ModuleUNet(unet), calib_batches())
    x = torch.rand(1, 1, 13, 18)  # padded to 16 x 20 and cropped back
    long = P.SpikingJellyRunner(snn, [3, 7], unet.size_multiple).run(x)
    short = P.SpikingJellyRunner(snn, [3], unet.size_multiple).run(x)
    assert long[3].shape == (1, 1, 13, 18)
    assert torch.equal(long[3], short[3])


def test_compare_runs_on_a_tiny_unet() -> None:
    unet = tiny_unet()
    x = torch.rand(2, 1, 16, 16)
    ref = unet(x).detach()

    def evaluate(model: torch.nn.Module) -> dict[str, float]:
        with torch.no_grad():
            return {"err": float((model(x) - ref).abs().mean())}

    out = P.compare(unet, calib_batches(), evaluate, timesteps=[4])
    labels = [(r["label"], r["T"]) for r in out["rows"]]
    assert labels == [
        ("U-Net", None),
        (P.SJ_LABEL, 4),
        (P.OURS_LABEL, 4),
        (P.OURS_DEPLOY_LABEL, 4),
        (P.OURS_IF_LABEL, 4),
    ]
    assert out["rows"][0]["metrics"]["err"] == 0.0
    assert all(r["metrics"]["err"] < 1.0 for r in out["rows"])
    assert out["scale_vs_lambda_max_rel_diff"] < 1e-4  # same calibration, same percentile
    md = P.markdown(
        {
            "settings": {
                "spikingjelly": "x",
                "torch": "x",
                "percentile": 99.9,
                "timesteps": [4],
                "command": "c",
            },
            "tasks": {
                "tiny": {
                    "metric": "err",
                    "images": 2,
                    "crop": None,
                    "calibration": {"batches": 1, "batch": 4},
                    "seconds": 0,
                    **out,
                }
            },
        }
    )
    assert "| SpikingJelly IF (99.9%) |" in md


def test_eval_size_defaults_and_overrides() -> None:
    args = P.parse_args([])
    assert P.eval_size("denoise-grey", args) == (16, 128)
    assert P.eval_size("drive", args) == (8, 256)
    args = P.parse_args(["--crop", "0", "--images", "3"])
    assert P.eval_size("drive", args) == (3, None)
    assert P.eval_size("isbi2012", P.parse_args(["--quick"])) == (2, 64)
