"""neurolearn: Flax NNX models trained with optax on neurosim datasets and real recordings.

Public API (see ``docs/neurolearn.md``)::

    neurolearn.train_and_evaluate(task, config, data=..., workdir=...)   # a run folder
    neurolearn.evaluate_run(run_dir, data)                               # metrics on a file
    neurolearn.load_run(run_dir).predict(x)                              # reuse the model
    neurolearn.predict_file(run_dir, input, out)                         # files in, files out
    neurolearn.get_task(name), neurolearn.all_tasks()                    # the task registry
    neurolearn.metrics                                                   # RMSE … Spikefinder r
"""

__version__ = "0.1.0"

from . import metrics as metrics
from .config import TrainConfig as TrainConfig
from .predict import predict_file as predict_file
from .tasks import Task as Task
from .tasks import all_tasks as all_tasks
from .tasks import get as get_task  # noqa: F401  (re-exported)
from .train import NonFiniteLossError as NonFiniteLossError
from .train import evaluate_run as evaluate_run
from .train import load_run as load_run
from .train import train_and_evaluate as train_and_evaluate
