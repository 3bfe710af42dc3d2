"""How real are the synthetic calcium recordings? Statistics compared with the Spikefinder cells.

For each real training set (4: OGB-1, 5: GCaMP6s, 6: GCaMP5k) we build a *synthetic twin*: the
real cells' own spike trains (placed uniformly inside their 10 ms frames) go through the forward
model with the matching indicator preset, at the set's native frame rate, and then through the
pipeline the Spikefinder files went through (c2s preprocessing, Theis et al. 2016: Fourier
resampling to 100 Hz and the 5th/80th-percentile normalisation). The noise level of each twin
cell is fitted so that its normalised 100 Hz ν equals the real cell's; everything else is the
preset. Then both are measured the same way:

- ν (CASCADE noise level) of the normalised 100 Hz trace (matched by construction), and the
  fitted ν at the native rate in ΔF/F units (an estimate of the real recording's noise level);
- the linear kernel (ridge regression of the trace on the spike counts): its peak ("ΔF/F per
  spike", in normalised units), time to peak and 1/e decay time;
- autocorrelation at 0.5, 1 and 2 s (the statistics of the Spikefinder "elephant" entry);
- the power spectrum (Welch), normalised to unit total power;
- the event amplitude distribution: for isolated groups of spikes (no spike in the 1 s
  before), the peak of the smoothed trace after the first spike minus the mean in the 0.5 s
  before, by number of spikes in the group.

Run ``python -m neurosim.observe.realism`` to regenerate ``docs/figures/calcium_realism.png``,
the table in ``docs/calcium_realism.md`` and every number (with the seed and package versions) in
``docs/calcium_realism.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import jax
import numpy as np

from ..provenance import package_versions
from ..spikefinder import Recording, normalize_trace, read_recording, resample_trace
from .calcium import CalciumConfig, simulate_calcium
from .indicators import Indicator, get_indicator
from .noise import noise_level
from .sources import spike_times_from_counts

#: The real sets, their indicators, and native frame rates (Hz) estimated from where the power
#: spectrum of the 100 Hz files falls off (see :func:`native_frame_rate`).
REAL_SETS: dict[int, dict] = {
    4: {"indicator": "ogb1", "label": "set 4 · OGB-1 (mouse retina)"},
    5: {"indicator": "gcamp6s", "label": "set 5 · GCaMP6s (mouse V1)"},
    6: {"indicator": "gcamp5k", "label": "set 6 · GCaMP5k"},
}

EVENT_GROUPS = ((1, 1), (2, 2), (3, 4), (5, 1000))


def native_frame_rate(traces: list[np.ndarray], frame_rate: float) -> float:
    """Estimate the frame rate a recording was acquired at before it was Fourier-resampled.

    Fourier upsampling leaves no power above the native Nyquist frequency: the spectrum of the
    resampled trace drops by many orders of magnitude there. Returns twice the highest frequency
    whose mean log power is within 2.5 decades of the 1–3.5 Hz floor (``frame_rate`` if none
    drops). Traces of unequal length are analysed with the shortest one's segment length.
    """
    from scipy.signal import welch

    logs = []
    n = min(4096, min(len(x) for x in traces))  # one segment length: one frequency grid
    for x in traces:
        f, p = welch(np.asarray(x, np.float64), fs=frame_rate, nperseg=n)
        logs.append(np.log10(np.maximum(p, 1e-300)))
    lp = np.mean(logs, axis=0)
    floor = lp[(f > 1) & (f < 3.5)].min()
    ok = np.flatnonzero(lp > floor - 2.5)
    fc = f[ok[-1]]
    return float(min(2 * fc, frame_rate))


# --------------------------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------------------------


def linear_kernel(
    x: np.ndarray,
    spikes: np.ndarray,
    frame_rate: float,
    *,
    pre_s: float = 0.2,
    post_s: float = 3.0,
    ridge: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """The linear response to one spike: ridge regression ``x(t) ≈ b + Σ_k h(k)·s(t − k)``.

    Returns:
        ``(lags_s, h)``.
    """
    from numpy.lib.stride_tricks import sliding_window_view

    l0, l1 = int(round(pre_s * frame_rate)), int(round(post_s * frame_rate))
    s = np.asarray(spikes, np.float64)
    pad = np.concatenate([np.zeros(l1), s, np.zeros(l0)])
    X = sliding_window_view(pad, l0 + l1 + 1)[: len(x), ::-1]
    X = np.concatenate([X, np.ones((len(x), 1))], axis=1)
    A = X.T @ X + ridge * np.eye(X.shape[1])
    h = np.linalg.solve(A, X.T @ np.asarray(x, np.float64))
    return np.arange(-l0, l1 + 1) / frame_rate, h[:-1]


def kernel_stats(lags_s: np.ndarray, h: np.ndarray) -> dict[str, float]:
    """Peak, time to peak and 1/e decay time of a kernel (NaN where it does not decay)."""
    after = lags_s >= 0
    la, ha = lags_s[after], h[after]
    # peak of the kernel smoothed over 50 ms, to be robust to noise
    w = max(1, int(round(0.05 / (lags_s[1] - lags_s[0]))))
    hs = np.convolve(ha, np.ones(w) / w, mode="same")
    k = int(np.argmax(hs))
    peak = float(hs[k])
    below = np.flatnonzero(hs[k:] < peak / math.e)
    decay = float(la[k + below[0]] - la[k]) if below.size else math.nan
    return {"peak": peak, "t_peak_s": float(la[k]), "decay_s": decay}


def autocorrelation(x: np.ndarray, frame_rate: float, lags_s=(0.5, 1.0, 2.0)) -> np.ndarray:
    """Autocorrelation of ``x`` at the given lags (s)."""
    x = np.asarray(x, np.float64) - np.mean(x)
    var = np.dot(x, x)
    out = []
    for lag in lags_s:
        k = int(round(lag * frame_rate))
        out.append(np.dot(x[:-k], x[k:]) / var if 0 < k < len(x) else math.nan)
    return np.asarray(out)


def power_spectrum(
    x: np.ndarray, frame_rate: float, nperseg: int = 1024
) -> tuple[np.ndarray, np.ndarray]:
    """Welch power spectrum normalised to unit total power: ``(f_hz, p)``."""
    from scipy.signal import welch

    f, p = welch(np.asarray(x, np.float64), fs=frame_rate, nperseg=min(nperseg, len(x)))
    return f, p / p.sum()


def event_amplitudes(
    x: np.ndarray,
    spikes: np.ndarray,
    frame_rate: float,
    *,
    gap_s: float = 0.25,
    quiet_s: float = 1.0,
    smooth_s: float = 0.05,
) -> tuple[np.ndarray, np.ndarray]:
    """Amplitudes of spike-evoked events.

    Events are groups of spikes closer than ``gap_s``, preceded by ``quiet_s`` without spikes.
    Amplitude: the peak of the trace (Gaussian-smoothed, σ = ``smooth_s``) from the first spike
    to 0.5 s after the last, minus the mean of the 0.5 s before the first.

    Returns:
        ``(n_spikes, amplitude)`` per event.
    """
    from scipy.ndimage import gaussian_filter1d

    xs = gaussian_filter1d(np.asarray(x, np.float64), smooth_s * frame_rate)
    idx = np.flatnonzero(np.asarray(spikes) > 0)
    if idx.size == 0:
        return np.zeros(0, int), np.zeros(0)
    counts = np.asarray(spikes)[idx]
    gap, quiet, half = (int(round(v * frame_rate)) for v in (gap_s, quiet_s, 0.5))
    groups, start = [], 0
    for i in range(1, len(idx) + 1):
        if i == len(idx) or idx[i] - idx[i - 1] > gap:
            groups.append((start, i))
            start = i
    n_out, amp_out = [], []
    prev_end = -(10**9)
    for a, b in groups:
        t0, t1 = idx[a], idx[b - 1]
        ok = t0 - prev_end >= quiet and t0 - half >= 0 and t1 + half < len(xs)
        prev_end = t1
        if not ok:
            continue
        base = xs[t0 - half : t0].mean()
        amp_out.append(xs[t0 : t1 + half].max() - base)
        n_out.append(int(counts[a:b].sum()))
    return np.asarray(n_out, int), np.asarray(amp_out)


@dataclass
class Summary:
    """Statistics of a set of cells (one entry per cell, events pooled)."""

    nu: np.ndarray
    kernel_peak: np.ndarray
    t_peak_s: np.ndarray
    decay_s: np.ndarray
    acf: np.ndarray  # (n_cells, 3) at 0.5, 1, 2 s
    psd_f: np.ndarray
    psd: np.ndarray  # (n_cells, n_freqs)
    kernels: list = field(default_factory=list)  # (lags, h) per cell
    event_n: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    event_amp: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def event_medians(self) -> list[float]:
        out = []
        for lo, hi in EVENT_GROUPS:
            sel = (self.event_n >= lo) & (self.event_n <= hi)
            out.append(float(np.median(self.event_amp[sel])) if sel.sum() >= 3 else math.nan)
        return out

    def row(self) -> dict[str, float]:
        med = self.event_medians()
        return {
            "nu_100hz": float(np.median(self.nu)),
            "dff_per_spike": float(np.median(self.kernel_peak)),
            "t_peak_s": float(np.nanmedian(self.t_peak_s)),
            "decay_s": float(np.nanmedian(self.decay_s)),
            "acf_0.5s": float(np.median(self.acf[:, 0])),
            "acf_1s": float(np.median(self.acf[:, 1])),
            "acf_2s": float(np.median(self.acf[:, 2])),
            "event_1": med[0],
            "event_2": med[1],
            "event_3_4": med[2],
            "event_5plus": med[3],
            "n_events": int(len(self.event_amp)),
        }


def summarize(rec: Recording) -> Summary:
    """Every statistic of :mod:`realism` for each cell of a recording (with spikes)."""
    if rec.spikes is None:
        raise ValueError("realism statistics need the spikes of each cell")
    f = rec.frame_rate
    nus, peaks, tps, decs, acfs, psds, kernels, ev_n, ev_a = [], [], [], [], [], [], [], [], []
    psd_f = None
    for x, s in zip(rec.calcium, rec.spikes, strict=True):
        nus.append(noise_level(x, f))
        lags, h = linear_kernel(x, s, f)
        ks = kernel_stats(lags, h)
        kernels.append((lags, h))
        peaks.append(ks["peak"])
        tps.append(ks["t_peak_s"])
        decs.append(ks["decay_s"])
        acfs.append(autocorrelation(x, f))
        psd_f, p = power_spectrum(x, f)
        psds.append(p)
        n, a = event_amplitudes(x, s, f)
        ev_n.append(n)
        ev_a.append(a)
    return Summary(
        np.asarray(nus),
        np.asarray(peaks),
        np.asarray(tps),
        np.asarray(decs),
        np.asarray(acfs),
        psd_f,
        np.asarray(psds),
        kernels,
        np.concatenate(ev_n),
        np.concatenate(ev_a),
    )


# --------------------------------------------------------------------------------------------
# Synthetic twins
# --------------------------------------------------------------------------------------------


def _twin_cell(
    spikes_100hz: np.ndarray,
    indicator: Indicator,
    native_rate: float,
    nu: float,
    config: CalciumConfig,
    key,
) -> np.ndarray:
    """One synthetic cell at ``native_rate`` with noise ``nu``, Fourier-resampled to 100 Hz and
    percentile-normalised (the c2s pipeline of the Spikefinder files)."""
    k_pos, k_rec = jax.random.split(key)
    spikes = spike_times_from_counts(spikes_100hz[None, :], 100.0, key=k_pos)
    n_native = int(math.floor(len(spikes_100hz) * native_rate / 100.0))
    rec = simulate_calcium(
        spikes,
        indicator,
        config.replace(frame_rate_hz=native_rate, noise_level=nu),
        key=k_rec,
        n_frames=n_native,
    )
    x = resample_trace(rec.dff[0], native_rate, 100.0, method="fourier", n_new=len(spikes_100hz))
    return normalize_trace(x, "percentile")


#: Where the bisection for a twin's native ν starts, and how far the bracket may be widened (a
#: decade at a time) when the real cell's ν lies outside it.
NU_BRACKET = (0.05, 50.0)
NU_LIMITS = (1e-4, 1e4)


def synthetic_twin(
    real: Recording,
    indicator: Indicator | str,
    native_rate: float,
    *,
    key: jax.Array,
    config: CalciumConfig | None = None,
    fit_iterations: int = 6,
) -> tuple[Recording, np.ndarray]:
    """A synthetic copy of a real recording (see the module docstring).

    The native ν of each twin cell is found by bisection on log ν, in :data:`NU_BRACKET` widened
    a decade at a time (up to :data:`NU_LIMITS`) until it contains the real cell's normalised
    ν. A cell that no ν within the limits matches (its normalised ν lies beyond that of pure
    noise through the pipeline, or below that of the noise-free twin) is not fitted: a
    ``RuntimeWarning`` names it, its twin is made at the limit reached, and its ν is NaN.

    Returns:
        ``(recording, nu_native)``: the normalised 100 Hz twin, and the fitted ν per cell at the
        native rate (ΔF/F units; NaN where it could not be fitted).
    """
    ind = get_indicator(indicator)
    cfg = config if config is not None else CalciumConfig()
    traces, nus = [], []
    lo_limit, hi_limit = (math.log(v) for v in NU_LIMITS)
    decade = math.log(10.0)
    for i, (x, s) in enumerate(zip(real.calcium, real.spikes, strict=True)):
        target = noise_level(x, real.frame_rate)
        k = jax.random.fold_in(key, i)

        def nu_norm(log_nu, s=s, k=k):
            return noise_level(_twin_cell(s, ind, native_rate, math.exp(log_nu), cfg, k), 100.0)

        # ν_norm is increasing in ν: bracket the target, then bisect on log ν
        lo, hi = (math.log(v) for v in NU_BRACKET)
        unfitted = None
        while nu_norm(hi) < target:
            if hi >= hi_limit:
                unfitted = hi
                break
            lo, hi = hi, min(hi + decade, hi_limit)
        else:
            while nu_norm(lo) >= target:
                if lo <= lo_limit:
                    unfitted = lo
                    break
                lo, hi = max(lo - decade, lo_limit), lo
        if unfitted is not None:
            reached = nu_norm(unfitted)
            warnings.warn(
                f"{real.source}, cell {i}: no native ν in [{NU_LIMITS[0]:g}, {NU_LIMITS[1]:g}] "
                f"gives its normalised ν {target:.4g} (ν = {math.exp(unfitted):g} gives "
                f"{reached:.4g}); the twin is made at ν = {math.exp(unfitted):g} and its fitted "
                "ν is NaN",
                RuntimeWarning,
                stacklevel=2,
            )
            traces.append(_twin_cell(s, ind, native_rate, math.exp(unfitted), cfg, k))
            nus.append(math.nan)
            continue
        for _ in range(fit_iterations + 8):
            mid = 0.5 * (lo + hi)
            if nu_norm(mid) < target:
                lo = mid
            else:
                hi = mid
        nu = math.exp(0.5 * (lo + hi))
        traces.append(_twin_cell(s, ind, native_rate, nu, cfg, k))
        nus.append(nu)
    return Recording(
        traces, [np.asarray(s) for s in real.spikes], 100.0, f"twin of {real.source}"
    ), np.asarray(nus)


# --------------------------------------------------------------------------------------------
# Report: table and figure
# --------------------------------------------------------------------------------------------

TABLE_COLUMNS = [
    ("nu_100hz", "ν (100 Hz, norm.)", "{:.2f}"),
    ("dff_per_spike", "ΔF/F per spike (norm.)", "{:.3f}"),
    ("t_peak_s", "time to peak (s)", "{:.2f}"),
    ("decay_s", "1/e decay (s)", "{:.2f}"),
    ("acf_0.5s", "ACF 0.5 s", "{:.2f}"),
    ("acf_1s", "ACF 1 s", "{:.2f}"),
    ("acf_2s", "ACF 2 s", "{:.2f}"),
    ("event_1", "event 1 spike", "{:.2f}"),
    ("event_2", "event 2 spikes", "{:.2f}"),
    ("event_3_4", "event 3-4 spikes", "{:.2f}"),
    ("event_5plus", "event 5+ spikes", "{:.2f}"),
]


def run_realism(
    data_dir: str | Path,
    *,
    key: jax.Array,
    config: CalciumConfig | None = None,
    sets: tuple[int, ...] = (4, 5, 6),
    indicators: dict[int, Indicator] | None = None,
):
    """Summaries of the real sets and their twins.

    Returns:
        ``{set: {"real": Summary, "twin": Summary, "native_rate": Hz, "nu_native": array,
        "indicator": Indicator, "real_rec": Recording, "twin_rec": Recording}}``.
    """
    data_dir = Path(data_dir)
    out = {}
    for s in sets:
        cal = data_dir / f"{s}.train.calcium.csv"
        if not cal.exists():
            cal = data_dir / f"{s}.train.calcium.csv.gz"
        real = read_recording(cal)
        rate = native_frame_rate(real.calcium, real.frame_rate)
        ind = (indicators or {}).get(s) or get_indicator(REAL_SETS[s]["indicator"])
        twin, nus = synthetic_twin(real, ind, rate, key=jax.random.fold_in(key, s), config=config)
        out[s] = {
            "real": summarize(real),
            "twin": summarize(twin),
            "native_rate": rate,
            "nu_native": nus,
            "indicator": ind,
            "real_rec": real,
            "twin_rec": twin,
        }
    return out


def _nu_cell(nus: np.ndarray) -> str:
    """Median fitted ν, and how many cells could not be fitted."""
    ok = np.isfinite(nus)
    text = f"{np.median(nus[ok]):.1f}" if ok.any() else "–"
    if not ok.all():
        text += f" ({int((~ok).sum())} of {len(nus)} cells not fitted)"
    return text


def markdown_table(results) -> str:
    head = (
        "| set | data | native rate (Hz) | fitted ν at native rate | "
        + " | ".join(c[1] for c in TABLE_COLUMNS)
        + " |"
    )
    sep = "|" + "---|" * (4 + len(TABLE_COLUMNS))
    lines = [head, sep]
    for s, r in results.items():
        for which in ("real", "twin"):
            row = r[which].row()
            nu = "" if which == "real" else _nu_cell(r["nu_native"])
            label = "real" if which == "real" else f"synthetic ({r['indicator'].name})"
            cells = [fmt.format(row[k]) for k, _, fmt in TABLE_COLUMNS]
            lines.append(
                f"| {s} | {label} | {r['native_rate']:.1f} | {nu} | " + " | ".join(cells) + " |"
            )
    return "\n".join(lines)


def realism_figure(results, out_png: str | Path) -> Path:
    """Figure: per set, an example trace, the kernels, autocorrelation, spectrum, events."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = list(results)
    fig, axes = plt.subplots(
        len(sets), 5, figsize=(19, 3.1 * len(sets)), gridspec_kw={"width_ratios": [2.2, 1, 1, 1, 1]}
    )
    axes = np.atleast_2d(axes)
    c_real, c_syn = "#222222", "#d95f02"
    for row, s in enumerate(sets):
        r = results[s]
        real, twin = r["real_rec"], r["twin_rec"]
        ax = axes[row, 0]
        cell = int(np.argmax([np.sum(sp) for sp in real.spikes]))
        t0, t1 = 2000, 5000
        t = np.arange(t0, t1) / 100.0
        ax.plot(t, real.calcium[cell][t0:t1], color=c_real, lw=0.6, label="real")
        ax.plot(t, twin.calcium[cell][t0:t1] - 2.5, color=c_syn, lw=0.6, label="synthetic (−2.5)")
        sp = np.flatnonzero(real.spikes[cell][t0:t1] > 0)
        ax.plot(t[sp], np.full(sp.size, -3.3), "|", color="k", ms=6)
        ax.set_title(f"{REAL_SETS[s]['label']}: cell {cell}", fontsize=9)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("normalised F")
        ax.legend(fontsize=7, loc="upper right")
        ax = axes[row, 1]
        for which, col in (("real", c_real), ("twin", c_syn)):
            ks = r[which].kernels
            lags = ks[0][0]
            hs = np.array([k[1] for k in ks])
            ax.plot(lags, hs.T, color=col, lw=0.4, alpha=0.35)
            ax.plot(lags, np.median(hs, 0), color=col, lw=2, label=which)
        ax.set_title("linear kernel (per spike)", fontsize=9)
        ax.set_xlabel("lag (s)")
        ax.legend(fontsize=7)
        ax = axes[row, 2]
        lag_s = np.arange(1, 401) / 100.0
        for which, rec, col in (("real", real, c_real), ("twin", twin, c_syn)):
            ac = np.array([autocorrelation(x, 100.0, lag_s) for x in rec.calcium])
            ax.plot(lag_s, np.median(ac, 0), color=col, lw=2, label=which)
            ax.fill_between(
                lag_s, np.percentile(ac, 25, 0), np.percentile(ac, 75, 0), color=col, alpha=0.2
            )
        ax.set_title("autocorrelation", fontsize=9)
        ax.set_xlabel("lag (s)")
        ax = axes[row, 3]
        for which, col in (("real", c_real), ("twin", c_syn)):
            sm = r[which]
            ax.loglog(sm.psd_f[1:], np.median(sm.psd, 0)[1:], color=col, lw=1.5, label=which)
        ax.set_ylim(1e-12, 1)
        ax.set_title("power spectrum (norm.)", fontsize=9)
        ax.set_xlabel("frequency (Hz)")
        ax = axes[row, 4]
        pos = np.arange(len(EVENT_GROUPS))
        for j, (which, col) in enumerate((("real", c_real), ("twin", c_syn))):
            sm = r[which]
            data = []
            for lo, hi in EVENT_GROUPS:
                sel = (sm.event_n >= lo) & (sm.event_n <= hi)
                data.append(sm.event_amp[sel] if sel.any() else np.array([np.nan]))
            bp = ax.boxplot(
                data,
                positions=pos + (j - 0.5) * 0.35,
                widths=0.3,
                showfliers=False,
                patch_artist=True,
            )
            for b in bp["boxes"]:
                b.set(facecolor=col, alpha=0.4)
        ax.set_xticks(pos, ["1", "2", "3-4", "5+"])
        ax.set_xlabel("spikes in event")
        ax.set_title("event amplitude (norm.)", fontsize=9)
    fig.suptitle(
        "Synthetic twins (orange) vs real Spikefinder cells (black): same spikes, "
        "preset indicator, c2s pipeline",
        fontsize=11,
    )
    fig.tight_layout()
    out_png = Path(out_png)
    fig.savefig(out_png, dpi=72)
    plt.close(fig)
    return out_png


