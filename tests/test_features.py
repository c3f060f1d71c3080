"""Text features: counts on hand-built texts, the shared length covariate, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import prefqa as pq
from prefqa.errors import SchemaError
from prefqa.features import judgment_features, length_scale, response_features, text_features

ATOL = 1e-12


def _pair_data(texts_a: list[str], texts_b: list[str]) -> pq.PreferenceData:
    n = len(texts_a)
    ids_a = [f"ra{i}" for i in range(n)]
    ids_b = [f"rb{i}" for i in range(n)]
    j = pd.DataFrame({"comparison_id": [f"c{i}" for i in range(n)], "annotator_id": "x", "choice": "a",
                      "prompt_id": "p", "response_a_id": ids_a, "response_b_id": ids_b})
    r = pd.DataFrame({"response_id": ids_a + ids_b, "prompt_id": "p", "text": texts_a + texts_b})
    return pq.PreferenceData(j, r)


def test_markdown_counts_by_construction() -> None:
    text = (
        "# Title\n"            # header 1
        "Some **bold** and __also bold__ words.\n"  # bold 2
        "## Section\n"         # header 2
        "- one\n* two\n+ three\n1. four\n2) five\n"  # 5 list items
        "```python\n# not a header\n- not a list\n**not bold**\n```\n"  # one code block
        "#hashtag is not a header\n"
    )
    f = text_features([text, ""])
    row = f.iloc[0]
    assert row["headers"] == 2
    assert row["list_items"] == 5
    assert row["bold"] == 2
    assert row["code_blocks"] == 1
    assert row["chars"] == len(text)
    assert row["words"] == len(text.split())
    assert f.iloc[1][["chars", "words", "headers", "list_items", "bold", "code_blocks"]].sum() == 0


def test_length_units_and_tokenizer() -> None:
    texts = pd.Series(["one two  three", "four"], index=["x", "y"])
    assert text_features(texts)["length"].tolist() == [14.0, 4.0]
    assert text_features(texts, unit="words")["length"].tolist() == [3.0, 1.0]
    tok = text_features(texts, unit="tokens", tokenizer=lambda s: list(s.replace(" ", "")))
    assert tok["length"].tolist() == [11.0, 4.0]
    assert list(tok.index) == ["x", "y"]  # a Series keeps its index


def test_refusals_default_and_custom() -> None:
    texts = ["I'm sorry, but I can't help with that request.", "As an AI language model, I cannot do this.",
             "Sure! Here is the recipe.", "I cannot provide that information.", "Nope."]
    assert text_features(texts)["refusal"].tolist() == [True, True, False, True, False]
    custom = text_features(texts, refusal_patterns=[r"^nope"])
    assert custom["refusal"].tolist() == [False, False, False, False, True]


def test_bad_options_raise_clear_errors() -> None:
    with pytest.raises(SchemaError, match="`unit` must be one of"):
        text_features(["x"], unit="bytes")  # type: ignore[arg-type]
    with pytest.raises(SchemaError, match="needs a `tokenizer`"):
        text_features(["x"], unit="tokens")
    with pytest.raises(SchemaError, match="invalid regular expression"):
        text_features(["x"], refusal_patterns=["("])
    j = pd.DataFrame({"comparison_id": ["c"], "annotator_id": ["x"], "choice": ["a"]})
    with pytest.raises(SchemaError, match="no response texts"):
        judgment_features(pq.PreferenceData(j))
    with pytest.raises(SchemaError, match="unknown feature name"):
        judgment_features(_pair_data(["a"], ["b"]), ["sentiment"])


def test_count_differences_use_arena_normalisation() -> None:
    data = _pair_data(["- a\n- b\n- c", "plain", "# h"], ["- x", "- y\n- z", "# h\n# i\n# j"])
    f = judgment_features(data, ["lists", "headers"])
    # (a - b) / (a + b + 1), Chatbot Arena's style-control normalisation
    np.testing.assert_allclose(f["lists"], [(3 - 1) / 5, (0 - 2) / 3, 0.0], atol=ATOL)
    np.testing.assert_allclose(f["headers"], [0.0, 0.0, (1 - 3) / 5], atol=ATOL)


def test_swapping_sides_negates_every_feature() -> None:
    a, b = ["short", "- a\n**b**", "I cannot help with that."], ["a much longer text", "x", "ok"]
    names = ["length", "length_diff", "headers", "lists", "bold", "refusal"]
    f1 = judgment_features(_pair_data(a, b), names)
    f2 = judgment_features(_pair_data(b, a), names)
    np.testing.assert_allclose(f1.to_numpy(), -f2.to_numpy(), atol=ATOL)


def test_length_covariate_is_the_simulators() -> None:
    data, truth = pq.simulate(n_prompts=60, length_effect=1.0, rng=11)
    f = judgment_features(data, ["length", "length_diff"])
    texts = data.responses.set_index("response_id")["text"]
    # independent: lengths straight from the texts with Python's len
    la = data.judgments["response_a_id"].map(texts).map(len).to_numpy(dtype=float)
    lb = data.judgments["response_b_id"].map(texts).map(len).to_numpy(dtype=float)
    np.testing.assert_allclose(f["length_diff"], la - lb, atol=ATOL)
    assert length_scale(la - lb) == pytest.approx(truth.length_scale, rel=1e-12)
    np.testing.assert_allclose(f["length"], np.tanh((la - lb) / truth.length_scale), atol=1e-12)


def test_response_features_are_cached_per_unit() -> None:
    data = _pair_data(["one two", "three"], ["four five six", "seven"])
    first = response_features(data)
    assert response_features(data) is first
    words = response_features(data, unit="words")
    assert words.loc["rb0", "length"] == 3.0 and first.loc["rb0", "length"] == 13.0
    assert first.index.name == "response_id"


def test_word_counts_match_python_split_across_byte_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    import prefqa.features as features

    rng = np.random.default_rng(5)
    alphabet = list("ab c\n\t  xyz\r") + ["é", "日本"]
    texts = ["".join(rng.choice(alphabet, rng.integers(0, 60))) for _ in range(2000)] + ["", "  ", "a"]
    monkeypatch.setattr(features, "_WORD_CHUNK_BYTES", 97)  # force many chunk boundaries
    got = text_features(texts)["words"].to_numpy()
    np.testing.assert_array_equal(got, [len(t.split()) for t in texts])
