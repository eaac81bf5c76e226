"""The optimizer every fine-tuning run uses: tf-models-official's AdamW (weight decay 0.01
except biases and layer norms, gradients clipped to a global norm of 1.0) with a linear
warmup, then a linear decay to 0 whose start each task picks
(:data:`~tfbert.config.LR_SCHEDULES`, ``Task.lr_schedule``).

Example::

    from tfbert.optimizer import create_optimizer
    model.compile(optimizer=create_optimizer(1e-4, len(train), 32, 3, lr_schedule="huggingface"))
"""
import math

from tfbert._tf import tf_keras
from tfbert.config import check_lr_schedule

__all__ = ["create_optimizer"]


def create_optimizer(learning_rate, num_examples, batch_size, epochs, warmup_fraction=0.1,
                     lr_schedule="bert"):
    """tf-models-official's AdamW with linear warmup over ``warmup_fraction`` of the steps,
    then linear decay to 0.

    The step count is derived from the data size, batch size and epochs, as in
    the TensorFlow tutorial. ``lr_schedule`` (:data:`~tfbert.config.LR_SCHEDULES`): ``"bert"``
    decays as Google's BERT and tf-models-official do, along the line from the peak at step 0
    to 0 at the end, so after warmup the rate is already ``1 - warmup_fraction`` of the peak;
    ``"huggingface"`` decays from the peak at the end of warmup, as Hugging Face's
    ``get_linear_schedule_with_warmup`` (question answering's default: 1.1-1.3 F1 more on
    SQuAD than ``"bert"`` on the same seeds, BENCHMARKS.md).

    >>> rates = lambda optimizer: [round(float(optimizer.learning_rate(step)) * 1e4, 3)
    ...                            for step in (5, 10, 55, 100)]    # of 100 steps, 10 warmup
    >>> rates(create_optimizer(1e-4, 1000, 10, 1, 0.1))
    [0.5, 0.9, 0.45, 0.0]
    >>> rates(create_optimizer(1e-4, 1000, 10, 1, 0.1, lr_schedule="huggingface"))
    [0.5, 1.0, 0.5, 0.0]
    """
    from official.nlp import optimization
    check_lr_schedule(lr_schedule)
    total = math.ceil(num_examples / batch_size) * epochs
    warmup = int(warmup_fraction * total)
    optimizer = optimization.create_optimizer(init_lr=learning_rate, num_train_steps=total,
                                              num_warmup_steps=warmup, optimizer_type="adamw")
    if lr_schedule == "huggingface" and warmup:
        # tf-models' decay counts from step 0; this line through (warmup, peak) and (total, 0)
        # is the same decay from a higher start.
        decay = tf_keras.optimizers.schedules.PolynomialDecay(
            learning_rate * total / (total - warmup), total, end_learning_rate=0.0)
        optimizer._set_hyper("learning_rate", optimization.WarmUp(learning_rate, decay, warmup))
    return optimizer
