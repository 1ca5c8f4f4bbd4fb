"""The persistent result store: one sqlite3 file of pickled results of deterministic calls.

``ResultCache`` maps a key (a hex sha256 made by the cache keys) to a pickled value. The file is
an SQLite database in WAL mode (readers never wait for writers; writers wait up to
``BUSY_TIMEOUT`` for each other instead of failing), with one connection per thread and per
process (a forked child opens its own and never touches its parent's), so many threads and
processes can share one file. Every entry carries a sha256 of its key and value, checked on each
read: an entry that does not match is a miss and is deleted, never a wrong answer. A file that is
not emberjit's (not SQLite, another program's database, a newer schema) or that turns out corrupt
raises :class:`~emberjit.errors.ResultCacheError` naming the file and the fix; nothing here
overwrites a file it did not create. ``open_cache`` shares one ``ResultCache`` per file in a
process.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import pickle
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from ..errors import ResultCacheError

__all__ = ["BUSY_TIMEOUT", "FORMAT", "SCHEMA", "CacheStats", "ResultCache", "open_cache",
           "remove_cache_files"]

FORMAT = "emberjit-result-cache"
SCHEMA = 1
#: seconds a writer waits for another process's write before giving up with an error
BUSY_TIMEOUT = 30.0

_T = TypeVar("_T")
_HEADER = b"SQLite format 3\x00"
# small columns first: reading them never walks a large value's overflow pages
_CREATE = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE entries (key TEXT PRIMARY KEY, sha256 TEXT NOT NULL, operator TEXT NOT NULL,"
    " created REAL NOT NULL, size INTEGER NOT NULL, value BLOB NOT NULL)",
)
_GET = "SELECT rowid, value, sha256 FROM entries WHERE key = ?"
_PUT = ("INSERT OR REPLACE INTO entries (key, sha256, operator, created, size, value)"
        " VALUES (?, ?, ?, ?, ?, ?)")
_TOP = ("SELECT operator, COUNT(*), SUM(size) FROM entries GROUP BY operator"
        " ORDER BY COUNT(*) DESC, operator LIMIT ?")


@dataclasses.dataclass(frozen=True)
class CacheStats:
    """What ``ResultCache.stats()`` reports. ``hits``, ``misses`` and ``by_operator`` (operator
    name -> (hits, misses)) count this object's ``get`` calls since it was opened or cleared;
    ``entries`` and ``bytes`` (the database's pages, its write-ahead log's included) are read
    from the file, so they include other processes' entries."""

    hits: int
    misses: int
    entries: int
    bytes: int
    path: Path
    by_operator: dict[str, tuple[int, int]] = dataclasses.field(default_factory=dict)


class _Connection(sqlite3.Connection):
    """An sqlite3 connection (a subclass only so that the type checker names it)."""


