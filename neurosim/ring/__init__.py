"""The excitatory/inhibitory integrate-and-fire ring of Xiao & Lin (2022): simulation, recordings.

Public API: :func:`ring_params` (presets ``fig1``, ``fig2``, ``fig3``), :class:`RingParams`,
:func:`simulate_ring`, :class:`RingResult`, :func:`ring_synaptic_currents` (for the LFP),
:func:`reliability_experiment`, the analysis helpers in :mod:`neurosim.ring.recording`, and
:func:`init_state` / :func:`step`, the model as pure step functions (:mod:`neurosim.ring.loop`).
See ``docs/ring.md``.
"""

from .currents import SynapticCurrents as SynapticCurrents
from .currents import ring_synaptic_currents as ring_synaptic_currents
from .loop import RingSystem as RingSystem
from .loop import init_state as init_state
from .loop import step as step
from .model import RingState as RingState
from .presets import PRESETS as PRESETS
from .presets import RingParams as RingParams
from .presets import ring_params as ring_params
from .recording import spike_count_slide as spike_count_slide
from .recording import synchrony_index as synchrony_index
from .reliability import ReliabilityResult as ReliabilityResult
from .reliability import reliability_experiment as reliability_experiment
from .simulate import RingResult as RingResult
from .simulate import simulate_ring as simulate_ring
