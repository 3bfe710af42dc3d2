"""What a lab records: calcium fluorescence and LFP computed from spikes and synaptic currents.

One concept per module: ``sources`` (spike trains), ``indicators`` (presets, calcium → ΔF/F),
``calcium`` (the fluorescence forward model), ``noise`` (ν, drift, coloured noise), ``lfp``
(the LFP proxy and the multi-unit label), ``realism`` (comparison with real recordings).
"""

from .calcium import (
    CalciumConfig,
    CalciumRecording,
    calcium_transients,
    double_exponential,
    kernel_peak_time_s,
    simulate_calcium,
)
from .indicators import PRESETS, Indicator, fluorescence, get_indicator
from .lfp import LFPConfig, LFPRecording, lfp_proxy, mua_label, simulate_lfp
from .noise import noise_level
from .sources import (
    SpikeTrains,
    bin_spikes,
    bursty_spike_times,
    poisson_spike_times,
    random_rates,
    spike_times_from_counts,
    spike_times_from_raster,
)

__all__ = [
    "PRESETS",
    "CalciumConfig",
    "CalciumRecording",
    "Indicator",
    "LFPConfig",
    "LFPRecording",
    "SpikeTrains",
    "bin_spikes",
    "bursty_spike_times",
    "calcium_transients",
    "double_exponential",
    "fluorescence",
    "get_indicator",
    "kernel_peak_time_s",
    "lfp_proxy",
    "mua_label",
    "noise_level",
    "poisson_spike_times",
    "random_rates",
    "simulate_calcium",
    "simulate_lfp",
    "spike_times_from_counts",
    "spike_times_from_raster",
]