class ResultCache:
    """Persistent results of deterministic calls: an sqlite3 database in WAL mode, safe across
    threads and processes.

    ``get(key)`` returns ``(True, value)`` (a fresh unpickled copy on every call) or
    ``(False, None)``; ``put(key, value, operator)`` stores a value (``False``, storing nothing,
    when it cannot be pickled). The file is created with mode 0600 (results may hold private
    data). **Values are pickles, and loading a pickle can run any code: a cache file must only
    ever be written by you** (never open a cache file someone else could have written).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path: Path = Path(path).expanduser().resolve()
        self._lock = threading.Lock()
        self._local = threading.local()
        self._generation = 0
        self._held: list[tuple[weakref.ref[threading.Thread], _Connection]] = []
        self._hits = self._misses = 0
        self._by_operator: dict[str, tuple[int, int]] = {}
        _LIVE.add(self)
        self._connection()  # creates or checks the file now, so a bad file fails here

    def __repr__(self) -> str:
        return f"ResultCache({str(self.path)!r})"

    def __enter__(self) -> ResultCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, key: str, *, operator: str = "") -> tuple[bool, Any]:
        """``(True, a fresh copy of the value)`` or ``(False, None)``; counts a hit or a miss
        (for ``operator`` too, when given). An entry whose checksum fails is deleted (a miss);
        one that no longer unpickles (a class gone) is a miss."""
        row = self._run(lambda c: c.execute(_GET, (key,)).fetchone())
        found, value = (False, None) if row is None else self._load(key, *row)
        with self._lock:
            self._hits, self._misses = self._hits + found, self._misses + (not found)
            if operator:
                hits, misses = self._by_operator.get(operator, (0, 0))
                self._by_operator[operator] = (hits + found, misses + (not found))
        return found, value

    def put(self, key: str, value: Any, operator: str) -> bool:
        """Store ``value`` under ``key`` (replacing an entry there); ``False``, storing nothing,
        when the value cannot be pickled."""
        try:
            blob = pickle.dumps(value, protocol=5)
        except Exception:  # a lambda, a lock, a socket, a failing __reduce__: not cached
            return False
        row = (key, _digest(key, blob), operator, time.time(), len(blob), blob)
        self._run(lambda c: c.execute(_PUT, row))
        return True

    def stats(self) -> CacheStats:
        """Hits and misses of this object; entries and bytes of the file (all processes')."""
        def read(c: _Connection) -> tuple[int, int]:
            entries = c.execute("SELECT COUNT(*) FROM entries").fetchone()[0]
            pages = c.execute("PRAGMA page_count").fetchone()[0]
            return int(entries), int(pages) * int(c.execute("PRAGMA page_size").fetchone()[0])

        entries, size = self._run(read)
        with self._lock:
            return CacheStats(self._hits, self._misses, entries, size, self.path,
                              dict(self._by_operator))

    def top_operators(self, limit: int = 10) -> list[tuple[str, int, int]]:
        """The ``limit`` operators with most entries: (name, entries, bytes of their values)."""
        rows = self._run(lambda c: c.execute(_TOP, (limit,)).fetchall())
        return [(str(name), int(count), int(size)) for name, count, size in rows]

    def clear(self) -> None:
        """Remove every entry (the file shrinks) and zero this object's counts."""
        def wipe(c: _Connection) -> None:
            c.execute("DELETE FROM entries")
            c.executescript("PRAGMA incremental_vacuum;")  # a script runs it to the end

        self._run(wipe)
        with self._lock:
            self._hits = self._misses = 0
            self._by_operator.clear()

    def close(self) -> None:
        """Close this process's connections to the file; a later call opens new ones."""
        with self._lock:
            self._generation += 1
            held, self._held = self._held, []
        for _, conn in held:
            conn.close()

    def _load(self, key: str, rowid: int, blob: bytes, digest: str) -> tuple[bool, Any]:
        if _digest(key, blob) != digest:  # damaged or tampered with: never served
            self._run(lambda c: c.execute("DELETE FROM entries WHERE rowid = ? AND key = ?",
                                          (rowid, key)))
            return False, None
        try:
            return True, pickle.loads(blob)
        except Exception:  # written by code whose classes are gone: a put replaces it
            return False, None

    def _run(self, action: Callable[[_Connection], _T]) -> _T:
        """Run ``action`` on this thread's connection; sqlite errors become ResultCacheError."""
        return _guard(self.path, lambda: action(self._connection()))

    def _connection(self) -> _Connection:
        """This thread's connection in this process (opened on first use, after a fork, or
        after ``close``)."""
        mine = getattr(self._local, "conn", None)
        if mine is not None and mine[0] == (os.getpid(), self._generation):
            conn: _Connection = mine[1]
            return conn
        conn = _guard(self.path, lambda: _connect(self.path))
        with self._lock:
            stale = [c for thread, c in self._held if not _alive(thread)]
            self._held = [(t, c) for t, c in self._held if _alive(t)]
            self._held.append((weakref.ref(threading.current_thread()), conn))
            generation = self._generation
        for old in stale:  # their threads have ended
            old.close()
        self._local.conn = ((os.getpid(), generation), conn)
        return conn

    def _forked(self) -> None:
        """In a forked child: keep the parent's connections (closing or using them there could
        release the parent's locks) and open new ones on next use."""
        self._lock = threading.Lock()
        _INHERITED.extend(conn for _, conn in self._held)
        self._held = []
        self._generation += 1


def _alive(thread: weakref.ref[threading.Thread]) -> bool:
    running = thread()
    return running is not None and running.is_alive()


def _digest(key: str, blob: bytes) -> str:
    """The checksum of an entry: its key and its value, so neither can change unnoticed."""
    return hashlib.sha256(key.encode() + b"\x00" + blob).hexdigest()


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def _fix(path: Path) -> str:
    return (f"choose another path, or run `emberjit cache clear {path} --force` to delete it "
            "and start an empty cache there")


def _guard(path: Path, action: Callable[[], _T]) -> _T:
    """Run ``action``; an sqlite error becomes a ResultCacheError naming the file and the fix."""
    try:
        return action()
    except sqlite3.Error as exc:
        raise _translate(path, exc) from exc
    except OSError as exc:
        raise ResultCacheError(f"result cache {path}: cannot create or read the file ({exc}); "
                               "check the directory exists and is writable, or choose another "
                               "path") from exc


def _translate(path: Path, exc: sqlite3.Error) -> ResultCacheError:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return ResultCacheError(
            f"result cache {path}: another process kept the file locked for more than "
            f"{BUSY_TIMEOUT:.0f} s ({text}); retry, or give this process a cache file of its own")
    if any(word in text for word in ("malformed", "not a database", "encrypted", "corrupt")):
        return ResultCacheError(f"result cache {path}: the file is corrupt (sqlite: {text}); "
                                f"{_fix(path)}")
    return ResultCacheError(f"result cache {path}: sqlite failed ({type(exc).__name__}: {text}); "
                            "check the file and its directory are writable and the disk is not "
                            "full, or choose another path")


def _foreign(path: Path, found: str) -> ResultCacheError:
    return ResultCacheError(f"result cache {path}: the file is not an emberjit result cache "
                            f"(found {found}); it was left as it is: {_fix(path)}")


def _connect(path: Path) -> _Connection:
    """A new connection to ``path``: created (0600) and initialized if missing or empty, checked
    to be emberjit's otherwise (before anything is written to it)."""
    _create(path)
    with open(path, "rb") as file:
        head = file.read(len(_HEADER))
    if head and head != _HEADER:
        raise _foreign(path, f"a file that is not an SQLite database, starting with {head!r}")
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT, isolation_level=None,
                           check_same_thread=False, factory=_Connection)
    conn.text_factory = _text  # a damaged text column reads as text that matches nothing
    try:
        if not _is_ours(conn, path):
            _initialize(conn, path)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
    except BaseException:
        conn.close()
        raise
    return conn


