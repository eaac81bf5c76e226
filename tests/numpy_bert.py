"""An independent BERT forward pass in NumPy, straight from Hugging Face safetensors.

Written from the BERT paper and Hugging Face's ``BertModel`` (post-layer-norm
blocks, exact erf GELU, tanh pooler over [CLS]); it shares no code with
tf-models-official, so agreeing with it means the converted weights are right.
"""
import json
import math
import os

import numpy as np
from safetensors.numpy import load_file

_erf = np.vectorize(math.erf)


def _gelu(x):
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def _layer_norm(x, gamma, beta, eps):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


class NumpyBert:
    def __init__(self, model_dir):
        with open(os.path.join(model_dir, "config.json")) as f:
            self.config = json.load(f)
        self.w = {k.removeprefix("bert."): v.astype(np.float64)
                  for k, v in load_file(os.path.join(model_dir, "model.safetensors")).items()}

    def _linear(self, x, name):
        return x @ self.w[name + ".weight"].T + self.w[name + ".bias"]

    def __call__(self, input_ids, attention_mask, token_type_ids):
        """Sequence output [batch, seq, hidden] and pooled output [batch, hidden] (float64)."""
        c, w = self.config, self.w
        eps, heads = c["layer_norm_eps"], c["num_attention_heads"]
        batch, seq = input_ids.shape
        x = (w["embeddings.word_embeddings.weight"][input_ids]
             + w["embeddings.position_embeddings.weight"][np.arange(seq)][None]
             + w["embeddings.token_type_embeddings.weight"][token_type_ids])
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
        head_dim = x.shape[-1] // heads
        bias = (1.0 - attention_mask[:, None, None, :]) * -1e9
        for i in range(c["num_hidden_layers"]):
            p = f"encoder.layer.{i}."

            def split(t):
                return t.reshape(batch, seq, heads, head_dim).transpose(0, 2, 1, 3)
            q, k, v = (split(self._linear(x, p + f"attention.self.{n}"))
                       for n in ("query", "key", "value"))
            scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(head_dim) + bias
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            probs = scores / scores.sum(-1, keepdims=True)
            context = (probs @ v).transpose(0, 2, 1, 3).reshape(batch, seq, -1)
            x = _layer_norm(x + self._linear(context, p + "attention.output.dense"),
                            w[p + "attention.output.LayerNorm.weight"],
                            w[p + "attention.output.LayerNorm.bias"], eps)
            inner = _gelu(self._linear(x, p + "intermediate.dense"))
            x = _layer_norm(x + self._linear(inner, p + "output.dense"),
                            w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], eps)
        pooled = np.tanh(self._linear(x[:, 0], "pooler.dense"))
        return x, pooled
