"""netx HDF5 export/import of the fixed-point Spiking-UNet (docs/netx_schema.md)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from lava_spikingunet.ann.unet import UNet, UNetConfig
from lava_spikingunet.backends.netx import export_netx, load_netx, read_netx, read_netx_info
from lava_spikingunet.backends.netx import schema as S
from lava_spikingunet.errors import UserError
from lava_spikingunet.graph.from_unet import unet_to_graph
from lava_spikingunet.graph.ir import (
    AvgPoolEdge,
    ConvEdge,
    ConvTransposeEdge,
    NeuronNode,
    ReadoutNode,
    SpikingGraph,
)
from lava_spikingunet.graph.timing import balance_delays, frame_steps, start_steps
from lava_spikingunet.hw import load_profile

PROFILE = load_profile("loihi2")


# --------------------------------------------------------------------------- helpers


def fake_quantize(graph: SpikingGraph, seed: int = 0) -> SpikingGraph:
    """Random integers in every quantized field, inside the profile's ranges."""
    rng = np.random.default_rng(seed)
    lo, hi = PROFILE.weight_mant_range
    for n in graph.g.nodes:
        op = graph.node(n)
        if isinstance(op, NeuronNode):
            op.theta_unit_int = int(2 ** rng.integers(3, 12))
            op.bias_int = rng.integers(-5000, 5000, op.bias.shape)
        elif isinstance(op, ReadoutNode):
            op.scale = float(rng.uniform(10, 1000))
            op.bias_int = rng.integers(-5000, 5000, op.bias.shape)
    for _, _, e in graph.edges():
        if not getattr(e, "static", False):
            e.mant = rng.integers(lo, hi + 1, np.shape(e.weight))
            e.exp = int(rng.integers(PROFILE.weights.exp_min, PROFILE.weights.exp_max + 1))
    graph.meta.extra["hw_profile"] = PROFILE.name
    return graph


def make_graph(depth: int, form: str = "graded", seed: int = 0, **kw) -> SpikingGraph:
    torch.manual_seed(seed)
    cfg = UNetConfig(in_channels=1, out_channels=2, base_width=4, depth=depth, **kw)
    size = 2 ** (depth + 1)
    lam = {"enc0.c2": 0.5, "up0": 1.25}
    graph = unet_to_graph(UNet(cfg), size, size, lam, n_thresholds=3, theta1=1.5, timesteps=6)
    graph.meta.neuron_form = form  # type: ignore[assignment]
    graph.meta.extra["note"] = {"a": [1, 2.5, None], "arr": np.arange(4, dtype=np.int16)}
    return fake_quantize(graph, seed)


def _same(a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            isinstance(a, np.ndarray)
            and isinstance(b, np.ndarray)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and np.array_equal(a, b)
        )
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def assert_graph_equal(a: SpikingGraph, b: SpikingGraph, floats: bool = True) -> None:
    assert dataclasses.asdict(a.meta).keys() == dataclasses.asdict(b.meta).keys()
    for f in dataclasses.fields(a.meta):
        assert _same(getattr(a.meta, f.name), getattr(b.meta, f.name)), f.name
    assert list(a.g.nodes) == list(b.g.nodes)
    assert a.order() == b.order()
    assert [(s, d) for s, d, _ in a.edges()] == [(s, d) for s, d, _ in b.edges()]
    float_fields = {"weight", "bias"}
    pairs = [(n, a.node(n), b.node(n)) for n in a.g.nodes]
    pairs += [(f"{s}->{d}", e, b.edge(s, d)) for s, d, e in a.edges()]
    for where, x, y in pairs:
        assert type(x) is type(y), where
        for f in dataclasses.fields(x):
            if not floats and f.name in float_fields and not getattr(x, "static", False):
                continue
            assert _same(getattr(x, f.name), getattr(y, f.name)), f"{where}.{f.name}"


def file_items(path: Path) -> dict:
    """Every dataset and attribute: ``path -> (dtype, shape, bytes)``."""
    items = {}
    with h5py.File(path, "r") as f:
        for p, obj in S.iter_objects(f):
            if isinstance(obj, h5py.Dataset):
                arr = np.asarray(obj[()])
                items[p] = (arr.dtype.str, arr.shape, arr.tobytes())
            for k in obj.attrs:
                arr = np.asarray(obj.attrs[k])
                items[f"{p}@{k}"] = (arr.dtype.str, arr.shape, arr.tobytes())
    return items


