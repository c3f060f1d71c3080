"""build_pairs + export to Parquet on 1M judged comparisons with texts (issue 6).

Target: under 60 s, peak added memory under 3x the in-memory size of the input texts.
Run from the repo root: ``python benchmarks/bench_export.py [--quick]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import measure, report  # noqa: E402

import prefqa as pq  # noqa: E402
from prefqa.schema import PreferenceData  # noqa: E402


def make_data(n: int, seed: int = 0) -> PreferenceData:
    """n comparisons, one judgment each, two fresh responses of ~300 characters per comparison."""
    rng = np.random.default_rng(seed)
    words = np.array("the a model answer data value result method because which however first".split())
    n_resp = 2 * n
    base = pd.Series(words[rng.integers(0, len(words), size=(20_000, 40))].tolist()).str.join(" ")
    text = base.iloc[rng.integers(0, len(base), n_resp)].reset_index(drop=True) + " #" + pd.Series(np.arange(n_resp)).astype(str)
    rid = "r" + pd.Series(np.arange(n_resp)).astype(str)
    pid = "p" + pd.Series(np.arange(n_resp) // 6).astype(str)
    responses = pd.DataFrame({"response_id": rid, "prompt_id": pid, "text": text})
    prompts = pd.DataFrame({"prompt_id": pid.drop_duplicates(), "text": "Prompt " + pid.drop_duplicates()})
    j = pd.DataFrame({"comparison_id": "c" + pd.Series(np.arange(n)).astype(str), "annotator_id": None,
                      "choice": np.where(rng.random(n) < 0.5, "a", "b"), "prompt_id": pid.iloc[0::2].to_numpy(),
                      "response_a_id": rid.iloc[0::2].to_numpy(), "response_b_id": rid.iloc[1::2].to_numpy()})
    return PreferenceData(j, responses, prompts)


def run(data: PreferenceData, out: str) -> int:
    ps = pq.build_pairs(data)
    pq.export(ps, out, format="dpo")
    return ps.n_pairs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="10k comparisons smoke run")
    parser.add_argument("--repeat", type=int, default=1, help="runs (the machine is shared: report best and spread)")
    args = parser.parse_args()
    n = 10_000 if args.quick else 1_000_000
    data = make_data(n)
    text_mb = (data.responses["text"].memory_usage(deep=True) + data.prompts["text"].memory_usage(deep=True)) / 2**20
    runs = []
    for _ in range(max(args.repeat, 1)):
        with tempfile.TemporaryDirectory() as tmp:
            runs.append(measure("build_pairs + export parquet", run, data, str(Path(tmp) / "dpo.parquet")))
    m = min(runs, key=lambda r: r.seconds)
    report([m], title=f"{n:,} comparisons, input texts {text_mb:.0f} MB in memory (best of {len(runs)})")
    print(f"peak / text size = {m.peak_mb / text_mb:.2f}x (target < 3x); time {m.seconds:.1f} s (target < 60 s)")
    if len(runs) > 1:
        secs = sorted(r.seconds for r in runs)
        peaks = sorted(r.peak_mb for r in runs)
        print(f"all runs: seconds {', '.join(f'{x:.1f}' for x in secs)}; peak MB {', '.join(f'{x:.0f}' for x in peaks)}")


if __name__ == "__main__":
    main()
