"""Options of one training run (what the checkpoint stores under ``train``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields


@dataclass
class TrainOptions:
    task: str
    width: int = 16
    depth: int = 3
    steps: int = 10000
    batch: int = 16
    lr: float = 1e-3
    lr_final: float = 1e-5  # cosine decay ends here
    warmup: int = 200  # linear warm-up steps
    seed: int = 0
    patch: int = 0  # 0: the task's default
    sigma_min: float = 25.0  # denoising noise range, 0..255 scale
    sigma_max: float = 25.0
    eval_every: int = 500
    checkpoint_every: int = 500
    activation: str = "relu"  # "relu" or "ilif" (integer-valued, docs/ilif.md)
    levels: int = 0  # I-LIF levels D = 2^N - 1
    sparsity: float = 0.0  # weight of the synop penalty (synops per ANN MAC)
    sparsity_form: str = "virtual"  # what the penalty counts: "virtual" (k) or "graded"
    init: str = ""  # warm start: a U-Net checkpoint whose weights the run starts from
    weight_quant: str = ""  # I-LIF: train with a profile's fixed-point weights ("": float)
    stream_vth: float = 0.0  # I-LIF: > 0 trains on video clips through the sdnn stream
    stream_frames: int = 3  # frames per training clip (stream-aware training)
    stream_penalty: float = 0.0  # weight of the stream's message cost (synops per MAC)
    stream_warmup: int = 0  # frames run before each clip without gradient (a deep state)
    temporal: float = 0.0  # I-LIF: weight of the frame-pair change cost (ann/temporal.py)
    temporal_active: float = 0.0  # --temporal: weight of each frame's own smooth cost
    temporal_vth: float = 0.125  # counts: the change the temporal penalty counts as a message

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainOptions:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})
