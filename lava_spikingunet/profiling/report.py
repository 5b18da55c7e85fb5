"""Per-layer and per-frame profile of one recorded run: table, JSON-ready dict.

Everything is *per frame* (totals divided by the number of recorded frames), for every
neuron form side by side (graded, binary cascade, virtual-step). Energies:
the profile's chip model ``synops * synop_pj + neuron_updates * neuron_update_pj``, and
the paper's model ``0.9 pJ/AC * synops (+ 4.6 pJ/MAC * host MACs of the input conv)``
against ``4.6 pJ/MAC * ANN MACs`` (docs/profiling.md).
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from lava_spikingunet.graph.ir import SpikingGraph
from lava_spikingunet.hw.profiles import HardwareProfile
from lava_spikingunet.profiling.synops import FORMS, Form, SynopsResult, virtual_substeps

PJ_PER_NJ = 1e3


def _num(x: float) -> float | int:
    """An int when integral (JSON stays exact), else the float."""
    return int(x) if float(x).is_integer() else float(x)


def layer_rows(res: SynopsResult, profile: HardwareProfile) -> list[dict[str, Any]]:
    """One dict per neuron / readout layer, per frame."""
    f, steps = res.frames, res.total_steps
    rows = []
    for lay in res.layers.values():
        updates = {form: res.layer_updates(lay, form) // f for form in FORMS}
        slots = max(1, lay.neurons * steps * f)
        subs = virtual_substeps(lay.n_thresholds) if lay.kind == "neuron" else 1
        row: dict[str, Any] = {
            "layer": lay.name,
            "kind": lay.kind,
            "shape": list(lay.shape),
            "neurons": lay.neurons,
            "start": lay.start,
            "synapses_in": lay.synapses_in,
            "ann_macs_in": lay.macs_in,
            "spike_count": _num(lay.spike_count / f),
            "events_graded": _num(lay.events["graded"] / f),
            "spikes_binary": _num(lay.events["cascade"] / f),
            "spikes_virtual": _num(lay.events["virtual"] / f),
            "stage_spikes": [_num(s / f) for s in lay.stage_spikes],
            "rate_graded": lay.events["graded"] / slots,
            "rate_binary": lay.events["cascade"] / max(1, slots * max(1, lay.n_thresholds)),
            "rate_virtual": lay.events["virtual"] / (slots * subs),
            "mean_count": lay.spike_count / slots,
            "events_per_step_graded": [_num(v / f) for v in lay.events_per_step.get("graded", [])],
            "spikes_per_step_binary": [_num(v / f) for v in lay.events_per_step.get("cascade", [])],
            "spikes_per_step_virtual": [
                _num(v / f) for v in lay.events_per_step.get("virtual", [])
            ],
        }
        for form in FORMS:
            syn = lay.synops_in[form] / f
            row[f"synops_{form}"] = _num(syn)
            row[f"synops_out_{form}"] = _num(lay.synops_out[form] / f)
            row[f"compartments_{form}"] = lay.compartments(form)
            row[f"neuron_updates_{form}"] = updates[form]
            row[f"energy_nj_{form}"] = profile.energy_pj(syn, updates[form]) / PJ_PER_NJ
        rows.append(row)
    return rows


def edge_rows(res: SynopsResult) -> list[dict[str, Any]]:
    f = res.frames
    return [
        {
            "edge": f"{e.src}->{e.dst}",
            "kind": e.kind,
            "delay": e.delay,
            "synapses": e.synapses,
            "max_fanout": e.max_fanout,
            "max_fanin": e.max_fanin,
            "ann_macs": e.macs,
            **{f"synops_{form}": _num(e.synops[form] / f) for form in FORMS},
        }
        for e in res.edges
    ]


def frame_totals(res: SynopsResult, profile: HardwareProfile) -> dict[str, Any]:
    """Per-frame totals, every form, both energy models."""
    f = res.frames
    pe = profile.paper_energy
    ann_pj = pe.ann_pj(res.ann_macs)
    host_pj = pe.ann_pj(res.input_macs)
    out: dict[str, Any] = {
        "ann_macs": res.ann_macs,
        "host_input_macs": res.input_macs,
        "host_input_edges": res.input_edges,
        "paper_ann_energy_uj": ann_pj / 1e6,
        "paper_host_input_energy_uj": host_pj / 1e6,
    }
    for form in FORMS:
        synops = res.synops(form) / f
        updates = res.neuron_updates(form) / f
        snn_pj = pe.snn_pj(synops)
        out[form] = {
            "synops": _num(synops),
            "neuron_updates": _num(updates),
            "synops_per_ann_mac": synops / max(1, res.ann_macs),
            "chip_steps_per_step": res.substeps(form),
            "synops_per_step": [_num(v / f) for v in res.synops_per_step(form)],
            "energy_uj": profile.energy_pj(synops, updates) / 1e6,
            "energy_synops_uj": synops * profile.energy.synop_pj / 1e6,
            "energy_updates_uj": updates * profile.energy.neuron_update_pj / 1e6,
            "paper_snn_energy_uj": (snn_pj + host_pj) / 1e6,
            "paper_snn_synops_energy_uj": snn_pj / 1e6,
            "paper_ann_over_snn": ann_pj / max(snn_pj + host_pj, 1e-30),
        }
    spikes = sum(lay.spike_count for lay in res.layers.values()) / f
    out["spike_count"] = _num(spikes)
    out["events_graded"] = _num(sum(lay.events["graded"] for lay in res.layers.values()) / f)
    out["spikes_binary"] = _num(sum(lay.events["cascade"] for lay in res.layers.values()) / f)
    out["spikes_virtual"] = _num(sum(lay.events["virtual"] for lay in res.layers.values()) / f)
    return out


def build_report(
    graph: SpikingGraph,
    res: SynopsResult,
    profile: HardwareProfile,
    *,
    mapping: dict[str, Any] | None = None,
    latency: dict[str, Any] | None = None,
    source: str = "",
    meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The whole profile of one run as a JSON-ready dict."""
    return {
        **(meta or {}),
        "profile": profile.name,
        "energy_estimated": profile.energy.estimated,
        "energy_figures_pj": {
            "synop": profile.energy.synop_pj,
            "neuron_update": profile.energy.neuron_update_pj,
            "paper_ac": profile.paper_energy.ac_pj,
            "paper_mac": profile.paper_energy.mac_pj,
        },
        "recorded_by": source,
        "frames": res.frames,
        "frame_shape": list(graph.node(graph.input_name).shape),
        "timesteps": res.timesteps,
        "total_steps": res.total_steps,
        "synapses": "nonzero-weight" if res.nonzero else "structural",
        "latency": latency or {},
        "frame": frame_totals(res, profile),
        "layers": layer_rows(res, profile),
        "edges": edge_rows(res),
        "mapping": mapping or {},
    }


