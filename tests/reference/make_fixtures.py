"""Generate the lme4 reference fixtures' input data (run from the repo root).

    python tests/reference/make_fixtures.py && Rscript tests/reference/fit_lme4.R

Writes small CSVs next to this file with a fixed numpy seed; fit_lme4.R reads
them and writes lme4_results.json. The data are simulated with planted
effects by plain numpy (independent of prefqa's simulator on purpose).
Preference rows carry the displayed response lengths in characters; the
tests rebuild texts of those lengths so the fit goes through prefqa's own
length covariate tanh((len_a - len_b) / rms(len_a - len_b)).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent


def preference_rows(seed: int, n: int, n_annotators: int, n_prompts: int, sd_annot: float,
                    sd_slope: float, sd_prompt: float, length_effect: float, position: float,
                    strengths: tuple[float, ...]) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ann = rng.integers(0, n_annotators, n)
    prm = rng.integers(0, n_prompts, n)
    n_models = len(strengths)
    ma = rng.integers(0, n_models, n)
    mb = (ma + rng.integers(1, n_models, n)) % n_models
    len_a = np.clip(rng.lognormal(6.0, 0.6, n), 5, 5000).astype(int)
    len_b = np.clip(rng.lognormal(6.0, 0.6, n), 5, 5000).astype(int)
    d = (len_a - len_b).astype(float)
    x = np.tanh(d / np.sqrt(np.mean(d * d)))
    u = rng.normal(0, sd_annot, n_annotators)
    s = rng.normal(0, sd_slope, n_annotators)
    v = rng.normal(0, sd_prompt, n_prompts)
    st = np.asarray(strengths)
    eta = position + (length_effect + s[ann]) * x + st[ma] - st[mb] + u[ann] + v[prm]
    p_a = 1 / (1 + np.exp(-(eta - 0.3)))
    p_b = 1 / (1 + np.exp(eta + 0.3))
    r = rng.random(n)
    choice = np.where(r < p_a, "a", np.where(r < p_a + p_b, "b", "tie"))
    return pd.DataFrame({
        "comparison_id": [f"c{i:05d}" for i in range(n)],
        "annotator_id": [f"ann{a:03d}" for a in ann],
        "prompt_id": [f"p{p:04d}" for p in prm],
        "model_a": [f"m{m}" for m in ma], "model_b": [f"m{m}" for m in mb],
        "len_a": len_a, "len_b": len_b, "choice": choice,
    })


def rating_rows(seed: int, n: int, n_annotators: int, n_responses: int, sd_annot: float,
                sd_resp: float, sd_resid: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ann = rng.integers(0, n_annotators, n)
    rsp = rng.integers(0, n_responses, n)
    score = (3.0 + rng.normal(0, sd_annot, n_annotators)[ann] + rng.normal(0, sd_resp, n_responses)[rsp]
             + rng.normal(0, sd_resid, n))
    return pd.DataFrame({"response_id": [f"r{r:05d}" for r in rsp],
                         "annotator_id": [f"ann{a:03d}" for a in ann],
                         "score": np.round(score, 3)})


def main() -> None:
    preference_rows(20260401, 12_000, 60, 500, 0.5, 0.6, 0.4, 0.8, 0.3,
                    (0.0, 0.4, -0.3, 0.8)).to_csv(HERE / "glmm_crossed.csv", index=False)
    preference_rows(20260402, 4_000, 30, 200, 0.0, 0.0, 0.0, 0.5, 0.0,
                    (0.0, 0.5)).to_csv(HERE / "glmm_null.csv", index=False)
    rating_rows(20260403, 8_000, 80, 1_500, 0.6, 0.9, 0.7).to_csv(HERE / "lmm_ratings.csv", index=False)
    rating_rows(20260404, 3_000, 40, 600, 0.0, 0.8, 1.0).to_csv(HERE / "lmm_ratings_null.csv", index=False)


if __name__ == "__main__":
    main()
