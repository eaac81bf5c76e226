"""Question answering in the ``tfbert`` commands: ``train``, ``evaluate`` and ``predict`` on
SQuAD-format JSON (v1.1 and v2.0).

``tfbert train`` trains a span model (:func:`tfbert.qa_training.train_qa`) when ``--data``
is a ``.json`` file or ``--task question-answering`` is given; ``evaluate`` and ``predict``
answer with a question answering export (:mod:`tfbert.qa_export`). Nothing here imports
TensorFlow at import time.

Examples::

    tfbert train --task question-answering --data train.json --test-data dev.json \\
        --model all-minilm-l6-v2 --epochs 2 --output saved_models/squad
    tfbert evaluate saved_models/squad --data dev.json
    tfbert predict saved_models/squad --question "Who led the Norse?" --context "Rollo did."
    tfbert predict saved_models/squad --file dev.json --output predictions.json
"""
import dataclasses
import json
import os
import sys

from tfbert.cli_common import check_inputs, chunks, positive_int
from tfbert.errors import DataError, TfbertError
from tfbert.tasks import QuestionAnswering, get_task

__all__ = ["add_qa_train_arguments", "add_qa_predict_arguments", "is_squad_source",
           "cmd_train", "cmd_evaluate", "cmd_predict"]

# The TrainConfig fields that train_qa honours; the others must keep their defaults.
QA_SETTINGS = ("model", "epochs", "batch_size", "learning_rate", "warmup_fraction",
               "lr_schedule", "seq_length", "dropout", "patience", "monitor", "seed",
               "rebuild_encoder", "backup_steps", "jit_compile")
MISTAKES = 10


def is_squad_source(path):
    """Whether ``--data`` names SQuAD-format JSON (the only JSON tfbert reads)."""
    return isinstance(path, str) and path.lower().endswith(".json")


def add_qa_train_arguments(parser):
    """``train``'s question answering options (windows and answer post-processing)."""
    group = parser.add_argument_group("question answering (SQuAD JSON --data)")
    group.add_argument("--doc-stride", type=positive_int, default=128,
                       help="tokens between the starts of two windows of a long context "
                            "(default: %(default)s)")
    group.add_argument("--max-query-length", type=positive_int, default=64,
                       help="questions are cut to this many tokens (default: %(default)s)")
    group.add_argument("--n-best", type=positive_int, default=20,
                       help="start and end candidates per window (default: %(default)s)")
    group.add_argument("--max-answer-length", type=positive_int, default=30,
                       help="longest answer in tokens (default: %(default)s)")


def add_qa_predict_arguments(parser):
    """``predict``'s question answering options."""
    group = parser.add_argument_group("question answering exports")
    group.add_argument("--question", action="append", metavar="Q",
                       help="a question (repeat for several)")
    group.add_argument("--context", action="append", metavar="C",
                       help="the context of the questions (one, or one per --question)")
    group.add_argument("--output", metavar="FILE",
                       help="with --file F (SQuAD JSON): write {question id: answer text} "
                            "here, the official prediction format")


def _unsupported(settings):
    """Refuse classifier-only training settings given for question answering."""
    from tfbert.config import TrainConfig
    for field in dataclasses.fields(TrainConfig):
        if field.name not in QA_SETTINGS and settings[field.name] != field.default:
            option = "--" + field.name.replace("_", "-")
            raise TfbertError(f"{option} is not supported for question answering; leave it "
                              "out.")