def reseal(path: Path) -> None:
    """Recompute the checksum, as a buggy writer would have, to reach the field checks."""
    with h5py.File(path, "r+") as f:
        f[S.META].attrs[S.CHECKSUM_ATTR] = S.bytes_scalar(S.checksum(f))


def layer_of(path: Path, name: str) -> str:
    with h5py.File(path, "r") as f:
        for i in range(len(f[S.LAYER])):
            g = f[f"{S.LAYER}/{i}"]
            if "name" in g and g["name"][0].decode() == name:
                return f"{S.LAYER}/{i}"
    raise KeyError(name)


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> tuple[SpikingGraph, Path]:
    graph = make_graph(2)
    path = tmp_path_factory.mktemp("netx") / "good.h5"
    export_netx(graph, path, include_float=True)
    return graph, path


@pytest.fixture
def copy(good, tmp_path) -> Path:
    dst = tmp_path / "bad.h5"
    dst.write_bytes(good[1].read_bytes())
    return dst


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("depth", [1, 2])
@pytest.mark.parametrize("form", ["graded", "cascade", "virtual"])
def test_round_trip_exact(tmp_path, depth, form):
    graph = make_graph(depth, form, seed=depth)
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    export_netx(graph, a, include_float=True, extra_meta={"source": "unit test"})
    loaded, info = read_netx(a)
    assert_graph_equal(graph, loaded)
    assert info.neuron_form == form and info.has_float and info.hw_profile == "loihi2"
    assert info.extra_meta == {"source": "unit test"}
    assert info.frame_steps == frame_steps(graph) and info.delays == "native"
    export_netx(loaded, b, include_float=True, extra_meta={"source": "unit test"})
    items_a, items_b = file_items(a), file_items(b)
    assert items_a.keys() == items_b.keys()
    for key in items_a:
        assert items_a[key] == items_b[key], key
    assert read_netx_info(b).checksum == info.checksum
    assert a.read_bytes() == b.read_bytes()


def test_round_trip_fixed_point_only(tmp_path):
    graph = make_graph(2, "cascade")
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    export_netx(graph, a)
    loaded = load_netx(a)
    assert_graph_equal(graph, loaded, floats=False)
    # floats come back dequantized: weight = mant 2^exp / S_target, bias = bias_int / S
    for _, d, e in loaded.edges():
        if not getattr(e, "static", False):
            scale = loaded.node(d).scale
            np.testing.assert_array_equal(e.weight, e.mant * 2.0**e.exp / scale)
    head = loaded.node("head")
    np.testing.assert_array_equal(head.bias, head.bias_int / head.scale)
    export_netx(loaded, b)
    assert file_items(a) == file_items(b)


def test_neuron_form_override_and_delay_modes(tmp_path):
    graph = make_graph(1, "graded")
    export_netx(graph, tmp_path / "c.h5", neuron_form="cascade")
    assert load_netx(tmp_path / "c.h5").meta.neuron_form == "cascade"
    balance_delays(graph)
    export_netx(graph, tmp_path / "bal.h5")
    info = read_netx_info(tmp_path / "bal.h5")
    assert info.delays == "balanced" and info.frame_steps == frame_steps(graph)
    for j, (_, _, e) in enumerate(graph.edges()):
        e.delay = j % 4
    export_netx(graph, tmp_path / "cus.h5")
    loaded = load_netx(tmp_path / "cus.h5")
    assert read_netx_info(tmp_path / "cus.h5").delays == "custom"
    assert [e.delay for _, _, e in loaded.edges()] == [j % 4 for j in range(len(graph.edges()))]
    assert start_steps(loaded) == start_steps(graph)
    with pytest.raises(UserError, match="neuron_form"):
        export_netx(graph, tmp_path / "x.h5", neuron_form="binary")


