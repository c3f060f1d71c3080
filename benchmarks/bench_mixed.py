"""Benchmark the crossed mixed models against lme4 (R) and statsmodels, same data, same run.

Run from the repository root::

    python benchmarks/bench_mixed.py            # 100k logistic (+ glmer nAGQ=0), 1M logistic, 1M Gaussian (+ lmer)
    python benchmarks/bench_mixed.py --quick    # small smoke sizes
    python benchmarks/bench_mixed.py --no-r     # skip R even when Rscript is installed
    python benchmarks/bench_mixed.py --laplace      # also method='laplace' vs glmer nAGQ=1 (mid size; glmer
                                                    # nAGQ=1 on 100k rows ran > 5 min here: use with --quick)
    python benchmarks/bench_mixed.py --laplace-1m   # also time method='laplace' on 1M rows (slow)

Data are simulated with numpy (fixed seed): annotator random intercepts and length slopes plus
prompt intercepts for the logistic model; annotator and response intercepts for the Gaussian one.
prefqa is timed on the model fit from arrays (``prefqa.models._design`` + ``_glmm`` / ``_lmm``,
exactly what the public functions run after computing the length feature); R is timed with
``system.time`` around the glmer/lmer call only (not the CSV read). Memory is the peak RSS the
fitting process added (R: the whole Rscript process, from /usr/bin/time when present).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import Measurement, measure, report  # noqa: E402

from prefqa.models._design import CrossedDesign, Factor  # noqa: E402
from prefqa.models._glmm import fit_glmm  # noqa: E402
from prefqa.models._lmm import fit_lmm  # noqa: E402


def logistic_data(n: int, n_annotators: int, n_prompts: int, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ann = rng.integers(0, n_annotators, n)
    prm = rng.integers(0, n_prompts, n)
    ma = rng.integers(0, 5, n)
    mb = (ma + rng.integers(1, 5, n)) % 5
    d = rng.normal(0, 300, n)
    x = np.tanh(d / np.sqrt(np.mean(d * d)))
    st = np.array([0.0, 0.3, -0.2, 0.6, 0.1])
    eta = (0.2 + (0.7 + rng.normal(0, 0.5, n_annotators)[ann]) * x + st[ma] - st[mb]
           + rng.normal(0, 0.5, n_annotators)[ann] + rng.normal(0, 0.4, n_prompts)[prm])
    y = (rng.random(n) < expit(eta)).astype(np.int8)
    out = pd.DataFrame({"annotator": ann, "prompt": prm, "x": x, "y": y})
    for m in range(1, 5):
        out[f"q{m}"] = (ma == m).astype(np.int8) - (mb == m).astype(np.int8)
    return out


def gaussian_data(n: int, n_annotators: int, n_responses: int, seed: int = 8) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ann = rng.integers(0, n_annotators, n)
    rsp = rng.integers(0, n_responses, n)
    score = 3 + rng.normal(0, 0.6, n_annotators)[ann] + rng.normal(0, 0.9, n_responses)[rsp] + rng.normal(0, 0.7, n)
    return pd.DataFrame({"annotator": ann, "response": rsp, "score": score})


def _factor(name: str, codes: np.ndarray, terms: tuple[str, ...], x: np.ndarray | None = None) -> Factor:
    n_levels = int(codes.max()) + 1
    values = np.vstack([np.ones(len(codes)) if t == "intercept" else x for t in terms])
    return Factor(name, codes.astype(np.int64), pd.Index(np.arange(n_levels)), terms, values)


def ours_logistic(df: pd.DataFrame, method: str) -> dict:
    x = np.column_stack([np.ones(len(df)), df["x"], *(df[f"q{m}"] for m in range(1, 5))]).astype(float)
    factors = [_factor("annotator", df["annotator"].to_numpy(), ("intercept", "length"), df["x"].to_numpy()),
               _factor("prompt", df["prompt"].to_numpy(), ("intercept",))]
    fit = fit_glmm(CrossedDesign(x, factors), df["y"].to_numpy(float), method=method)
    return {"beta": np.round(fit.beta, 4).tolist(), "sd": np.round(fit.theta, 4).tolist(), "converged": fit.converged}


def ours_gaussian(df: pd.DataFrame) -> dict:
    factors = [_factor("annotator", df["annotator"].to_numpy(), ("intercept",)),
               _factor("response", df["response"].to_numpy(), ("intercept",))]
    fit = fit_lmm(CrossedDesign(np.ones((len(df), 1)), factors), df["score"].to_numpy())
    return {"beta": np.round(fit.beta, 4).tolist(), "sd": np.round(fit.theta * fit.sigma, 4).tolist(),
            "sigma": round(fit.sigma, 4)}


R_LOGISTIC = """suppressPackageStartupMessages(library(lme4))
d <- read.csv("{csv}"); d$annotator <- factor(d$annotator); d$prompt <- factor(d$prompt)
t <- system.time(f <- glmer(y ~ x + q1 + q2 + q3 + q4 + (1 | annotator) + (0 + x | annotator) + (1 | prompt),
                            data = d, family = binomial, nAGQ = {nagq}))
