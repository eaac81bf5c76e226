"""Sources that bring their own splits and label names: folders, archives and TFDS.

- a folder in the aclImdb layout (``<split>/<label>/*.txt``): :func:`load_folder`;
- a ``.tar.gz``/``.tar.xz`` archive of one, unpacked safely into a cache folder
  once: :func:`extract_archive`;
- a TensorFlow Datasets text-classification dataset: :func:`load_tfds`.

Each names its labels itself (folder names, TFDS class names); given
``label_names``, the labels are mapped onto them (ids follow the given order,
see :func:`tfbert.data.splits.map_label_names`).

TensorFlow Datasets is imported inside :func:`load_tfds` only.

Example::

    from tfbert.data.sources import load_folder
    splits, names = load_folder("../shared/data/aclImdb.tar.xz")   # names: ['neg', 'pos']
"""
import contextlib
import hashlib
import os
import warnings

from tfbert._cache import default_cache_dir
from tfbert._fs import atomic_dir, cache_lock, safe_extract
from tfbert.data.splits import TextSplit, map_label_names
from tfbert.errors import DataError

__all__ = ["ARCHIVE_SUFFIXES", "load_folder", "extract_archive", "load_tfds", "tfds_name"]

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar.bz2", ".tar")


def tfds_name(source):
    """The TFDS dataset a data source names (``"imdb"``, ``"tfds:NAME"``), or None for a path.

    >>> tfds_name("imdb"), tfds_name("tfds:glue/sst2"), tfds_name("reviews.csv")
    ('imdb_reviews', 'glue/sst2', None)
    """
    if source == "imdb":
        return "imdb_reviews"
    return source[len("tfds:"):] if source.startswith("tfds:") else None


def load_folder(path, splits=("train", "test"), cache_dir=None, label_names=None):
    """Read a folder (or archive of one) laid out as ``<split>/<label>/*.txt``.

    Label folders are those present in every split found, so aclImdb's
    ``train/unsup`` (unlabelled reviews) is left out; labels are sorted by name,
    as ``tf.keras.utils.text_dataset_from_directory`` does. An archive may hold
    the layout at its top or inside one folder (``aclImdb/``). With
    ``label_names`` the ids follow that list instead (a label folder not named
    there is an error).

    Returns:
        ``({split: TextSplit}, label_names)``
    """
    path = os.fspath(path)
    if os.path.isfile(path):
        path = extract_archive(path, cache_dir=cache_dir)
    root = _find_split_root(path, splits)
    present = [s for s in splits if os.path.isdir(os.path.join(root, s))]
    label_sets = [{d for d in os.listdir(os.path.join(root, s))
                   if os.path.isdir(os.path.join(root, s, d))} for s in present]
    found = sorted(set.intersection(*label_sets))
    if not found:
        raise DataError(f"{root}: no label folders common to {', '.join(present)} "
                        "(expected <split>/<label>/*.txt).")
    result = {}
    replaced = []
    for split in present:
        texts, labels = [], []
        for label_id, label in enumerate(found):
            folder = os.path.join(root, split, label)
            for file_name in sorted(os.listdir(folder)):
                path = os.path.join(folder, file_name)
                if file_name.startswith(".") or not os.path.isfile(path):
                    continue
                with open(path, "rb") as f:
                    raw = f.read()
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError:
                    text = raw.decode("utf-8", errors="replace")
                    replaced.append(path)
                if not text.strip():
                    raise DataError(f"{path}: empty text (a label folder holds one text a "
                                    "file); remove the file or give it text.")
                texts.append(text)
                labels.append(label_id)
        result[split] = TextSplit(texts, labels)
    if replaced:
        warnings.warn(f"{len(replaced)} file(s) held bytes that are not UTF-8, replaced with "
                      f"U+FFFD; the first: {replaced[0]}", stacklevel=2)
    if label_names is not None:
        return map_label_names(result, found, label_names, root)
    return result, found


def _find_split_root(path, splits):
    if not os.path.isdir(path):
        raise DataError(f"{path} does not exist.")
    candidates = [path] + [os.path.join(path, d) for d in sorted(os.listdir(path))
                           if os.path.isdir(os.path.join(path, d))]
    for candidate in candidates:
        if any(os.path.isdir(os.path.join(candidate, s)) for s in splits):
            return candidate
    raise DataError(f"{path} is not in the aclImdb layout: no {' or '.join(splits)} folder "
                    "holding one folder per label.")