def _create(path: Path) -> None:
    """Create an empty file with mode 0600 (and its directories), unless there is one."""
    if path.is_dir():
        raise ResultCacheError(f"result cache {path}: is a directory; give the path of a file "
                               f"in it, e.g. {path / 'results.db'}")
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):  # another process created it first
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _initialize(conn: _Connection, path: Path) -> None:
    """Make an empty database a result cache (unless another process just did)."""
    conn.execute("PRAGMA auto_vacuum = INCREMENTAL")  # only takes effect before the first table
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("BEGIN IMMEDIATE")
    try:
        if not _is_ours(conn, path):
            for statement in _CREATE:
                conn.execute(statement)
            conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)",
                             [("format", FORMAT), ("schema", str(SCHEMA))])
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _is_ours(conn: _Connection, path: Path) -> bool:
    """False for an empty database; True for a result cache of this schema; raises for anything
    else (another program's database, a newer schema)."""
    tables = sorted(row[0] for row in
                    conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"))
    if not tables:
        return False
    if "meta" not in tables:
        raise _foreign(path, f"an SQLite database with tables {', '.join(tables)} and no "
                             "emberjit meta table")
    try:
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    except sqlite3.OperationalError:  # a meta table of some other shape
        raise _foreign(path, "an SQLite database whose meta table is not emberjit's") from None
    if meta.get("format") != FORMAT:
        raise _foreign(path, f"an SQLite database of format {meta.get('format')!r}, not "
                             f"{FORMAT!r}")
    schema = str(meta.get("schema"))
    if schema != str(SCHEMA):
        newer = schema.isdigit() and int(schema) > SCHEMA
        raise ResultCacheError(
            f"result cache {path}: written with result cache schema {schema}, but this emberjit "
            f"reads schema {SCHEMA}{' (the file is newer)' if newer else ''}; "
            f"{'upgrade emberjit, or ' if newer else ''}{_fix(path)}")
    if "entries" not in tables:
        raise ResultCacheError(f"result cache {path}: the file is corrupt (its entries table "
                               f"is missing); {_fix(path)}")
    return True


def remove_cache_files(path: str | os.PathLike[str]) -> None:
    """Delete a cache file and SQLite's files next to it (``-wal``, ``-shm``, ``-journal``);
    for ``emberjit cache clear --force``, while no process has the file open."""
    resolved = Path(path).expanduser().resolve()
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{resolved}{suffix}").unlink(missing_ok=True)


_REGISTRY: dict[Path, ResultCache] = {}
_REGISTRY_LOCK = threading.Lock()
_LIVE: weakref.WeakSet[ResultCache] = weakref.WeakSet()
_INHERITED: list[_Connection] = []  # a forked child's copies of its parent's connections


def open_cache(path: str | os.PathLike[str]) -> ResultCache:
    """The process's one ``ResultCache`` for ``path`` (however it is spelled: it is resolved),
    opened on first use; thread-safe."""
    resolved = Path(path).expanduser().resolve()
    with _REGISTRY_LOCK:
        cache = _REGISTRY.get(resolved)
        if cache is None:
            cache = _REGISTRY[resolved] = ResultCache(resolved)
        return cache


def _after_fork_in_child() -> None:
    global _REGISTRY_LOCK
    _REGISTRY_LOCK = threading.Lock()  # it may have been held by a thread the child does not have
    for cache in list(_LIVE):
        cache._forked()


os.register_at_fork(after_in_child=_after_fork_in_child)
