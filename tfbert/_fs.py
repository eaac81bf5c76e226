"""Folders that appear whole or not at all, and tar archives unpacked without surprises.

Everything tfbert writes as a folder (exports, converted models, reports,
unpacked archives) is built in a hidden staging folder beside its target and
renamed into place, so a crash or Ctrl-C never leaves half a folder where a
reader looks. :func:`atomic_dir` does that with an explicit policy for a
target that already exists; :func:`safe_extract` unpacks a tar archive after
refusing members that would write outside the folder or are not plain files
and folders.

Example::

    with atomic_dir("saved_models/imdb/3", policy="refuse") as staging:
        write_everything_into(staging)
    # saved_models/imdb/3 now holds it all (staging.target is that path)
"""
import contextlib
import errno
import os
import shutil
import sys
import tarfile
import tempfile

from tfbert.errors import DataError

POLICIES = ("refuse", "replace", "reuse")


class StagingDir(str):
    """The staging folder's path (a ``str``); ``.target`` is where it ends up."""

    target: str


@contextlib.contextmanager
def atomic_dir(target, policy):
    """Build folder ``target`` in a staging folder beside it, then rename it into place.

    Yields the staging folder (a ``str`` with ``.target``, the absolute final
    path). It is created in ``target``'s parent (same filesystem, so the final
    rename is atomic), named ``.<name>.tmp-XXXXXX``, with the parent's
    permissions minus group/world write. When the ``with`` body raises, for
    any reason and at any point (the body may also raise after writing,
    e.g. when a check of what it wrote fails), the staging folder is removed
    and ``target`` is left exactly as it was.

    ``policy`` says what happens when ``target`` exists:

    - ``"refuse"``: raise ``FileExistsError`` (on entry, and at the end if
      another process created it meanwhile); callers map it to their own
      error. For exports, whose versions are never overwritten::

          try:
              with atomic_dir(os.path.join(directory, "3"), policy="refuse") as staging:
                  tf.saved_model.save(module, staging)
          except FileExistsError:
              raise ExportError(".../3 already exists") from None

    - ``"replace"``: the old folder is renamed aside, the new one renamed in,
      and only then is the old one deleted; if renaming the new one in fails,
      the old one is put back. An error or Ctrl-C at any point leaves the old
      folder or the new one at ``target`` (an interrupted ``convert
      --overwrite`` keeps the old model); a kill between the two renames
      leaves the old one in ``.<name>.old-XXXXXX/``::

          with atomic_dir("runs/imdb/report", policy="replace") as staging:
              write_report_files(staging)

    - ``"reuse"``: when another process created ``target`` while we were
      building ours (workers unpacking the same archive into a shared cache),
      theirs is kept and ours discarded. Check for ``target`` before entering
      to skip the work when it is already there::

          if not os.path.isdir(target):
              with atomic_dir(target, policy="reuse") as staging:
                  safe_extract(archive, staging)

    Like any rename, moving in over an *empty* folder that appeared meanwhile
    replaces it, whatever the policy.
    """
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {', '.join(POLICIES)}, got {policy!r}.")
    target = os.path.abspath(os.fspath(target))
    if policy == "refuse" and os.path.lexists(target):
        raise _exists(target)
    parent, name = os.path.split(target)
    os.makedirs(parent, exist_ok=True)
    staging = StagingDir(tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=parent))
    staging.target = target
    try:
        # mkdtemp makes the folder private; give it the parent's access, never group/world write.
        os.chmod(staging, os.stat(parent).st_mode & 0o755)
        yield staging
        _MOVE_IN[policy](staging, target)
    finally:
        if os.path.lexists(staging):
            shutil.rmtree(staging, ignore_errors=True)


def _exists(target):
    return FileExistsError(errno.EEXIST, "already exists", target)


def _move_in_refusing(staging, target):
    try:
        os.rename(staging, target)
    except OSError:
        if os.path.lexists(target):
            raise _exists(target) from None
        raise


