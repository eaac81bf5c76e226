"""Feature-based training: a frozen encoder's pooled features computed once, cached on
disk, and only the classifier's head (dropout + dense) trained on them.

The BERT paper's *feature-based* approach. With ``train(..., freeze_encoder=True)`` (``tfbert
train --freeze-encoder``) each text goes through the encoder once, not once per epoch:
:func:`cached_features` pools it exactly as the classifier would (its preprocessor, so the
same ``seq_length`` and truncation, and its pooling; no L2 normalisation), in length-sorted
batches each padded to its own longest text, and keeps the array in
``RUN_DIR/features/<split>-<key>.npy``. The key hashes the encoder's weights and handles,
the pooling and length settings and the split's texts (and pairs): a rerun with the same
``run_dir`` reuses the file, any change recomputes it. :func:`head_model` calls the
classifier's own ``dropout`` and ``classifier`` layers on those vectors, so the head trained
here *is* the full classifier's head: the export still takes raw strings.

Example::

    result = tfbert.train(data, model="all-minilm-l6-v2", freeze_encoder=True,
                          run_dir="runs/sst2-features")      # lr 3e-3, up to 50 epochs
    features, info = cached_features(result.model, data.test, "runs/sst2-features/features",
                                     "test")                   # e.g. for scikit-learn
"""
import glob
import hashlib
import json
import os
import time
import weakref

import numpy as np

from tfbert import compat
from tfbert._tf import tf, tf_keras
from tfbert.callbacks import RunRecorder, StopOnNonFiniteLoss
from tfbert.config import PREDICT_BATCH_SIZE
from tfbert.data.pipeline import length_order
from tfbert.errors import ModelError
from tfbert.layers import TrimPadding, pool
from tfbert.tasks import monitor_mode

__all__ = ["FEATURES_FOLDER", "feature_model", "cached_features", "compute_features",
           "head_model", "fit_head"]

FEATURES_FOLDER = "features"        # inside a run folder
_SHOW_PROGRESS_FROM = 2048


def feature_model(classifier):
    """A Keras model from raw strings (a list of two batches for text pairs) to the pooled
    vector the classifier's head reads (``[batch, hidden]`` float32), sharing its
    preprocessor and encoder."""
    config = classifier.config
    if config.truncation == "chunks":
        raise ModelError("freeze_encoder: a classifier reading texts in chunks pools each "
                         "window's logits, so a text has no one feature vector to cache.")
    texts = [tf_keras.layers.Input(shape=(), dtype=tf.string, name=name)
             for name in ("text", "text_pair")[:config.num_segments]]
    text = texts if config.text_pairs else texts[0]
    ids = TrimPadding(name="trim_padding")(classifier.preprocessor(text))
    pooled = pool(classifier.core.get_layer("encoder")(ids), ids["input_mask"], config.pooling)
    pooled = tf_keras.layers.Activation("linear", dtype="float32", name="float32")(pooled)
    return tf_keras.Model(text, pooled, name="features")


def compute_features(model, texts, pairs=None, batch_size=PREDICT_BATCH_SIZE, progress=None):
    """``model`` (see :func:`feature_model`) applied to ``texts`` (with ``pairs``) in
    length-sorted batches, each padded to its own longest text: a float32 array in input
    order. ``progress``: a progress bar (default: for 2,048 texts or more)."""
    texts = [str(t) for t in texts]
    pairs = None if pairs is None else [str(t) for t in pairs]
    if not texts:
        return np.zeros((0, int(model.output.shape[-1])), np.float32)
    batch = _traced(model, 1 if pairs is None else 2)
    order = length_order(texts, pairs)
    starts = range(0, len(texts), batch_size)
    if progress if progress is not None else len(texts) >= _SHOW_PROGRESS_FROM:
        from tqdm import tqdm
        starts = tqdm(starts, desc="Features", unit=" batches", mininterval=1.0)
    chunks = []
    for start in starts:
        rows = order[start:start + batch_size]
        chunks.append(batch(*[tf.constant([column[i] for i in rows])
                              for column in (texts, pairs) if column is not None]).numpy())
    return np.concatenate(chunks)[np.argsort(order)].astype(np.float32)


_TRACED = weakref.WeakKeyDictionary()      # feature model -> its traced batch function
_MODELS = weakref.WeakKeyDictionary()      # classifier -> its feature model


def _traced(model, segments):
    """One traced graph for every batch (each cut to its own longest text), made once per
    model: eager Keras calls are several times slower, and tracing takes seconds."""
    if model not in _TRACED:
        held = weakref.ref(model)           # the cache must not keep its key alive
        _TRACED[model] = tf.function(
            lambda *parts: held()(list(parts) if segments == 2 else parts[0], training=False),
            input_signature=[tf.TensorSpec([None], tf.string)] * segments)
    return _TRACED[model]


def _encoder_fingerprint(classifier):
    """A hash of what makes the features: handles, settings, dtype policy and the encoder's
    weights themselves (a fine-tuned or reconverted encoder gets new features)."""
    config, encoder = classifier.config, classifier.core.get_layer("encoder")
    digest = hashlib.sha256(json.dumps(
        [config.model, config.encoder, config.preprocess, config.pooling, config.seq_length,
         config.truncation, config.head_share, config.num_segments, config.rebuild_encoder,
         str(getattr(encoder, "compute_dtype", None))]).encode())
    for variable in encoder.weights:
        digest.update(variable.name.encode())
        digest.update(np.ascontiguousarray(variable.numpy()).tobytes())
    return digest.hexdigest()


