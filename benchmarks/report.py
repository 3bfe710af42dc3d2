"""Markdown tables of a suite result, and ``docs/benchmarks.md`` + the README's speed table.

``python -m benchmarks report`` reads every ``benchmarks/results/suite_*.json`` (the latest per
device kind, CPU and GPU), writes ``docs/benchmarks.md`` and replaces the README's lines between
``<!-- speed-table:begin -->`` and ``<!-- speed-table:end -->``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
BEGIN, END = "<!-- speed-table:begin -->", "<!-- speed-table:end -->"


def _g(v, fmt=".3g") -> str:
    if v is None:
        return "–"
    if isinstance(v, str):
        return v
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return format(v, fmt)


def _table(head: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(_g(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _range(r) -> str:
    return f"{r['throughput_min']:.3g}–{r['throughput_max']:.3g}"


def environment_line(p: dict) -> str:
    e = p["environment"]
    v = e["versions"]
    dev = e["device_kind"] if e["backend"] != "cpu" else f"{e['device_count']} CPU device(s)"
    load = e.get("load_avg_1min")
    return (
        f"{e['cpu']} ({e['cpu_count']} cores), {dev}, jax {v.get('jax')} / jaxlib "
        f"{v.get('jaxlib')}, XLA_FLAGS={e.get('xla_flags') or '(none)'}, load average (1 min) "
        f"{_g(load, '.2f')} at the start, {_g(p.get('load_avg_end'), '.2f')} at the end; "
        f"{e['date_utc']}"
    )


def tables(p: dict) -> dict[str, str]:
    """Markdown tables of one suite result, by section."""
    out: dict[str, str] = {}
    sim = p.get("sim")
    if sim:
        peers = {r["B"]: [] for r in sim.get("hh_peers", [])}
        for r in sim.get("hh_peers", []):
            peers[r["B"]].append(r)
        rows = []
        for r in sim["hh"]:
            rows.append(
                [
                    "neurosim `simulate_hh`",
                    r["B"],
                    r["throughput"],
                    _range(r),
                    r["median_s"],
                    r["compile_s"],
                    "–",
                ]
            )
            for b in peers.get(r["B"], []):
                rows.append(
                    [
                        b["name"],
                        b["B"],
                        b["throughput"],
                        "–",
                        b["median_s"],
                        b["compile_s"],
                        b.get("ratio_peer_over_ours"),
                    ]
                )
        out["hh"] = (
            f"HH, {sim['sizes']['hh_ms']:g} ms at dt = 0.025 ms, OU input updated every step, "
            "spike counts only (neuron-steps/s, median of repeats; range: at the slowest and "
            "fastest repeat)\n\n"
            + _table(
                [
                    "simulator",
                    "B",
                    "neuron-steps/s",
                    "range",
                    "median s",
                    "compile s",
                    "neurosim ×",
                ],
                rows,
            )
        )
        g = sim["hh_grad"]
        fw = {r["B"]: r for r in g if r["name"] == "HH forward"}
        gr = {r["B"]: r for r in g if r["name"] == "HH grad"}
        out["hh_grad"] = (
            f"HH forward vs `jax.grad` w.r.t. g_K of the mean V, {sim['sizes']['grad_ms']:g} ms, "
            "one device, both compiled ahead of time\n\n"
            + _table(
                [
                    "B",
                    "forward neuron-steps/s",
                    "gradient neuron-steps/s",
                    "gradient / forward time",
                    "gradient scratch MB",
                    "compile s (fwd / grad)",
                ],
                [
                    [
                        B,
                        fw[B]["throughput"],
                        gr[B]["throughput"],
                        gr[B]["grad_cost_ratio"],
                        "–" if gr[B].get("temp_bytes") is None else gr[B]["temp_bytes"] / 1e6,
                        f"{fw[B]['compile_s']:.2f} / {gr[B]['compile_s']:.2f}",
                    ]
                    for B in fw
                ],
            )
        )
        rows = [
            [
                r["name"],
                r["trials"],
                r["throughput"],
                _range(r),
                r["median_s"],
                r.get("us_per_step"),
                r["compile_s"],
                r.get("ratio_peer_over_ours"),
            ]
            if "median_s" in r
            else [r["name"], r["trials"], "failed", "–", "–", "–", "–", "–"]
            for r in sim["ring"]
        ]
        out["ring"] = (
            f"E/I ring, fig1, {sim['sizes']['ring_ms']:g} ms at dt = 0.05 ms (simulated s per "
            "wall s = trials × duration / median run time)\n\n"
            + _table(
                [
                    "implementation",
                    "trials",
                    "simulated s / wall s",
                    "range",
                    "median s",
                    "µs / step",
                    "compile / build s",
                    "neurosim ×",
                ],
                rows,
            )
        )
        out["datasets"] = (
            "Datasets end to end through the CLI (one fresh process each: start-up, compilation "
            "and writing included)\n\n"
            + _table(
                ["command", "wall s", "throughput", "file MB"],
                [
                    [
                        f"`{r['command']}`",
                        r["median_s"],
                        f"{r['throughput']:.3g} {r['unit']}",
                        r["bytes"] / 1e6,
                    ]
                    for r in sim["datasets"]
                ],
            )
        )
    tr = p.get("train")
    if tr:
        keras = {r["task"]: r for r in tr.get("keras", [])}
        rows = []
        for r in tr["rows"]:
            k = keras.get(r["task"]) if r["preset"] == "seed" else None
            rows.append(
                [
                    r["task"],
                    r["preset"],
                    r["model"],
                    r["n_params"],
                    r["batch_size"],
                    r["ms_per_step"],
                    r["throughput"],
                    f"{r['s_per_epoch']:.3g} ({r['epoch_examples']})",
                    r["compile_s"],
                    r["infer_samples_per_s"],
                    k["ms_per_step"] if k else None,
                    k["ratio_peer_over_ours"] if k else None,
                ]
            )
        out["train"] = (
            f"Training: the engine's compiled step, {tr['sizes']['steps']} steps per call, median "
            f"of {tr['sizes']['repeats']} calls after a warm-up; s / epoch = the task's steps per "
            "epoch on the benchmark file × s / step (examples per epoch in brackets). Keras 3 "
            "(JAX backend): the seed notebook's model, `model.fit` on the same examples and "
            "batch size, median epoch after the first\n\n"
            + _table(
                [
                    "task",
                    "preset",
                    "model",
                    "params",
                    "batch",
                    "ms / step",
                    "samples / s",
                    "s / epoch",
                    "compile s",
                    "inference samples / s",
                    "Keras ms / step",
                    "Keras / ours",
                ],
                rows,
            )
        )
    inf = p.get("infer")
    if inf:
        t = inf["traces"]
        out["infer"] = (
            f"Spike inference on {t['cells']} synthetic cells × {t['frames']} frames at "
            f"{t['frame_rate_hz']:g} Hz (`{t['command']}`)\n\n"
            + _table(
                [
                    "method",
                    "cell-hours / s",
                    "median s",
                    "Spikefinder r (mean)",
                    "peer / ours time",
                ],
                [
                    [
                        r["name"],
                        r["throughput"],
                        r["median_s"],
                        r["spikefinder_r_mean"],
                        r.get("ratio_peer_over_ours"),
                    ]
                    for r in inf["rows"]
                ],
            )
            if inf["rows"]
            else "Spike inference: nothing ran (see the skipped list)."
        )
    if p.get("skipped"):
        out["skipped"] = "Skipped:\n\n" + "\n".join(
            f"- {s['what']}: {s['reason']}" for s in p["skipped"]
        )
    return out


def markdown(p: dict, *, heading: str = "#") -> str:
    parts = [
        f"{heading} Benchmark suite, {p['environment']['backend'].upper()}",
        "",
        f"`{p['command']}`{' (quick sizes)' if p.get('quick') else ''}, {p['wall_s']:.0f} s in "
        "all"
        + (
            " ("
            + ", ".join(
                f"{k} {p['suite_wall_s'][k]:.0f} s"
                for k in ("sim", "train", "infer")
                if k in p["suite_wall_s"]
            )
            + ")."
            if p.get("suite_wall_s")
            else "."
        ),
        "",
        environment_line(p),
        "",
    ]
    for text in tables(p).values():
        parts += [text, ""]
    return "\n".join(parts)


# ------------------------------------------------------------------------------------ docs
def latest(results: Path = RESULTS) -> dict[str, tuple[Path, dict]]:
    """The newest suite result per backend (``cpu``, ``gpu``)."""
    best: dict[str, tuple[Path, dict]] = {}
    for path in sorted(results.glob("suite_*.json")):
        p = json.loads(path.read_text())
        key = p["environment"]["backend"]
        if (
            key not in best
            or p["environment"]["date_utc"] > best[key][1]["environment"]["date_utc"]
        ):
            best[key] = (path, p)
    return best


def _find(rows, **kw):
    for r in rows:
        if all(r.get(k) == v for k, v in kw.items()):
            return r
    return None


def speed_table(found: dict[str, tuple[Path, dict]]) -> str:
    """The README's table: headline numbers of the latest results, with their source file."""
    lines = [
        "| device | workload | neurosim / neurolearn | peer, same run | result file |",
        "|---|---|---|---|---|",
    ]
    for backend, (path, p) in sorted(found.items()):
        e = p["environment"]
        dev = e["device_kind"] if backend != "cpu" else f"{e['cpu']} ({e['cpu_count']} cores)"
        rel = os.path.relpath(path, ROOT)
        sim = p.get("sim") or {}
        for r in sim.get("hh", []):
            if r["B"] in (1000, 10_000, 1_000_000):
                peer = [b for b in sim.get("hh_peers", []) if b["B"] == r["B"]]
                ptxt = (
                    "; ".join(
                        f"{b['name']} {b['throughput']:.3g} ({b['ratio_peer_over_ours']:.1f}× slower)"
                        for b in peer
                    )
                    or "–"
                )
                lines.append(
                    f"| {dev} | HH, B = {r['B']:,}, {sim['sizes']['hh_ms']:g} ms | "
                    f"{r['throughput']:.3g} neuron-steps/s | {ptxt} | `{rel}` |"
                )
        g = [r for r in sim.get("hh_grad", []) if r["name"] == "HH grad"]
        if g:
            r = g[-1]
            lines.append(
                f"| {dev} | `jax.grad` through HH, B = {r['B']:,} | {r['grad_cost_ratio']:.1f}× "
                f"the forward time | – | `{rel}` |"
            )
        ours = [r for r in sim.get("ring", []) if r.get("impl") == "neurosim" and "median_s" in r]
        for r in ours:
            peer = [
                b
                for b in sim["ring"]
                if b.get("impl", "").startswith("brian2")
                and b.get("trials") == r["trials"]
                and "median_s" in b
            ]
            ptxt = (
                "; ".join(
                    f"{b['name']} {b['median_s']:.3g} s (×{b['ratio_peer_over_ours']:.2f})"
                    for b in peer
                )
                or "–"
            )
            lines.append(
                f"| {dev} | ring fig1, {r['trials']} trial(s) × {sim['sizes']['ring_ms']:g} ms | "
                f"{r['median_s']:.3g} s ({r['throughput']:.3g} simulated s / s) | {ptxt} | `{rel}` |"
            )
        keras = {k["task"]: k for k in (p.get("train") or {}).get("keras", [])}
        for r in (p.get("train") or {}).get("rows", []):
            if r["preset"] != "seed":
                continue
            k = keras.get(r["task"])
            ktxt = (
                f"Keras 3 (JAX) {k['ms_per_step']:.3g} ms (×{k['ratio_peer_over_ours']:.2f})"
                if k
                else "–"
            )
            lines.append(
                f"| {dev} | train {r['task']} seed, batch {r['batch_size']} | "
                f"{r['ms_per_step']:.3g} ms / step | {ktxt} | `{rel}` |"
            )
        for r in (p.get("infer") or {}).get("rows", []):
            lines.append(
                f"| {dev} | spike inference: {r['name']} | {r['throughput']:.3g} cell-hours/s, "
                f"r = {r['spikefinder_r_mean']:.3f} | {'(peer)' if r['peer'] else '–'} | `{rel}` |"
            )
    notes = [
        f"`{os.path.relpath(path, ROOT)}`: {p['note']}"
        for path, p in found.values()
        if p.get("note")
    ]
    return "\n".join(lines + ([""] + notes if notes else []))


