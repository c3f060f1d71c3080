"""pq.lint: each reason code on a small fixture; truncation as TRL truncates, with a tiny tokenizer.json."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from prefqa import PreferenceData
from prefqa.cleaning._lint import LINT_REASONS, lint
from prefqa.cleaning._text import resolve_tokenizer, truncated_equal
from prefqa.errors import SchemaError

S = {"role": "system", "content": "Be brief."}


def U(t="q"):
    return {"role": "user", "content": t}


def A(t="a"):
    return {"role": "assistant", "content": t}


def _by_id(res) -> dict[str, list[str]]:
    return res.problems.groupby("comparison_id", sort=False)["reason_code"].agg(list).to_dict()


def test_text_reasons_on_string_rows():
    long_prompt = "Explain in two sentences why the sky looks blue at noon."
    rows = pd.DataFrame({
        "prompt": ["Say hi", "Say hi", "Q1", "Q2", "Q3", long_prompt, "Q5", "Q6"],
        "chosen": ["hi", "Hello", "", "fine\x00", "caf\u00c3\u00a9", "Sure. " + long_prompt + " Because...",
                   "ok", "it\u00e2\u20ac\u2122s"],
        "rejected": ["hi  ", "Yo", "x", "fine", "cafe", "Rayleigh scattering.", "ok\tgo", "its"],
    })
    got = _by_id(lint(rows))
    assert got == {"row1": ["identical"], "row3": ["empty"], "row4": ["control_characters"],
                   "row5": ["mojibake"], "row6": ["response_repeats_prompt"], "row8": ["mojibake"]}
    res = lint(rows)
    assert res.problems.loc[res.problems["comparison_id"] == "row3", "field"].tolist() == ["response"]
    assert res.problems.loc[res.problems["comparison_id"] == "row3", "response_id"].iloc[0] != ""
    assert res.n_comparisons == 8 and res.counts()["mojibake"] == 2
    assert "identical" in res.summary() and set(res.comparison_ids(["mojibake"])) == {"row5", "row8"}


def test_contradictory_duplicates_need_both_directions():
    j = pd.DataFrame({
        "comparison_id": ["c1", "c1", "c2", "c2", "c3", "c4", "c5"],
        "annotator_id": ["x", "y", "x", "y", "z", "x", "x"],
        "choice": ["a", "a", "a", "a", "b", "a", "a"],
        "prompt_id": ["p"] * 5 + ["q", "q"],
        "response_a_id": ["r1", "r1", "r2", "r2", "r1", "r3", "r3"],
        "response_b_id": ["r2", "r2", "r1", "r1", "r2", "r4", "r4"],
    })
    r = pd.DataFrame({"response_id": ["r1", "r2", "r3", "r4"], "prompt_id": ["p", "p", "q", "q"],
                      "text": ["Paris.", "Lyon.", "4", "5"]})
    p = pd.DataFrame({"prompt_id": ["p", "q"], "text": ["Capital of France?", "2+2?"]})
    res = lint(PreferenceData(j, r, p))
    # c1: r1 wins; c2 (shown reversed): r2 wins; c3: r2 wins -> all three contradict; c4/c5 agree
    assert _by_id(res) == {"c1": ["contradictory_duplicate"], "c2": ["contradictory_duplicate"],
                           "c3": ["contradictory_duplicate"]}
    reasons = res.problems.set_index("comparison_id")["reason"]
    assert reasons["c1"].endswith("(labelled the other way in c2)")
    assert reasons["c2"].endswith("(labelled the other way in c1)")


def test_conversational_structure_on_raw_rows():
    rows = pd.DataFrame({  # implicit prompt: whole conversations
        "chosen": [[U(), A("x")], [S, U(), A("x")], [U(), U(), A("x")], [U(), A("x")], [U(), A(" ")],
                   [U("other"), A("x")], [U(), A("x"), U("more")]],
        "rejected": [[U(), A("y")], [S, U(), A("y")], [U(), U(), A("y")], [A("y")], [U(), A("y")],
                     [U(), A("y")], [U(), A("x"), U("less")]],
    })
    got = _by_id(lint(rows))
    assert got["row3"] == ["roles_not_alternating", "roles_not_alternating"]
    assert got["row4"] == ["roles_not_alternating", "prompt_not_shared_prefix"]
    assert "empty_turn" in got["row5"] and "empty" in got["row5"]
    assert got["row6"] == ["prompt_not_shared_prefix"]
    assert got["row7"] == ["last_turn_not_assistant", "last_turn_not_assistant"]
    assert "row1" not in got and "row2" not in got
    explicit = pd.DataFrame({"prompt": [[U()], [U(), A("earlier")], [U(" ")], [S, U()]],
                             "chosen": [[A("x")], [A("x")], [A("x")], [U("x")]],
                             "rejected": [[A("y")], [A("y")], [A("y")], [A("y")]]})
    got = _by_id(lint(explicit))
    assert got == {"row2": ["roles_not_alternating"], "row3": ["empty_turn"], "row4": ["last_turn_not_assistant"]}
    explicit["comparison_id"] = [10, 11, 12, 13]  # the source's ids, as the reader normalises them
    assert set(_by_id(lint(explicit))) == {"11", "12", "13"}


def test_conversational_prompts_of_read_data():
    import prefqa as pq

    rows = pd.DataFrame({"prompt": [[U()], [U(), A("earlier")]], "chosen": [[A("x")], [A("x")]],
                         "rejected": [[A("y")], [A("y")]]})
    data = pq.read(rows, format="trl")
    assert data.conversational
    assert _by_id(lint(data)) == {"row2": ["roles_not_alternating"]}


@pytest.fixture
def tokenizer_json(tmp_path):
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace

    words = "q the answer is four five six seven a b c d e f g long prompt words here".split()
    tok = Tokenizer(WordLevel({w: i for i, w in enumerate(["[UNK]", *words])}, unk_token="[UNK]"))
    tok.pre_tokenizer = Whitespace()
    path = tmp_path / "tokenizer.json"
    tok.save(str(path))
    return path


def test_truncation_as_trl_truncates(tokenizer_json):
    enc = resolve_tokenizer(tokenizer_json)
    assert enc("the answer is four") == [2, 3, 4, 5]
    rows = pd.DataFrame({
        "prompt": ["q", "q", "long prompt words here a b", "q"],
        "chosen": ["the answer is four", "a b c", "the answer", "a b c d e f"],
        "rejected": ["the answer is five", "a b d", "six seven", "g b c d e f"],
    })
    # keep_start, max_tokens=4: row1 keeps "q the answer is" on both sides -> identical; row2 differs at token 4
    res = lint(rows, tokenizer=tokenizer_json, max_tokens=4, truncation_mode="keep_start")
    assert _by_id(res) == {"row1": ["truncation_identical"], "row3": ["truncation_identical"]}
    # keep_end, max_tokens=5: the last 5 tokens; row4 differs only in its first completion token -> identical
    res = lint(rows, tokenizer=tokenizer_json, max_tokens=5)
    assert _by_id(res) == {"row4": ["truncation_identical"]}
    assert res.settings["truncation_mode"] == "keep_end"
    # max_prompt_tokens: the 6-token prompt is too long; TRL keeps its last 2 tokens ("a b")
    res = lint(rows, tokenizer=tokenizer_json, max_prompt_tokens=2)
    assert _by_id(res) == {"row3": ["prompt_too_long"]}
    assert res.problems["reason"].iloc[0].endswith("(6 tokens > 2)")
    # the cut prompt "a b" leaves 1 token of a 3-token window: "the" vs "six" differ
    res = lint(rows, tokenizer=tokenizer_json, max_tokens=3, max_prompt_tokens=2, truncation_mode="keep_start")
    assert _by_id(res)["row3"] == ["prompt_too_long"]
    # a 2-token window holds only the cut prompt: nothing of the completions survives
    res = lint(rows, tokenizer=tokenizer_json, max_tokens=2, max_prompt_tokens=2, truncation_mode="keep_start")
    assert _by_id(res)["row3"] == ["truncation_identical", "prompt_too_long"]


def test_truncated_equal_matches_a_direct_simulation():
    rng = np.random.default_rng(0)
    vocab = list("abcdefgh")
    n = 300
    prompts = pd.Series([" ".join(rng.choice(vocab, rng.integers(0, 8))) for _ in range(n)])
    texts = pd.Series([" ".join(rng.choice(vocab[:2], rng.integers(0, 6))) for _ in range(2 * n)])
    left, right, pp = np.arange(n), np.arange(n, 2 * n), np.arange(n)
    for mode in ("keep_start", "keep_end"):
        for L, P in ((4, None), (6, 3), (10, 2)):
            got, _ = truncated_equal(str.split, prompts, pp, texts, left, right, max_tokens=L,
                                     max_prompt_tokens=P, truncation_mode=mode)
            want = []
            for i in range(n):  # TRL: prompt[-P:] + completion, then [:L] or [-L:]
                p = prompts[i].split()
                p = p[-P:] if P is not None else p
                a, b = p + texts[left[i]].split(), p + texts[right[i]].split()
                want.append(a[:L] == b[:L] if mode == "keep_start" else a[-L:] == b[-L:])
            assert got.tolist() == want, (mode, L, P)


def test_options_and_errors(tokenizer_json):
    rows = pd.DataFrame({"prompt": ["q"], "chosen": ["a"], "rejected": ["b"]})
    with pytest.raises(SchemaError, match="need `tokenizer`"):
        lint(rows, max_tokens=5)
    with pytest.raises(SchemaError, match="used only with `max_tokens`"):
        lint(rows, tokenizer=str.split)
    with pytest.raises(SchemaError, match="truncation_mode"):
        lint(rows, tokenizer=str.split, max_tokens=5, truncation_mode="left")
    with pytest.raises(SchemaError, match="positive integer"):
        lint(rows, tokenizer=str.split, max_tokens=0)
    with pytest.raises(SchemaError, match="is not a file"):
        lint(rows, tokenizer="nope/tokenizer.json", max_tokens=5)
    bad = tokenizer_json.with_name("bad.json")
    bad.write_text("{}")
    with pytest.raises(SchemaError, match="could not load the tokenizer"):
        lint(rows, tokenizer=bad, max_tokens=5)
    with pytest.raises(SchemaError, match="the tokenizer failed on a text"):
        lint(rows, tokenizer=lambda t: 1 / 0, max_tokens=5)
    with pytest.raises(SchemaError, match=r"need `chosen` and `rejected`.*found \['prompt', 'answer'\]"):
        lint(pd.DataFrame({"prompt": ["q"], "answer": ["a"]}))
    j = pd.DataFrame({"comparison_id": ["c"], "annotator_id": ["x"], "choice": ["a"]})
    with pytest.raises(SchemaError, match="needs response texts"):
        lint(PreferenceData(j))
    with pytest.raises(SchemaError, match="must be a PreferenceData or a DataFrame"):
        lint([1, 2])
    assert lint(rows).n_problems == 0 and set(LINT_REASONS) >= {"identical", "truncation_identical"}


def test_no_mojibake_or_control_flags_on_clean_multilingual_text():
    clean = ["Ça va? Élève, Ñandú, Über, São Paulo, naïve façade, ÀÁÂÃÄÅ æøå.",
             "«Bonjour» — dit-il… 50 °C, 3 × 4 ≥ 10, ¿Qué? ¡Sí!", "Straße, Größe, 東京, Москва, ελληνικά, עברית",
             "tabs\tand\nnewlines\r\n are fine", "emoji 😀 and ™ © ® £ € ¥"]
    rows = pd.DataFrame({"prompt": ["q"] * len(clean), "chosen": clean, "rejected": ["other"] * len(clean)})
    assert lint(rows).n_problems == 0
    broken = [t.encode("utf-8").decode("cp1252", errors="replace") for t in clean[:3]]
    rows = pd.DataFrame({"prompt": ["q"] * 3, "chosen": broken, "rejected": ["other"] * 3})
    assert lint(rows).counts() == {"mojibake": 3}


def test_normalize_ws_equals_python_split_join_on_every_whitespace_character():
    from prefqa.cleaning._text import normalize_ws

    ws = [chr(c) for c in range(0x110000) if chr(c).isspace()]
    rng = np.random.default_rng(0)
    alpha = ws + list("ab\u200bé中")  # U+200B (zero width space) is not whitespace for Python
    texts = pd.Series(["".join(rng.choice(alpha, rng.integers(0, 12))) for _ in range(5000)] + [None], dtype=object)
    want = [" ".join(t.split()) if isinstance(t, str) else "" for t in texts]
    assert normalize_ws(texts).tolist() == want
