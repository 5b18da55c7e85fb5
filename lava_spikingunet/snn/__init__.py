"""Float spiking simulation of a SpikingGraph (multi-threshold and IF neurons)."""

from lava_spikingunet.snn.float_sim import SimResult, graph_tensors, simulate
from lava_spikingunet.snn.mt_neuron import greedy_cascade, mt_fire, mt_scan

__all__ = ["SimResult", "graph_tensors", "greedy_cascade", "mt_fire", "mt_scan", "simulate"]