# --------------------------------------------------------------------------- text


def _si(x: float) -> str:
    """Compact engineering notation: 1234567 -> '1.23M'."""
    x = float(x)
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"{x / div:.3g}{suffix}"
    return f"{x:.3g}" if not x.is_integer() else str(int(x))


def _energy(pj: float) -> str:
    """Energy with a readable unit: 1.23e7 pJ -> '12.3 uJ'."""
    for div, unit in ((1e12, "J"), (1e9, "mJ"), (1e6, "uJ"), (1e3, "nJ")):
        if abs(pj) >= div:
            return f"{pj / div:.3g} {unit}"
    return f"{pj:.3g} pJ"


#: Column tag and per-layer event field of each form in the text table.
_TAGS = {"graded": "g", "cascade": "c", "virtual": "v"}
_EVENTS = {"graded": "events_graded", "cascade": "spikes_binary", "virtual": "spikes_virtual"}


def format_table(report: dict[str, Any], forms: tuple[Form, ...] = FORMS) -> str:
    """A readable per-layer table and the per-frame summary."""
    head = ["layer", "shape", "neurons", "synapses", "spikes k", "rate"]
    for form in forms:
        tag = _TAGS[form]
        head += [f"events {tag}", f"synops {tag}", f"energy {tag}"]
    rows = [head]
    for r in report["layers"]:
        row = [
            r["layer"],
            "x".join(map(str, r["shape"])),
            _si(r["neurons"]),
            _si(r["synapses_in"]),
            _si(r["spike_count"]),
            f"{r['rate_graded']:.3f}" if r["kind"] == "neuron" else "-",
        ]
        for form in forms:
            ev = r[_EVENTS[form]]
            row += [
                _si(ev) if r["kind"] == "neuron" else "-",
                _si(r[f"synops_{form}"]),
                _energy(r[f"energy_nj_{form}"] * PJ_PER_NJ),
            ]
        rows.append(row)
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(head))]
    lines = [
        "  ".join(
            str(c).ljust(w) if i == 0 else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    lines.insert(1, "-" * len(lines[0]))
    fr = report["frame"]
    lat = report.get("latency") or {}
    est = " (estimated figures)" if report.get("energy_estimated") else ""
    lines += [
        "",
        f"per frame ({report['frame_shape'][1]}x{report['frame_shape'][2]}, "
        f"T={report['timesteps']},"
        f" {report['total_steps']} steps; rate = graded events per neuron-step;"
        f" synapses: {report['synapses']}):",
        f"  recorded by the {report.get('recorded_by') or 'given counts'}; host input conv: "
        f"{_si(fr['host_input_macs'])} MACs (float, once per frame)",
        f"  ANN (U-Net) MACs: {_si(fr['ann_macs'])}; spikes (sum k): {_si(fr['spike_count'])}",
        "  events: g = graded spikes (k > 0), c = cascade stage spikes (popcount k), "
        "v = virtual sub-step spikes (k)",
    ]
    for form in forms:
        f = fr[form]
        lines.append(
            f"  {form:8s} synops {_si(f['synops'])} ({f['synops_per_ann_mac']:.3g} per ANN MAC), "
            f"updates {_si(f['neuron_updates'])}, {report['profile']} energy "
            f"{_energy(f['energy_uj'] * 1e6)}{est}; paper model SNN "
            f"{_energy(f['paper_snn_energy_uj'] * 1e6)} vs ANN "
            f"{_energy(fr['paper_ann_energy_uj'] * 1e6)} ({f['paper_ann_over_snn']:.3g}x)"
        )
    if lat:
        lines.append(
            f"  latency: pipeline depth {lat['pipeline_depth']} + T {lat['timesteps']} = "
            f"{lat['steps_per_frame']} steps x {lat['step_us']:g} us = {lat['frame_us']:.4g} us"
            f" per frame ({lat['frames_per_s']:.4g} frames/s"
            + (", estimated step time)" if lat.get("estimated") else ")")
        )
        d = fr.get("virtual", {}).get("chip_steps_per_step", 1)
        if "virtual" in forms and d > 1:
            lines.append(
                f"  virtual form: {d} binary sub-steps per step = {lat['steps_per_frame'] * d}"
                f" chip steps, {lat['frame_us'] * d:.4g} us per frame"
            )
    for form, m in (report.get("mapping") or {}).items():
        if "error" in m:
            lines.append(f"  mapping {form}: does not fit: {m['error']}")
        else:
            lines.append(
                f"  mapping {form}: {m['cores']} cores on {m['chips']} chip(s), "
                f"compartments {m['compartment_util']:.1%}, synaptic memory "
                f"{m['memory_util']:.1%} of the used cores ({m['weight_model']} weights)"
            )
    return "\n".join(lines)


def _default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def write_json(report: dict[str, Any], path: str | os.PathLike, overwrite: bool = True) -> None:
    from lava_spikingunet.fileio import write_text_atomic

    write_text_atomic(path, json.dumps(report, indent=1, default=_default), overwrite=overwrite)
