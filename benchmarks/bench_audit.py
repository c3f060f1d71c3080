"""Benchmark: ``prefqa audit`` end to end on simulated judgments with texts.

Generates data with ``pq.simulate`` (planted spammers, position- and
length-biased annotators, ambiguous prompts), writes it with ``pq.write``,
then times the CLI (read + audit + JSON + HTML) in a forked child and prints
the per-step seconds the report records. Target (issue 7): 1M judgments
under 3 minutes and 6 GB peak on 2 cores.

Run from the repository root::

    python benchmarks/bench_audit.py           # 1M judgments
    python benchmarks/bench_audit.py --quick   # 30k judgments smoke run
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import measure, report  # noqa: E402

import prefqa as pq  # noqa: E402
from prefqa.cli import main  # noqa: E402


def _make(path: Path, n_prompts: int) -> int:
    data, _ = pq.simulate(n_prompts=n_prompts, comparisons_per_prompt=3, judgments_per_comparison=3,
                          n_annotators=300, n_spammers=6, n_position_biased=6, n_length_biased=6,
                          n_ambiguous_prompts=n_prompts // 50, length_effect=0.5, n_domains=4, rng=0)
    pq.write(data, path)
    return data.n_judgments


def _audit(path: str, out: str) -> int:
    return main(["audit", path, "--out", out, "--no-progress", "--by", "domain"])


def run(quick: bool) -> None:
    n_prompts = 3_400 if quick else 111_112  # x 3 comparisons x 3 judgments = 30k / 1M
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.jsonl.gz"
        t0 = time.perf_counter()
        n = _make(path, n_prompts)
        print(f"generated and wrote {n:,} judgments in {time.perf_counter() - t0:.1f} s "
              f"({path.stat().st_size / 2**20:.0f} MB)", flush=True)
        out = Path(tmp) / "report"
        m = measure(f"prefqa audit ({n:,} judgments)", _audit, str(path), str(out))
        report([m], title="prefqa audit end to end (read + audit + report.json + report.html)")
        content = json.loads((out / "report.json").read_text())
        print(f"\naudit total {content['seconds']:.1f} s (the rest of the wall time is reading and writing)")
        for name, s in content["sections"].items():
            print(f"  {name:<22}{s['status']:<9}{s['seconds']:>8.2f} s  {s['reason'] or ''}"[:160])
        print(f"report.json {(out / 'report.json').stat().st_size / 2**10:.0f} KiB, "
              f"report.html {(out / 'report.html').stat().st_size / 2**10:.0f} KiB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="30k judgments smoke run")
    run(parser.parse_args().quick)
