"""Data pipeline: read and check datasets, window them, split without leaks, normalise, batch."""

from .batching import Batcher as Batcher
from .batching import fits_on_device as fits_on_device
from .batching import prefetch as prefetch
from .normalise import Normalisation as Normalisation
from .normalise import Standardizer as Standardizer
from .readers import ArraySpec as ArraySpec
from .readers import Dataset as Dataset
from .readers import read_dataset as read_dataset
from .readers import validate_arrays as validate_arrays
from .splits import LeakageWarning as LeakageWarning
from .splits import Split as Split
from .splits import check_no_overlap as check_no_overlap
from .splits import split_blocks as split_blocks
from .splits import split_groups as split_groups
from .splits import split_last as split_last
from .splits import split_random as split_random
from .windows import ArraySource as ArraySource
from .windows import WindowSource as WindowSource
from .windows import concatenate_series as concatenate_series
from .windows import sliding_windows as sliding_windows
from .windows import window_starts as window_starts