def _nan_to_none(x):
    """NaN → None (JSON null), recursively."""
    if isinstance(x, dict):
        return {k: _nan_to_none(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_nan_to_none(v) for v in x]
    if isinstance(x, float) and math.isnan(x):
        return None
    return x


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m neurosim.observe.realism",
        description="Compare synthetic calcium (indicator presets) with the real Spikefinder "
        "cells: "
        "writes a figure and a Markdown table.",
    )
    p.add_argument(
        "--data",
        default="tests/data/spikefinder",
        help="folder with N.train.calcium.csv[.gz] and N.train.spikes.csv[.gz]",
    )
    p.add_argument("--out", default="docs/figures/calcium_realism.png", help="figure (PNG)")
    p.add_argument("--table", default="docs/calcium_realism.md", help="Markdown table")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    results = run_realism(args.data, key=jax.random.key(args.seed))
    table = markdown_table(results)
    realism_figure(results, args.out)
    command = "python -m neurosim.observe.realism" + (
        f" --seed {args.seed}" if args.seed != 0 else ""
    )
    notes = [
        f"Set {s}, cell {i}: no native ν in [{NU_LIMITS[0]:g}, {NU_LIMITS[1]:g}] matches its "
        "normalised ν; its twin is made at the limit and left out of the fitted ν."
        for s, r in results.items()
        for i in np.flatnonzero(~np.isfinite(r["nu_native"]))
    ]
    text = f"<!-- generated by `{command}`; do not edit -->\n\n" + table + "\n"
    if notes:
        text += "\n" + "\n".join(notes) + "\n"
    Path(args.table).write_text(text)
    print(table)
    summary = {
        "command": command,
        "seed": args.seed,
        "data": str(args.data),
        "versions": package_versions(),
        "nu_bracket": list(NU_BRACKET),
        "nu_limits": list(NU_LIMITS),
        "sets": {
            str(s): {
                "indicator": r["indicator"].name,
                "native_rate_hz": r["native_rate"],
                "nu_native": r["nu_native"].tolist(),
                "cells_not_fitted": np.flatnonzero(~np.isfinite(r["nu_native"])).tolist(),
                "real": r["real"].row(),
                "twin": r["twin"].row(),
            }
            for s, r in results.items()
        },
    }
    Path(args.table).with_suffix(".json").write_text(
        json.dumps(_nan_to_none(summary), indent=1, allow_nan=False) + "\n"
    )
    print(f"wrote {args.out} and {args.table}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