def _split_key(fingerprint, split):
    digest = hashlib.sha256(fingerprint.encode())
    for column in (split.texts, split.pairs):
        digest.update(b"\1" if column is None else b"\2")
        for text in [] if column is None else column:
            digest.update(str(text).encode("utf-8", "surrogatepass") + b"\0")
    return digest.hexdigest()[:20]


def cached_features(classifier, split, folder, name, batch_size=PREDICT_BATCH_SIZE,
                    fingerprint=None):
    """The pooled features of ``split`` (a :class:`~tfbert.data.TextSplit`) from
    ``folder/<name>-<key>.npy`` when its key matches, else computed with
    :func:`compute_features` and written there atomically (older files of ``name`` are
    removed). Returns ``(features, info)``; ``info`` has ``path``, ``reused`` and
    ``seconds`` (the time taken to compute or read them)."""
    start = time.perf_counter()
    key = _split_key(fingerprint or _encoder_fingerprint(classifier), split)
    path = os.path.join(folder, f"{name}-{key}.npy")
    reused = os.path.isfile(path)
    if reused:
        features = np.load(path)
    else:
        if classifier not in _MODELS:
            _MODELS[classifier] = feature_model(classifier)
        features = compute_features(_MODELS[classifier], split.texts, split.pairs, batch_size)
        os.makedirs(folder, exist_ok=True)
        partial = f"{path}.{os.getpid()}.partial"
        with open(partial, "wb") as f:
            np.save(f, features)
        os.replace(partial, path)           # readers see a whole file or none
        for stale in glob.glob(os.path.join(folder, f"{name}-*.npy")):
            if stale != path:
                os.remove(stale)
    seconds = time.perf_counter() - start
    print(f"Features of the {name} split ({len(features):,} x {features.shape[1]}): "
          + (f"reused {path}" if reused else
             f"computed in {seconds:.1f} s ({len(features) / max(seconds, 1e-9):,.0f} texts/s), "
             f"cached in {path}"))
    return features, {"path": path, "reused": reused, "seconds": seconds}


def head_model(classifier):
    """The classifier's head alone, from pooled features to logits: its own ``dropout`` and
    ``classifier`` (dense) layers called on a features input, so training this trains the
    classifier's head in place."""
    core = classifier.core
    dropout, dense = core.get_layer("dropout"), core.get_layer("classifier")
    features = tf_keras.layers.Input(shape=(int(dropout.input.shape[-1]),), dtype=tf.float32,
                                     name="features")
    return tf_keras.Model(features, dense(dropout(features)), name="head")


def fit_head(classifier, plan, optimizer, callbacks=(), verbose="auto"):
    """Train ``classifier``'s head on cached features of ``plan.data``'s training split,
    validated on its validation split (``plan``: a training run's data, config, run_dir;
    this sets its ``recorder``, ``early_stopping``, ``non_finite`` and ``features``).
    ``optimizer``: a function making the optimizer, called in the model's strategy scope.
    Early stopping restores the best epoch's head; the encoder is never touched."""
    data, config = plan.data, plan.config
    folder = os.path.join(plan.run_dir, FEATURES_FOLDER)
    fingerprint = _encoder_fingerprint(classifier)
    inputs, plan.features = {}, {}
    for name in ("train", "validation"):
        inputs[name], plan.features[name] = cached_features(
            classifier, getattr(data, name), folder, name, fingerprint=fingerprint)
    label_dtype = data.task.label_dtype(data.num_classes)
    datasets = {name: tf.data.Dataset.from_tensor_slices(
        (inputs[name], getattr(data, name).labels.astype(label_dtype))) for name in inputs}
    train_ds = (datasets["train"].shuffle(len(data.train), seed=config.seed,
                                          reshuffle_each_iteration=True)
                .batch(config.batch_size, drop_remainder=plan.drop_remainder))
    with classifier.distribute_strategy.scope():
        head = head_model(classifier)
        head.compile(optimizer=optimizer(), loss=data.task.loss(data.num_classes),
                     metrics=data.task.metrics(data.num_classes),
                     jit_compile=config.jit_compile)
    plan.recorder = RunRecorder(plan.run_dir, {}, plot_each_epoch=False)   # epochs of ~1 s
    plan.early_stopping = tf_keras.callbacks.EarlyStopping(
        monitor=config.monitor, mode=monitor_mode(config.monitor), patience=config.patience,
        restore_best_weights=True, verbose=1)
    plan.non_finite = StopOnNonFiniteLoss()
    head.fit(train_ds.prefetch(tf.data.AUTOTUNE),
             validation_data=datasets["validation"].batch(PREDICT_BATCH_SIZE),
             epochs=config.epochs, verbose=verbose,
             callbacks=[plan.early_stopping, plan.non_finite,
                        tf_keras.callbacks.TensorBoard(plan.path("tensorboard"),
                                                       profile_batch=0),
                        plan.recorder, *callbacks])
    compat.save_weights(classifier.core, plan.best_path)     # as fine-tuning's best checkpoint
    return head
