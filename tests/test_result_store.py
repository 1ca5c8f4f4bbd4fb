"""The persistent result store (issue 16; ``emberjit/cache/store.py``) and ``emberjit cache``:
values round-trip as fresh copies, unpicklable values are not stored, counts, ``open_cache``
sharing, mode 0600; eight processes of four threads on one file lose nothing; a writer killed
mid-write leaves a usable file; corrupt, random, foreign and newer files give a ResultCacheError
naming the fix (a damaged entry is a miss), never a wrong value; the CLI's info and clear."""

from __future__ import annotations

import dataclasses
import hashlib
import multiprocessing
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from emberjit.cache import ResultCache, open_cache
from emberjit.errors import ResultCacheError


def key(name: object) -> str:
    return hashlib.sha256(str(name).encode()).hexdigest()


def value(name: str) -> dict[str, Any]:
    """A value that depends only on its name, of a size that varies with it."""
    seed = int(key(name)[:6], 16)
    return {"name": name, "text": "x" * (seed % 3000), "list": [seed, [seed % 7, None]],
            "bytes": key(name).encode()}


@dataclasses.dataclass
class Point:
    x: int
    y: list[int]


def test_assorted_values_round_trip_as_fresh_copies(tmp_path: Path) -> None:
    values: list[Any] = [{"b": 1, "a": [1, 2.0, True]}, [[1, [2, [3]]], ()], b"\x00\xff" * 99,
                         Point(1, [2, 3]), None, 0, "", {1, 2}, 1.5, "é" * 10_000]
    with ResultCache(tmp_path / "c.db") as cache:
        for i, v in enumerate(values):
            assert cache.put(key(i), v, "Op") is True
        for i, v in enumerate(values):
            found, got = cache.get(key(i))
            assert found and got == v and type(got) is type(v)
        mutable = cache.get(key(0))[1]
        mutable["a"].append("changed")
        assert cache.get(key(0)) == (True, values[0])  # each get unpickles a fresh copy
        cache.put(key(0), "replaced", "Op")
        assert cache.get(key(0)) == (True, "replaced")


def test_unpicklable_values_are_not_stored(tmp_path: Path) -> None:
    with ResultCache(tmp_path / "c.db") as cache:
        for i, bad in enumerate([lambda: 1, threading.Lock(), {"ok": 1, "lock": threading.Lock()},
                                 (x for x in ())]):
            assert cache.put(key(i), bad, "Op") is False
            assert cache.get(key(i)) == (False, None)
        assert cache.stats().entries == 0


def test_stats_count_hits_misses_entries_bytes_and_operators(tmp_path: Path) -> None:
    with ResultCache(tmp_path / "c.db") as cache:
        cache.put(key(1), "one", "A")
        cache.put(key(2), "two", "B")
        cache.get(key(1), operator="A")
        cache.get(key(1), operator="A")
        cache.get(key(3), operator="A")
        cache.get(key(2), operator="B")
        cache.get(key(4))
        stats = cache.stats()
        assert (stats.hits, stats.misses, stats.entries) == (3, 2, 2)
        assert stats.bytes > 0 and stats.path == (tmp_path / "c.db").resolve()
        assert stats.by_operator == {"A": (2, 1), "B": (1, 0)}
        assert cache.top_operators() == [("A", 1, len(_pickled("one"))),
                                         ("B", 1, len(_pickled("two")))]
        with pytest.raises(dataclasses.FrozenInstanceError):
            stats.hits = 0  # type: ignore[misc]


def _pickled(v: object) -> bytes:
    import pickle
    return pickle.dumps(v, protocol=5)


def test_clear_removes_every_entry_zeroes_the_counts_and_shrinks_the_file(tmp_path: Path) -> None:
    with ResultCache(tmp_path / "c.db") as cache:
        for i in range(50):
            cache.put(key(i), os.urandom(20_000), "Op")
        cache.get(key(1), operator="Op")
        full = cache.stats().bytes
        cache.clear()
        stats = cache.stats()
        assert (stats.hits, stats.misses, stats.entries, stats.by_operator) == (0, 0, 0, {})
        assert stats.bytes < full / 10
        assert cache.get(key(1)) == (False, None)


