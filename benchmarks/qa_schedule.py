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
import tfbert.qa_training as qt
from official.nlp import optimization
from tfbert._tf import tf, tf_keras

def hf_schedule_optimizer(learning_rate, num_examples, batch_size, epochs, warmup_fraction=0.1):
    total = math.ceil(num_examples / batch_size) * epochs
    warmup = int(warmup_fraction * total)
    decay = tf_keras.optimizers.schedules.PolynomialDecay(learning_rate, total - warmup, 0.0)
    class Shifted(tf_keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step):
            return decay(tf.cast(step, tf.float32) - warmup)
        def get_config(self):
            return {}
    schedule = optimization.WarmUp(learning_rate, Shifted(), warmup)
    print(f"HF-style schedule: {total} steps, warmup {warmup}; lr at warmup end "
          f"{float(schedule(warmup)):.3g}, at step {warmup + 100} {float(schedule(warmup + 100)):.3g}",
          flush=True)
    return optimization.AdamWeightDecay(learning_rate=schedule, weight_decay_rate=0.01,
                                        beta_1=0.9, beta_2=0.999, epsilon=1e-6,
                                        exclude_from_weight_decay=["LayerNorm", "layer_norm", "bias"])

qt.create_optimizer = hf_schedule_optimizer
import qa_hf
if __name__ == "__main__":
    qa_hf.main(sys.argv[1:])
