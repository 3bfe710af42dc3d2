"""Models (Flax NNX): one family per module, each with its config dataclass, selected by name
from a task's config through the registry (:mod:`neurolearn.models.registry`)."""

from . import bilstm as _bilstm
from . import cnn as _cnn
from . import lstm as _lstm
from . import percell as _percell
from . import vae as _vae
from .bilstm import BiLSTM as BiLSTM
from .bilstm import BiLSTMConfig as BiLSTMConfig
from .cnn import CNNConfig as CNNConfig
from .cnn import ConvNet1D as ConvNet1D
from .lstm import LSTM as LSTM
from .lstm import LSTMConfig as LSTMConfig
from .percell import PerCellConfig as PerCellConfig
from .percell import PerCellModel as PerCellModel
from .registry import build as build
from .registry import describe_model as describe_model
from .registry import model_config as model_config
from .registry import model_names as model_names
from .registry import model_to_dict as model_to_dict
from .registry import register_model as register_model
from .vae import LSTMVAE as LSTMVAE
from .vae import LSTMVAEConfig as LSTMVAEConfig

register_model("cnn", CNNConfig, _cnn.build)
register_model("lstm", LSTMConfig, _lstm.build)
register_model("bilstm", BiLSTMConfig, _bilstm.build)
register_model("percell", PerCellConfig, _percell.build)
register_model("lstm_vae", LSTMVAEConfig, _vae.build)