def test_open_cache_is_one_object_per_file_however_spelled(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    first = open_cache("sub/r.db")
    assert open_cache(tmp_path / "sub" / ".." / "sub" / "r.db") is first
    assert open_cache(str(tmp_path / "sub" / "r.db")) is first
    assert first.path == tmp_path.resolve() / "sub" / "r.db" and first.path.is_absolute()
    assert open_cache("sub/other.db") is not first
    found: list[ResultCache] = []
    threads = [threading.Thread(target=lambda: found.append(open_cache("sub/t.db")))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(found) == 8 and all(c is found[0] for c in found)


def test_the_file_is_created_with_mode_0600_in_new_directories(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "c.db"
    with ResultCache(path) as cache:
        cache.put(key(1), "secret", "Op")
        for name in os.listdir(path.parent):  # the database and SQLite's -wal and -shm
            assert (path.parent / name).stat().st_mode & 0o777 == 0o600, name


def test_a_forked_child_opens_its_own_connection(tmp_path: Path) -> None:
    cache = ResultCache(tmp_path / "c.db")
    cache.put(key("parent"), "from the parent", "Op")
    child = multiprocessing.get_context("fork").Process(target=_forked_child, args=(cache,))
    child.start()
    child.join(30)
    assert child.exitcode == 0
    assert cache.get(key("child")) == (True, "from the child")
    assert cache.get(key("parent")) == (True, "from the parent")
    cache.close()


def _forked_child(cache: ResultCache) -> None:
    assert cache.get(key("parent")) == (True, "from the parent")
    cache.put(key("child"), "from the child", "Op")


def _hammer(path: str, process: int) -> int:
    """One process of the stress test: four threads write their share of 200 keys of this
    process and all 50 shared keys, then read every one back; returns how many were wrong."""
    cache = open_cache(path)
    mine = [f"p{process}-{i}" for i in range(200)]
    shared = [f"shared-{i}" for i in range(50)]
    wrong = [0] * 4

    def work(thread: int) -> None:
        names = mine[thread::4] + shared
        for name in names:
            assert cache.put(key(name), value(name), f"Op{process % 3}")
        for name in names:
            found, got = cache.get(key(name), operator=f"Op{process % 3}")
            wrong[thread] += (not found) or got != value(name)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(wrong)


def test_eight_processes_of_four_threads_share_one_file(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.db")  # not created yet: the processes race to create it
    start = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(8) as pool:
        wrong = pool.starmap(_hammer, [(path, p) for p in range(8)])
    elapsed = time.perf_counter() - start
    assert wrong == [0] * 8
    names = [f"p{p}-{i}" for p in range(8) for i in range(200)] + [f"shared-{i}"
                                                                    for i in range(50)]
    with ResultCache(path) as cache:
        assert cache.stats().entries == len(names)
        for name in names:
            assert cache.get(key(name)) == (True, value(name)), name
    assert _integrity(path) == "ok"
    writes = 8 * (200 + 4 * 50)
    print(f"\n8 processes x 4 threads: {writes} puts and gets in {elapsed:.2f} s "
          f"({writes / elapsed:.0f} entries/s, process start included)")
    assert elapsed < 60


def sql(path: str | Path, statement: str, *params: object) -> list[Any]:
    """Run one statement with a plain sqlite3 connection of its own (committed, then closed)."""
    conn = sqlite3.connect(path)
    try:
        with conn:
            return conn.execute(statement, params).fetchall()
    finally:
        conn.close()


def _integrity(path: str | Path) -> str:
    return str(sql(path, "PRAGMA integrity_check")[0][0])


_WRITER = """
import hashlib, sys
from emberjit.cache import ResultCache
cache = ResultCache(sys.argv[1])
i = 0
while True:
    cache.put(hashlib.sha256(f"w{i}".encode()).hexdigest(), (i, bytes([i % 251]) * 400_000), "W")
    i += 1
    if i == 3:
        print("writing", flush=True)
"""


def test_a_writer_killed_mid_write_leaves_a_usable_cache(tmp_path: Path) -> None:
    path = tmp_path / "killed.db"
    for delay in (0.0, 0.05, 0.2):
        writer = subprocess.Popen([sys.executable, "-c", _WRITER, str(path)],
                                  stdout=subprocess.PIPE, text=True)
        assert writer.stdout is not None and writer.stdout.readline() == "writing\n"
        time.sleep(delay)
        writer.send_signal(signal.SIGKILL)
        writer.wait(10)
        assert _integrity(path) == "ok"
        with ResultCache(path) as cache:
            keys = [row[0] for row in sql(path, "SELECT key FROM entries WHERE operator = 'W'")]
            assert len(keys) >= 3
            for k in keys:
                found, (i, blob) = cache.get(k)
                assert found and k == key(f"w{i}") and blob == bytes([i % 251]) * 400_000
            assert cache.put(key("after"), "still works", "Op")
            assert cache.get(key("after")) == (True, "still works")


def _filled(path: Path, n: int = 60) -> dict[str, Any]:
    """A closed cache of ``n`` entries (small and overflowing pages), checkpointed into the file."""
    expected = {key(i): value(f"v{i}") | {"blob": os.urandom(i * 150)} for i in range(n)}
    with ResultCache(path) as cache:
        for k, v in expected.items():
            cache.put(k, v, "Op")
    assert not Path(f"{path}-wal").exists()  # the last close checkpointed the log
    return expected


def _read_all(path: Path, expected: dict[str, Any]) -> str:
    """'error', 'miss' (some entries missed, every other right) or 'all': never a wrong value."""
    try:
        with ResultCache(path) as cache:
            outcomes = {cache.get(k) == (True, v) or cache.get(k) == (False, None)
                        for k, v in expected.items()}
            assert outcomes == {True}, "a wrong value was served"
            missed = any(not cache.get(k)[0] for k in expected)
    except ResultCacheError as exc:
        assert str(path) in str(exc) and "--force" in str(exc), exc
        return "error"
    return "miss" if missed else "all"


def test_bytes_overwritten_in_the_file_never_give_a_wrong_value(tmp_path: Path) -> None:
    good = tmp_path / "good.db"
    expected = _filled(good)
    size = good.stat().st_size
    rng = random.Random(16)
    seen = []
    for n, offset in enumerate([0, 60, *range(4096, size - 64, size // 40)]):
        bad = tmp_path / f"bad{n}.db"
        shutil.copy(good, bad)
        with open(bad, "r+b") as file:
            file.seek(offset)
            file.write(bytes(rng.randrange(256) for _ in range(64)))
        seen.append(_read_all(bad, expected))
    assert "error" in seen and "miss" in seen, seen  # both defences were exercised


def test_a_file_of_random_bytes_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "random.db"
    path.write_bytes(random.Random(1).randbytes(10_000))
    before = path.read_bytes()
    with pytest.raises(ResultCacheError, match="not an SQLite database") as info:
        ResultCache(path)
    message = str(info.value)
    assert str(path) in message and f"emberjit cache clear {path} --force" in message
    assert path.read_bytes() == before


def test_another_programs_database_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "theirs.db"
    sql(path, "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    sql(path, "INSERT INTO users (name) VALUES ('ada')")
    before = path.read_bytes()
    with pytest.raises(ResultCacheError, match=r"not an emberjit result cache.*users") as info:
        ResultCache(path)
    assert "choose another path" in str(info.value) and "--force" in str(info.value)
    assert path.read_bytes() == before
    sql(path, "CREATE TABLE meta (key TEXT, value TEXT)")
    sql(path, "INSERT INTO meta VALUES ('format', 'someone-else')")
    with pytest.raises(ResultCacheError, match="format 'someone-else'"):
        ResultCache(path)


def test_a_newer_schema_names_both_schemas(tmp_path: Path) -> None:
    path = tmp_path / "newer.db"
    ResultCache(path).close()
    sql(path, "UPDATE meta SET value = '7' WHERE key = 'schema'")
    with pytest.raises(ResultCacheError, match="schema 7, but this emberjit reads schema 1"):
        ResultCache(path)


def test_a_tampered_entry_is_a_miss_and_is_deleted(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    with ResultCache(path) as cache:
        cache.put(key(1), "the right answer", "Op")
        cache.put(key(2), "another answer", "Op")
        cache.put(key(4), "a third answer", "Op")
        sql(path, "UPDATE entries SET value = ? WHERE key = ?", _pickled("wrong answer"), key(1))
        sql(path, "UPDATE entries SET key = ? WHERE key = ?", key(3), key(2))
        sql(path, "UPDATE entries SET sha256 = CAST(x'ff00fe' AS TEXT) WHERE key = ?",
            key(4))  # not even UTF-8
        assert cache.get(key(1)) == (False, None)
        assert cache.get(key(3)) == (False, None)  # the checksum covers the key too
        assert cache.get(key(4)) == (False, None)
        assert cache.stats().entries == 0


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "emberjit", "cache", *args],
                          capture_output=True, text=True, timeout=60)


def test_cli_info_and_clear(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    with ResultCache(path) as cache:
        for i in range(12):
            for j in range(i + 1):
                cache.put(key((i, j)), "v" * 10, f"Operator{i:02}")
    info = cli("info", str(path))
    assert info.returncode == 0, info.stderr
    lines = info.stdout.splitlines()
    assert lines[:2] == [f"path: {path}", "entries: 78"] and lines[2].startswith("bytes: ")
    assert lines[3] == "operators with most entries:" and len(lines) == 14
    assert lines[4].split() == ["Operator11", "12", "entries,", str(12 * len(_pickled("v" * 10))),
                                "bytes"]
    cleared = cli("clear", str(path))
    assert (cleared.returncode, cleared.stdout) == (0, f"removed 78 entries from {path}\n")
    assert cli("info", str(path)).stdout.splitlines()[1] == "entries: 0"


def test_cli_errors_and_force(tmp_path: Path) -> None:
    missing = cli("info", str(tmp_path / "missing.db"))
    assert missing.returncode == 2 and "no result cache at" in missing.stderr
    assert not (tmp_path / "missing.db").exists()
    foreign = tmp_path / "foreign.db"
    foreign.write_bytes(b"not a database at all" * 10)
    for command in ("info", "clear"):
        refused = cli(command, str(foreign))
        assert refused.returncode == 2 and refused.stdout == ""
        assert refused.stderr.count("\n") == 1 and "--force" in refused.stderr
    assert foreign.read_bytes() == b"not a database at all" * 10
    forced = cli("clear", str(foreign), "--force")
    assert forced.returncode == 0 and forced.stdout.startswith(f"replaced {foreign}: ")
    assert cli("info", str(foreign)).stdout.splitlines()[1] == "entries: 0"
    assert foreign.stat().st_mode & 0o777 == 0o600