def cmd_train(args, settings):
    """Train on SQuAD JSON ``--data`` (validation articles held out, or
    ``--validation-data``), test on ``--test-data``, export; ``settings`` are the
    :class:`~tfbert.config.TrainConfig` fields given."""
    check_inputs(args, ("--data", "--test-data", "--validation-data"))
    for option in ("data", "test_data", "validation_data"):
        path = getattr(args, option)
        if path is not None and not is_squad_source(path):
            raise DataError(f"--{option.replace('_', '-')} {path}: question answering reads "
                            "SQuAD-format JSON (.json).")
    _unsupported(settings)
    from tfbert.runs import checked_model, no_empty_folders, run_places
    spec = checked_model(settings["model"], args.preprocess)
    output, version, run_dir = run_places(args.data, args.output, args.run_dir)
    with no_empty_folders(run_dir):
        data = _load(args)
        print(data.summary())
        result, metrics = _train(args, settings, spec, data, run_dir)
        from tfbert.qa_export import export_qa
        path = export_qa(result.model, output, version=version, jit_compile=args.jit_serving,
                         settings={
                             "data": args.data, "version": data.version,
                             "train_seconds": result.train_seconds,
                             "examples": {"train": len(data.train),
                                          "validation": len(data.validation),
                                          "test": len(data.test or ())},
                             "validation_metrics": result.validation,
                             "test_metrics": metrics})
    print(f"\nExported model:   {path}")
    print(f"Run records:      {run_dir}")
    if metrics is not None:
        print(f"Test report:      {os.path.join(run_dir, 'report_test')}")
    print(f'Try it:           tfbert predict {path} --question "Who?" --context "..."')


def _load(args):
    from tfbert.data.squad import load_squad, read_squad
    data = load_squad(args.data, test_path=args.test_data, seed=args.seed,
                      max_questions=args.max_examples)
    if args.validation_data is not None:
        from tfbert.data.squad import QAData
        validation, version = read_squad(args.validation_data)
        data = QAData(data.train + data.validation, validation, data.test, data.source,
                      max(data.version, version))
    return data


def _train(args, settings, spec, data, run_dir):
    """``(QATrainResult, test metrics or None)``; the test report goes to run_dir."""
    from tfbert._tf import tf_keras
    from tfbert.data.qa_features import SEQ_LENGTH
    from tfbert.qa import build_qa_model
    from tfbert.qa_training import train_qa
    from tfbert.recommended import SPAN_DROPOUT
    tf_keras.utils.set_random_seed(settings["seed"])
    model = build_qa_model(spec, seq_length=settings["seq_length"] or SEQ_LENGTH,
                           doc_stride=args.doc_stride, max_query_length=args.max_query_length,
                           n_best=args.n_best, max_answer_length=args.max_answer_length,
                           dropout=SPAN_DROPOUT if settings["dropout"] is None
                           else settings["dropout"],
                           rebuild_encoder=settings["rebuild_encoder"])
    # val_loss is TrainConfig's default monitor; answers are judged by F1.
    monitor = "val_f1" if settings["monitor"] == "val_loss" else settings["monitor"]
    result = train_qa(data, model, run_dir=run_dir, epochs=settings["epochs"],
                      batch_size=settings["batch_size"],
                      learning_rate=settings["learning_rate"] or 5e-5,
                      warmup_fraction=settings["warmup_fraction"],
                      lr_schedule=settings["lr_schedule"], patience=settings["patience"],
                      monitor=monitor, seed=settings["seed"],
                      backup_steps=settings["backup_steps"],
                      jit_compile=settings["jit_compile"])
    if data.test is None:
        return result, None
    metrics = _report(result.model, data.test, os.path.join(run_dir, "report_test"),
                      f"test: {args.test_data}", if_exists="replace")
    return result, {k: v for k, v in metrics.items() if isinstance(v, (int, float, str))}


def _report(model, examples, report_dir, title, if_exists="new", batch_size=32):
    """Answer ``examples`` (with progress), score them (official SQuAD EM/F1), print the
    scores and write the report folder: report.json, report.txt with the worst answers."""
    from tqdm import tqdm
    from tfbert.data.squad import gold_answers
    from tfbert.reports import write_report
    task, answers = get_task(QuestionAnswering.name), []
    with tqdm(total=len(examples), desc="Answering", unit=" questions", file=sys.stderr,
              mininterval=1.0, disable=len(examples) < 256) as progress:
        for chunk in chunks(examples, batch_size * 8):
            answers += model.answer_examples(chunk, batch_size=batch_size)
            progress.update(len(chunk))
    version = "2.0" if any(e.is_impossible for e in examples) else "1.1"
    metrics = task.compute_metrics(gold_answers(examples), {a.qid: a.answer for a in answers},
                                   version=version)
    metrics["task"] = task.name
    context = {e.qid: e.context for e in examples}
    mistakes = [{**m, "text": context[m["id"]]}
                for m in task.worst_mistakes(examples, answers, k=len(examples))]
    print(task.format_metrics(metrics, title))
    paths = write_report(report_dir, metrics, mistakes[:MISTAKES], title=title,
                         total_mistakes=len(mistakes), if_exists=if_exists)
    metrics["report_dir"] = os.path.dirname(paths["json"])
    return metrics


