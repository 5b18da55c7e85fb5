"""Edge-type dispatch: one table per backend, as NIR's backends do.

Each backend (torch operators, quantizer, profiler, netx writer, Lava builders...)
keeps one :class:`EdgeTable` mapping every edge class of :data:`EDGE_TYPES` to its
handler. A table must cover every edge type when it is built, so a new edge type fails
at import in each backend that has not been taught it: one place to add per backend.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Generic, TypeVar

from lava_spikingunet.graph.ir import EDGE_TYPES

__all__ = ["EdgeTable"]

T = TypeVar("T")


class EdgeTable(Generic[T]):
    """A backend's handler per edge class; ``table[edge]`` looks an edge instance up."""

    def __init__(self, backend: str, entries: Mapping[type, T]) -> None:
        missing = [c.__name__ for c in EDGE_TYPES if c not in entries]
        if missing:
            raise TypeError(f"{backend}: no entry for edge type(s) {', '.join(missing)}")
        self.backend = backend
        self._entries = dict(entries)

    def __getitem__(self, edge: object) -> T:
        try:
            return self._entries[type(edge)]
        except KeyError:
            raise TypeError(f"{self.backend}: unknown edge type {type(edge).__name__}") from None

    def items(self):
        return self._entries.items()
