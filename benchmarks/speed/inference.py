"""Inference throughput: seconds to predict the inference texts in batches with each
system's served model (after one untimed batch), and the batches of tokens it fed.

- tfbert: ``tfbert.export_model`` + ``tfbert.load_model().predict_proba`` (texts ordered by
  length, each batch padded to its longest text).
- recipe: a SavedModel with a string signature returning sigmoid probabilities (every text
  padded to the sequence length).
- hf: the PyTorch model in ``torch.inference_mode()``, each batch tokenized and padded to
  its longest text.

Each returns ``(seconds, [(padded length, [real length per example]) per batch])``. Light
at import (TensorFlow, tfbert and torch are imported inside the functions).

Example::

    infer_s, batches = serve_tfbert(model, texts, args, jit_compile=True)
"""
import tempfile
import time

from speed.common import LABEL_NAMES, chunks, mask_batch, real_lengths


def _timed_after_one_batch(predict, texts, batch_size):
    """(seconds, result) of ``predict(texts)``, after an untimed ``predict`` of one batch
    (tracing, caches)."""
    predict(texts[:batch_size])
    start = time.perf_counter()
    result = predict(texts)
    return time.perf_counter() - start, result


def serve_tfbert(model, texts, args, jit_compile):
    """tfbert's exported ``model`` (``jit_compile``: XLA serving) predicting ``texts``."""
    import tfbert
    from tfbert.data import length_order
    lengths = real_lengths(model.preprocessor, texts)
    batches = [(max(1, lengths[chunk].max()), lengths[chunk].tolist())
               for chunk in chunks(length_order(texts), args.batch_size)]
    with tempfile.TemporaryDirectory() as folder:
        path = tfbert.export_model(model, folder, LABEL_NAMES, jit_compile=jit_compile)
        classifier = tfbert.load_model(path)
        seconds, _ = _timed_after_one_batch(
            lambda some: classifier.predict_proba(some, batch_size=args.batch_size),
            texts, args.batch_size)
    return seconds, batches


def _string_serving(string_model):
    """The recipe's export: strings -> sigmoid probabilities, every text padded to 128."""
    from tfbert._tf import tf

    class Serving(tf.Module):
        def __init__(self):
            super().__init__()
            self.model = string_model
            self.serve = tf.function(
                lambda text: {"probabilities": tf.sigmoid(self.model(text, training=False))},
                input_signature=[tf.TensorSpec([None], tf.string, name="text")])

    return Serving()


def serve_recipe(string_model, preprocessor, texts, args):
    """The recipe's ``string_model`` (strings -> logit), saved with a string signature and
    loaded back, predicting ``texts``; ``preprocessor`` counts their real tokens."""
    from tfbert._tf import tf
    lengths = real_lengths(preprocessor, texts).tolist()
    batches = [(args.seq_length, chunk) for chunk in chunks(lengths, args.batch_size)]
    with tempfile.TemporaryDirectory() as folder:
        module = _string_serving(string_model)
        tf.saved_model.save(module, folder, signatures={"serving_default": module.serve})
        serve = tf.saved_model.load(folder).signatures["serving_default"]

        def predict(some):
            return [serve(text=tf.constant(chunk))["probabilities"].numpy()
                    for chunk in chunks(some, args.batch_size)]

        seconds, _ = _timed_after_one_batch(predict, texts, args.batch_size)
    return seconds, batches


def serve_torch(model, encode, texts, args):
    """The PyTorch ``model`` predicting ``texts``, each batch tokenized by ``encode``."""
    import torch
    model.eval()

    def predict(some):
        fed = []
        with torch.inference_mode():
            for chunk in chunks(some, args.batch_size):
                inputs = encode(chunk)
                model(**inputs).logits.softmax(dim=-1).numpy()
                fed.append(mask_batch(inputs["attention_mask"]))
        return fed

    return _timed_after_one_batch(predict, texts, args.batch_size)
