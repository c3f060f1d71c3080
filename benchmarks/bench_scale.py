"""Scale benchmark (issue 13): prefqa on DuckDB (and in memory, and Spark) at 1M-100M judgments.

Generates judgments, responses and prompts as separate Parquet files in chunks
(numpy, one row group per chunk; cached under ``--cache``), then runs each
public step in a fresh child process (so the peak RSS is the whole process's:
``ru_maxrss`` of the child) and prints one table: seconds, peak RSS, and the
ratio of each step's time to the physical limit (one DuckDB scan reading every
column the audit uses, timed in the same run). Steps that raise print
"not yet supported" with the error's first line.

Run from the repository root::

    python benchmarks/bench_scale.py --judgments 1e6
    python benchmarks/bench_scale.py --judgments 1e7 --texts --memory-limit 3GB
    python benchmarks/bench_scale.py --judgments 1e6 --engines duckdb,memory,spark --steps agreement,position

The planted data: 3 judgments per comparison, 2 comparisons per prompt, 20
models with Bradley-Terry strengths, a position effect, a length effect on
precomputed ``n_chars`` (or on the texts with ``--texts``: about 800
characters per response), 10% ties, 1,000 annotators.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

STEPS = ("agreement", "position", "length", "bradley_terry", "majority", "dawid_skene", "annotators", "prompts",
         "pairs_export", "audit")
CHUNK = 1_000_000  # judgments per row group


# ------------------------------------------------------------------ data
def _ids(prefix: str, values: np.ndarray, width: int) -> np.ndarray:
    return np.char.add(prefix, np.char.zfill(values.astype(str), width))


def generate(n: int, cache: Path, texts: bool, seed: int = 0) -> dict[str, str]:
    """Write (or reuse) judgments / responses / prompts Parquet files for ``n`` judgments."""
    import pyarrow as pa
    import pyarrow.parquet as papq
    from scipy.special import expit

    folder = cache / f"scale-v2-{n}{'-texts' if texts else ''}-s{seed}"
    paths = {k: str(folder / f"{k}.parquet") for k in ("judgments", "responses", "prompts")}
    if (folder / "done").exists():
        return paths
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    strength = rng.normal(0, 0.6, 20)
    per_chunk = CHUNK // 6 * 2  # comparisons per chunk: even, so no prompt (2 comparisons) spans two chunks
    n_cmp = n // 3
    schema_j = schema_r = None
    wj = wr = wp = None
    letters = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz      \n", dtype=np.uint8)
    for start in range(0, n_cmp, per_chunk):
        c = np.arange(start, min(start + per_chunk, n_cmp))
        k = len(c)
        prompt = c // 2
        ma = rng.integers(0, 20, k)
        mb = (ma + rng.integers(1, 20, k)) % 20
        len_a = rng.gamma(4.0, 200.0, k).astype(np.int64) + 1
        len_b = rng.gamma(4.0, 200.0, k).astype(np.int64) + 1
        # judgments: 3 per comparison, each shown in a random order
        jc = np.repeat(np.arange(k), 3)
        flip = rng.random(3 * k) < 0.5
        ann = rng.integers(0, 1000, 3 * k)
        eta = strength[ma[jc]] - strength[mb[jc]] + 0.4 * np.tanh((len_a[jc] - len_b[jc]) / 400.0)
        first_wins = rng.random(3 * k) < expit(eta)
        shown_a_wins = np.where(flip, ~first_wins, first_wins)
        shown_a_wins = np.where(rng.random(3 * k) < 0.08, True, shown_a_wins)  # position effect: a wins more
        tie = rng.random(3 * k) < 0.10
        choice = np.where(tie, "tie", np.where(shown_a_wins, "a", "b"))
        ra, rb = 2 * c[jc], 2 * c[jc] + 1
        ida, idb = np.where(flip, rb, ra), np.where(flip, ra, rb)
        mda, mdb = np.where(flip, mb[jc], ma[jc]), np.where(flip, ma[jc], mb[jc])
        tj = pa.table({
            "comparison_id": _ids("c", c[jc], 9), "annotator_id": _ids("a", ann, 4), "choice": choice,
            "prompt_id": _ids("p", prompt[jc], 9), "response_a_id": _ids("r", ida, 10),
            "response_b_id": _ids("r", idb, 10), "model_a": _ids("m", mda, 2), "model_b": _ids("m", mdb, 2)})
        rid = np.stack([2 * c, 2 * c + 1], axis=1).ravel()
        lens = np.stack([len_a, len_b], axis=1).ravel()
        cols = {"response_id": _ids("r", rid, 10), "prompt_id": _ids("p", np.repeat(prompt, 2), 9)}
        if texts:
            offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
            body = letters[rng.integers(0, len(letters), int(offsets[-1]))]
            cols["text"] = pa.LargeStringArray.from_buffers(len(lens), pa.py_buffer(offsets), pa.py_buffer(body))
        else:
            cols["n_chars"] = lens
        tr = pa.table(cols)
        up = np.unique(prompt)
        tp = pa.table({"prompt_id": _ids("p", up, 9), "text": np.char.add("Question number ", up.astype(str))})
        if wj is None:
            schema_j, schema_r = tj.schema, tr.schema
            wj = papq.ParquetWriter(paths["judgments"], schema_j)
            wr = papq.ParquetWriter(paths["responses"], schema_r)
            wp = papq.ParquetWriter(paths["prompts"], tp.schema)
        wj.write_table(tj)
        wr.write_table(tr)
        wp.write_table(tp)
    for w in (wj, wr, wp):
        w.close()
    (folder / "done").write_text("ok")
    return paths


# ------------------------------------------------------------------ one step in a child
def _load(paths: dict[str, str], engine: str, memory_limit: str | None, spark_master: str) -> object:
    import prefqa as pq

    if engine == "memory":
        import pyarrow.parquet as papq

        frames = {k: papq.read_table(v).to_pandas() for k, v in paths.items()}
        if "text" not in frames["responses"]:  # PreferenceData needs a text column; n_chars gives the lengths
            frames["responses"]["text"] = ""
        return pq.PreferenceData(frames["judgments"], responses=frames["responses"], prompts=frames["prompts"])
    if engine == "spark":
        from pyspark.sql import SparkSession

        spark = (SparkSession.builder.master(spark_master).config("spark.ui.enabled", "false")
                 .config("spark.sql.shuffle.partitions", "4").config("spark.driver.memory", "3g").getOrCreate())
        spark.sparkContext.setLogLevel("ERROR")
        return pq.scan(paths["judgments"], responses=paths["responses"], prompts=paths["prompts"], engine="spark",
                       connection=spark)
    return pq.scan(paths["judgments"], responses=paths["responses"], prompts=paths["prompts"],
                   memory_limit=memory_limit)


def _step(name: str, data: object, resamples: int, out: Path) -> str:
    import prefqa as pq

    if name == "agreement":
        r = pq.agreement(data, n_resamples=resamples, rng=0)
        return f"alpha={r.alpha:.4f}" if hasattr(r, "alpha") else type(r).__name__
    if name == "position":
        return type(pq.position_bias(data)).__name__
    if name == "length":
        return type(pq.length_bias(data)).__name__
    if name == "bradley_terry":
        return type(pq.fit_bradley_terry(data)).__name__
    if name == "majority":
        return type(pq.consensus(data, method="majority")).__name__
    if name == "dawid_skene":
        return type(pq.consensus(data, method="dawid_skene")).__name__
    if name == "annotators":
        return f"{len(pq.annotator_table(data))} rows"
    if name == "prompts":
        return f"{len(pq.flag_prompts(data))} rows"
    if name == "pairs_export":
        pairs = pq.build_pairs(data)
        return str(pq.export(pairs, out / "pairs.jsonl", format="dpo"))
    if name == "audit":
        return type(pq.audit(data, progress=False)).__name__
    if name == "scan":
        return "scanned"
    raise ValueError(name)


def child(args: argparse.Namespace) -> None:
    paths = json.loads(args.child_paths)
    import prefqa  # noqa: F401  (import time is not the load's)

    t0 = time.perf_counter()
    data = _load(paths, args.child_engine, args.memory_limit, args.spark_master)
    load = time.perf_counter() - t0
    t1 = time.perf_counter()
    try:
        value, ok = _step(args.child_step, data, args.resamples, Path(tempfile.mkdtemp(prefix="prefqa-bench-"))), True
    except Exception as exc:  # noqa: BLE001 - the benchmark reports any failure as unsupported
        value, ok = f"not yet supported: {type(exc).__name__}: {str(exc).splitlines()[0][:90]}", False
    seconds = time.perf_counter() - t1
    peak = _peak_mb()
    print(json.dumps({"load": load, "seconds": seconds, "peak_mb": peak, "ok": ok, "value": value}))


def _peak_mb() -> float:
    """This process's peak RSS in MB: VmHWM (reset at exec), not ru_maxrss, which Linux carries over from the
    parent across fork + exec (so it would report the generator's peak for every step)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(paths: dict[str, str], engine: str, step: str, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--child-step", step, "--child-engine", engine, "--child-paths", json.dumps(paths),
           "--resamples", str(args.resamples), "--spark-master", args.spark_master]
    if args.memory_limit:
        cmd += ["--memory-limit", args.memory_limit]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1][:100]
        return {"load": float("nan"), "seconds": float("nan"), "peak_mb": float("nan"), "ok": False,
                "value": f"failed: {tail}"}
    return json.loads(lines[-1])


