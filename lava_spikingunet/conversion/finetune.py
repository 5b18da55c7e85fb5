"""Fine-tuning with accumulated spiking flow (the paper's Algorithm 1), on CPU.

Each step: (1) run the spiking network at short T without gradients (zero delays) and
take every neuron layer's spike rate ``rho`` (mean count over the window); (2) a
rate-level surrogate pass that carries the gradient: per layer, in topological order,
the accumulated input current mean ``I_bar = sum_e W_e (*) rho~_src + b`` (the static
input edge sees the image), and

    rho~ = rho.detach() + mask * (I_bar - I_bar.detach()) / theta_N,
    mask = (0 < I_bar < (2^N - 1) * theta_N)

so the *values* are the true spiking rates and the gradient flows through the
accumulated input wherever the neuron is neither silent nor saturated. The readout is
``y = sum_e W_e (*) rho~_src + b`` in both training and evaluation; with zero delays it
equals the spiking readout ``acc / T`` exactly, so the training loss *is* the spiking
loss. Trainable: conv / transposed-conv weights and all biases (the avg-pool scalars
and the thresholds stay fixed); Adam with cosine decay, seeded. The first batches are
held out and the parameters with the lowest held-out spiking loss are kept (the
spiking network at short T is very discontinuous in its weights, so a step can hurt).
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from lava_spikingunet.graph.ir import InputNode, NeuronNode, SpikingGraph
from lava_spikingunet.graph.ops import apply_edge
from lava_spikingunet.snn.float_sim import GraphTensors, graph_tensors, simulate, write_back
from lava_spikingunet.snn.module import SpikingUNetModule


@dataclass
class FinetuneConfig:
    timesteps: int | None = None  # None: the graph's meta.timesteps
    steps: int = 200
    lr: float = 1e-4
    time_budget: float | None = None  # seconds; stop early when spent
    seed: int = 0
    weight_decay: float = 0.0
    cosine: bool = True  # decay the learning rate to 0 over ``steps`` (cosine)
    val_batches: int = 2  # held-out batches (the first ones) for keep-best; 0: keep last
    val_every: int = 0  # validate every this many steps (0: steps // 10)


@dataclass
class FinetuneResult:
    graph: SpikingGraph
    losses: list[float] = field(default_factory=list)
    steps: int = 0
    seconds: float = 0.0
    stopped: str = "steps"
    val_losses: list[tuple[int, float]] = field(default_factory=list)
    best_step: int = 0


def surrogate_forward(
    graph: SpikingGraph,
    tensors: GraphTensors,
    x: torch.Tensor,
    rates: dict[str, torch.Tensor],
) -> torch.Tensor:
    """Readout ``y`` from the measured ``rates`` with the accumulated-flow gradient."""
    values: dict[str, torch.Tensor] = {graph.input_name: x}
    y = None
    for n in graph.order():
        op = graph.node(n)
        if isinstance(op, InputNode):
            continue
        current = None
        for s, e in graph.in_edges(n):
            c = apply_edge(e, values[s], tensors.weights[s, n])
            current = c if current is None else current + c
        current = current + tensors.biases[n].view(1, -1, 1, 1)
        if isinstance(op, NeuronNode):
            top = op.max_count * op.theta_unit
            mask = ((current > 0) & (current < top)).to(current.dtype)
            flow = mask * (current - current.detach()) / op.theta_unit
            values[n] = rates[n].detach() + flow
        else:
            y = current
    if y is None:
        raise ValueError("graph has no readout")
    return y


def strip_quantization(graph: SpikingGraph) -> None:
    """Drop integer weights and biases (stale once the float ones change); node scales stay."""
    for _, _, e in graph.edges():
        e.mant, e.exp = None, None
    for n in graph.nodes():
        if hasattr(graph.node(n), "bias_int"):
            graph.node(n).bias_int = None


class SurrogateModule(nn.Module):
    """``forward(x)``: the spiking readout at ``timesteps`` with the surrogate gradient."""

    def __init__(self, graph: SpikingGraph, tensors: GraphTensors, timesteps: int) -> None:
        super().__init__()
        self.graph, self.tensors, self.timesteps = graph, tensors, int(timesteps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(torch.float32)
        sim = simulate(self.graph, x, self.timesteps, tensors=self.tensors, rates=True)
        return surrogate_forward(self.graph, self.tensors, x, sim.rates)


LossFn = Callable[[nn.Module, Sequence[torch.Tensor]], torch.Tensor]


def task_loss(
    task: str,
    y: torch.Tensor,
    x: torch.Tensor,
    target: torch.Tensor,
    ignore_index: int = -100,
) -> torch.Tensor:
    """Denoising: MSE of the predicted noise ``y`` against ``x - clean`` (= MSE of the
    clean estimate). Segmentation: BCE-with-logits for one output channel (target 0/1),
    else cross-entropy over class indices ``(B, H, W)``."""
    if task == "denoise":
        return F.mse_loss(y, x - target.to(y.dtype))
    if y.shape[1] == 1:
        return F.binary_cross_entropy_with_logits(y, target.to(y.dtype).reshape(y.shape))
    target = target.long()
    if target.dim() == 4:
        target = target[:, 0]
    return F.cross_entropy(y, target, ignore_index=ignore_index)


def graph_loss(graph: SpikingGraph) -> LossFn:
    """The default loss of ``graph``'s task on ``(x, target)`` batches."""
    ignore = int(graph.meta.extra.get("ignore_index", -100))
    return lambda model, batch: task_loss(
        graph.meta.task, model(batch[0]), batch[0], batch[1], ignore
    )


