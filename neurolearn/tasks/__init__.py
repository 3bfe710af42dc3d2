"""Learning tasks. Each task module registers itself on import; ``neurolearn tasks`` lists them.

Add a task: a module ``NAME.py`` here that calls ``register(...)``, and one import line below.
"""

from . import (
    calcium_detect,  # noqa: F401
    calcium_rate,  # noqa: F401
    hh_voltage,  # noqa: F401
    lfp_spike,  # noqa: F401
    ring_counts,  # noqa: F401
)
from .registry import Prepared as Prepared
from .registry import Task as Task
from .registry import all_tasks as all_tasks
from .registry import get as get
from .registry import register as register
