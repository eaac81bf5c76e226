"""Where tfbert keeps what it unpacks or converts once: ``$TFBERT_CACHE_DIR`` or the user cache."""
import os


def default_cache_dir():
    """``$TFBERT_CACHE_DIR``, else ``$XDG_CACHE_HOME/tfbert``, else ``~/.cache/tfbert``."""
    if os.environ.get("TFBERT_CACHE_DIR"):
        return os.environ["TFBERT_CACHE_DIR"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "tfbert")
