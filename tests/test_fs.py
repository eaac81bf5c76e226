"""Atomic folders (refuse / replace / reuse) and safe archive extraction: fast, no TensorFlow."""
import io
import os
import stat
import tarfile

import pytest

from tfbert import _fs
from tfbert._fs import atomic_dir, safe_extract
from tfbert.errors import DataError, ModelError


def _write(folder, name, text):
    with open(os.path.join(folder, name), "w", encoding="utf-8") as f:
        f.write(text)


def _read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def _old_model(tmp_path):
    target = tmp_path / "model"
    target.mkdir()
    (target / "weights").write_text("old")
    return target


def test_new_folder_appears_whole_with_the_parents_permissions(tmp_path):
    os.chmod(tmp_path, 0o775)
    target = tmp_path / "out" / "1"
    with atomic_dir(target, policy="refuse") as staging:
        assert os.path.dirname(staging) == str(tmp_path / "out")   # same filesystem
        assert os.path.basename(staging).startswith(".1.tmp-")
        assert not target.exists()                                   # nothing visible yet
        _write(staging, "a.txt", "new")
    assert staging.target == str(target)
    assert _read(target / "a.txt") == "new"
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o755            # no group/world write
    assert os.listdir(tmp_path / "out") == ["1"]


@pytest.mark.parametrize("policy", _fs.POLICIES)
def test_a_failing_body_leaves_the_target_as_it_was(tmp_path, policy):
    (tmp_path / "other").mkdir()
    with pytest.raises(KeyboardInterrupt):
        with atomic_dir(tmp_path / "fresh", policy=policy) as staging:
            _write(staging, "half", "written")
            raise KeyboardInterrupt
    assert sorted(os.listdir(tmp_path)) == ["other"]


def test_refuse_an_existing_target_on_entry(tmp_path):
    target = _old_model(tmp_path)
    with pytest.raises(FileExistsError, match="already exists"):
        with atomic_dir(target, policy="refuse"):
            raise AssertionError("the body must not run")
    assert _read(target / "weights") == "old"
    assert os.listdir(tmp_path) == ["model"]


def test_refuse_a_target_another_process_created_meanwhile(tmp_path):
    target = tmp_path / "2"
    with pytest.raises(FileExistsError) as raised:
        with atomic_dir(target, policy="refuse") as staging:
            _write(staging, "ours", "x")
            target.mkdir()
            _write(target, "theirs", "y")
    assert raised.value.filename == str(target)
    assert os.listdir(target) == ["theirs"]
    assert os.listdir(tmp_path) == ["2"]


def test_replace_swaps_in_the_new_folder_and_deletes_the_old(tmp_path):
    target = _old_model(tmp_path)
    with atomic_dir(target, policy="replace") as staging:
        _write(staging, "weights", "new")
    assert _read(target / "weights") == "new"
    assert os.listdir(tmp_path) == ["model"]                        # nothing set aside is left


def test_replace_keeps_the_old_folder_when_the_body_fails_after_writing(tmp_path):
    target = _old_model(tmp_path)
    with pytest.raises(ValueError, match="check failed"):
        with atomic_dir(target, policy="replace") as staging:
            _write(staging, "weights", "new")
            raise ValueError("check failed")
    assert _read(target / "weights") == "old"
    assert os.listdir(tmp_path) == ["model"]


def test_replace_puts_the_old_folder_back_when_the_new_one_cannot_move_in(tmp_path, monkeypatch):
    target = _old_model(tmp_path)
    real_rename = os.rename
    moves = []

    def rename(src, dst):
        moves.append((os.path.basename(src), os.path.basename(dst)))
        if os.path.basename(src).startswith(".model.tmp-"):
            assert not os.path.exists(target)      # the old one is aside, not deleted
            raise OSError("disk failure at the swap")
        return real_rename(src, dst)
    monkeypatch.setattr(_fs.os, "rename", rename)
    with pytest.raises(OSError, match="disk failure at the swap"):
        with atomic_dir(target, policy="replace") as staging:
            _write(staging, "weights", "new")
    assert moves[0] == ("model", "model")          # first the old one went aside
    assert _read(target / "weights") == "old"
    assert os.listdir(tmp_path) == ["model"]