cat(sprintf('{{"seconds": %f, "beta": [%s], "sd": [%s]}}\\n', t[["elapsed"]],
    paste(round(fixef(f), 4), collapse = ","), paste(round(as.data.frame(VarCorr(f))$sdcor, 4), collapse = ",")))
"""
R_GAUSSIAN = """suppressPackageStartupMessages(library(lme4))
d <- read.csv("{csv}"); d$annotator <- factor(d$annotator); d$response <- factor(d$response)
t <- system.time(f <- lmer(score ~ 1 + (1 | annotator) + (1 | response), data = d, REML = TRUE))
cat(sprintf('{{"seconds": %f, "beta": [%s], "sd": [%s]}}\\n', t[["elapsed"]],
    paste(round(fixef(f), 4), collapse = ","), paste(round(as.data.frame(VarCorr(f))$sdcor, 4), collapse = ",")))
"""


def run_r(name: str, script: str, df: pd.DataFrame, tmp: Path) -> Measurement | None:
    if not shutil.which("Rscript"):
        print(f"({name}: Rscript not installed, skipped)")
        return None
    csv = tmp / f"{name.replace(' ', '_')}.csv"
    df.to_csv(csv, index=False)
    path = tmp / "fit.R"
    path.write_text(script)
    cmd = ["Rscript", str(path)]
    timer = shutil.which("time") or ("/usr/bin/time" if os.path.exists("/usr/bin/time") else None)
    if timer:
        cmd = [timer, "-f", "MAXRSS_KB=%M", *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    line = [x for x in out.stdout.splitlines() if x.startswith("{")]
    if not line:
        print(f"({name}: R failed: {out.stderr[-400:]})")
        return None
    res = json.loads(line[-1])
    peak = next((float(x.split("=")[1]) / 1024 for x in out.stderr.splitlines() if x.startswith("MAXRSS_KB=")), 0.0)
    return Measurement(name, res["seconds"], peak, {"beta": res["beta"], "sd": res["sd"]})


def statsmodels_gaussian(df: pd.DataFrame) -> dict:
    import statsmodels.api as sm

    m = sm.MixedLM.from_formula("score ~ 1", groups=np.ones(len(df)), data=df,
                                vc_formula={"a": "0 + C(annotator)", "r": "0 + C(response)"}).fit(reml=True)
    return {"beta": np.round(m.fe_params.to_numpy(), 4).tolist(), "sd": np.round(np.sqrt(m.vcomp), 4).tolist()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke sizes")
    parser.add_argument("--no-r", action="store_true", help="do not run R")
    parser.add_argument("--laplace", action="store_true", help="also time method='laplace' and glmer nAGQ=1 (mid size)")
    parser.add_argument("--laplace-1m", action="store_true", help="also time method='laplace' at the large size")
    args = parser.parse_args(argv)
    use_r = not args.no_r
    n_mid, n_big = (5_000, 20_000) if args.quick else (100_000, 1_000_000)
    print(f"cores: {os.cpu_count()}; sizes: logistic {n_mid:,} and {n_big:,}, Gaussian {n_big:,}", flush=True)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        # 1. logistic, mid size, vs glmer nAGQ=0 (and nAGQ=1)
        df = logistic_data(n_mid, 300, n_mid // 20)
        rows = [measure("prefqa pirls (nAGQ=0)", ours_logistic, df, "pirls")]
        if args.laplace:
            rows.append(measure("prefqa laplace (nAGQ=1)", ours_logistic, df, "laplace"))
        for nagq in ((0, 1) if args.laplace else (0,)):
            m = run_r(f"lme4 glmer nAGQ={nagq}", R_LOGISTIC.format(csv=tmp / f"lme4_glmer_nAGQ={nagq}.csv",
                                                                  nagq=nagq), df, tmp) if use_r else None
            if m:
                rows.append(m)
        report(rows, baseline="lme4 glmer nAGQ=0" if len(rows) > 1 and use_r else None,
               title=f"logistic crossed model (annotator + slope, prompt), {n_mid:,} rows")
        # 2. logistic, large
        df = logistic_data(n_big, 1000, n_big // 20)
        rows = [measure("prefqa pirls (nAGQ=0)", ours_logistic, df, "pirls")]
        if args.laplace_1m:
            rows.append(measure("prefqa laplace (nAGQ=1)", ours_logistic, df, "laplace"))
        report(rows, title=f"logistic crossed model, {n_big:,} rows (target < 60 s, < 4 GB)")
        # 3. Gaussian, large, vs lmer
        df = gaussian_data(n_big, 1000, n_big // 10)
        rows = [measure("prefqa REML", ours_gaussian, df)]
        m = run_r("lme4 lmer REML", R_GAUSSIAN.format(csv=tmp / "lme4_lmer_REML.csv"), df, tmp) if use_r else None
        if m:
            rows.append(m)
        report(rows, baseline="lme4 lmer REML" if m else None,
               title=f"Gaussian crossed model (annotator, response), {n_big:,} rows (target < 20 s)")
        # 4. statsmodels MixedLM where feasible (3k rows)
        df = gaussian_data(3_000, 50, 300)
        report([measure("prefqa REML", ours_gaussian, df), measure("statsmodels MixedLM", statsmodels_gaussian, df)],
               baseline="statsmodels MixedLM", title="Gaussian crossed model, 3,000 rows")


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - t0:.0f} s")
