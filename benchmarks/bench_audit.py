"""Benchmark: ``prefqa audit`` end to end on simulated judgments with texts.

Generates data with ``pq.simulate`` (planted spammers, position- and
length-biased annotators, ambiguous prompts), writes it with ``pq.write``
(Parquet by default), then times the CLI (read + audit + JSON + HTML) with the
audit's default settings in a forked child (``_harness.measure``: wall seconds
and added peak RSS) and prints the per-step seconds the report records.
Target (issue 7): 1M judgments under 3 minutes and 6 GB peak on 2 cores.

Run from the repository root::

    python benchmarks/bench_audit.py                       # 1M judgments
    python benchmarks/bench_audit.py --quick               # 30k judgments smoke run
    python benchmarks/bench_audit.py --keep /tmp/b1m       # keep (and reuse) the data and report
"""

from __future__ import annotations

import argparse
import json
import os
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


def _audit(path: str, out: str) -> dict:
    code = main(["audit", path, "--out", out, "--no-progress", "--by", "domain"])
    t = os.times()
    return {"exit": code, "cpu_s": round(t.user + t.system, 1)}  # CPU of this child (wall is measured)


def run(quick: bool, folder: Path, suffix: str) -> None:
    n_prompts = 3_400 if quick else 111_112  # x 3 comparisons x 3 judgments = 30k / 1M
    path = folder / f"bench-{n_prompts}{suffix}"
    if path.exists():
        print(f"reusing {path} ({path.stat().st_size / 2**20:.0f} MB)", flush=True)
    else:
        t0 = time.perf_counter()
        n = _make(path, n_prompts)
        print(f"generated and wrote {n:,} judgments in {time.perf_counter() - t0:.1f} s "
              f"({path.stat().st_size / 2**20:.0f} MB)", flush=True)
    out = folder / f"report-{n_prompts}"
    m = measure(f"prefqa audit ({path.name})", _audit, str(path), str(out))
    report([m], title="prefqa audit end to end (read + audit + report.json + report.html)")
    content = json.loads((out / "report.json").read_text())
    print(f"\n{content['input']['n_judgments']:,} judgments; audit total {content['seconds']:.1f} s "
          "(the rest of the wall time is start-up, reading and writing the reports)")
    for name, s in content["sections"].items():
        print(f"  {name:<22}{s['status']:<9}{s['seconds']:>8.2f} s  {s['reason'] or ''}"[:160])
    notes = content.get("warnings") or []
    print(f"{len(notes)} warning(s) and approximation note(s) in the report:")
    for w in notes:
        print(f"  {w['step']}: {w['message']}"[:160])
    print(f"report.json {(out / 'report.json').stat().st_size / 2**10:.0f} KiB, "
          f"report.html {(out / 'report.html').stat().st_size / 2**10:.0f} KiB")
    load = os.getloadavg()
    print(f"load average after the run (1/5/15 min): {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
          f"on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="30k judgments smoke run")
    parser.add_argument("--keep", default=None, metavar="DIR",
                        help="folder for the data and report (kept, and the data reused when present)")
    parser.add_argument("--jsonl", action="store_true", help="write the data as JSONL.gz instead of Parquet")
    args = parser.parse_args()
    suffix = ".jsonl.gz" if args.jsonl else ".parquet"
    if args.keep:
        Path(args.keep).mkdir(parents=True, exist_ok=True)
        run(args.quick, Path(args.keep), suffix)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            run(args.quick, Path(tmp), suffix)
