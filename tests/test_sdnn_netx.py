"""netx HDF5 of the sdnn form (docs/netx_schema.md): a sequential network runs in netx's
own ``hdf5.Network`` bit-exact against the reference; U-Nets (skips, convT, pool) round-trip
through the project's loader and run on the same stock classes."""

from __future__ import annotations

import numpy as np
import pytest
from _sdnn_cases import random_sdnn

from lava_spikingunet.backends.sdnn.netx import (
    NETX_STATE_EXP,
    export_sdnn_netx,
    load_sdnn_netx,
    to_sdnn_netx,
)
from lava_spikingunet.fixed_point.quantize import quantize_graph
from lava_spikingunet.graph.ir import (
    ConvEdge,
    GraphMeta,
    InputNode,
    NeuronNode,
    ReadoutNode,
    SpikingGraph,
)
from lava_spikingunet.reference.input_current import input_current
from lava_spikingunet.reference.sigma_delta import simulate_sdnn


def sequential_sdnn(seed: int, vth: int, side: int = 6):
    rng = np.random.default_rng(seed)
    g = SpikingGraph(GraphMeta(task="segment", timesteps=10))
    g.add_node("input", InputNode((1, side, side)))
    prev, pc = "input", 1
    for i, c in enumerate((3, 4, 3)):
        n = f"n{i}"
        g.add_node(n, NeuronNode((c, side, side), rng.normal(0, 0.1, c), 6, 1.0))
        w = rng.normal(0, 0.4, (c, pc, 3, 3))
        g.add_edge(prev, n, ConvEdge(weight=w, padding=1, static=prev == "input", delay=i > 0))
        prev, pc = n, c
    g.add_node("head", ReadoutNode((2, side, side), rng.normal(0, 0.1, 2)))
    g.add_edge(prev, "head", ConvEdge(weight=rng.normal(0, 0.4, (2, pc, 1, 1))))
    g.validate()
    x = rng.uniform(0, 1, (1, 1, side, side))
    s = to_sdnn_netx(quantize_graph(g, "loihi2", calib=x), vth=vth)
    return s, input_current(s, x)


@pytest.mark.lava
@pytest.mark.parametrize("vth", [0, 3])
def test_sequential_network_runs_in_netx_itself_bit_exact(vth, tmp_path, no_leftover_processes):
    from lava.lib.dl.netx import hdf5
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source

    from lava_spikingunet.backends.lava.runner import lava_session

    s, cur = sequential_sdnn(vth, vth)
    assert all(v["state_exp"] == NETX_STATE_EXP for v in s.meta.extra["sdnn"]["nodes"].values())
    assert all(e.exp == 0 for _, _, e in s.edges() if e.mant is not None)
    ref = simulate_sdnn(s, cur, record=True)
    path = export_sdnn_netx(s, tmp_path / "seq.h5")
    net = hdf5.Network(net_config=str(path), spike_exp=0, input_message_bits=24)
    steps = ref.steps
    # the host runs the first neuron layer and sends its messages
    src = Source(data=ref.messages["n0"][:, 0].transpose(3, 2, 1, 0).astype(np.int32))
    src.s_out.connect(net.inp)
    sink = Sink(shape=net.out.shape, buffer=steps)
    net.out.connect(sink.a_in)
    sinks = []
    for layer in net.layers[:-1]:
        sinks.append(Sink(shape=layer.neuron.s_out.shape, buffer=steps))
        layer.neuron.s_out.connect(sinks[-1].a_in)
    with lava_session(sink):
        sink.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        out = sink.data.get()
        hidden = [k.data.get() for k in sinks]
    sigma = out.transpose(3, 2, 1, 0).astype(np.int64)
    act = sigma + s.node("head").bias_int[None, :, None, None]  # the host adds the bias
    np.testing.assert_array_equal(act, ref.readout_steps[:, 0])
    for name, got in zip(("n1", "n2"), hidden, strict=True):
        np.testing.assert_array_equal(got.transpose(3, 2, 1, 0), ref.messages[name][:, 0])
    assert np.abs(act).max() > 0


def test_unet_round_trip_through_the_project_loader(tmp_path):
    _, g, _, cur = random_sdnn(1, depth=2, width=3, chans=(3, 2), vth=2)
    path = export_sdnn_netx(g, tmp_path / "unet.h5")
    back = load_sdnn_netx(path)
    assert back.order() == g.order()
    for s, d, e in g.edges():
        e2 = back.edge(s, d)
        assert type(e2) is type(e) and e2.delay == e.delay
        if e.mant is not None:
            np.testing.assert_array_equal(e2.mant, e.mant)
            assert e2.exp == e.exp
    np.testing.assert_array_equal(input_current(back, _x(g, back)), input_current(g, _x(g, back)))
    a = simulate_sdnn(g, cur, record=True)
    b = simulate_sdnn(back, cur, record=True)
    np.testing.assert_array_equal(a.readout, b.readout)
    np.testing.assert_allclose(a.y, b.y)
    for n in g.neurons():
        np.testing.assert_array_equal(a.messages[n], b.messages[n])


def _x(g, back):
    rng = np.random.default_rng(0)
    return rng.uniform(0, 2, (1, *g.node(g.input_name).shape))


@pytest.mark.lava
def test_loaded_unet_runs_on_stock_lava_bit_exact(tmp_path, no_leftover_processes):
    from lava_spikingunet.backends.sdnn.network import run_sdnn

    _, g, _, cur = random_sdnn(2, depth=1, width=3, vth=1, frames=2)
    back = load_sdnn_netx(export_sdnn_netx(g, tmp_path / "unet.h5"))
    ref = simulate_sdnn(g, cur, record=True)
    res = run_sdnn(back, cur)
    np.testing.assert_array_equal(res.readout_steps, ref.readout_steps[:, 0])
    for n in g.neurons():
        np.testing.assert_array_equal(res.messages[n], ref.messages[n][:, 0])