def test_layout_follows_netx(good):
    graph, path = good
    with h5py.File(path, "r") as f:
        types = [f[f"layer/{i}/type"][0].decode() for i in range(len(f["layer"]))]
        assert f["simulation/Ts"][()] == 1 and f["simulation/tSample"][()] == frame_steps(graph)
        assert types[0] == "input" and types[-1] == "conv"
        assert types.count("concat") == 2 and types.count("convT") == 2
        assert types.count("pool") == 2
        for i, t in enumerate(types):
            g = f[f"layer/{i}"]
            assert g["type"].dtype == np.dtype("S10") and g["shape"].shape == (3,)
            if t == "concat":
                ids = g["layers"][()]
                nxt = f[f"layer/{i + 1}"]
                # skip (enc{i}.c2) first, then the upsampled path (the previous layer)
                assert ids[-1] == i - 1 and ids[0] < i - 1
                assert nxt["wgtExp"].shape == (2,) and nxt["delay"].shape == (2,)
                assert nxt["weight"].shape[1] == g["shape"][0] == nxt["inChannels"][()]
            elif t in ("conv", "convT", "pool"):
                assert g["weight"].dtype == np.int8
                assert g["neuron/type"][0].decode() in ("MT", "READOUT")
        dec = f[layer_of(path, "dec0.c1")]
        skip, up = graph.edge("enc0.c2", "dec0.c1"), graph.edge("up0", "dec0.c1")
        np.testing.assert_array_equal(dec["weight"][()], np.concatenate([skip.mant, up.mant], 1))
        assert dec["wgtExp"][()].tolist() == [skip.exp, up.exp]
        assert f["layer/0/weight"].dtype == np.float64  # static conv, host side, in float
        assert f["layer/0/inputShape"][()].tolist() == list(graph.node("input").shape)
        assert f[f"{layer_of(path, 'head')}/neuron/type"][0] == b"READOUT"


# --------------------------------------------------------------------------- bad files


def test_missing_truncated_and_garbage_files(copy, tmp_path):
    with pytest.raises(UserError, match="no such file"):
        load_netx(tmp_path / "absent.h5")
    data = copy.read_bytes()
    for cut in (len(data) // 2, 2000, 10):
        copy.write_bytes(data[:cut])
        with pytest.raises(UserError, match="truncated or corrupt"):
            load_netx(copy)
    copy.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 8)
    with pytest.raises(UserError, match="truncated or corrupt"):
        load_netx(copy)


def test_flipped_bytes_never_escape_as_other_errors(tmp_path):
    """A byte flipped anywhere: the load fails with UserError or yields the same graph."""
    graph = make_graph(1)
    good = export_netx(graph, tmp_path / "g.h5")
    data, bad = good.read_bytes(), tmp_path / "flip.h5"
    failures = 0
    for off in np.random.default_rng(1).integers(0, len(data), 60):
        flipped = bytearray(data)
        flipped[off] ^= 0xFF
        bad.write_bytes(bytes(flipped))
        try:
            loaded = load_netx(bad)
        except UserError:
            failures += 1
            continue
        assert_graph_equal(graph, loaded, floats=False)  # the flip hit unused bytes
    assert failures > 0


def test_tampered_data_fails_checksum(copy):
    lay = layer_of(copy, "enc1.c1")
    with h5py.File(copy, "r+") as f:
        w = f[f"{lay}/weight"]
        value = w[0, 0, 0, 0]
        w[0, 0, 0, 0] = value + 1 if value < 127 else value - 1
    with pytest.raises(UserError, match="checksum mismatch"):
        load_netx(copy)


def test_format_version_mismatch(copy):
    with h5py.File(copy, "r+") as f:
        f[S.META].attrs["version"] = np.int64(S.VERSION + 1)
    with pytest.raises(UserError, match="format version 2, this loader reads version 1"):
        load_netx(copy)


def _edit(path: Path, fn) -> None:
    with h5py.File(path, "r+") as f:
        fn(f)
    reseal(path)


