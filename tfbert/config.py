"""The settings of a training run, each default written once: :class:`TrainConfig`.

:func:`tfbert.train` takes every field as a keyword, ``tfbert train`` as an
option built from the field (its help, choices and default), and a run's
``config.json`` records them. Importing this module loads no TensorFlow, so
``tfbert --help`` stays fast.

Example:

>>> from tfbert.config import TrainConfig
>>> TrainConfig(epochs=3).batch_size
32
"""
import dataclasses
import json
import math

from tfbert.errors import TfbertError
from tfbert.recommended import (CLASSIFIER_DROPOUT, FINE_TUNING_EPOCHS, HEAD_ONLY_SETTINGS,
                                 RECOMMENDED_KEYS, SPAN_DROPOUT)
from tfbert.registry import DEFAULT_MODEL

__all__ = ["TrainConfig", "PretrainConfig", "PRECISIONS", "POOLINGS", "STRATEGIES",
           "LR_SCHEDULES", "check_lr_schedule", "PREDICT_BATCH_SIZE", "TRUNCATIONS",
           "CHUNK_POOLINGS", "CHUNK_LOSSES", "LONG_TEXT_SETTINGS", "check_long_text"]

POOLINGS = ("cls", "mean")
TRUNCATIONS = ("head", "tail", "head+tail", "chunks")    # see tfbert.long_text
CHUNK_POOLINGS = ("mean", "max")
CHUNK_LOSSES = ("text", "windows")      # what training on chunks scores, see tfbert.long_text
# The settings that say how long texts are read, fields of TrainConfig and ClassifierConfig.
LONG_TEXT_SETTINGS = ("truncation", "head_share", "stride", "max_chunks", "chunk_pooling")
PREDICT_BATCH_SIZE = 64     # texts per batch when predicting (evaluation, serving, the CLI)
STRATEGIES = ("auto", "tpu", "multiworker", "mirrored", "default")
PRECISIONS = (None, "mixed_float16", "mixed_bfloat16", "auto")
# After warmup the learning rate falls linearly to 0: "bert" counts the fall from step 0 (Google's
# BERT, tf-models-official), "huggingface" from the peak at the end of warmup (Hugging Face's
# get_linear_schedule_with_warmup); see tfbert.optimizer.create_optimizer. Each task names its
# default (Task.lr_schedule).
LR_SCHEDULES = ("bert", "huggingface")


