"""Models (Flax NNX): one concept per module."""

from .bilstm import BiLSTM as BiLSTM
from .bilstm import BiLSTMConfig as BiLSTMConfig
from .cnn import ConvNet1D as ConvNet1D
from .lstm import LSTM as LSTM
from .lstm import LSTMConfig as LSTMConfig