@pytest.mark.parametrize(
    ("target", "edit", "message"),
    [
        ("enc1.c1", lambda g: g.__delitem__("wgtExp"), r"\(enc1.c1\): missing field 'wgtExp'"),
        ("enc1.c2", lambda g: g.__delitem__("neuron/bias"), r"neuron: missing field 'bias'"),
        (
            "enc1.c1",
            lambda g: _replace(g, "type", np.array([b"dense"], "S10")),
            r"layer/3 \(enc1.c1\): unknown layer type 'dense'",
        ),
        (
            "pool1",
            lambda g: _replace(g, "neuron/type", np.array([b"LIF"], "S10")),
            r"\(pool1\)/neuron: unknown neuron type 'LIF'",
        ),
        (
            "enc1.c2",
            lambda g: _replace(g, "shape", g["shape"][()] + [0, 1, 0]),
            r"\(enc1.c2\): edge enc1.c1->enc1.c2 produces \(8, 4, 4\), node enc1.c2 has "
            r"\(8, 5, 4\)",
        ),
        (
            "dec0.c1",
            lambda g: _replace(g, "weight", g["weight"][()].astype(np.float32) + 0.5),
            r"\(dec0.c1\): field 'weight' must hold integers, found dtype float32",
        ),
        (
            "up0",
            lambda g: _replace(g, "weight", g["weight"][()].astype(np.int16) * 3),
            r"\(up0\): field 'weight' spans .* outside the stored range \[-128, 127\]",
        ),
        (
            "enc0.c2",
            lambda g: _replace(g, "wgtExp", np.array([9])),
            r"field 'wgtExp' spans \[9, 9\], outside the stored range \[-7, 7\]",
        ),
        ("head", lambda g: _replace(g, "neuron/start", np.int64(99)), "neuron/start = 99"),
        ("enc1.c1", lambda g: _replace(g, "inChannels", np.int64(5)), "inChannels/outChannels"),
        (
            "dec0.c1",
            lambda g: _replace(g, "delay", np.array([1])),
            r"field 'delay' has shape \(1,\), expected \(2,\)",
        ),
        (
            "enc0.c1",
            lambda g: _replace(g, "neuron/theta", g["neuron/theta"][()] + 1),
            "not thetaUnit",
        ),
    ],
)
def test_bad_layer_fields(copy, target, edit, message):
    _edit(copy, lambda f: edit(f[layer_of(copy, target)]))
    with pytest.raises(UserError, match=message):
        load_netx(copy)


def _replace(group: h5py.Group, key: str, value) -> None:
    del group[key]
    group.create_dataset(key, data=value)


def test_bad_concat_and_metadata(copy, good):
    lay = layer_of(copy, "dec0.c1")
    concat = f"layer/{int(lay.split('/')[1]) - 1}"
    _edit(copy, lambda f: _replace(f[concat], "layers", np.array([2, 99])))
    with pytest.raises(UserError, match=r"field 'layers' refers to 99"):
        load_netx(copy)
    copy.write_bytes(good[1].read_bytes())
    _edit(copy, lambda f: _replace(f["simulation"], "tSample", np.int64(3)))
    with pytest.raises(UserError, match="tSample"):
        load_netx(copy)
    copy.write_bytes(good[1].read_bytes())
    _edit(copy, lambda f: f[S.META].attrs.__delitem__("timesteps"))
    with pytest.raises(UserError, match="missing attribute 'timesteps'"):
        load_netx(copy)


def test_object_data_and_links_refused(copy, good):
    with h5py.File(copy, "r+") as f:
        f["layer/1"].attrs["note"] = "variable-length str"  # h5py stores str as vlen
    with pytest.raises(UserError, match="refused"):
        load_netx(copy)
    copy.write_bytes(good[1].read_bytes())
    with h5py.File(copy, "r+") as f:
        f["layer/1/extra"] = h5py.ExternalLink("other.h5", "/x")
    with pytest.raises(UserError, match="links are refused"):
        load_netx(copy)


# --------------------------------------------------------------------------- export


def test_overwrite_refusal(good, tmp_path):
    graph, _ = good
    path = tmp_path / "o.h5"
    export_netx(graph, path)
    before = path.read_bytes()
    with pytest.raises(UserError, match="refusing to overwrite"):
        export_netx(graph, path, include_float=True)
    assert path.read_bytes() == before
    export_netx(graph, path, overwrite=True, include_float=True)
    assert path.read_bytes() != before


def test_export_refuses_bad_graphs(tmp_path):
    graph = make_graph(1)
    graph.edge("enc0.c1", "enc0.c2").mant = None
    with pytest.raises(UserError, match="edge enc0.c1->enc0.c2 is not quantized"):
        export_netx(graph, tmp_path / "a.h5")
    graph = make_graph(1)
    graph.edge("enc0.c1", "enc0.c2").mant[0, 0, 0, 0] = 200
    with pytest.raises(UserError, match="mantissa spans .* outside the profile's"):
        export_netx(graph, tmp_path / "a.h5")
    graph = make_graph(1)
    del graph.meta.extra["hw_profile"]
    with pytest.raises(UserError, match="hardware profile"):
        export_netx(graph, tmp_path / "a.h5")
    export_netx(graph, tmp_path / "a.h5", profile=PROFILE)  # explicit profile works
    graph.meta.extra["bad"] = object()
    with pytest.raises(UserError, match=r"graph.meta.extra\['bad'\]"):
        export_netx(graph, tmp_path / "b.h5", profile=PROFILE)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.h5"]  # nothing half-written