def spiking_loss(
    graph: SpikingGraph,
    batch: Sequence[torch.Tensor],
    timesteps: int | None = None,
    loss_fn: LossFn | None = None,
) -> float:
    """The loss of the spiking run (zero delays) on one batch."""
    loss_fn = loss_fn or graph_loss(graph)
    model = SpikingUNetModule(graph, timesteps)
    with torch.no_grad():
        return float(loss_fn(model, batch))


def finetune(
    graph: SpikingGraph,
    batches: Iterable[Sequence[torch.Tensor]],
    config: FinetuneConfig | None = None,
    loss_fn: LossFn | None = None,
    progress: bool = False,
) -> FinetuneResult:
    """Fine-tune a copy of ``graph`` on ``(x, target, ...)`` batches.

    ``loss_fn(model, batch)`` defaults to :func:`graph_loss`; ``model(x)`` is the
    spiking readout with the accumulated-flow gradient. The first ``val_batches``
    batches are held out: their spiking loss is measured before training and every
    ``val_every`` steps, and the best parameters (possibly the initial ones) are kept.
    Returns the tuned graph (``meta.timesteps`` set to the fine-tuning T), the per-step
    training losses (each the spiking loss of its batch before that step's update) and
    the validation curve.
    """
    from tqdm import tqdm

    cfg = config or FinetuneConfig()
    T = int(cfg.timesteps or graph.meta.timesteps)
    torch.manual_seed(cfg.seed)
    tuned = graph.copy()
    loss_fn = loss_fn or graph_loss(tuned)
    tensors = graph_tensors(tuned, torch.float32, requires_grad=True)
    params = tensors.parameters()
    model = SurrogateModule(tuned, tensors, T)
    opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    result = FinetuneResult(tuned)
    batches = iter(batches)
    val = list(itertools.islice(batches, cfg.val_batches))
    val_every = cfg.val_every or max(1, cfg.steps // 10)

    def validate() -> None:
        if not val:
            return
        with torch.no_grad():
            loss = sum(float(loss_fn(model, b)) for b in val) / len(val)
        result.val_losses.append((result.steps, loss))
        if loss <= min(v for _, v in result.val_losses):
            result.best_step = result.steps
            best[:] = [p.detach().clone() for p in params]

    best: list[torch.Tensor] = []
    t_start = time.monotonic()
    validate()
    bar = tqdm(total=cfg.steps, desc=f"finetune T={T}", disable=not progress)
    try:
        for batch in itertools.islice(batches, cfg.steps):
            if cfg.time_budget is not None and time.monotonic() - t_start > cfg.time_budget:
                result.stopped = "time budget"
                break
            if cfg.cosine:
                for group in opt.param_groups:
                    group["lr"] = cfg.lr * 0.5 * (1 + math.cos(math.pi * result.steps / cfg.steps))
            loss = loss_fn(model, batch)
            value = float(loss.detach())
            if not math.isfinite(value):
                raise FloatingPointError(f"fine-tuning loss became {value} at step {result.steps}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            result.losses.append(value)
            result.steps += 1
            bar.update(1)
            bar.set_postfix(loss=f"{value:.4g}")
            if result.steps % val_every == 0:
                validate()
    finally:
        bar.close()
    if result.steps % val_every:
        validate()
    if best:
        with torch.no_grad():
            for p, b in zip(params, best, strict=True):
                p.copy_(b)
    result.seconds = time.monotonic() - t_start
    write_back(tuned, tensors)
    strip_quantization(tuned)
    tuned.meta.timesteps = T
    tuned.meta.extra["finetune"] = asdict(cfg) | {
        "timesteps": T,
        "steps_done": result.steps,
        "best_step": result.best_step,
        "seconds": round(result.seconds, 1),
        "stopped": result.stopped,
        "val_losses": [[s, v] for s, v in result.val_losses],
        "first_loss": result.losses[0] if result.losses else None,
        "last_loss": result.losses[-1] if result.losses else None,
    }
    return result
