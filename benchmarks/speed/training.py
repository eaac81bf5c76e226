"""Training throughput: how long the warm-up and the timed steps take, and what each timed
step fed, for a Keras model (``fit``) and for a PyTorch model (a plain AdamW loop).

Both count ``--warmup-steps`` untimed steps (graph tracing, one-off tokenization) and then
``--steps`` timed ones; the warm-up figure includes building the model. Light at import
(TensorFlow and torch are imported inside the functions).

Example::

    compile_binary(model.core, args)
    warmup_s, train_s, masks = fit_timed(model.core, ds, lambda x: x["input_mask"], args,
                                         build_start)
"""
import time

from speed.common import LEARNING_RATE, mask_batch


def compile_binary(model, args):
    """Compile ``model`` (one logit) with tfbert's AdamW over the benchmark's steps."""
    from tfbert._tf import tf_keras
    from tfbert.optimizer import create_optimizer
    steps = args.warmup_steps + args.steps
    optimizer = create_optimizer(LEARNING_RATE, steps * args.batch_size, args.batch_size, 1)
    model.compile(optimizer=optimizer,
                  loss=tf_keras.losses.BinaryCrossentropy(from_logits=True),
                  metrics=[tf_keras.metrics.BinaryAccuracy(threshold=0.0)])


def steady(args, build_s, fit_start, ends):
    """(warm-up seconds, steady seconds) from the end times of the training steps."""
    warm_end = ends[args.warmup_steps - 1]
    return build_s + warm_end - fit_start, ends[-1] - warm_end


def _step_timer():
    from tfbert._tf import tf_keras

    class StepTimer(tf_keras.callbacks.Callback):
        """Records when each training step ends (its logs are read, so the step is done)."""

        def __init__(self):
            super().__init__()
            self.ends = []

        def on_train_batch_end(self, batch, logs=None):
            self.ends.append(time.perf_counter())

    return StepTimer()


def _record_batches(ds, extract, sink):
    """``ds`` with each batch's ``extract(features)`` appended to ``sink`` as it is produced
    (in order), to count the tokens the timed steps fed."""
    from tfbert._tf import tf

    def keep(value):
        sink.append(value.numpy())
        return 0

    def record(features, labels):
        done = tf.py_function(keep, [extract(features)], tf.int32)
        with tf.control_dependencies([done]):
            return features, tf.identity(labels)

    return ds.map(record).prefetch(tf.data.AUTOTUNE)


def fit_timed(model, ds, extract, args, build_start):
    """Fit the compiled Keras ``model`` on the endless dataset ``ds`` for the warm-up and
    timed steps; returns ``(warm-up s, timed s, extract(features) of each timed batch)``.
    The warm-up counts from ``build_start`` (the ``time.perf_counter()`` before building)."""
    seen = []
    ds = _record_batches(ds, extract, seen)
    build_s = time.perf_counter() - build_start
    timer, steps = _step_timer(), args.warmup_steps + args.steps
    fit_start = time.perf_counter()
    model.fit(ds, epochs=1, steps_per_epoch=steps, callbacks=[timer], verbose=0)
    warmup_s, train_s = steady(args, build_s, fit_start, timer.ends)
    return warmup_s, train_s, seen[args.warmup_steps:steps]


def train_torch(model, encode, train, args, build_start):
    """Train the PyTorch ``model`` with AdamW and a linear warm-up schedule on ``train``,
    each batch tokenized by ``encode(texts)`` at its step; returns ``(warm-up s, timed s,
    (padded length, real lengths) of each timed batch)``. Epochs reshuffle; a partial batch
    is dropped."""
    import numpy as np
    import torch
    import transformers
    steps = args.warmup_steps + args.steps
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=0.01)
    schedule = transformers.get_linear_schedule_with_warmup(optimizer, int(0.1 * steps), steps)
    model.train()
    rng = np.random.default_rng(args.seed)
    per_epoch = len(train) // args.batch_size
    order = np.concatenate([rng.permutation(len(train))[:per_epoch * args.batch_size]
                            for _ in range(-(-steps // per_epoch))])
    texts, labels = train.texts.astype(str), train.labels.astype(np.int64)
    build_s = time.perf_counter() - build_start
    ends, fed = [], []
    fit_start = time.perf_counter()
    for step in range(steps):
        chosen = order[step * args.batch_size:(step + 1) * args.batch_size]
        inputs = encode(texts[chosen].tolist())
        loss = model(**inputs, labels=torch.from_numpy(labels[chosen])).loss
        loss.backward()
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        ends.append(time.perf_counter())
        fed.append(mask_batch(inputs["attention_mask"]))
    warmup_s, train_s = steady(args, build_s, fit_start, ends)
    return warmup_s, train_s, fed[args.warmup_steps:]