def test_edge_kinds_round_trip(tmp_path):
    """Every edge kind carries its own geometry: pool kernel, convT output padding."""
    graph = make_graph(1)
    loaded = load_netx(export_netx(graph, tmp_path / "k.h5", include_float=True))
    assert isinstance(loaded.edge("enc0.c2", "pool1"), AvgPoolEdge)
    assert isinstance(loaded.edge("enc1.c2", "up0"), ConvTransposeEdge)
    assert isinstance(loaded.edge("input", "enc0.c1"), ConvEdge)
    assert loaded.edge("input", "enc0.c1").static


# --------------------------------------------------------------------------- netx itself


def test_netx_own_loader_cannot_read_it(good, tmp_path):
    """Why the project has its own loader: netx knows no MT neuron, pool, concat or convT."""
    from lava.lib.dl.netx import hdf5

    _, path = good
    with pytest.raises((TypeError, NotImplementedError)):
        hdf5.Network(net_config=str(path))  # MT input layer: no netx neuron model
    with h5py.File(path, "r") as src:
        concat = f"layer/{int(layer_of(path, 'dec0.c1').split('/')[1]) - 1}"
        for kind, lay in (
            ("pool", layer_of(path, "pool1")),
            ("concat", concat),
            ("convT", layer_of(path, "up0")),
        ):
            assert src[f"{lay}/type"][0].decode() == kind
            probe = tmp_path / f"{kind}.h5"
            with h5py.File(probe, "w") as f:
                f.create_dataset("layer/0/type", data=np.array([b"input"], "S10"))
                f.create_dataset("layer/0/shape", data=np.array([4, 8, 8]))
                src.copy(src[lay], f["layer"], name="1")
            with pytest.raises(NotImplementedError, match=kind):
                hdf5.Network(net_config=str(probe))


def test_non_adjacent_single_source_and_fan_out(tmp_path):
    """A node fed only by a far layer gets a one-part concat; a layer may feed several."""
    from lava_spikingunet.graph.ir import GraphMeta, InputNode

    rng = np.random.default_rng(3)
    g = SpikingGraph(GraphMeta(task="segment", timesteps=3, neuron_form="cascade"))
    g.add_node("input", InputNode((1, 4, 4)))
    for n in ("a", "b", "c"):
        g.add_node(n, NeuronNode((2, 4, 4), rng.normal(size=2), n_thresholds=2, theta1=1.0))
    g.add_node("head", ReadoutNode((3, 4, 4), rng.normal(size=3)))
    g.add_edge("input", "a", ConvEdge(weight=rng.normal(size=(2, 1, 3, 3)), padding=1, static=True))
    g.add_edge("a", "b", ConvEdge(weight=rng.normal(size=(2, 2, 1, 1))))
    g.add_edge("a", "c", ConvEdge(weight=rng.normal(size=(2, 2, 3, 3)), padding=1, delay=2))
    g.add_edge("b", "head", ConvEdge(weight=rng.normal(size=(3, 2, 1, 1))))
    g.add_edge("c", "head", ConvEdge(weight=rng.normal(size=(3, 2, 1, 1)), delay=0))
    fake_quantize(g, seed=3)
    path = export_netx(g, tmp_path / "dag.h5", include_float=True)
    with h5py.File(path, "r") as f:
        types = [f[f"layer/{i}/type"][0].decode() for i in range(len(f["layer"]))]
        assert types == ["input", "conv", "concat", "conv", "concat", "conv"]
        assert f["layer/2/layers"][()].tolist() == [0]
        assert f["layer/4/layers"][()].tolist() == [1, 3]
    assert_graph_equal(g, load_netx(path))
    # joining parts of different kernel sizes is refused at export
    g.edge("c", "head").weight = rng.normal(size=(3, 2, 3, 3))
    g.edge("c", "head").padding = 1
    g.edge("c", "head").mant = rng.integers(-5, 5, (3, 2, 3, 3))
    with pytest.raises(UserError, match="joins only conv edges of equal kernel"):
        export_netx(g, tmp_path / "bad.h5")
