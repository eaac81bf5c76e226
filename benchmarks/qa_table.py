"""BENCHMARKS.md's ``qa`` section, written from the records of ``qa_hf.py`` runs
(``benchmarks/qa.jsonl``): one row per system per run, and what the last run measured
against the targets (F1 and answering questions/s at least Hugging Face's).

Rewrite it without running anything::

    python benchmarks/qa_hf.py --table-only
"""


def table(records):
    """BENCHMARKS.md's ``qa`` section: every side-by-side record, newest last."""
    rows = [r for r in records if r.get("peer") == "hf"]
    lines = [
        "Reproduce (the full benchmark: every question of the first 36 articles trains, every "
        "question of the last 12 is scored; the last run): `python benchmarks/qa_hf.py "
        "--max-questions 10000 --eval-questions 10000 --seed 1 --jit-compile --jit-serving "
        "--tfbert-doc-stride 110 --table` (records in `benchmarks/qa.jsonl`; stride 110 gives "
        "tfbert Hugging Face's windows). Both systems train all-MiniLM-L6-v2 on "
        "the same questions of the dev-v1.1 file's first articles and are scored with the "
        "official v1.1 EM/F1 on the same questions of its last articles. Answering (raw "
        "strings to answer texts, held-out questions): tfbert's in-memory `QAModel.answer` "
        "against Hugging Face's in-memory run_qa-style answering (transformers 5 has no "
        "`pipeline(\"question-answering\")`; where it has, its figure is in the record).",
        "",
        "| date | training | held out | epochs, batch, lr, seq/stride, seed | system | EM | F1 | "
        "train windows/s | answer questions/s | load |",
        "|---|---|---|---|---|---:|---:|---:|---:|---|"]
    for r in rows:
        strides = {"hf": r["doc_stride"], "tfbert": r.get("tfbert_doc_stride") or r["doc_stride"]}
        # Records before --max-grad-norm / --head-dropout: Hugging Face unclipped, head 0.1.
        clip = f"clip {r['max_grad_norm']:g}" if r.get("max_grad_norm") else "no clip"
        xla = ", XLA training" if r.get("jit_compile") else ""
        # Records before --tfbert-lr-schedule: tf-models' decay from step 0.
        decay = ("decay from warmup end" if r.get("tfbert_lr_schedule") == "huggingface"
                 else "decay from step 0")
        notes = {"tfbert": f"clip 1, head dropout {r.get('head_dropout', 0.1):g}{xla}, {decay}",
                 "hf": f"{clip}, decay from warmup end"}
        for system in ("tfbert", "hf"):
            if system not in r:          # a run of one system (--systems)
                continue
            s = r[system]
            setting = f"{r['epochs']}, {r['batch_size']}, {r['learning_rate']:g}, " \
                      f"{r['seq_length']}/{strides[system]}, {r['seed']}"
            answer = f"{s['answer_questions_per_second']}"
            if "export_questions_per_second" in s:
                serving = ", XLA serving" if r.get("jit_serving") else ""
                cold = s.get("export_cold_questions_per_second")
                cold = f", first pass {cold}" if cold else ""
                answer += f" (export{serving} {s['export_questions_per_second']}{cold})"
            if r.get("answer_timing"):
                answer += " [best of 2]"
            lines.append(
                f"| {r['date'][:10]} | {r['train_questions']:,} q ({r['train_articles_used']} art.,"
                f" {s['train_windows']:,} windows) | {r['eval_questions']:,} q "
                f"({r['eval_articles_used']} art.) | {setting} | {system} ({notes[system]}) | "
                f"{s['exact_match']} | "
                f"**{s['f1']}** | {s['train_windows_per_second']} | {answer} | "
                f"{r.get('load_average', '?')} |")
    both = [r for r in rows if "tfbert" in r and "hf" in r]
    if both:
        last = both[-1]
        ours, peer_rate = last["tfbert"], last["hf"]["answer_questions_per_second"]
        lines += ["", f"Last run of both systems: F1 tfbert/hf {ours['f1']} / {last['hf']['f1']} "
                  f"(target ≥ 1x: {ours['f1'] >= last['hf']['f1']}); answering "
                  f"{ours['answer_questions_per_second'] / peer_rate:.2f}x "
                  "Hugging Face's questions/s in memory, "
                  f"{ours.get('export_questions_per_second', 0) / peer_rate:.2f}x "
                  "with the export (target ≥ 1x). `load` is the 1-minute load "
                  "average at the end of the run (2 cores)."]
        squad2 = ours.get("squad2")
        if squad2:
            lines += ["", f"SQuAD 2.0 (`squad_v2_two_articles.json`), the same tfbert model "
                      f"(trained on 1.1 questions only), its no-answer threshold "
                      f"({squad2['null_threshold']}) tuned on {squad2['tuned_on']}, scored on "
                      f"{squad2['scored_on']}: EM {squad2['exact']}, F1 {squad2['f1']}; "
                      f"HasAns F1 {squad2.get('HasAns_f1')} ({squad2.get('HasAns_total')} q), "
                      f"NoAns F1 {squad2.get('NoAns_f1')} ({squad2.get('NoAns_total')} q)."]
    return "\n".join(lines)