def extract_archive(archive, cache_dir=None):
    """Unpack a tar archive once into the cache and return the folder.

    Members that are links, devices, absolute paths or that climb out with
    ``..`` are refused (naming the member) before anything is written
    (:func:`tfbert._fs.safe_extract`). The archive is unpacked into a staging
    folder and renamed into place (:func:`tfbert._fs.atomic_dir`, policy
    ``"reuse"``), so an interrupted run leaves no half-unpacked data behind, and
    processes unpacking the same archive at once (the workers of a cluster) all
    end with the one copy.
    """
    archive = os.path.abspath(archive)
    if not archive.lower().endswith(ARCHIVE_SUFFIXES):
        raise DataError(f"{archive} is not a folder or a .tar.gz/.tar.xz archive.")
    stat = os.stat(archive)
    key = hashlib.sha1(f"{archive}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:12]
    stem = os.path.basename(archive).split(".")[0]
    target = os.path.join(cache_dir or os.path.join(default_cache_dir(), "datasets"),
                          f"{stem}-{key}")
    if os.path.isdir(target):
        return target
    with cache_lock(target):    # another process unpacking it: wait, then use its copy
        if not os.path.isdir(target):
            with atomic_dir(target, policy="reuse") as staging:
                safe_extract(archive, staging)
    return target


def load_tfds(name="imdb_reviews", text_key="text", label_key="label", splits=("train", "test"),
              data_dir=None, label_names=None):
    """Read a TFDS text-classification dataset into memory.

    Downloads it when it is not prepared yet; offline, fails within seconds
    with a message saying how to use local data instead. With ``label_names``
    the dataset's class names are mapped onto that list (ids follow it).

    Returns:
        ``({split: TextSplit}, label_names)``
    """
    import tensorflow_datasets as tfds
    from tfbert._net import ensure_reachable

    try:
        with _quiet_absl():
            builder = tfds.builder(name, data_dir=data_dir)
    except Exception as exc:  # tfds raises its own DatasetNotFoundError
        raise DataError(f"unknown TFDS dataset {name!r}: {exc}") from None
    with _quiet_absl():
        prepared = _tfds_prepared(builder)
    if not prepared:
        ensure_reachable("https://storage.googleapis.com", what=f"TFDS dataset {name!r}",
                         error=DataError, hint="Offline, pass local data instead: --data /path/to/aclImdb "
                              "(or aclImdb.tar.xz), or a .csv/.tsv file.")
        builder.download_and_prepare()
    features = builder.info.features
    for key in (text_key, label_key):
        if key not in features:
            raise DataError(f"TFDS dataset {name!r} has no feature {key!r}; it has "
                            f"{', '.join(features.keys())}.")
    found = list(getattr(features[label_key], "names", None) or [])
    result = {}
    for split in splits:
        if builder.info.splits and split not in builder.info.splits:
            continue
        texts, labels = [], []
        for example in tfds.as_numpy(builder.as_dataset(split=split)):
            texts.append(_decode(example[text_key]))
            labels.append(int(example[label_key]))
        result[split] = TextSplit(texts, labels)
    if not found:
        found = [str(i) for i in range(max(int(s.labels.max()) for s in result.values()) + 1)]
    if label_names is not None:
        return map_label_names(result, found, label_names, f"TFDS dataset {name!r}")
    return result, found


@contextlib.contextmanager
def _quiet_absl():
    """Hide absl warnings for the block (TFDS's "Variant folder ... has no dataset_info.json"
    about an unprepared dataset, which tfbert either prepares or explains); errors still show."""
    from absl import logging as absl_logging
    level = absl_logging.get_verbosity()
    absl_logging.set_verbosity(absl_logging.ERROR)
    try:
        yield
    finally:
        absl_logging.set_verbosity(level)


def _tfds_prepared(builder):
    try:
        return builder.is_prepared()
    except AttributeError:  # older tfds
        return os.path.exists(os.path.join(builder.data_dir, "dataset_info.json"))


def _decode(value):
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)
