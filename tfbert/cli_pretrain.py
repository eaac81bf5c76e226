"""The ``tfbert pretrain`` command: further masked-LM pre-training on unlabelled text.

Its settings are :class:`~tfbert.config.PretrainConfig`'s fields, made options by the
same code that makes ``train``'s; it calls :func:`tfbert.pretraining.pretrain`.

Example::

    tfbert pretrain --model all-minilm-l6-v2 --data ../shared/data/aclImdb_unsup.tar.xz \\
        --output models/minilm_imdb --steps 2000
    tfbert train --model models/minilm_imdb --data ../shared/data/aclImdb.tar.xz
"""
import argparse
import dataclasses
import os

from tfbert.config import PretrainConfig
from tfbert.errors import DataError

__all__ = ["add_pretrain_command", "cmd_pretrain"]


def _count(value):
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return int(value)


def cmd_pretrain(args):
    """Check the inputs (data, output, model) before any work, then pre-train."""
    from tfbert.pretraining import check_output, pretrain
    from tfbert.runs import checked_model

    if not os.path.exists(args.data):
        raise DataError(f"--data: {args.data!r} does not exist.")
    check_output(args.output, args.overwrite)
    settings = {field.name: getattr(args, field.name)
                for field in dataclasses.fields(PretrainConfig)}
    name = settings.pop("model")
    spec = checked_model(name, args.preprocess)
    model = spec if args.preprocess else name   # the report names the model as given
    column = args.text_column
    pretrain(args.data, args.output, model=model,
             text_column=int(column) if column is not None and column.isdigit() else column,
             max_examples=args.max_examples, run_dir=args.run_dir, overwrite=args.overwrite,
             **settings)


def add_pretrain_command(commands, add_settings):
    """Add ``pretrain`` to the ``tfbert`` sub-commands; ``add_settings(parser, config_class)``
    makes one option per :class:`~tfbert.config.PretrainConfig` field."""
    p = commands.add_parser(
        "pretrain", help="further masked-LM pre-training on unlabelled text",
        description="Further pre-train an encoder with BERT's masked-LM task on unlabelled "
                    "text (Sun et al.'s within-task pre-training) and write it as a TF "
                    "Hub-format folder that --model takes.")
    p.add_argument("--data", required=True, metavar="SOURCE",
                   help="a folder or .tar.gz/.tar.xz archive of .txt files (one document a "
                        "file, e.g. aclImdb/train/unsup), a .txt file of one document a line, "
                        "or a CSV/TSV file with --text-column")
    p.add_argument("--output", required=True, metavar="DIR", help="the model folder to write")
    p.add_argument("--overwrite", action="store_true", help="replace an existing DIR")
    p.add_argument("--text-column", metavar="C",
                   help="text column name, or 0-based position in a headerless file")
    p.add_argument("--max-examples", type=_count, metavar="N",
                   help="use at most N documents (a seeded sample)")
    p.add_argument("--preprocess", metavar="HANDLE", help="explicit preprocessing handle/path")
    p.add_argument("--run-dir", metavar="DIR", help="backups, TensorBoard logs, history "
                   "(default: runs/pretrain/<DIR's name>); an interrupted run there resumes")
    add_settings(p, PretrainConfig)
    p.set_defaults(func=cmd_pretrain)