DOC_INTRO = """# Benchmarks

Generated by `python -m benchmarks report` from the newest `benchmarks/results/suite_*.json` of
each backend; do not edit by hand. Each section names the command that produced it. Every number
was measured with its peers in the same invocation, on the same inputs: compare rows of one
table, not across tables or machines. Timings are medians of repeats after a warm-up, with the
compilation timed apart (ahead of time, `.lower().compile()`, where the code allows it; otherwise
the compile time JAX reports during the first call).

Run it yourself:

```bash
pip install -e ".[peers,bench]"
python -m benchmarks run --quick --peers --plot   # see below for how long it takes
python -m benchmarks run --suite sim --peers      # full sizes, one suite
python -m benchmarks report                       # this page and the README's speed table
```

`--quick --peers --plot` took 3 min 22 s on the 2-core AMD EPYC (load average 0.9 at the start,
3.4 at the end, 2026-12-02), most of the peers' share being Brian2 generating and compiling its
C++ project for every configuration (4–8 s each). The full sizes without `--peers` took 8 min 28 s
on the same machine while other jobs ran (not committed: the committed CPU result is the quick
run, which has the peers).
"""

DOC_EXPLAIN = """## Where the time goes

- **Per-step overhead against arithmetic.** Every simulator here is a `lax.scan` over time
  steps. Below a few thousand neurons a step costs a roughly fixed overhead (loop bookkeeping,
  one pass over the carried state per fused operation), so throughput grows almost linearly
  with the batch (compare B = 1 with B = 1000 in the HH table). From B ≈ 1000 on, the HH step
  is compute-bound (exponentials) and the curve flattens.
- **Memory traffic.** The ring's step makes several passes over its (trials × 600) state (the
  recurrent window sum, the random input, the update); at 64 trials these passes, not the
  arithmetic, set the cost (`python benchmarks/bench_ring.py --breakdown`).
- **Per-call overhead.** `simulate_hh` as a user calls it (argument checks, placement on the
  devices, copying the results back) costs a few milliseconds a call; at B = 1 that, not the
  loop, is most of the time: compare its B = 1 row with the jit-compiled forward of the
  gradient table.
- **Gradients.** JAX's plain derivative of the time loop keeps every step's intermediates for
  the backward pass (about 190 bytes per neuron-step in float32) and then streams them back
  from memory. `simulate_hh` instead rematerialises each ~1 ms block (`jax.checkpoint`,
  `simulate_hh(remat=True)`, the default): the backward pass keeps the state at each block's
  start and recomputes the block's 40 steps, so the scratch memory grows by under one byte per
  neuron-step, and the gradient is faster because it no longer waits on memory.
  `python benchmarks/bench_hh_grad.py --sizes 1,100,1000,10000 --ms 50` on the quiet 2-core
  AMD EPYC (`benchmarks/results/hh-grad_cpu2_20261207.json`), gradient time over forward time
  and scratch memory, with and without: B = 1000, 4.1× (8.7 MB) against 9.7× (380 MB);
  B = 10,000, 7.0× (87 MB) against 16.7× (3.8 GB); B = 1, 10.5× against 22×. The same
  gradient to the printed digits in every row.
- **Training.** Keras 3 on its JAX backend compiles the same model into the same kind of XLA
  program as the engine, so per optimiser step the two do the same arithmetic in the same
  kernels; what differs is what surrounds the step (Keras' data adapter and callbacks per
  epoch, the engine's `steps_per_call` steps per compiled call). The small recurrent models are
  not bound by the loop's per-step bookkeeping here: unrolling the LSTM loop made a step slower
  (calcium-detect seed, LSTM(64) on windows of 20: 1.25 ms a step with `nnx.RNN(unroll=1)`,
  2.7 ms with 5, 3.6 ms with 20; the LFP BiLSTM: 71 ms with 1, 112 ms with 4; median wall
  time of `benchmarks.train.bench_config` chunks of 16 steps on a loaded machine, a throwaway
  probe with an `unroll` field that was not kept), and so did the fused BiLSTM
  (`impl="fused"`, `benchmarks/results/lstm_cells_cpu2_20261202.json`, an earlier session's). That is why the training
  table's ratios stay near 1 and the 2× target is not met on CPU.
- **A hand-written LSTM backward pass** (`LSTMConfig(impl="vjp")`,
  `neurolearn.models.lstm.lstm_layer`, now the ring-counts default) does less arithmetic than
  JAX's derivative of `nnx.RNN` (and Keras'): the inputs of all steps are projected by one
  matmul, the reverse loop does one matmul a step, and the weight gradients are one matmul each
  over all steps instead of one per step. Where the input projection dominates it pays: the
  ring-counts seed (1,200 features a step) took 6.3–8.1 ms a step against 9.1–9.2 ms with
  `impl="rnn"` and 8.8–10.0 ms in Keras (1.24–1.40× Keras) in three runs of
  `python benchmarks/bench_lstm_impl.py`
  (`benchmarks/results/lstm_impl_cpu2_20261202.json`, `lstm_impl_ring_cpu2_20261202.json`);
  for calcium-detect (3 features a step) it changes nothing (1.35 against 1.32 ms). Tests
  check its gradients against JAX's derivative of `nnx.RNN`.
- **Threads on CPU.** XLA's CPU backend splits one device's large elementwise kernels over a
  thread pool of one thread per core (`outer_dimension_partitions` in the compiled HLO;
  `NPROC=1` before JAX starts turns it off). A single device therefore already uses both cores
  of this machine, several CPU devices compete for the same threads, and on a loaded machine
  the threads wait for each other (as Brian2's OpenMP threads do, below). For the ring,
  64 trials on two devices of 32 took 105 µs a step against 26 µs on one device
  (`bench_ring.py --trials 64 --devices 1 2 --no-brian`, with other jobs starting on the
  machine), and 32 trials in one device's lanes cost twice as much per step as 64 on the loaded
  machine (60 against 30 µs CPU time, a probe of the compiled trial loop). On the quiet machine
  later the same probe gave 21.2 µs for two devices of 32 and 20.9 µs for one device of 64, and
  31 against 38 µs for 128 trials (two devices of 64 against one). The ring therefore splits a
  batch across devices only from 64 trials per device: nothing is lost on a quiet machine, and
  a loaded one no longer makes the split 4× slower.
- **Start-up.** Through the CLI a dataset also pays the interpreter and JAX start-up and the
  compilation of its simulation, which is why the small datasets of `--quick` show low
  throughput in the dataset table. For `neurosim generate ring-counts --trials 64 --duration-ms
  3000` (cProfile, loaded machine) about 2.7 s went to starting Python and importing JAX and
  neurosim, about 5 s to 21 compilations (the trial loop and many small jitted helpers) and the
  rest to the simulation itself; before the ring stopped splitting 64 trials across the CLI's
  two devices, the same command took 12.7–14.7 s here, after it 8.3 s. JAX's persistent
  compilation cache skips most of the compilation on the next run of the same command:
  `JAX_COMPILATION_CACHE_DIR=~/.cache/jax JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0
  neurosim generate ...` (8.1 s, then 7.1 and 6.7 s on the runs after).
- **Convolutions inside a loop.** XLA's CPU backend runs a convolution (and its gradient)
  inside a `lax.scan`/while loop through a much slower path than outside one: the calcium-rate
  CNN (the Spikefinder "elephant", 120,131 parameters, batch 256) took 2.3 s per optimiser step
  when the engine ran its steps under `lax.scan`, 0.14 s as one step per compiled call. The
  engine therefore dispatches models with a convolution one step at a time (no loop), and
  scans `steps_per_call` steps only for the others.
- **Brian2 with OpenMP threads** was far *slower* than with one thread in the committed CPU
  run (HH and ring tables): on a 2-core machine shared with other jobs, OpenMP threads wait on
  each other. Rerun on a quiet machine before reading anything into those rows.

## The issue's targets against the committed CPU run

- Training, every `seed` config at least 2× faster per epoch than Keras 3 (JAX backend):
  {keras_verdict}
- The ring, 64 trials 10× faster than Brian2's C++ standalone: not measured by `--quick`
  (8 trials of 1 s). `python benchmarks/bench_ring.py --trials 1 64 --repeats 3` on the quiet
  2-core AMD EPYC (`benchmarks/results/ring_cpu2_20261202.json`): 9.2× at 64 trials (1.42 s
  against 13.09 s; 23.7 against 218 µs a step) and 3.0× for one trial; a second quiet run
  (`--trials 64 --repeats 5 --devices 1 2`, `benchmarks/results/ring64_cpu2_20261202.json`)
  gave 7.9× (26.0 against 205 µs a step): not met, and an Intel Xeon measured 3.6× earlier
  (docs/ring.md).
- GPU targets: no GPU has been measured.

## When a GPU pays off

A GPU runs one step of many independent neurons or trials in parallel but pays a launch and
synchronisation cost per step. The 600-neuron ring alone is far too small to fill one (its
per-step overhead dominates, as on the CPU's single trial); many trials in one batch (hundreds
to thousands), HH batches of 10^5–10^6 neurons, and training with large batches are where it
pays. The suite measures HH to B = 10^6 and the ring to 1,024 trials when it runs on a GPU.
"""