def test_replace_never_deletes_the_old_folder_before_the_new_one_is_in(tmp_path, monkeypatch):
    target = _old_model(tmp_path)
    real_rmtree = _fs.shutil.rmtree
    seen = []

    def rmtree(path, *args, **kwargs):
        seen.append(_read(target / "weights"))     # what readers of the target see meanwhile
        return real_rmtree(path, *args, **kwargs)
    monkeypatch.setattr(_fs.shutil, "rmtree", rmtree)
    with atomic_dir(target, policy="replace") as staging:
        _write(staging, "weights", "new")
    assert seen == ["new"]


def test_reuse_keeps_the_copy_another_process_made_meanwhile(tmp_path):
    target = tmp_path / "imdb-1234"
    with atomic_dir(target, policy="reuse") as staging:
        _write(staging, "ours", "x")
        target.mkdir()                             # the other worker finished first
        _write(target, "theirs", "y")
    assert staging.target == str(target)
    assert os.listdir(target) == ["theirs"]
    assert os.listdir(tmp_path) == ["imdb-1234"]


def test_reuse_still_raises_when_the_rename_fails_for_another_reason(tmp_path, monkeypatch):
    def rename(src, dst):
        raise PermissionError("read-only cache")
    monkeypatch.setattr(_fs.os, "rename", rename)
    with pytest.raises(PermissionError, match="read-only cache"):
        with atomic_dir(tmp_path / "x", policy="reuse"):
            pass
    assert os.listdir(tmp_path) == []


def test_unknown_policy_is_refused(tmp_path):
    with pytest.raises(ValueError, match="policy must be one of refuse, replace, reuse"):
        with atomic_dir(tmp_path / "x", policy="overwrite"):
            pass
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------------- safe_extract

def _archive(path, members):
    """A .tar.gz of ``members``: (name, kind) with kind "file", "dir" or "symlink"."""
    with tarfile.open(path, "w:gz") as tar:
        for name, kind in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = 5
                tar.addfile(info, io.BytesIO(b"hello"))
            elif kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.type = tarfile.SYMTYPE
                info.linkname = "/etc/passwd"
                tar.addfile(info)
    return str(path)


def test_safe_extract_unpacks_plain_files_and_folders(tmp_path, capsys):
    archive = _archive(tmp_path / "ok.tar.gz", [("data", "dir"), ("data/a.txt", "file")])
    (tmp_path / "out").mkdir()
    assert safe_extract(archive, tmp_path / "out") == 2
    assert _read(tmp_path / "out" / "data" / "a.txt") == "hello"
    assert f"Unpacking {archive} (2 files)" in capsys.readouterr().err


@pytest.mark.parametrize("name, kind, reason", [
    ("../escape.txt", "file", "outside its folder"),
    ("data/../../escape.txt", "file", "outside its folder"),
    ("/etc/evil", "file", "outside its folder"),
    ("data/link", "symlink", "link or special file"),
])
def test_safe_extract_refuses_unsafe_members_before_writing(tmp_path, name, kind, reason):
    archive = _archive(tmp_path / "bad.tar.gz", [("data/a.txt", "file"), (name, kind)])
    target = tmp_path / "cache" / "bad"
    with pytest.raises(DataError, match=f"bad.tar.gz: member '{name}'.*{reason}"):
        with atomic_dir(target, policy="reuse") as staging:
            safe_extract(archive, staging)
    assert os.listdir(tmp_path / "cache") == []    # not even the safe member was kept
    assert not (tmp_path / "escape.txt").exists()


def test_safe_extract_raises_the_callers_error_for_a_broken_archive(tmp_path):
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(b"not a tar archive")
    (tmp_path / "out").mkdir()
    with pytest.raises(ModelError, match="cannot unpack .*broken.tar.gz"):
        safe_extract(broken, tmp_path / "out", error=ModelError, announce=False)


def _build_once(target, log):
    """What a test worker does for a shared cache entry: build it unless it is there."""
    import time
    from tfbert._fs import atomic_dir, cache_lock
    with cache_lock(target):
        if not os.path.isdir(target):
            with atomic_dir(target, policy="reuse") as staging:
                with open(log, "a") as f:
                    f.write("built\n")
                time.sleep(0.5)      # long enough for the other process to be waiting
                open(os.path.join(staging, "payload"), "w").close()


def test_processes_building_one_cache_entry_build_it_once(tmp_path):
    import multiprocessing
    target, log = str(tmp_path / "cache" / "model"), str(tmp_path / "log")
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_build_once, args=(target, log)) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [worker.exitcode for worker in workers] == [0, 0, 0]
    assert open(log).read() == "built\n"
    assert os.listdir(target) == ["payload"]
    assert os.listdir(os.path.dirname(target)) == ["model"]      # no lock file left behind
