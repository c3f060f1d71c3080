"""Reader benchmark: pq.read on a 1M-judgment canonical JSONL with texts vs pandas.read_json.

Run from the repository root::

    python benchmarks/bench_read.py            # 1,000,000 judgments (about 1 GB of JSONL)
    python benchmarks/bench_read.py --quick    # 20,000 judgments, a smoke run
    python benchmarks/bench_read.py --n 200000 # any size

The file is generated once (cached under ``$TMPDIR/prefqa_bench``): 333,334 comparisons of
two responses each, judged by 3 of 60 annotators, over 40,000 prompts. Texts are random
words with realistic lengths (prompts about 230 characters, responses about 500, drawn
log-normally), the layout ``pq.write`` produces. Both readers run once each in a forked
child (benchmarks/_harness.py); MB/s is file size / seconds, peak MB the child's added RSS.
Targets (issue 2): pq.read at least 3x faster than pandas.read_json(lines=True), and its
peak memory at most 3x the file size. ``pyarrow.json.read_json`` alone (the parse, no
tables) is measured too: it is the floor for pq.read's time.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import measure, report

WORDS = np.array(["the", "a", "of", "to", "and", "in", "is", "it", "that", "for", "on", "with", "as", "was", "at", "by", "this", "be", "from", "or", "an", "are", "not", "model", "answer", "data", "user", "result", "value", "error", "table", "python", "list", "first", "second", "response", "please", "explain", "why", "how", "what", "which", "because", "however", "therefore", "example", "simple", "write", "function", "number", "string", "return", "because", "question", "summary", "short", "long", "detail", "step", "reason", "clear", "helpful", "correct", "wrong", "maybe"])


def _texts(rng: np.random.Generator, n: int, mean_chars: float) -> list[str]:
    n_words = np.maximum(1, rng.lognormal(np.log(mean_chars / 6.0), 0.6, size=n).astype(int))
    words = WORDS[rng.integers(0, len(WORDS), size=int(n_words.sum()))]
    ends = np.cumsum(n_words)
    starts = ends - n_words
    return [" ".join(words[s:e]) for s, e in zip(starts, ends)]


def make_file(path: Path, n_judgments: int, seed: int = 0) -> Path:
    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    n_comp = -(-n_judgments // 3)
    n_prompts = max(1, n_comp // 8)
    prompts = _texts(rng, n_prompts, 230.0)
    resp = _texts(rng, 2 * n_comp, 500.0)
    comp_prompt = rng.integers(0, n_prompts, size=n_comp)
    models = [f"model-{i}" for i in range(6)]
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        k = 0
        for c in range(n_comp):
            p = int(comp_prompt[c])
            anns = rng.choice(60, size=3, replace=False)
            ma, mb = rng.choice(6, size=2, replace=False)
            for a in anns:
                if k == n_judgments:
                    break
                flip = rng.random() < 0.5
                ra, rb = (2 * c + 1, 2 * c) if flip else (2 * c, 2 * c + 1)
                row = {"comparison_id": f"c{c:07d}", "annotator_id": f"w{a:03d}",
                       "choice": ("a", "b", "tie")[int(rng.integers(0, 3))],
                       "prompt_id": f"p{p:06d}", "prompt": prompts[p],
                       "response_a_id": f"r{ra:07d}", "response_a": resp[ra],
                       "response_b_id": f"r{rb:07d}", "response_b": resp[rb],
                       "model_a": models[ma if not flip else mb], "model_b": models[mb if not flip else ma],
                       "seconds": round(float(rng.gamma(4.0, 10.0)), 1), "order_known": True}
                f.write(json.dumps(row) + "\n")
                k += 1
    os.replace(tmp, path)
    return path


def run_prefqa(path: Path) -> str:
    import prefqa as pq

    data = pq.read(path)
    return f"{data.n_judgments} judgments, {len(data.responses)} responses"


def run_arrow_parse(path: Path) -> str:
    import pyarrow.json as pajson

    table = pajson.read_json(path, read_options=pajson.ReadOptions(block_size=1 << 22))
    return f"{table.num_rows} rows (parse only, no tables built)"


def run_pandas(path: Path) -> str:
    import pandas as pd

    frame = pd.read_json(path, lines=True)
    return f"{len(frame)} rows"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20k judgments instead of 1M")
    parser.add_argument("--n", type=int, default=None, help="number of judgments (overrides --quick)")
    args = parser.parse_args(argv)
    n = args.n or (20_000 if args.quick else 1_000_000)
    folder = Path(tempfile.gettempdir()) / "prefqa_bench"
    folder.mkdir(exist_ok=True)
    path = make_file(folder / f"read_{n}.jsonl", n)
    mb = path.stat().st_size / 2**20
    import pandas  # noqa: F401  (import once in the parent: import time is not reading time)

    import prefqa.io  # noqa: F401

    ours = measure("pq.read", run_prefqa, path)
    parse = measure("pyarrow.json.read_json", run_arrow_parse, path)
    peer = measure("pandas.read_json(lines=True)", run_pandas, path)
    load = os.getloadavg()[0]
    report([ours, parse, peer], baseline="pandas.read_json(lines=True)",
           title=f"read {n:,} judgments, {mb:,.0f} MB JSONL with texts ({os.cpu_count()} cores, "
                 f"load average {load:.1f} at the end)")
    for m in (ours, parse, peer):
        print(f"{m.name:<34}{mb / m.seconds:8.1f} MB/s   peak {m.peak_mb / mb:4.2f}x file size")


if __name__ == "__main__":
    main()