GPU_HOWTO = """On a GPU machine with JAX installed and no network, from the repository root
(nothing to install: the package runs from the source tree; Brian2 and Keras are not needed):

```bash
bash benchmarks/gpu_session.sh OUT 480
```

It writes the devices and versions (`OUT/device.txt`), the quick suite (`OUT/quick/`, HH to
B = 10^5, the ring to 1,024 trials of 1 s) and then, in what is left of the 480 s, the full suite
(`OUT/full/`, HH to B = 10^6, the ring to 1,024 trials of 3 s, every training config at full
size), which is cut off, not half-written, if the time runs out. Copy the `suite_*` files of the
fuller result into `benchmarks/results/` and run `python -m benchmarks report`. The same script
runs on a CPU as a dry run (there, the full suite does not fit in 480 s).
"""


def write_docs(results: Path = RESULTS, docs: Path | None = None, readme: Path | None = None):
    docs = docs or ROOT / "docs" / "benchmarks.md"
    readme = readme or ROOT / "README.md"
    found = latest(results)
    if not found:
        raise FileNotFoundError(
            f"no suite_*.json in {results}: run `python -m benchmarks run` first"
        )
    parts = [DOC_INTRO]
    for backend, title in (("cpu", "CPU"), ("gpu", "GPU")):
        parts.append(f"## {title}\n")
        if backend not in found:
            parts.append(
                f"No {title} has been measured yet: no `suite_*.json` from a {title} machine is "
                "committed. Run the suite there and commit its result to fill this section.\n"
            )
            if backend == "gpu":
                parts.append(GPU_HOWTO)
            continue
        path, p = found[backend]
        parts.append(f"From `{os.path.relpath(path, ROOT)}`.\n")
        if p.get("note"):
            parts.append(p["note"] + "\n")
        parts.append(markdown(p, heading="###"))
    ratios = [
        k["ratio_peer_over_ours"]
        for k in found.get("cpu", (None, {}))[1].get("train", {}).get("keras", [])
    ]
    if ratios:
        verdict = (
            f"{'met' if min(ratios) >= 2 else 'not met'}: Keras / ours (the training table's last "
            f"column) is {min(ratios):.2f}–{max(ratios):.2f}× over the {len(ratios)} seeds with a "
            "Keras model" + (", so Keras is faster for some." if min(ratios) < 1 else ".")
        )
    else:
        verdict = "not measured (run with --peers and Keras installed)."
    parts.append(DOC_EXPLAIN.replace("{keras_verdict}", verdict))
    text = "\n".join(parts).rstrip() + "\n"
    tmp = docs.with_suffix(".md.tmp")
    tmp.write_text(text)
    os.replace(tmp, docs)
    print(f"wrote {docs}")
    update_readme(readme, speed_table(found))
    return docs


def update_readme(readme: Path, table: str) -> None:
    """Replace the lines between the speed-table markers (they must both be there, in order)."""
    text = readme.read_text()
    if text.count(BEGIN) != 1 or text.count(END) != 1 or text.index(BEGIN) > text.index(END):
        raise ValueError(
            f"{readme} needs exactly one {BEGIN} followed by one {END} (under its Speed heading)"
        )
    head, rest = text.split(BEGIN)
    _, tail = rest.split(END)
    new = (
        head + BEGIN + "\n" + table + "\n\nMade by `python -m benchmarks report` from the files "
        "named; details and every table: [docs/benchmarks.md](docs/benchmarks.md).\n" + END + tail
    )
    tmp = readme.with_suffix(".md.tmp")
    tmp.write_text(new)
    os.replace(tmp, readme)
    print(f"updated the speed table of {readme}")
