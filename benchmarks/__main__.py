"""``python -m benchmarks``: the benchmark suite.

    python -m benchmarks run [--suite sim|train|infer|all] [--quick] [--peers] [--plot] [--out DIR]
    python -m benchmarks report [--results DIR] [--docs FILE] [--readme FILE]

``run`` measures (sim: HH forward and gradient, the ring, each dataset through the CLI; train:
each task's seed and best configs in the engine's compiled step, and inference; infer: calcium
spike inference), prints Markdown tables and writes ``DIR/suite_<device>_<date>[_quick].json``
and the same name ``.md`` (``--plot``: ``.png`` of throughput against batch size). ``--peers``
adds Brian2, Keras 3 (JAX backend) and OASIS in the same invocation, on the same inputs;
a missing peer is skipped with its reason. ``report`` turns the newest result per backend into
``docs/benchmarks.md`` and the README's speed table.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUITES = ("sim", "train", "infer")


def parse(argv):
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = ap.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run the suite: tables on stdout, JSON + Markdown to --out")
    r.add_argument("--suite", choices=(*SUITES, "all"), default="all")
    r.add_argument("--quick", action="store_true", help="small sizes (~3 min on 2 cores)")
    r.add_argument("--peers", action="store_true", help="also Brian2, Keras 3, OASIS")
    r.add_argument("--plot", action="store_true", help="throughput vs batch size, log-log PNG")
    r.add_argument("--out", default=str(ROOT / "benchmarks" / "results"), help="output folder")
    r.add_argument("--note", default="", help="a sentence stored with the result (e.g. load)")
    p = sub.add_parser("report", help="docs/benchmarks.md and the README speed table")
    p.add_argument("--results", default=str(ROOT / "benchmarks" / "results"))
    p.add_argument("--docs", default=str(ROOT / "docs" / "benchmarks.md"))
    p.add_argument("--readme", default=str(ROOT / "README.md"))
    return ap.parse_args(argv)


def run_suites(suites, *, quick: bool, peers: bool, workdir: Path) -> dict:
    """Run ``suites`` (a subset of SUITES) in-process and return the result payload."""
    from benchmarks import _harness as H

    bad = [s for s in suites if s not in SUITES]
    if bad:
        raise ValueError(f"unknown suite(s) {bad}; expected some of {list(SUITES)}")
    t0 = time.perf_counter()
    env = H.environment(extra=("brian2", "keras", "oasis-deconv"))
    payload: dict = {
        "benchmark": "suite",
        "suites": list(suites),
        "quick": quick,
        "peers": peers,
        "environment": env,
        "skipped": [],
    }
    skipped = payload["skipped"]
    files: dict[str, Path] = {}
    walls = payload["suite_wall_s"] = {}
    if "sim" in suites:
        from benchmarks import sim

        t = time.perf_counter()
        payload["sim"] = sim.run(quick=quick, peers=peers, workdir=workdir, skipped=skipped)
        files = {k: Path(v) for k, v in payload["sim"].pop("_files").items()}
        walls["sim"] = time.perf_counter() - t
    if ("train" in suites or "infer" in suites) and not files:
        from benchmarks import sim

        size = "quick" if quick else "full"
        need = {"train": ("hh-voltage", "lfp", "ring-counts", "calcium"), "infer": ("calcium",)}
        for name in sorted({n for s in suites if s in need for n in need[s]}):
            files[name] = workdir / f"{name}.h5"
            sim.generate(name, sim.DATASETS[name][size][0], files[name])
    if "train" in suites:
        from benchmarks import train

        t = time.perf_counter()
        payload["train"] = train.run(quick=quick, peers=peers, files=files, skipped=skipped)
        walls["train"] = time.perf_counter() - t
    if "infer" in suites:
        from benchmarks import infer

        t = time.perf_counter()
        payload["infer"] = infer.run(
            quick=quick, peers=peers, files=files, workdir=workdir, skipped=skipped
        )
        walls["infer"] = time.perf_counter() - t
    payload["wall_s"] = time.perf_counter() - t0
    payload["load_avg_end"] = os.getloadavg()[0]
    return payload


def plot(payload: dict, path: Path) -> Path:
    """Throughput against batch size, log-log: HH (forward, gradient, Brian2), the ring."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sim = payload["sim"]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    hh = sim["hh"]
    a.plot([r["B"] for r in hh], [r["throughput"] for r in hh], "o-", label="simulate_hh")
    for what in ("forward", "grad"):
        g = [r for r in sim["hh_grad"] if r["name"] == f"HH {what}"]
        a.plot([r["B"] for r in g], [r["throughput"] for r in g], "s--", label=f"jit {what}")
    for th in sorted({r["threads"] for r in sim.get("hh_peers", [])}):
        g = [r for r in sim["hh_peers"] if r["threads"] == th]
        a.plot([r["B"] for r in g], [r["throughput"] for r in g], "^", label=f"Brian2 {th} thr.")
    a.set(xscale="log", yscale="log", xlabel="neurons B", ylabel="neuron-steps / s", title="HH")
    a.legend(fontsize=8)
    by: dict[str, list] = {}
    for r in sim["ring"]:
        if "throughput" in r:
            by.setdefault(
                r["name"].split(",")[0] if r["impl"] == "neurosim" else r["name"], []
            ).append(r)
    for name, rs in by.items():
        b.plot([r["trials"] for r in rs], [r["throughput"] for r in rs], "o-", label=name)
    b.set(
        xscale="log",
        yscale="log",
        xlabel="trials",
        ylabel="simulated s / wall s",
        title="E/I ring, fig1",
    )
    b.legend(fontsize=8)
    fig.suptitle(
        payload["environment"]["cpu"]
        if payload["environment"]["backend"] == "cpu"
        else payload["environment"]["device_kind"],
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(argv=None) -> int:
    a = parse(argv)
    sys.path.insert(0, str(ROOT))
    if a.command == "report":
        from benchmarks import report

        report.write_docs(Path(a.results), Path(a.docs), Path(a.readme))
        return 0
    import neurosim

    neurosim.use_cpu_cores()  # before JAX starts: the cores neurosim uses
    from benchmarks import _harness as H
    from benchmarks import report

    suites = list(SUITES) if a.suite == "all" else [a.suite]
    out = Path(a.out)
    if out.exists() and not out.is_dir():
        raise SystemExit(f"--out {str(out)!r} is a file; expected a folder")
    with tempfile.TemporaryDirectory(prefix="neurosim_bench_") as d:
        payload = run_suites(suites, quick=a.quick, peers=a.peers, workdir=Path(d))
    payload["command"] = "python -m benchmarks " + shlex.join(
        argv if argv is not None else sys.argv[1:]
    )
    if a.note:
        payload["note"] = a.note
    payload["tables"] = report.tables(payload)
    text = report.markdown(payload)
    print("\n" + text)
    stem = f"suite_{H.device_tag(payload['environment'])}_{time.strftime('%Y%m%d')}"
    stem += "_quick" if a.quick else ""
    H.write_json(stem, payload, str(out / f"{stem}.json"))
    (out / f"{stem}.md").write_text(text)
    if a.plot and "sim" in payload:
        print(f"wrote {plot(payload, out / f'{stem}.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
