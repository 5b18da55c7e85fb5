"""Dataset loaders on tiny synthetic folders in the published layouts, and on the real
folder when it is present."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from lava_spikingunet.data import denoising, paths
from lava_spikingunet.data.augment import dihedral, item_rng
from lava_spikingunet.data.camseq import NUM_CLASSES, VOID, CamSeqPatches, CamSeqSplit
from lava_spikingunet.data.drive import DrivePatches, DriveSplit, preprocess
from lava_spikingunet.data.isbi import TEST_SLICES, IsbiPatches, IsbiSplit
from lava_spikingunet.data.synthetic import make_synthetic_datasets
from lava_spikingunet.data.tiling import predict_tiled, tile_origins
from lava_spikingunet.errors import UserError


@pytest.fixture(scope="module")
def syn(tmp_path_factory):
    return make_synthetic_datasets(tmp_path_factory.mktemp("data"))


# --- paths and layout errors ------------------------------------------------------------


def test_default_data_root_env(monkeypatch, tmp_path):
    monkeypatch.setenv(paths.DATA_ROOT_ENV, str(tmp_path))
    assert paths.default_data_root() == tmp_path
    assert paths.resolve_data_root(None) == tmp_path


def test_missing_root_is_user_error(tmp_path):
    with pytest.raises(UserError, match="not a folder"):
        paths.resolve_data_root(tmp_path / "nope")


def test_natural_sort():
    names = [paths.Path(f"{i}.png") for i in (10, 2, 1)]
    assert [p.name for p in sorted(names, key=paths.natural_key)] == ["1.png", "2.png", "10.png"]


@pytest.mark.parametrize(
    "load",
    [
        lambda r: denoising.load_set("train400", r),
        lambda r: DriveSplit.load(r, "training"),
        lambda r: IsbiSplit.load(r, "train"),
        lambda r: CamSeqSplit.load(r, "train"),
    ],
)
def test_missing_folder_names_layout(tmp_path, load):
    with pytest.raises(UserError, match="expected layout|layout:"):
        load(tmp_path)


def test_malformed_folders(tmp_path, syn):
    root = tmp_path / "d"
    shutil.copytree(syn, root)
    (root / "segmentation/isbi2012/train/label/3.png").unlink()
    with pytest.raises(UserError, match="lack an image or a label"):
        IsbiSplit.load(root, "train")
    (root / "segmentation/drive/test/mask/01_test_mask.gif").unlink()
    with pytest.raises(UserError, match="no 1st_manual or mask"):
        DriveSplit.load(root, "test")
    (root / "segmentation/camseq01/labels/0016E5_07959.png").unlink()
    with pytest.raises(UserError, match="no label"):
        CamSeqSplit.load(root, "all")
    (root / "denoising/BSD68/test001.png").write_bytes(b"not a png")
    with pytest.raises(UserError, match="cannot read"):
        denoising.load_set("BSD68", root)
    empty = root / "denoising/train400"
    for f in empty.iterdir():
        f.unlink()
    with pytest.raises(UserError, match="no .png files"):
        denoising.load_set("train400", root)


# --- denoising --------------------------------------------------------------------------


def test_denoise_patches_deterministic_and_unclipped(syn):
    images, names = denoising.load_set("train400", syn)
    assert len(images) == 4 and names[0] == "test_001.png"
    ds = denoising.DenoisePatches(images, patch=16, sigma_range=(50, 50), seed=3)
    noisy, clean = ds[7]
    assert noisy.shape == clean.shape == (1, 16, 16) and noisy.dtype == torch.float32
    assert 0 <= clean.min() and clean.max() <= 1
    assert noisy.min() < 0 or noisy.max() > 1  # sigma 50: never clipped
    again = denoising.DenoisePatches(images, patch=16, sigma_range=(50, 50), seed=3)[7]
    assert torch.equal(noisy, again[0])
    assert not torch.equal(noisy, ds[8][0])
    resid = (noisy - clean).std().item()
    assert 0.1 < resid < 0.3  # ~50/255


def test_denoise_blind_sigma_range(syn):
    images, _ = denoising.load_set("train400", syn)
    ds = denoising.DenoisePatches(images, patch=16, sigma_range=(0, 55), seed=0)
    stds = [(a - b).std().item() for a, b in (ds[i] for i in range(30))]
    assert min(stds) < 0.1 < max(stds)


def test_denoise_colour_and_test_sets(syn):
    tr = denoising.train_patches(True, syn, patch=16)
    assert tr[0][0].shape == (3, 16, 16)
    ts = denoising.test_set(False, 25, syn)
    noisy, clean = ts[0]
    assert noisy.shape == clean.shape == (1, 41, 53)  # odd size kept
    assert torch.equal(noisy, denoising.test_set(False, 25, syn)[0][0])  # fixed seeds
    assert not torch.equal(noisy, denoising.test_set(False, 15, syn)[0][0])
    assert denoising.test_set(True, 50, syn)[2][0].shape == (3, 53, 41)


def test_patch_larger_than_image_is_user_error(syn):
    images, _ = denoising.load_set("train400", syn)
    with pytest.raises(UserError, match="larger"):
        denoising.DenoisePatches(images, patch=1000)


def test_dihedral_group():
    a = np.arange(12).reshape(1, 3, 4)
    outs = {dihedral(a, k).tobytes() + bytes(dihedral(a, k).shape) for k in range(8)}
    assert len(outs) == 8
    assert np.array_equal(dihedral(a, 0), a)
    assert item_rng(1, 2).random() == item_rng(1, 2).random()


# --- segmentation -----------------------------------------------------------------------


def test_drive(syn):
    tr = DriveSplit.load(syn, "training")
    te = DriveSplit.load(syn, "test")
    assert len(tr) == len(te) == 2 and te.names == ["01_test.tif", "02_test.tif"]
    im = tr.images[0]
    assert im.dtype == np.float32 and im.shape == (58, 51) and 0 <= im.min() and im.max() <= 1
    assert tr.vessels[0].dtype == bool and tr.masks[0].any()
    x, y = DrivePatches(tr, patch=16, seed=1)[0]
    assert x.shape == y.shape == (1, 16, 16) and set(y.unique().tolist()) <= {0.0, 1.0}
    image, vessel, mask = next(te.eval_items())
    assert image.shape == (1, 58, 51) and vessel.shape == mask.shape == (58, 51)
    x, v, m = te[1]
    assert x.shape == v.shape == m.shape == (1, 58, 51) and m.dtype == torch.bool
    assert torch.equal(v[0], torch.from_numpy(te.vessels[1]).float())


def test_drive_preprocess_is_retina_unet():
    rgb = np.random.default_rng(0).integers(0, 256, (2, 20, 24, 3), dtype=np.uint8)
    out = preprocess(list(rgb))
    assert all(o.dtype == np.float32 and o.shape == (20, 24) for o in out)
    # gamma 1.2 maps 255 -> 255 and brightens mid-tones; the per-image max is 1
    assert max(o.max() for o in out) == pytest.approx(1.0)


def test_isbi(syn):
    tr, te = IsbiSplit.load(syn, "train"), IsbiSplit.load(syn, "test")
    assert te.slices == list(TEST_SLICES) and tr.slices == list(range(25))
    assert len(IsbiSplit.load(syn, "all")) == 30
    assert te.membranes[0].dtype == bool
    x, y = IsbiPatches(tr, patch=32, seed=0)[5]
    assert x.shape == y.shape == (1, 32, 32)
    # membrane (positive) is where the label image is 0
    img, mem, mask = next(te.eval_items())
    assert mask is None and mem.shape == (48, 48)
    x, m = te[0]
    assert x.shape == m.shape == (1, 48, 48) and torch.equal(m[0].bool(), torch.from_numpy(mem))


def test_camseq(syn):
    tr, te = CamSeqSplit.load(syn, "train"), CamSeqSplit.load(syn, "test")
    assert len(tr) == 4 and len(te) == 20 and te.names[0] == "0016E5_07967.png"
    x, y = CamSeqPatches(tr, patch=32, seed=0)[1]
    assert x.shape == (3, 32, 32) and y.shape == (32, 32) and y.dtype == torch.int64
    assert int(y.max()) <= VOID and NUM_CLASSES == 11
    x, y = te[0]
    assert x.shape == (3, 40, 48) and y.shape == (40, 48) and y.dtype == torch.int64


# --- tiling -----------------------------------------------------------------------------


def test_tile_origins_cover():
    assert tile_origins(10, 4, 4) == [0, 4, 8]
    assert tile_origins(4, 4, 2) == [0]
    assert tile_origins(9, 4, 2) == [0, 2, 4, 6]
    with pytest.raises(ValueError):
        tile_origins(9, 4, 5)


@pytest.mark.parametrize("stride", [8, 5])
def test_predict_tiled_pointwise_is_exact(stride):
    image = torch.rand(2, 19, 23)
    f = lambda x: torch.cat([x.sum(1, keepdim=True), 2 * x[:, :1]], 1)  # pointwise op
    out = predict_tiled(f, image, tile=8, stride=stride)
    assert out.shape == (2, 19, 23)
    assert torch.allclose(out, f(image[None])[0])


# --- the real datasets ------------------------------------------------------------------


@pytest.mark.datasets
def test_real_denoising(datasets_root):
    for name, n in (("train400", 400), ("bsd200", 200), ("BSD68", 68), ("CBSD68", 68)):
        files = paths.list_files(datasets_root / "denoising" / name, denoising.SETS[name], "")
        assert len(files) == n
    images, _ = denoising.load_set("BSD68", datasets_root)
    assert images[0].ndim == 2 and {im.shape for im in images} <= {(321, 481), (481, 321)}


@pytest.mark.datasets
def test_real_segmentation(datasets_root):
    te = DriveSplit.load(datasets_root, "test")
    assert len(te) == 20 and te.images[0].shape == (584, 565)
    assert 0.05 < np.mean(te.vessels[0][te.masks[0]]) < 0.2
    isbi = IsbiSplit.load(datasets_root, "test")
    assert isbi.slices == [25, 26, 27, 28, 29] and isbi.images[0].shape == (512, 512)
    assert 0.1 < isbi.membranes[0].mean() < 0.4  # membrane is the minority class
    cam = CamSeqSplit.load(datasets_root, "test")
    assert len(cam) == 20 and cam.labels[0].shape == (360, 480)
    assert len(CamSeqSplit.load(datasets_root, "train")) == 81