class JsonFields:
    """For settings dataclasses kept with a model: :meth:`to_json` and :meth:`from_json`
    (which ignores keys it does not know, so records written by other versions load)."""

    def to_json(self):
        """The config as a JSON-ready dict (:meth:`from_json` reads it back)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_json(cls, record):
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in record.items() if key in fields})


def _setting(default, help, **options):
    """A :class:`TrainConfig` field whose help text (and choices, metavar) the CLI shows.

    ``type``: the option's type where the default (None: decided later) does not tell it;
    ``flag=True``: an on/off option with a ``--no-`` form, unset meaning "decide for me"."""
    return dataclasses.field(default=default, metadata={"help": help, **options})


@dataclasses.dataclass
class TrainConfig:
    """The settings of a training run: the one place their defaults are written.

    :func:`train` takes each field as a keyword, the ``tfbert train`` command
    as an option (``--batch-size``), and the run's ``config.json`` records them.
    """

    model: str = _setting(DEFAULT_MODEL, "model name (`tfbert models`) or a folder with "
                          "preprocess/ and encoder/", metavar="NAME|DIR")
    epochs: int | None = _setting(None, f"passes over the training data (default: "
                                  f"{FINE_TUNING_EPOCHS}; {HEAD_ONLY_SETTINGS['epochs']} with "
                                  "--freeze-encoder)", type=int)
    batch_size: int = _setting(32, "examples per training step")
    learning_rate: float | None = _setting(None, "peak learning rate of AdamW (default: the "
                                           "model's recommendation, `tfbert models`; "
                                           f"{HEAD_ONLY_SETTINGS['learning_rate']:g} with "
                                           "--freeze-encoder)",
                                           type=float)
    warmup_fraction: float = _setting(0.1, "share of the steps spent warming the learning "
                                      "rate up")
    lr_schedule: str | None = _setting(
        None, "the linear decay after warmup: bert counts it from step 0 (Google's BERT, "
        "tf-models-official; the rate after warmup is already 1 - warmup of the peak), "
        "huggingface from the peak at the end of warmup (default: the task's, huggingface for "
        "question answering, bert for the others)", choices=LR_SCHEDULES)
    seq_length: int | None = _setting(None, "tokens per text, longer texts are truncated "
                                      "(default: the model's recommendation)", type=int)
    dropout: float | None = _setting(None, f"dropout rate before the output layer (default: "
                                     f"{CLASSIFIER_DROPOUT:g}; {SPAN_DROPOUT:g} for question "
                                     "answering, as BERT's SQuAD span layer)", type=float)
    pooling: str | None = _setting(None, "classify the [CLS] pooled output or the mean of the "
                                   "token outputs (default: the model's recommendation)",
                                   choices=POOLINGS)
    patience: int = _setting(2, "early-stopping patience in epochs")
    monitor: str = _setting("val_loss", "what picks the best epoch (kept, and watched by early "
                            "stopping): val_loss, or the task's val_accuracy / val_pearson / "
                            "val_mae")
    seed: int = _setting(42, "seed of splits, weights and shuffling")
    strategy: str = _setting("auto", "tf.distribute strategy; auto picks a TPU, a TF_CONFIG "
                             "cluster (multiworker), the local GPUs, or the CPU",
                             choices=STRATEGIES)
    backup_steps: int = _setting(200, "save the run's state every N steps in RUN_DIR/backup; "
                                 "the same command resumes from it after a crash", metavar="N")
    deterministic: bool = _setting(False, "deterministic TensorFlow ops: the same seed, data "
                                   "and settings give the same metrics")
    jit_compile: bool = _setting(False, "compile training steps with XLA (slower for TF Hub "
                                 "encoders, which are recompiled every step, unless "
                                 "--rebuild-encoder; see BENCHMARKS.md)")
    mixed_precision: str | None = _setting(
        None, "dtype policy of the layers tfbert builds (the encoder too when it is rebuilt); "
        "the output stays float32. auto: mixed_bfloat16 on TPUs and on CPUs with AVX512-BF16 "
        "or AMX, mixed_float16 on GPUs, float32 elsewhere (default: float32)",
        choices=tuple(p for p in PRECISIONS if p))
    rebuild_encoder: bool | None = _setting(
        None, "run the encoder as a Keras BertEncoder rebuilt with the TF Hub encoder's "
        "weights, so that --mixed-precision and --jit-compile reach inside it and a [CLS] head "
        "skips work (default: whenever a check on a probe batch proves it equal to the "
        "SavedModel, else the TF Hub layer)", flag=True)
    truncation: str = _setting(
        "head", "what of a text longer than --seq-length the model reads: its head, its tail, "
        "head+tail (--head-share of the tokens from the start, the rest from the end; Sun et "
        "al. 2019), or chunks: overlapping windows, each scored, their logits pooled (single "
        "texts only; see README, Long documents)", choices=TRUNCATIONS)
    head_share: float = _setting(0.25, "head+tail: the share of the tokens taken from the "
                                 "start (0.25: 128 of 510, as Sun et al.)")
    stride: int | None = _setting(None, "chunks: tokens between the starts of two windows "
                                  "(default: half the window, seq-length - 2)", type=int)
    max_chunks: int = _setting(8, "chunks: windows per text at most (spread over the text, "
                               "first and last included), which bounds memory per batch")
    chunk_pooling: str = _setting("mean", "chunks: how the windows' logits are combined",
                                  choices=CHUNK_POOLINGS)
    chunk_loss: str = _setting(
        "text", "chunks: what training's loss scores: text (each text's pooled logits against "
        "its label) or windows (each window on its own, with its text's label); validation "
        "and prediction pool the windows either way", choices=CHUNK_LOSSES)
    freeze_encoder: bool = _setting(
        False, "feature-based training: compute each text's pooled features once with the "
        "frozen encoder (cached in RUN_DIR/features), then train only the dropout + dense head "
        "on them, far faster; the export still takes raw strings. Head-only defaults apply "
        "to --learning-rate and --epochs left unset; no backups (a rerun reuses the cache)")

    def __post_init__(self):
        check_long_text(self.truncation, self.head_share, self.stride, self.max_chunks,
                        self.chunk_pooling, self.seq_length)
        if self.chunk_loss not in CHUNK_LOSSES:
            raise TfbertError(f"chunk_loss must be one of {', '.join(CHUNK_LOSSES)}, got "
                              f"{self.chunk_loss!r}.")
        if self.chunk_loss != "text" and self.truncation != "chunks":
            raise TfbertError(f"chunk_loss={self.chunk_loss!r} trains on the windows of "
                              f"truncation='chunks', but truncation is {self.truncation!r}.")
        if self.freeze_encoder:
            _check_frozen(self)
            if self.learning_rate is None:      # head-only defaults, recorded as what ran
                self.learning_rate = HEAD_ONLY_SETTINGS["learning_rate"]
        if self.dropout is None:
            self.dropout = CLASSIFIER_DROPOUT
        if self.epochs is None:
            self.epochs = HEAD_ONLY_SETTINGS["epochs"] if self.freeze_encoder \
                else FINE_TUNING_EPOCHS
        for name in ("epochs", "batch_size", "backup_steps"):
            if getattr(self, name) < 1:
                raise TfbertError(f"{name} must be at least 1, got {getattr(self, name)}.")
        if self.seq_length is not None and self.seq_length < 1:
            raise TfbertError(f"seq_length must be at least 1, got {self.seq_length}.")
        if self.lr_schedule is not None:
            check_lr_schedule(self.lr_schedule)
        _check_optimizer_settings(self)

    def with_recommended(self, recommended):
        """This config with each of :data:`~tfbert.registry.RECOMMENDED_KEYS` left unset
        (None) taken from ``recommended`` (a model's, see
        :func:`~tfbert.registry.recommended_settings`); returns ``(config, taken)``, where
        ``taken`` maps the names filled in to their values.

        >>> config, taken = TrainConfig(pooling="cls").with_recommended(
        ...     {"pooling": "mean", "learning_rate": 1e-4, "seq_length": 128})
        >>> config.pooling, taken
        ('cls', {'learning_rate': 0.0001, 'seq_length': 128})
        """
        taken = {name: recommended[name] for name in RECOMMENDED_KEYS
                 if getattr(self, name) is None}
        return dataclasses.replace(self, **taken), taken

    @classmethod
    def from_settings(cls, settings):
        """A config from keyword settings, refusing names that are not fields."""
        names = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(settings) - names)
        if unknown:
            raise TfbertError(f"unknown training setting(s) {', '.join(unknown)}; the settings "
                              f"are {', '.join(sorted(names))}.")
        return cls(**settings)




def check_long_text(truncation, head_share, stride, max_chunks, chunk_pooling, seq_length=None,
                    num_segments=1):
    """Raise a :class:`TfbertError` naming the setting at fault unless the long-text
    settings (:mod:`tfbert.long_text`) make sense together; return the stride to use
    (half the window, ``seq_length - 2``, when unset and ``truncation="chunks"``).

    >>> check_long_text("chunks", 0.25, None, 8, "mean", seq_length=130)
    64
    """
    if truncation not in TRUNCATIONS:
        raise TfbertError(f"truncation must be one of {', '.join(TRUNCATIONS)}, got "
                          f"{truncation!r}.")
    if not 0 <= head_share <= 1:
        raise TfbertError(f"head_share must be in [0, 1], got {head_share}.")
    if max_chunks < 1:
        raise TfbertError(f"max_chunks must be at least 1, got {max_chunks}.")
    if stride is not None and stride < 1:
        raise TfbertError(f"stride must be at least 1, got {stride}.")
    if chunk_pooling not in CHUNK_POOLINGS:
        raise TfbertError(f"chunk_pooling must be one of {', '.join(CHUNK_POOLINGS)}, got "
                          f"{chunk_pooling!r}.")
    if truncation != "head" and num_segments != 1:
        raise TfbertError(f"truncation={truncation!r} is for single texts; text pairs are "
                          "truncated as BERT packs them (round robin: the longer text loses "
                          "tokens from its end first), so use truncation='head' for pairs.")
    if seq_length is None or truncation == "head":
        return stride
    window = seq_length - 2      # [CLS] and [SEP] take two positions
    if window < 1:
        raise TfbertError(f"truncation={truncation!r} needs seq_length of at least 3, got "
                          f"{seq_length}.")
    if truncation != "chunks":
        return stride
    stride = stride or max(1, window // 2)
    if stride >= window:
        raise TfbertError(f"stride {stride} must be smaller than the window of {window} tokens "
                          f"(seq_length {seq_length} - 2), so that the windows overlap.")
    return stride


def _check_frozen(config):
    """Refuse settings that have no meaning when only the head trains on cached features."""
    if config.truncation == "chunks":
        raise TfbertError("freeze_encoder: truncation='chunks' pools each window's logits, so "
                          "a text has no one feature vector to cache; use truncation 'head', "
                          "'tail' or 'head+tail', or fine-tune.")
    if config.strategy in ("tpu", "multiworker"):
        raise TfbertError(f"freeze_encoder: strategy={config.strategy!r} is not supported; the "
                          "features are computed and the head trained by this process alone "
                          "(use strategy 'auto', 'mirrored' or 'default').")


def check_lr_schedule(name):
    """Raise :class:`TfbertError` unless ``name`` is one of :data:`LR_SCHEDULES`."""
    if name not in LR_SCHEDULES:
        raise TfbertError(f"lr_schedule must be one of {', '.join(map(repr, LR_SCHEDULES))}, "
                          f"got {name!r}.")


def _check_optimizer_settings(config):
    """The checks fine-tuning and pre-training share: the learning rate (None: the model's
    recommendation), the warmup share and the dtype policy."""
    if config.learning_rate is not None and config.learning_rate <= 0:
        raise TfbertError(f"learning_rate must be positive, got {config.learning_rate}.")
    if not 0 <= config.warmup_fraction < 1:
        raise TfbertError(f"warmup_fraction must be in [0, 1), got {config.warmup_fraction}.")
    if config.mixed_precision not in PRECISIONS:
        raise TfbertError(f"mixed_precision must be one of "
                          f"{', '.join(map(repr, PRECISIONS))}, got {config.mixed_precision!r}.")


@dataclasses.dataclass
class PretrainConfig:
    """The settings of further masked-LM pre-training (:func:`tfbert.pretrain`, ``tfbert
    pretrain``): the one place their defaults are written, those of Sun et al.'s
    within-task pre-training (batch 32, 128 tokens, learning rate 5e-5, 10% warmup).

    >>> PretrainConfig(steps=100).total_steps(1000)
    100
    >>> PretrainConfig(epochs=2).total_steps(1000)
    63
    """

    model: str = _setting(DEFAULT_MODEL, "model name (`tfbert models`) or a folder with "
                          "preprocess/ and encoder/", metavar="NAME|DIR")
    steps: int | None = _setting(None, "training steps (default: one pass over the text, "
                                 "or --epochs)", type=int, metavar="N")
    epochs: float | None = _setting(None, "passes over the text, instead of --steps",
                                    type=float, metavar="E")
    seq_length: int = _setting(128, "tokens per text (with [CLS] and [SEP]); longer texts "
                               "are truncated")
    batch_size: int = _setting(32, "texts per training step")
    learning_rate: float = _setting(5e-5, "peak learning rate of AdamW")
    warmup_fraction: float = _setting(0.1, "share of the steps spent warming the learning "
                                      "rate up")
    mask_rate: float = _setting(0.15, "share of the word pieces masked (80% [MASK], 10% "
                                "random, 10% kept)")
    heldout: int = _setting(500, "texts held out to measure the masked-LM loss and accuracy "
                            "before and after (at most a fifth of the text)", metavar="N")
    seed: int = _setting(42, "seed of the sample, the held-out slice and the shuffling")
    backup_steps: int = _setting(200, "save the state every N steps in RUN_DIR/backup; the "
                                 "same command resumes from it after a crash", metavar="N")
    jit_compile: bool = _setting(False, "compile the training step with XLA")
    mixed_precision: str | None = _setting(
        None, "dtype policy of the encoder and head (auto: as for train)",
        choices=tuple(p for p in PRECISIONS if p))

    def __post_init__(self):
        if self.steps is not None and self.epochs is not None:
            raise TfbertError("give steps or epochs, not both.")
        for name in ("steps", "seq_length", "batch_size", "heldout", "backup_steps"):
            value = getattr(self, name)
            if value is not None and value < (3 if name == "seq_length" else 1):
                raise TfbertError(f"{name} must be at least {3 if name == 'seq_length' else 1}"
                                  f", got {value}.")
        if self.epochs is not None and self.epochs <= 0:
            raise TfbertError(f"epochs must be positive, got {self.epochs}.")
        _check_optimizer_settings(self)
        if not 0 < self.mask_rate < 1:
            raise TfbertError(f"mask_rate must be in (0, 1), got {self.mask_rate}.")

    def total_steps(self, num_texts):
        """Steps to run on ``num_texts`` training texts: ``steps``, else ``epochs`` (default 1)
        passes of full batches, at least one."""
        if self.steps is not None:
            return self.steps
        return max(1, math.ceil((self.epochs or 1) * num_texts / self.batch_size))
