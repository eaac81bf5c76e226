"""The parts of ``benchmarks/throughput.py``, split by what they measure.

- :mod:`speed.common`: the settings every system shares, the seeded data sample and the
  :class:`~speed.common.Result` each run returns.
- :mod:`speed.flops`: FLOP counts of the encoder and the ``tf.matmul`` FLOP bound.
- :mod:`speed.training`: timed training steps (Keras ``fit`` and a PyTorch loop).
- :mod:`speed.inference`: timed prediction with each system's served model.
- :mod:`speed.systems`: the five systems, each built once, then trained and served.
- :mod:`speed.profile`: the op-level profile of tfbert's step on full IMDB batches.
- :mod:`speed.report`: the ratios against their targets and the BENCHMARKS.md tables.

TensorFlow, tfbert and torch are imported inside the functions that need them, so the
table can be rendered (``throughput.py --table-only``) without them. The modules import
each other as ``speed.X`` and ``records``: ``benchmarks/`` must be on ``sys.path``, as it
is when ``python benchmarks/throughput.py`` runs.

Example::

    from speed.report import format_tables
    print(format_tables(read_records(RESULTS)[-1]))
"""
