"""An experiment for the QA F1 gap: ``qa_hf.py`` with tfbert trained on Hugging Face's
learning-rate schedule (warmup, then linear decay from the end of warmup to 0) instead of
tf-models-official's (linear decay counted from step 0, as Google's BERT: 10% lower after
warmup). Everything else is ``qa_hf.py``; its arguments pass through. Noted in BENCHMARKS.md
(question answering, the stride-110 notes).

Example (the 2026-12-05 run, F1 63.36)::

    python qa_schedule.py --max-questions 10000 --eval-questions 10000 --seed 7 \
        --jit-compile --tfbert-doc-stride 110 --systems tfbert --no-record --squad2 ''
"""
import math
import sys

import tfbert  # noqa: F401  (first: puts TensorFlow on the tf-keras path)
import tfbert.qa_training as qa_training
from official.nlp import optimization
from tfbert._tf import tf, tf_keras

import qa_hf

tfbert_optimizer = qa_training.create_optimizer


class DecayFromWarmupEnd(tf_keras.optimizers.schedules.LearningRateSchedule):
    """Linear decay from ``learning_rate`` at step ``warmup`` to 0 at step ``total``."""

    def __init__(self, learning_rate, warmup, total):
        self.warmup = warmup
        self.decay = tf_keras.optimizers.schedules.PolynomialDecay(learning_rate,
                                                                   total - warmup, 0.0)

    def __call__(self, step):
        return self.decay(tf.cast(step, tf.float32) - self.warmup)


def create_optimizer(learning_rate, num_examples, batch_size, epochs, warmup_fraction=0.1):
    """tfbert's optimizer (tf-models-official's AdamW, its settings unchanged) on Hugging
    Face's schedule."""
    optimizer = tfbert_optimizer(learning_rate, num_examples, batch_size, epochs,
                                 warmup_fraction)
    total = math.ceil(num_examples / batch_size) * epochs
    warmup = int(warmup_fraction * total)
    schedule = optimization.WarmUp(learning_rate, DecayFromWarmupEnd(learning_rate, warmup,
                                                                     total), warmup)
    optimizer._set_hyper("learning_rate", schedule)
    print(f"Hugging Face's schedule: {total} steps, warmup {warmup}; learning rate "
          f"{float(schedule(warmup)):.3g} at the end of warmup, "
          f"{float(schedule(warmup + 100)):.3g} 100 steps later", flush=True)
    return optimizer


if __name__ == "__main__":
    qa_training.create_optimizer = create_optimizer
    qa_hf.main(sys.argv[1:])
