"""A quick reachability probe, so offline runs fail in seconds rather than minutes."""
import urllib.error
import urllib.request

from tfbert.errors import TfbertError

PROBE_TIMEOUT_S = 5


def ensure_reachable(url, what, hint, error=TfbertError):
    """Raise ``error`` naming ``what`` and ``hint`` unless ``url``'s host answers quickly.

    Any HTTP answer, even an error status, proves the host is reachable.
    """
    try:
        urllib.request.urlopen(urllib.request.Request(url, method="HEAD"),
                               timeout=PROBE_TIMEOUT_S).close()
    except urllib.error.HTTPError:
        return
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise error(f"cannot reach {what} at {url} ({reason}). {hint}") from None