def physical_limit(paths: dict[str, str]) -> float:
    """One DuckDB scan reading every column the audit uses (judgments and response lengths or texts)."""
    import duckdb

    con = duckdb.connect()
    cols = [c for c in con.sql(f"SELECT * FROM read_parquet('{paths['judgments']}') LIMIT 0").columns]
    reads = ", ".join(f"bit_xor(hash({c}))" for c in cols)  # reads every value (max() would use the footers)
    rcol = [c for c in con.sql(f"SELECT * FROM read_parquet('{paths['responses']}') LIMIT 0").columns
            if c in ("text", "n_chars")][0]
    t0 = time.perf_counter()
    con.sql(f"SELECT count(*), {reads} FROM read_parquet('{paths['judgments']}')").fetchall()
    con.sql(f"SELECT count(*), bit_xor(hash(response_id)), bit_xor(hash({rcol})) "
            f"FROM read_parquet('{paths['responses']}')").fetchall()
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--judgments", type=float, default=1e6)
    p.add_argument("--texts", action="store_true", help="responses with ~800-character texts instead of n_chars")
    p.add_argument("--engines", default="duckdb", help="comma list of duckdb, memory, spark")
    p.add_argument("--steps", default=",".join(STEPS))
    p.add_argument("--memory-limit", default=None)
    p.add_argument("--resamples", type=int, default=200)
    p.add_argument("--spark-master", default="local[2]")
    p.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "prefqa-bench-cache"))
    p.add_argument("--timeout", type=float, default=1800)
    p.add_argument("--child-step", help=argparse.SUPPRESS)
    p.add_argument("--child-engine", help=argparse.SUPPRESS)
    p.add_argument("--child-paths", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child_step:
        child(args)
        return
    n = int(args.judgments)
    t0 = time.perf_counter()
    paths = generate(n, Path(args.cache), args.texts)
    print(f"data: {n:,} judgments{' with texts' if args.texts else ''} in {Path(paths['judgments']).parent} "
          f"({time.perf_counter() - t0:.1f} s to generate or find)", flush=True)
    limit = physical_limit(paths)
    print(f"physical limit: one DuckDB scan of every column used: {limit:.2f} s", flush=True)
    print(f"{'engine':<8}{'step':<15}{'load s':>9}{'step s':>9}{'peak MB':>9}{'x scan':>9}  value")
    for engine in args.engines.split(","):
        base = run_child(paths, engine, "scan", args)
        print(f"{engine:<8}{'(load/scan)':<15}{base['load']:>9.2f}{'':>9}{base['peak_mb']:>9.0f}"
              f"{base['load'] / limit:>9.1f}  {base['value']}", flush=True)
        for step in args.steps.split(","):
            r = run_child(paths, engine, step, args)
            print(f"{engine:<8}{step:<15}{r['load']:>9.2f}{r['seconds']:>9.2f}{r['peak_mb']:>9.0f}"
                  f"{r['seconds'] / limit:>9.1f}  {r['value']}", flush=True)


if __name__ == "__main__":
    main()
