"""neurolearn.models.LSTM / BiLSTM: shapes, Keras parameter counts and semantics, causality,
a NumPy reference, dropout, gradients, and the fused BiLSTM implementation.

Speed: an eager ``nnx.RNN`` call compiles its scan every time, so the models run through
``run``/``grads`` (compiled once per architecture and input shape), and the tests share a few
architectures (``make``'s defaults) and the input shape ``(B, T, 2)``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from neurolearn.models import LSTM, BiLSTM, BiLSTMConfig, LSTMConfig
from neurolearn.models import bilstm as bilstm_module
from neurolearn.models import lstm as lstm_module

MODELS = {"lstm": (LSTM, LSTMConfig), "bilstm": (BiLSTM, BiLSTMConfig)}
B, T, STEP = 5, 9, 4  # batch, window length, the step whose output the causality tests examine


def make(kind, seed=0, *, in_features=2, out_features=3, **cfg):
    """A small model; dropout 0.5 everywhere (inactive unless train=True)."""
    cls, cfg_cls = MODELS[kind]
    cfg.setdefault("hidden", (4, 3))
    cfg.setdefault("dropout", 0.5)
    return cls(
        cfg_cls(**cfg), in_features=in_features, out_features=out_features, rngs=nnx.Rngs(seed)
    )


@nnx.jit(static_argnames="train")
def run(model, x, train=False, rngs=None):
    return model(x, train=train, rngs=rngs)


def _loss(model, x):
    out = model(x)
    return jnp.mean(out**2) + jnp.mean(out)


@nnx.jit
def grads(model, x):
    """d loss / d parameters (an nnx.State of the model's Params)."""
    return nnx.grad(_loss)(model, x)


def rand(shape, seed=0):
    return jnp.asarray(np.random.default_rng(seed).normal(size=shape).astype(np.float32))


def n_params(model) -> int:
    return sum(int(np.size(p)) for p in jax.tree.leaves(nnx.state(model, nnx.Param)))


def keras_lstm_count(hidden, n_in):
    """Keras' LSTM parameter count, 4·(h·(h + in) + h) per layer, and the last layer's size."""
    total = 0
    for h in hidden:
        total += 4 * (h * (h + n_in) + h)
        n_in = h
    return total, n_in


# --- shapes, configs, parameter counts ------------------------------------------------------


@pytest.mark.parametrize("kind", ["lstm", "bilstm"])
@pytest.mark.parametrize("readout", ["last", "sequence"])
def test_output_shapes(kind, readout):
    model = make(kind, readout=readout)
    for steps in (1, T):
        y = run(model, rand((B, steps, 2)))
        assert y.shape == ((B, 3) if readout == "last" else (B, steps, 3))
        assert y.dtype == jnp.float32
    assert model.receptive_field is None
    with pytest.raises(ValueError, match=r"shape \(batch, steps, 2\), got \(5, 9, 3\)"):
        model(rand((B, T, 3)))


def test_bilstm_default_is_the_lfp_notebook_model_with_75073_parameters():
    model = bilstm_module.build(BiLSTMConfig(), in_features=1, out_features=1, rngs=nnx.Rngs(0))
    assert isinstance(model, BiLSTM)
    assert n_params(model) == 75_073
    # Bidirectional(LSTM(64, return_sequences=True)), Bidirectional(LSTM(32)), Dense(1)
    assert [n_params(layer) for layer in model.layers] == [33_792, 41_216]
    assert n_params(model.readout) == 65
    # two separate cells per layer: the directions do not share parameters
    for layer in model.layers:
        fwd, bwd = layer.forward_rnn.cell, layer.backward_rnn.cell
        assert fwd is not bwd
        assert not np.array_equal(fwd.dense_i.kernel[...], bwd.dense_i.kernel[...])


@pytest.mark.parametrize("cell", ["optimized", "plain"])
def test_parameter_counts_follow_keras(cell):
    hidden, n_in, n_out = (4, 3), 2, 3  # make()'s defaults
    lstm = lstm_module.build(
        LSTMConfig(hidden=hidden, cell=cell), in_features=n_in, out_features=n_out, rngs=nnx.Rngs(0)
    )
    assert isinstance(lstm, LSTM)
    rec, last = keras_lstm_count(hidden, n_in)
    assert rec == 4 * (4 * (4 + 2) + 4) + 4 * (3 * (3 + 4) + 3) == 208
    assert n_params(lstm) == rec + last * n_out + n_out == 220
    bi = make("bilstm", cell=cell)
    rec = 2 * keras_lstm_count((4,), n_in)[0] + 2 * keras_lstm_count((3,), 2 * 4)[0]
    assert n_params(bi) == rec + 2 * 3 * n_out + n_out


@pytest.mark.parametrize(
    "cfg_cls, kwargs, match",
    [
        (LSTMConfig, {"hidden": ()}, "non-empty"),
        (LSTMConfig, {"hidden": (4, 0)}, r"layer sizes >= 1, got \(4, 0\)"),
        (LSTMConfig, {"hidden": 64}, "sequence of layer sizes"),
        (LSTMConfig, {"dropout": 1.0}, r"dropout must be a rate in \[0, 1\), got 1.0"),
        (LSTMConfig, {"dropout": -0.1}, "dropout"),
        (LSTMConfig, {"readout": "all"}, r"readout must be one of \('last', 'sequence'\)"),
        (LSTMConfig, {"cell": "gru"}, r"cell must be one of \('optimized', 'plain'\), got 'gru'"),
        (BiLSTMConfig, {"hidden": (32, 2.5)}, "integer layer sizes"),
        (BiLSTMConfig, {"head": "mlp"}, r"head must be one of \('linear',\), got 'mlp'"),
        (BiLSTMConfig, {"impl": "cudnn"}, "impl must be one of"),
        (LSTMConfig, {"impl": "fused"}, r"impl must be one of \('rnn', 'vjp'\), got 'fused'"),
    ],
)
def test_bad_configs_are_rejected(cfg_cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cfg_cls(**kwargs)


def test_config_normalises_hidden_and_models_check_their_arguments():
    assert LSTMConfig(hidden=[8, 4]).hidden == (8, 4)  # e.g. from JSON
    assert BiLSTMConfig(hidden=[8]) == BiLSTMConfig(hidden=(8,))
    with pytest.raises(TypeError, match="LSTMConfig"):
        LSTM(BiLSTMConfig(), in_features=1, out_features=1, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="in_features must be an integer >= 1, got 0"):
        BiLSTM(in_features=0, out_features=1, rngs=nnx.Rngs(0))


# --- which inputs an output depends on ------------------------------------------------------


def _changes(a, b) -> bool:
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) > 1e-4


def _outputs(model):
    """Outputs for x, and for x with (1) every step after STEP replaced, (2) step STEP-1
    changed, (3) the first step changed, (4) the last step changed: one batch of B."""
    x = rand((1, T, 2))
    later = x.at[:, STEP + 1 :].set(rand((1, T - STEP - 1, 2), seed=1))
    xs = [x, later, x.at[:, STEP - 1].add(2.0), x.at[:, 0].add(2.0), x.at[:, -1].add(2.0)]
    y = np.asarray(run(model, jnp.concatenate(xs)))
    return [y[k] for k in range(len(xs))]


def test_lstm_sequence_is_causal_and_last_sees_the_whole_window():
    y, later, before, _, _ = _outputs(make("lstm", readout="sequence"))
    np.testing.assert_allclose(later[: STEP + 1], y[: STEP + 1], rtol=0, atol=1e-7)
    assert _changes(later[STEP + 1 :], y[STEP + 1 :])
    assert _changes(before[STEP], y[STEP])
    np.testing.assert_allclose(before[: STEP - 1], y[: STEP - 1], rtol=0, atol=1e-7)

    y, _, _, first, _ = _outputs(make("lstm", readout="last"))
    assert _changes(first, y)


def test_bilstm_outputs_depend_on_both_ends():
    y, later, before, _, _ = _outputs(make("bilstm", readout="sequence"))
    assert _changes(later[STEP], y[STEP])  # not causal: step t sees the future
    assert _changes(before[STEP], y[STEP])

    y, _, _, first, last = _outputs(make("bilstm", readout="last"))
    assert _changes(first, y)
    assert _changes(last, y)


# --- an independent NumPy reference ---------------------------------------------------------


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _gates(cell):
    """(W, U, b) of a flax LSTM cell with the gates in the order i, f, g, o, read from the
    module's own layers.

    OptimizedLSTMCell (flax source): ``y = dense_i(x) + dense_h(h)``, then
    ``i, f, g, o = jnp.split(y, 4, axis=-1)``. LSTMCell: one Linear per gate, ``ii``/``hi``,
    ``if_``/``hf``, ``ig``/``hg``, ``io``/``ho``, the bias on the recurrent one.
    """
    f64 = lambda v: np.asarray(v[...], np.float64)  # noqa: E731
    if isinstance(cell, nnx.OptimizedLSTMCell):
        return f64(cell.dense_i.kernel), f64(cell.dense_h.kernel), f64(cell.dense_h.bias)
    assert isinstance(cell, nnx.LSTMCell)
    w = np.concatenate([f64(getattr(cell, n).kernel) for n in ("ii", "if_", "ig", "io")], -1)
    u = np.concatenate([f64(getattr(cell, n).kernel) for n in ("hi", "hf", "hg", "ho")], -1)
    b = np.concatenate([f64(getattr(cell, n).bias) for n in ("hi", "hf", "hg", "ho")], -1)
    return w, u, b


def _lstm_numpy(cell, x):
    """Keras/flax LSTM over x (batch, steps, in) from a zero state: h at every step."""
    w, u, b = _gates(cell)
    n = u.shape[0]
    c = np.zeros((x.shape[0], n))
    h = np.zeros((x.shape[0], n))
    out = []
    for t in range(x.shape[1]):
        z = x[:, t] @ w + h @ u + b
        i, f, g, o = (z[:, k * n : (k + 1) * n] for k in range(4))
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        h = _sigmoid(o) * np.tanh(c)
        out.append(h)
    return np.stack(out, axis=1)


def _reference(model, x):
    """The model without dropout, in float64 NumPy."""
    h = np.asarray(x, np.float64)
    n = len(model.layers)
    for k, layer in enumerate(model.layers):
        last = model.cfg.readout == "last" and k == n - 1
        if isinstance(model, LSTM):
            h = _lstm_numpy(layer.cell, h)
            if last:
                h = h[:, -1]
        else:
            fwd = _lstm_numpy(layer.forward_rnn.cell, h)
            bwd = _lstm_numpy(layer.backward_rnn.cell, h[:, ::-1])  # reads x_T .. x_1
            if last:  # Keras: forward state after x_T, backward state after x_1
                h = np.concatenate([fwd[:, -1], bwd[:, -1]], axis=-1)
            else:
                h = np.concatenate([fwd, bwd[:, ::-1]], axis=-1)
    dense = model.readout
    return h @ np.asarray(dense.kernel[...], np.float64) + np.asarray(dense.bias[...], np.float64)


@pytest.mark.parametrize(
    "kind, cell, readout",
    [
        ("lstm", "optimized", "last"),
        ("lstm", "plain", "last"),
        ("lstm", "optimized", "sequence"),
        ("bilstm", "optimized", "last"),
        ("bilstm", "plain", "last"),
        ("bilstm", "optimized", "sequence"),
    ],
)
def test_forward_matches_a_numpy_lstm(kind, cell, readout):
    model = make(kind, seed=3, cell=cell, readout=readout)
    x = rand((B, T, 2), seed=2)
    np.testing.assert_allclose(np.asarray(run(model, x)), _reference(model, x), atol=1e-5)


def test_default_bilstm_matches_the_numpy_reference():
    model = BiLSTM(in_features=1, out_features=1, rngs=nnx.Rngs(5))
    x = rand((2, 20, 1), seed=4)
    np.testing.assert_allclose(np.asarray(run(model, x)), _reference(model, x), atol=1e-5)


def test_both_cells_compute_the_same_function_from_the_same_seed():
    x = rand((B, T, 2))
    for kind in MODELS:
        a = make(kind, seed=7, cell="optimized")
        b = make(kind, seed=7, cell="plain")
        np.testing.assert_allclose(np.asarray(run(a, x)), np.asarray(run(b, x)), atol=1e-6)


def test_initialisation_is_keras_like():
    w, u, b = _gates(make("lstm").layers[0].cell)  # in 2, h 4
    np.testing.assert_array_equal(b, np.r_[np.zeros(4), np.ones(4), np.zeros(8)])  # forget: 1
    np.testing.assert_allclose(u @ u.T, np.eye(4), atol=1e-5)  # orthogonal (h, 4h)
    limit = np.sqrt(6 / (2 + 16))  # Glorot-uniform on (in, 4h)
    assert np.abs(w).max() <= limit and np.abs(w).max() > 0.5 * limit


# --- dropout and gradients ------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["lstm", "bilstm"])
def test_dropout_is_active_only_when_training(kind):
    model = make(kind, seed=1, dropout=0.5)
    x = rand((B, T, 2))
    y = np.asarray(run(model, x))
    np.testing.assert_allclose(y, _reference(model, x), atol=1e-5)  # = the model without dropout
    np.testing.assert_array_equal(np.asarray(run(model, x)), y)
    np.testing.assert_array_equal(np.asarray(run(model, x, False, nnx.Rngs(dropout=1))), y)
    a = np.asarray(run(model, x, True, nnx.Rngs(dropout=1)))
    b = np.asarray(run(model, x, True, nnx.Rngs(dropout=2)))
    assert _changes(a, b) and _changes(a, y)
    np.testing.assert_array_equal(np.asarray(run(model, x, True, nnx.Rngs(dropout=1))), a)
    with pytest.raises(ValueError, match="'dropout' stream"):
        model(x, train=True)


@pytest.mark.parametrize("kind", ["lstm", "bilstm"])
def test_gradient_reaches_every_parameter(kind):
    model = make(kind)
    g = grads(model, rand((B, T, 2)))
    leaves = jax.tree_util.tree_leaves_with_path(g)
    assert (
        len(leaves)
        == len(jax.tree.leaves(nnx.state(model, nnx.Param)))
        == (3 * len(model.layers) * (1 if kind == "lstm" else 2) + 2)
    )
    for path, leaf in leaves:
        leaf = np.asarray(leaf)
        assert np.all(np.isfinite(leaf)), jax.tree_util.keystr(path)
        assert np.any(leaf != 0), jax.tree_util.keystr(path)


# --- the fused BiLSTM implementation --------------------------------------------------------


@pytest.mark.parametrize("cell, readout", [("optimized", "last"), ("plain", "sequence")])
def test_fused_bilstm_equals_nnx_bidirectional(cell, readout):
    ref = make("bilstm", seed=4, cell=cell, readout=readout)
    fused = make("bilstm", seed=4, cell=cell, readout=readout, impl="fused")
    s_ref, s_fused = nnx.state(ref), nnx.state(fused)
    assert jax.tree.structure(s_ref) == jax.tree.structure(s_fused)
    for a, b in zip(jax.tree.leaves(s_ref), jax.tree.leaves(s_fused), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    x = rand((B, T, 2), seed=5)
    np.testing.assert_allclose(np.asarray(run(fused, x)), np.asarray(run(ref, x)), atol=1e-5)
    if readout == "last":  # the gradient runs through layer 1's whole output sequence
        g_ref, g_fused = grads(ref, x), grads(fused, x)
        for a, b in zip(jax.tree.leaves(g_ref), jax.tree.leaves(g_fused), strict=True):
            np.testing.assert_allclose(np.asarray(b), np.asarray(a), atol=1e-5)


@pytest.mark.parametrize("readout, cell", [("last", "optimized"), ("sequence", "plain")])
def test_hand_written_backward_pass_equals_jax_autodiff_of_nnx_rnn(readout, cell):
    """impl="vjp" (lstm_layer's own backward pass) against JAX's derivative of nnx.RNN: the same
    parameters give the same outputs, and the same gradients for every weight and the input."""
    models = {
        impl: LSTM(
            LSTMConfig(hidden=(6, 5), readout=readout, cell=cell, impl=impl),
            in_features=3,
            out_features=2,
            rngs=nnx.Rngs(7),
        )
        for impl in ("rnn", "vjp")
    }
    x = jax.random.normal(jax.random.key(1), (4, 11, 3))
    target = jax.random.normal(jax.random.key(2), models["rnn"](x).shape)

    @nnx.jit
    def value_and_grads(model, x):
        def loss(model, x):
            return jnp.sum((model(x) - target) ** 2)

        return nnx.value_and_grad(loss, argnums=(0, 1))(model, x)

    (l_rnn, (g_rnn, gx_rnn)), (l_vjp, (g_vjp, gx_vjp)) = (
        value_and_grads(models[k], x) for k in ("rnn", "vjp")
    )
    np.testing.assert_allclose(l_vjp, l_rnn, rtol=1e-5)
    np.testing.assert_allclose(gx_vjp, gx_rnn, rtol=1e-4, atol=1e-6)
    a, b = jax.tree.leaves(nnx.state(g_rnn)), jax.tree.leaves(nnx.state(g_vjp))
    for ga, gb in zip(a, b, strict=True):
        assert float(jnp.max(jnp.abs(ga))) > 0  # every parameter gets a gradient
        np.testing.assert_allclose(gb, ga, rtol=1e-4, atol=1e-6)
