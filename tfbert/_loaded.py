"""SavedModels tfbert only reads, loaded once per process.

Building a classifier reads two SavedModels it never changes: the preprocessor (whose
``tokenize`` and ``bert_pack_inputs`` the new model calls) and the encoder whose weights
are copied into a rebuilt ``BertEncoder``. Loading them takes seconds, so a notebook or
script that builds several classifiers from one model folder loads each once. A folder
is the same model while its ``saved_model.pb`` is the same file (a converter that replaces
the folder gives a new file, hence a new load). Under a distribution strategy, and for
handles that are not local folders, every call loads afresh.

Never hand out a cached object to code that trains or changes its variables.
"""
import collections
import os

from tfbert._tf import tf

_CACHE = collections.OrderedDict()
_MAX_CACHED = 4      # a preprocessor and an encoder for two models


def fingerprint(path):
    """What identifies the SavedModel in folder ``path`` on disk, or None if it is not one."""
    try:
        stat = os.stat(os.path.join(path, "saved_model.pb"))
    except (OSError, TypeError):
        return None
    # ctime too: a copy may keep the old file's mtime (copy2) and reuse its inode number.
    return (os.path.realpath(path), stat.st_ino, stat.st_mtime_ns, stat.st_ctime_ns,
            stat.st_size)


def load_read_only(path, options=None):
    """``tensorflow_hub.load(path, options=options)``, reused while the folder is unchanged.

    Example::

        loaded = load_read_only("/models/tiny_bert/preprocess")
        loaded.tokenize(tf.constant(["hello"]))
    """
    import tensorflow_hub as hub
    key = fingerprint(path)
    if key is None or tf.distribute.has_strategy():
        return hub.load(path, options=options)
    key += (getattr(options, "experimental_io_device", None),)
    if key not in _CACHE:
        _CACHE[key] = hub.load(path, options=options)
        while len(_CACHE) > _MAX_CACHED:
            _CACHE.popitem(last=False)
    _CACHE.move_to_end(key)
    return _CACHE[key]