def _move_in_reusing(staging, target):
    try:
        os.rename(staging, target)
    except OSError:
        if not os.path.isdir(target):
            raise
        # Another process built the same folder meanwhile: its copy is as good as ours,
        # and the caller's finally-clause removes ours.


def _move_in_replacing(staging, target):
    if not os.path.lexists(target):
        try:
            os.rename(staging, target)
            return
        except OSError:
            if not os.path.lexists(target):
                raise
            # It appeared meanwhile: replace it like any existing folder.
    parent, name = os.path.split(target)
    aside = tempfile.mkdtemp(prefix=f".{name}.old-", dir=parent)
    old = os.path.join(aside, name)
    os.rename(target, old)
    try:
        os.rename(staging, target)
    except BaseException:
        os.rename(old, target)  # put the previous folder back
        os.rmdir(aside)
        raise
    shutil.rmtree(aside, ignore_errors=True)


_MOVE_IN = {"refuse": _move_in_refusing, "replace": _move_in_replacing,
            "reuse": _move_in_reusing}


@contextlib.contextmanager
def cache_lock(target):
    """Hold an exclusive lock on ``.<name>.lock`` beside ``target`` while the body runs.

    For cache entries that several processes may build at once (test workers,
    the workers of a cluster): the first builds, the others wait and then find
    it built, instead of each spending minutes of CPU on the same work. The lock
    file is removed afterwards. Where the platform has no ``fcntl`` the body
    simply runs (``atomic_dir``'s ``"reuse"`` policy still keeps one copy).

    Example::

        with cache_lock(target):
            if not os.path.isdir(target):
                with atomic_dir(target, policy="reuse") as staging:
                    build_into(staging)
    """
    try:
        import fcntl
    except ImportError:         # not POSIX
        yield
        return
    parent, name = os.path.split(os.path.abspath(target))
    os.makedirs(parent, exist_ok=True)
    path = os.path.join(parent, f".{name}.lock")
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            # A process still waiting on this file finds the target built (or, after a
            # failure, builds it itself); one arriving later checks the target first.
            with contextlib.suppress(OSError):
                os.remove(path)
            fcntl.flock(handle, fcntl.LOCK_UN)


def safe_extract(archive, destination, error=DataError, announce=True):
    """Unpack tar ``archive`` (any compression tarfile reads) into folder ``destination``.

    Every member is checked before anything is written: absolute paths, names
    that climb out with ``..``, links and special files are refused. Unpacking
    then also goes through tarfile's ``"data"`` filter. Failures raise
    ``error`` (``DataError`` by default) naming the archive and the member.

    Args:
        archive: path of the ``.tar``, ``.tar.gz``, ``.tar.xz``, ... file.
        destination: an existing folder, usually an :func:`atomic_dir` staging folder.
        error: the exception type to raise (one ``str`` argument).
        announce: print ``Unpacking <archive> (<n> files) ...`` to stderr first.

    Returns:
        The number of members unpacked.

    Example::

        with atomic_dir(target, policy="reuse") as staging:
            safe_extract("imdb.tar.gz", staging)
    """
    archive = os.fspath(archive)
    try:
        with tarfile.open(archive) as tar:
            members = tar.getmembers()
            for member in members:
                _check_member(archive, member, error)
            if announce:
                target = getattr(destination, "target", destination)
                print(f"Unpacking {archive} ({len(members):,} files) into {target} ...",
                      file=sys.stderr)
            tar.extractall(destination, members=members, filter="data")
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise error(f"cannot unpack {archive}: {exc}") from None
    return len(members)


def _check_member(archive, member, error):
    name = member.name
    parts = name.replace("\\", "/").split("/")
    if os.path.isabs(name) or name.startswith(("/", "\\")) or ".." in parts:
        raise error(f"{archive}: member {name!r} would be written outside its folder; "
                    "refusing to unpack.")
    if not (member.isfile() or member.isdir()):
        raise error(f"{archive}: member {name!r} is a link or special file; refusing to "
                    "unpack.")
