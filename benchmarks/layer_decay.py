"""An experiment for the first-run target: layer-wise learning-rate decay on SST-2.

all-MiniLM-L6-v2 fine-tuned with the first-run defaults on 2,000 SST-2 items (the same data as
``defaults.py``), except that each encoder layer i of 6 trains at lr * decay**(6 - i), the
embeddings at decay**7 and the head at lr (tf-models-official's ``AdamWeightDecay`` with a
per-variable multiplier on its learning rate, swapped in for ``tfbert.training``'s
optimizer). Prints the SST-2 dev accuracy; results are noted in BENCHMARKS.md ("First run").

Examples::

    python layer_decay.py 42 0.9                                # seed, decay
    python layer_decay.py 1 0.8 '{"learning_rate": 2e-4}'      # plus train() settings
"""
import json
import re
import sys
import tempfile
import time

import tfbert  # noqa: F401  (first: puts TensorFlow on the tf-keras path)
from accuracy import load
import tfbert.training as training
from tfbert.evaluation import evaluate
from official.modeling.optimization.legacy_adamw import AdamWeightDecay

LAYERS = 6
decay = 1.0          # set by main()
seen = {}            # depth -> names of the variables updated at that depth


def multiplier(name):
    m = re.search(r"transformer/layer_(\d+)/", name)
    if m:
        depth = LAYERS - int(m.group(1))
    elif "embedding" in name:
        depth = LAYERS + 1
    else:
        depth = 0
    seen.setdefault(depth, []).append(name)
    return decay ** depth


class LayerDecayAdamW(AdamWeightDecay):
    """AdamW whose learning rate is scaled per variable by ``multiplier(name)``."""

    def _scaled(self, var, apply_state):
        key = (var.device, var.dtype.base_dtype)
        coefficients = (apply_state or {}).get(key) or self._fallback_apply_state(*key)
        scale = multiplier(var.name)
        return {key: {**coefficients, "lr_t": coefficients["lr_t"] * scale,
                      "lr": coefficients["lr"] * scale}}

    def _resource_apply_dense(self, grad, var, apply_state=None):
        return super()._resource_apply_dense(grad, var, self._scaled(var, apply_state))

    def _resource_apply_sparse(self, grad, var, indices, apply_state=None):
        return super()._resource_apply_sparse(grad, var, indices, self._scaled(var, apply_state))


tfbert_optimizer = training.create_optimizer


def create_optimizer(*args, **kwargs):
    """tfbert's optimizer (warmup + linear decay schedule) with per-layer rates."""
    base = tfbert_optimizer(*args, **kwargs)
    return LayerDecayAdamW(learning_rate=base._get_hyper("learning_rate"), weight_decay_rate=0.01,
                beta_1=0.9, beta_2=0.999, epsilon=1e-6,
                exclude_from_weight_decay=["LayerNorm", "layer_norm", "bias"])


def main(argv):
    global decay
    seed, decay = int(argv[0]), float(argv[1])
    extra = json.loads(argv[2]) if len(argv) > 2 else {}
    training.create_optimizer = create_optimizer
    data = load("sst2", 2000, seed)
    t0 = time.perf_counter()
    result = training.train(data, model="all-minilm-l6-v2", seed=seed, verbose=2,
                            run_dir=tempfile.mkdtemp(prefix=f"layer-decay-{seed}-{decay}-"),
                            **extra)
    metrics = evaluate(result.model, data.test, verbose=False)
    print("variables per depth:", {depth: len(set(names)) for depth, names in sorted(seen.items())})
    print(json.dumps({"seed": seed, "decay": decay, "extra": extra,
                      "accuracy": metrics["accuracy"], "epochs": len(result.history["loss"]),
                      "wall": round(time.perf_counter() - t0)}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
