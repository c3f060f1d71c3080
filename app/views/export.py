"""Export: build_pairs policy controls, live kept/dropped counts by reason, and downloads with manifests.

Flagged annotators and prompts come from the cached audit and are passed to
``pq.build_pairs`` as ``exclude_annotators`` / ``exclude_prompts``, so changing
the policy never refits a model.
"""

from __future__ import annotations

from collections.abc import Callable

import altair as alt
import components as c
import state
import streamlit as st

d, rep, label = state.pairwise_report("Export")
st.title("Export")

flag_a = c.flagged_ids(rep.results.get("annotators"))
flag_p = c.flagged_ids(rep.results.get("prompts"))
left, right = st.columns([1, 2], gap="large")
with left:
    st.markdown("**Policy** (`pq.build_pairs`)")
    ex_a = st.checkbox(f"Exclude flagged annotators ({len(flag_a)})", value=True, key="ex_annotators")
    ex_p = st.checkbox(f"Exclude flagged prompts ({len(flag_p)})", value=True, key="ex_prompts")
    min_agreement = st.slider("Minimum agreement with the label", 0.0, 1.0, 0.0, 0.05, key="min_agreement",
                              help="Share of a comparison's judgments that agree with its majority label.")
    ties = st.radio("Ties", ["drop", "keep_as_kto"], horizontal=True, key="ties",
                    help="`keep_as_kto` keeps tied comparisons for the KTO export only.")
    balance = st.selectbox("Length balance", ["off", "subsample", "reweight"], key="length_balance",
                           help="Balance the chosen-is-longer share within length buckets.")
    tie_label = None
    if ties == "keep_as_kto":
        tie_label = st.radio("Tied responses in KTO are", ["desirable", "undesirable"], horizontal=True,
                             key="tie_label") == "desirable"
    if ex_a and flag_a and len(flag_a) >= d.n_annotators:
        st.warning("Every annotator is flagged, so excluding them leaves no judgments. Read the reasons on "
                   "the Annotators page before excluding.")

policy = c.policy_kwargs(rep, exclude_flagged_annotators=ex_a, exclude_flagged_prompts=ex_p,
                         min_agreement=min_agreement, ties=ties,
                         length_balance=False if balance == "off" else balance)
policy_json = state.kwargs_json(policy)
ps = state.pairs(d.fingerprint(), policy_json, d)  # an error reaches st.error through main.py's wrapper

counts = c.pair_counts(ps)
with right:
    k1, k2, k3 = st.columns(3)
    k1.metric("Kept pairs", f"{ps.n_pairs:,}")
    k2.metric("Dropped", f"{ps.n_dropped:,}")
    k3.metric("Estimated label flip rate", "n/a" if ps.flip_rate != ps.flip_rate else f"{ps.flip_rate:.1%}")
    chart = alt.Chart(counts).mark_bar().encode(
        x=alt.X("n:Q", title="comparisons"),
        y=alt.Y("reason_code:N", sort="-x", title=None, axis=alt.Axis(labelLimit=200)),
        color=alt.Color("outcome:N", scale=alt.Scale(domain=["kept", "dropped"], range=["#2ca02c", "#7f7f7f"])),
        tooltip=["outcome", "reason_code", "reason", "n"])
    st.altair_chart(chart.properties(height=max(140, 44 * len(counts))), width="stretch")
    state.table(counts)
    for w in ps.warnings:
        st.text(f"Note: {w}")

st.subheader("Download")
st.caption("JSONL in TRL's layouts (OpenAI's for `openai`); each file has a manifest that accounts for every "
           "comparison (kept, or dropped with its reason).")
fp = d.fingerprint()


def _file(fmt: str, which: int) -> Callable[[], bytes]:
    """The download's bytes, built only when the button is clicked (``state.export_files`` caches them)."""
    return lambda: state.export_files(fp, policy_json, fmt, tie_label, ps)[which]


for fmt in c.EXPORT_FORMATS:
    a, b, note = st.columns([1, 1, 2])
    a.download_button(f"{fmt}.jsonl", data=_file(fmt, 0),
                      file_name=f"{fmt}.jsonl", mime="application/jsonl", key=f"dl_{fmt}", on_click="ignore",
                      icon=":material/download:", disabled=ps.n_kept == 0)
    b.download_button(f"{fmt}.jsonl.manifest.json",
                      data=_file(fmt, 1),
                      file_name=f"{fmt}.jsonl.manifest.json", mime="application/json", key=f"dlm_{fmt}",
                      on_click="ignore", disabled=ps.n_kept == 0)
    note.caption({"dpo": "prompt, chosen, rejected (DPOTrainer)",
                  "reward": "chosen, rejected with the prompt inside (RewardTrainer)",
                  "kto": "prompt, completion, label (KTOTrainer; two rows per pair)",
                  "prompts": "prompt only (online methods)",
                  "openai": "OpenAI preference fine-tuning rows"}[fmt])

if ps.n_pairs:
    with st.expander("First kept pairs"):
        cols = [col for col in ("prompt_id", "prompt", "chosen", "rejected", "agreement", "weight") if col in ps.pairs]
        state.table(ps.pairs[cols].head(20))