def cmd_evaluate(args):
    """EM/F1 of a question answering export on every question of SQuAD JSON ``--data``,
    written to a new report folder (never over another)."""
    check_inputs(args, ("--data",))
    if args.output and os.path.exists(args.output):
        raise TfbertError(f"--output: {args.output} exists, and a report never replaces "
                          "another; choose a new folder (or leave --output out).")
    if not is_squad_source(args.data):
        raise DataError(f"--data {args.data}: a question answering model is evaluated on "
                        "SQuAD-format JSON (.json).")
    if args.split is not None:
        raise DataError(f"--split {args.split}: a SQuAD file is evaluated whole (every "
                        "question); leave --split out, or give the part to score as its own "
                        "file.")
    from tfbert.data.squad import read_squad
    examples, _ = read_squad(args.data)          # checked before the model loads
    model = _load_qa_export(args.model_dir)
    version_dir = os.path.normpath(model.path)
    report_dir = args.output or os.path.join(
        "runs", os.path.basename(os.path.dirname(version_dir)), os.path.basename(version_dir),
        "report_" + os.path.splitext(os.path.basename(args.data))[0])
    metrics = _report(model, examples, report_dir, f"{args.data}", batch_size=args.batch_size)
    print(f"Report saved to {metrics['report_dir']} (report.txt, report.json)")


def _load_qa_export(path):
    from tfbert.serving import LoadedQA, load_model
    model = load_model(path)
    if not isinstance(model, LoadedQA):
        raise DataError(f"{model.path} is not a question answering export; SQuAD data goes "
                        "with a model trained by tfbert train --task question-answering.")
    return model


def cmd_predict(args):
    """Answer ``--question``/``--context`` pairs (printed) or every question of a SQuAD
    JSON ``--file`` (``{id: answer}`` written to ``--output``)."""
    questions, contexts = args.question or [], args.context or []
    if args.texts or args.text_pair:
        raise DataError("a question answering model takes --question Q --context C (or "
                        "--file squad.json), not texts.")
    if bool(questions) != bool(contexts):
        raise DataError("give --question and --context together.")
    if len(contexts) not in (1, len(questions)):
        raise DataError(f"{len(questions)} --question but {len(contexts)} --context values; "
                        "give one context, or one per question.")
    if not questions and not args.file:
        raise DataError("nothing to answer: give --question Q --context C, or --file "
                        "squad.json --output predictions.json.")
    if args.output and os.path.exists(args.output):
        raise DataError(f"--output: {args.output} already exists; tfbert never overwrites it.")
    check_inputs(args, ("--file",))
    examples = None
    if args.file:
        from tfbert.data.squad import read_squad
        examples, _ = read_squad(args.file)      # checked before the model loads
    model = _load_qa_export(args.model_dir)
    if questions:
        for answer in model.answer(questions, contexts if len(contexts) > 1 else contexts[0],
                                   batch_size=args.batch_size):
            print(json.dumps(answer.to_json(), ensure_ascii=False) if args.json
                  else str(answer))
    if examples is not None:
        _predict_file(model, examples, args)


def _predict_file(model, examples, args):
    from tqdm import tqdm
    predictions = {}
    with tqdm(total=len(examples), desc="Answering", unit=" questions", file=sys.stderr,
              mininterval=1.0) as progress:
        for chunk in chunks(examples, args.batch_size * 8):
            for answer in model.answer_examples(chunk, batch_size=args.batch_size):
                predictions[answer.qid] = answer.answer
            progress.update(len(chunk))
    text = json.dumps(predictions, ensure_ascii=False, indent=1)
    if not args.output:
        print(text)
        return
    partial = args.output + ".partial"
    with open(partial, "w", encoding="utf-8") as f:
        f.write(text + "\n")
    os.replace(partial, args.output)
    print(f"{len(predictions):,} answers written to {args.output}", file=sys.stderr)
