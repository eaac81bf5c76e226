"""Where exports live on disk: version folders, the metadata file, an export's kind.

Every kind of export (classifier, question answering, embedder) is written the same way:
``directory/<version>/`` (one more than the latest unless given), never over an existing
version, staged and renamed into place whole (:func:`new_version`), with its metadata in
``assets.extra/tfbert.json``. The metadata's ``kind`` names the loaded type
:func:`tfbert.load_model` returns (:data:`tfbert.serving.LOADED_TYPES`); the command line
reads it here, without loading TensorFlow, to pick the commands for the model.

Example:

>>> export_kind("no/such/folder") is None
True
"""
import contextlib
import json
import os
import sys

from tfbert._fs import atomic_dir
from tfbert.errors import ExportError

__all__ = ["METADATA_FILE", "CLASSIFIER_KIND", "versions", "resolve_export", "read_metadata",
           "kind_of", "export_kind", "write_export_metadata", "new_version"]

METADATA_FILE = os.path.join("assets.extra", "tfbert.json")
#: The kind of exports written before kinds were recorded (all of them classifiers).
CLASSIFIER_KIND = "classifier"


def versions(directory):
    """The version numbers of the exports in ``directory``, ascending."""
    if not os.path.isdir(directory):
        return []
    return sorted(int(d) for d in os.listdir(directory)
                  if d.isdigit() and os.path.isfile(os.path.join(directory, d, "saved_model.pb")))


def resolve_export(path):
    """The SavedModel folder for ``path``: itself, or its latest numbered version."""
    path = os.path.abspath(os.fspath(path))
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        return path
    found = versions(path)
    if found:
        return os.path.join(path, str(found[-1]))
    if not os.path.exists(path):
        raise ExportError(f"{path} does not exist.")
    raise ExportError(f"{path} is not a tfbert export: no saved_model.pb in it nor in a "
                      "numbered version folder (1/, 2/, ...).")


def read_metadata(path):
    """The metadata of the export in ``path`` (a version folder; see :func:`resolve_export`).

    Raises:
        ExportError: ``path`` holds a SavedModel that tfbert did not write.
    """
    metadata_path = os.path.join(path, METADATA_FILE)
    if not os.path.isfile(metadata_path):
        raise ExportError(f"{path} is a SavedModel but not a tfbert export "
                          f"(no {METADATA_FILE}).")
    with open(metadata_path, encoding="utf-8") as f:
        return json.load(f)


def kind_of(metadata):
    """The kind an export's metadata records (exports written before kinds: classifier)."""
    return metadata.get("kind", CLASSIFIER_KIND)


def export_kind(path):
    """The kind of the tfbert export at ``path`` (or its latest version): ``"classifier"``,
    ``"question-answering"``, ``"embedder"``; None when ``path`` is not a readable export."""
    try:
        return kind_of(read_metadata(resolve_export(path)))
    except (ExportError, OSError, ValueError, AttributeError):
        return None


def write_export_metadata(folder, kind, metadata):
    """Write ``metadata`` with its ``kind`` (and the TensorFlow version) as the export's
    ``assets.extra/tfbert.json``, which :func:`tfbert.load_model` reads."""
    os.makedirs(os.path.join(folder, "assets.extra"), exist_ok=True)
    tensorflow = sys.modules.get("tensorflow")      # loaded: it just wrote the SavedModel
    record = {"kind": kind, **metadata,
              "tensorflow": getattr(tensorflow, "__version__", None)}
    with open(os.path.join(folder, METADATA_FILE), "w", encoding="utf-8") as f:
        json.dump(record, f, indent=2)


@contextlib.contextmanager
def new_version(directory, version=None):
    """Stage a new export version: yields ``(staging folder, final path)``; the folder is
    renamed to ``directory/<version>`` (default: one more than the latest) when the block
    ends without an error, and removed otherwise.

    Raises:
        ExportError: that version exists (exports are never overwritten).
    """
    directory = os.path.abspath(directory)
    version = version if version is not None else (versions(directory) or [0])[-1] + 1
    target = os.path.join(directory, str(version))
    try:
        with atomic_dir(target, policy="refuse") as staging:
            yield staging, target
    except FileExistsError:
        raise ExportError(f"{target} already exists; exports are never overwritten. "
                          "Choose another version or directory.") from None
