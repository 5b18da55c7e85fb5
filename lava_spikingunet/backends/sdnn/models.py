"""The project's CPU model of the stock ``lava.proc.conv.process.Conv`` (fixed point).

Lava's own ``PyConvModelFixed`` ignores ``weight_exp`` and convolves per (out, in) channel
pair with scipy (DESIGN.md section 5). This model implements the same process, the same
ports and Vars, with Lava's rule plus the exponent:

``a_out(t + 1) = signed_clamp(shift(conv(s_in(t), weight), weight_exp), 24)``

where ``conv`` is Lava's convolution (``lava.proc.conv.utils.conv``: WHC layout, weight
``(C_out, kx, ky, C_in / groups)``, a true convolution, zero padding, stride, dilation,
groups), ``shift`` the arithmetic shift of docs/semantics.md section 4 (floor for
``weight_exp < 0``) and ``signed_clamp`` Lava's 24-bit wrap. Graded input when
``num_message_bits > 0``, else binary (as Lava's). It is selected with
``Loihi2SimCfg(select_tag="fixed_pt", exception_proc_model_map={Conv: PyConvModelExact})``
(:data:`EXCEPTION_MAP`); the process class is unchanged. The arithmetic is one exact
matrix product (``numpy_ops.Conv2d``); a step whose input is all zero skips it. The
weights are read at the first step (the stock process has no learning).
"""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol
from lava.proc.conv.process import Conv

from lava_spikingunet.backends.lava.numpy_ops import Conv2d, shift

#: Lava's Conv fixed-point model wraps its output to this many signed bits.
OUT_BITS = 24


def lava_to_torch_weight(weight: np.ndarray, groups: int, dilation=(1, 1)) -> np.ndarray:
    """Lava Conv weight ``(C_out, kx, ky, C_in/g)`` -> dense PyTorch cross-correlation weight
    ``(C_out, C_in, kh, kw)`` (flipped, groups expanded block-diagonally, dilation as
    zeros between taps)."""
    w = np.asarray(weight).transpose(0, 3, 2, 1)[:, :, ::-1, ::-1]  # (C_out, C_in/g, ky, kx)
    dy, dx = int(dilation[1]), int(dilation[0])
    if dy > 1 or dx > 1:
        c_o, c_i, kh, kw = w.shape
        d = np.zeros((c_o, c_i, (kh - 1) * dy + 1, (kw - 1) * dx + 1), w.dtype)
        d[:, :, ::dy, ::dx] = w
        w = d
    g = int(groups)
    if g == 1:
        return np.ascontiguousarray(w)
    c_out, c_in_g = w.shape[:2]
    out_g = c_out // g
    dense = np.zeros((c_out, c_in_g * g, *w.shape[2:]), w.dtype)
    for i in range(g):
        dense[i * out_g : (i + 1) * out_g, i * c_in_g : (i + 1) * c_in_g] = w[
            i * out_g : (i + 1) * out_g
        ]
    return dense


def torch_to_lava_weight(weight: np.ndarray) -> np.ndarray:
    """PyTorch ``(C_out, C_in, kh, kw)`` cross-correlation -> Lava ``(C_out, kx, ky, C_in)``
    (netx's own conversion: flip, then transpose)."""
    return np.ascontiguousarray(np.asarray(weight)[:, :, ::-1, ::-1].transpose(0, 3, 2, 1))


@implements(proc=Conv, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyConvModelExact(PyLoihiProcessModel):
    """Exact, vectorized fixed-point Conv model that applies ``weight_exp``."""

    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    a_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    a_buf: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    weight: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=8)
    kernel_size: np.ndarray = LavaPyType(np.ndarray, np.int8, precision=8)
    stride: np.ndarray = LavaPyType(np.ndarray, np.int8, precision=8)
    padding: np.ndarray = LavaPyType(np.ndarray, np.int8, precision=8)
    dilation: np.ndarray = LavaPyType(np.ndarray, np.int8, precision=8)
    groups: np.ndarray = LavaPyType(np.ndarray, np.int8, precision=8)
    num_message_bits: np.ndarray = LavaPyType(np.ndarray, np.int8, precision=5)
    weight_exp: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=8)
    num_weight_bits: np.ndarray = LavaPyType(np.ndarray, np.int8, precision=5)

    def __init__(self, proc_params) -> None:
        super().__init__(proc_params)
        self._op: Conv2d | None = None

    def _prepare(self) -> None:
        dense = lava_to_torch_weight(self.weight, int(self.groups[0]), self.dilation)
        sx, sy = (int(v) for v in self.stride)
        px, py = (int(v) for v in self.padding)
        self._op = Conv2d(dense.astype(np.int64), (sy, sx), (py, px))

    def run_spk(self) -> None:
        self.a_out.send(self.a_buf)
        s_in = self.s_in.recv()
        if int(self.num_message_bits[0]) == 0:
            s_in = s_in.astype(bool)
        if self._op is None:
            self._prepare()
        if not s_in.any():
            self.a_buf = np.zeros(self.a_buf.shape, np.int32)
            return
        y = shift(self._op(s_in.transpose(2, 1, 0).astype(np.int64)), int(self.weight_exp[0]))
        half = np.int64(1) << (OUT_BITS - 1)
        y = (y + half) % (half << 1) - half
        self.a_buf = y.transpose(2, 1, 0).astype(np.int32)


#: ``Loihi2SimCfg(exception_proc_model_map=EXCEPTION_MAP)``: the project's CPU models of
#: stock process classes.
EXCEPTION_MAP = {Conv: PyConvModelExact}
