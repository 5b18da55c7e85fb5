"""The neuron forms an MT layer can be deployed in, validated in one place.

docs/semantics.md sections 1 and 5: every form carries the same count
``k = clamp(floor(v / theta_N), 0, 2^N - 1)`` per step, and all are bit-identical.

- ``graded``: one graded spike carrying ``k`` (Loihi 2 payload);
- ``cascade``: N binary threshold stages, the binary digits of ``k``;
- ``virtual``: SpikeYOLO's spike-driven form, ``D = 2^N - 1`` binary virtual sub-steps
  per step, the first ``k`` of which carry a spike (thermometer code).

No heavy imports here: the command-line parser reads :data:`NEURON_FORMS` for its
``--form`` choices.
"""

from __future__ import annotations

from typing import Literal

__all__ = [
    "FORMS",
    "FORM_GROUPS",
    "NEURON_FORMS",
    "Form",
    "NeuronForm",
    "check_neuron_form",
    "resolve_forms",
]

#: How an MT layer delivers its count ``k`` (see the module docstring). A new form is
#: added here; the simulation does not change (the count is the same in every form), each
#: backend's per-form table does (Lava neuron models, synops, mapping).
Form = Literal["graded", "cascade", "virtual"]
FORMS: tuple[Form, ...] = ("graded", "cascade", "virtual")
#: The same, under the names the graph and the backends have always used.
NeuronForm = Form
NEURON_FORMS = FORMS


def check_neuron_form(form: str) -> NeuronForm:
    """``form`` if it is one of :data:`NEURON_FORMS`, else ValueError (the one place
    every command, backend and file format validates a form)."""
    if form not in NEURON_FORMS:
        raise ValueError(f"neuron form must be one of {', '.join(NEURON_FORMS)}, got {form!r}")
    return form  # type: ignore[return-value]


#: Names a command's ``--form`` accepts for several forms at once.
FORM_GROUPS: dict[str, tuple[NeuronForm, ...]] = {
    "both": ("graded", "cascade"),  # the two forms that existed first (kept for scripts)
    "all": NEURON_FORMS,
}


def resolve_forms(choice: str) -> tuple[NeuronForm, ...]:
    """The forms a ``--form`` value names: one form, ``both`` or ``all``; ValueError else."""
    if choice in FORM_GROUPS:
        return FORM_GROUPS[choice]
    return (check_neuron_form(choice),)
