"""The ``tfbert embed`` and ``tfbert export-embedder`` commands.

Examples::

    tfbert embed all-minilm-l6-v2 "A wonderful film." "A great movie." --output vectors.jsonl
    tfbert embed all-minilm-l6-v2 --file reviews.csv --text-column review --output reviews.npy
    tfbert export-embedder all-minilm-l6-v2 --output saved_models/minilm
"""
import json
import os

from tfbert.cli_common import check_inputs, chunks, column, positive_int, stdin_texts
from tfbert.config import POOLINGS, PREDICT_BATCH_SIZE
from tfbert.errors import DataError
from tfbert.exports import export_kind

OUTPUT_SUFFIXES = (".npy", ".jsonl")


def _texts(args):
    """Every text to embed: the arguments, then those of ``--file`` (or standard input)."""
    texts = list(args.texts)
    if args.file:
        from tfbert.data.readers import iter_texts
        source = (stdin_texts() if args.file == "-" else
                  iter_texts(args.file, column(args.text_column), None))
        texts += [text for text, _ in source]
    if not texts:
        where = "standard input" if args.file == "-" else args.file
        raise DataError(f"{where} holds no texts to embed." if args.file else
                        "nothing to embed: give texts as arguments or --file F.")
    return texts


def _embedder(args):
    """An export written by ``export-embedder`` (its ``embed``), else a model to build."""
    kind = export_kind(args.model)   # None: a model name or TF Hub-format folder
    if kind is not None:
        from tfbert.serving import load_model
        loaded = load_model(args.model)
        if not hasattr(loaded, "embed"):
            raise DataError(f"{args.model} is a {kind} export; embed with its model "
                            "folder, or export an embedder (tfbert export-embedder).")
        return loaded.embed
    from tfbert.embeddings import build_embedder
    embedder = build_embedder(args.model, args.pooling, not args.no_normalize, args.seq_length)
    return lambda texts, batch_size: embedder.embed(texts, batch_size)


def cmd_embed(args):
    suffix = os.path.splitext(args.output)[1].lower()
    if suffix not in OUTPUT_SUFFIXES:
        raise DataError(f"--output {args.output}: the suffix must be .npy (vectors, plus a "
                        ".texts.jsonl file of the texts) or .jsonl (text and embedding per "
                        "line).")
    outputs = [args.output] + ([_texts_file(args.output)] if suffix == ".npy" else [])
    for path in outputs:
        if os.path.exists(path):
            raise DataError(f"--output: {path} already exists; tfbert never overwrites it.")
    check_inputs(args, ("--file",))
    if args.file == "-" and args.text_column is not None:
        raise DataError("--file -: standard input is read one text a line; give a table "
                        "(--text-column) as a file.")
    texts = _texts(args)
    embed = _embedder(args)
    import numpy as np
    from tqdm import tqdm
    parts = []
    with tqdm(total=len(texts), desc="Embedding", unit=" texts", mininterval=1.0,
              disable=len(texts) < 2048) as progress:
        for chunk in chunks(texts, args.batch_size * 16):
            parts.append(embed(chunk, batch_size=args.batch_size))
            progress.update(len(chunk))
    vectors = np.concatenate(parts)
    _write(args.output, suffix, texts, vectors)
    print(f"{len(texts)} vectors of {vectors.shape[1]} dimensions written to "
          f"{' and '.join(outputs)}")


def _texts_file(output):
    return os.path.splitext(output)[0] + ".texts.jsonl"


def _write(output, suffix, texts, vectors):
    """Write the vectors (and texts) to files that appear whole: a temporary name, then
    renamed into place."""
    import numpy as np
    folder = os.path.dirname(os.path.abspath(output))
    os.makedirs(folder, exist_ok=True)
    staged = []
    try:
        if suffix == ".npy":
            staged.append((output + ".partial", output))
            with open(staged[-1][0], "wb") as f:
                np.save(f, vectors)
            texts_file = _texts_file(output)
            staged.append((texts_file + ".partial", texts_file))
            lines = (json.dumps({"index": i, "text": t}, ensure_ascii=False)
                     for i, t in enumerate(texts))
        else:
            staged.append((output + ".partial", output))
            lines = (json.dumps({"text": t, "embedding": v.tolist()}, ensure_ascii=False)
                     for t, v in zip(texts, vectors))
        with open(staged[-1][0], "w", encoding="utf-8") as f:
            f.writelines(line + "\n" for line in lines)
        for partial, final in staged:
            os.replace(partial, final)
    finally:
        for partial, _ in staged:
            if os.path.exists(partial):
                os.remove(partial)


def cmd_export_embedder(args):
    from tfbert.embeddings import build_embedder
    embedder = build_embedder(args.model, args.pooling, not args.no_normalize, args.seq_length)
    print(f"Exported to {embedder.export(args.output)}")


def _add_embedder_options(parser):
    parser.add_argument("model", metavar="MODEL",
                        help="a model name (tfbert models), a TF Hub-format folder"
                             ", or for embed an export of export-embedder")
    parser.add_argument("--pooling", choices=POOLINGS,
                        help="mean of the real tokens, or the [CLS] pooled output (default: "
                             "what the model recommends; mean for all-minilm-l6-v2)")
    parser.add_argument("--no-normalize", action="store_true",
                        help="keep the vectors' lengths (default: unit length)")
    parser.add_argument("--seq-length", type=positive_int, metavar="N",
                        help="word pieces kept per text (default: the model's; 256 for "
                             "all-minilm-l6-v2, as sentence-transformers)")


def add_embed_commands(commands):
    """Add ``embed`` and ``export-embedder`` to the ``tfbert`` subcommands."""
    p = commands.add_parser("embed", help="one vector per text, written to .npy or .jsonl",
                            description="Embed texts with an encoder and no head (sentence "
                                        "embeddings; for all-minilm-l6-v2 the vectors of "
                                        "sentence-transformers).")
    _add_embedder_options(p)
    p.add_argument("texts", nargs="*", metavar="TEXT",
                   help="texts to embed (quote each); with --file, these come first")
    p.add_argument("--file", metavar="F", help="a text file (one text a line) or a CSV/TSV; "
                   "'-' reads one text a line from standard input")
    p.add_argument("--text-column", metavar="C", help="the text column of a CSV/TSV --file")
    p.add_argument("--output", required=True, metavar="FILE",
                   help="vectors.npy (plus vectors.texts.jsonl with the texts) or "
                        "vectors.jsonl ({\"text\", \"embedding\"} per line); never overwritten")
    p.add_argument("--batch-size", type=positive_int, default=PREDICT_BATCH_SIZE,
                   help="texts per batch (default: %(default)s)")
    p.set_defaults(func=cmd_embed)

    p = commands.add_parser("export-embedder",
                            help="export an encoder as a SavedModel: text -> embedding",
                            description="Write a versioned, reload-verified SavedModel whose "
                                        "serving_default takes 'text' strings and returns "
                                        "'embedding' [batch, hidden].")
    _add_embedder_options(p)
    p.add_argument("--output", required=True, metavar="DIR",
                   help="export folder; versions go in DIR/1, DIR/2...")
    p.set_defaults(func=cmd_export_embedder)
