"""Regenerate the bundled sample: ``python sample_data/make_sample.py``.

The sample is produced by ``prefqa.simulate`` with a fixed seed and written in
prefqa's canonical format with ``prefqa.write`` into the package data folder
``prefqa/sample_data/`` (shipped in the wheel, read by ``pq.load_sample()``).
This script stays outside the package so that it is not installed.
``prefqa/sample_data/README.md`` lists what was planted; keep the two in step
when changing the settings below.
"""

from __future__ import annotations

from pathlib import Path

import prefqa as pq

SETTINGS = dict(
    n_prompts=1500,
    comparisons_per_prompt=4,
    n_models=6,
    model_strengths=[-1.5, -0.8, -0.2, 0.3, 0.8, 1.4],
    accuracy_range=(1.5, 2.5),
    n_annotators=40,
    judgments_per_comparison=3,
    n_spammers=2,
    n_always_a=1,
    n_position_biased=3,
    position_bias=1.5,
    n_length_biased=3,
    length_slope=2.0,
    length_effect=0.5,
    position_effect=0.0,
    n_ambiguous_prompts=60,
    tie_threshold=0.3,
    both_orders=0.1,
    ratings=True,
    leniency_sd=0.5,
    n_domains=3,
    rng=20261128,
)


def main() -> None:
    data, truth = pq.simulate(**SETTINGS)
    out = Path(__file__).resolve().parents[1] / "prefqa" / "sample_data"
    path = pq.write(data, out / "sample.jsonl.gz")
    planted = truth.annotators[truth.annotators["kind"] != "normal"].sort_values("kind")
    (out / "planted_annotators.csv").write_text(planted.to_csv())
    truth.prompts[truth.prompts["ambiguous"]].index.to_series().to_csv(out / "planted_ambiguous_prompts.csv", index=False)
    print(data)
    print(truth.summary())
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
