"""Tests of the SQLite storage plugin, alone and inside a running Errbot."""

import os
import pickle
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from storage.sqlite import (
    DEFAULT_FILE_NAME,
    SQLiteStorage,
    SQLiteStoragePlugin,
    StorageOpenError,
)

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "storage.sqlite3"


@pytest.fixture
def store(db_path: Path):
    opened = SQLiteStorage(db_path, "incident")
    yield opened
    opened.close()


def test_set_then_get_returns_value(store: SQLiteStorage) -> None:
    store.set("current", {"iid": 42, "labels": ["severity::2"]})

    assert store.get("current") == {"iid": 42, "labels": ["severity::2"]}


def test_set_overwrites_value(store: SQLiteStorage) -> None:
    store.set("current", 1)
    store.set("current", 2)

    assert store.get("current") == 2
    assert store.len() == 1


def test_get_missing_key_raises_keyerror(store: SQLiteStorage) -> None:
    with pytest.raises(KeyError) as raised:
        store.get("absent")

    assert raised.value.args == ("absent",)


def test_remove_deletes_key(store: SQLiteStorage) -> None:
    store.set("a", 1)
    store.set("b", 2)

    store.remove("a")

    assert store.keys() == ["b"]
    assert store.len() == 1
    with pytest.raises(KeyError):
        store.get("a")


def test_remove_missing_key_raises_keyerror(store: SQLiteStorage) -> None:
    with pytest.raises(KeyError) as raised:
        store.remove("absent")

    assert raised.value.args == ("absent",)


def test_keys_returns_sorted_list_snapshot(store: SQLiteStorage) -> None:
    for key in ("c", "a", "b"):
        store.set(key, key.upper())

    keys = store.keys()
    # Removing while iterating over the result must not disturb the iteration.
    for key in keys:
        store.remove(key)

    assert keys == ["a", "b", "c"]
    assert store.len() == 0


def test_len_of_empty_namespace_is_zero(store: SQLiteStorage) -> None:
    assert store.len() == 0
    assert store.keys() == []


def test_non_string_key_raises_typeerror(store: SQLiteStorage) -> None:
    with pytest.raises(TypeError, match=r"invalid storage key 5: keys must be str"):
        store.set(5, "x")  # type: ignore[arg-type]


def test_namespaces_are_separate(db_path: Path) -> None:
    first = SQLiteStorage(db_path, "first")
    second = SQLiteStorage(db_path, "second")
    try:
        first.set("shared", "from first")
        second.set("shared", "from second")
        second.set("only_second", True)

        assert first.get("shared") == "from first"
        assert second.get("shared") == "from second"
        assert first.keys() == ["shared"]
        assert second.keys() == ["only_second", "shared"]
        assert first.len() == 1
        with pytest.raises(KeyError):
            first.remove("only_second")
        assert second.get("only_second") is True
    finally:
        first.close()
        second.close()


def test_values_survive_close_and_reopen(db_path: Path) -> None:
    writer = SQLiteStorage(db_path, "incident")
    writer.set("current", {"iid": 7})
    writer.set("gone", 1)
    writer.remove("gone")
    writer.close()

    reader = SQLiteStorage(db_path, "incident")
    try:
        assert reader.get("current") == {"iid": 7}
        assert reader.keys() == ["current"]
    finally:
        reader.close()


def test_database_uses_wal_journal(store: SQLiteStorage, db_path: Path) -> None:
    store.set("x", 1)

    with sqlite3.connect(db_path) as connection:
        mode = connection.execute("PRAGMA journal_mode").fetchone()[0]

    assert mode == "wal"


def test_write_survives_sigkill(db_path: Path) -> None:
    # The child kills itself the moment set() returns, so nothing after set()
    # (close, interpreter exit, atexit) gets a chance to flush anything.
    child = textwrap.dedent(
        """
        import os, signal, sys
        from pathlib import Path
        from storage.sqlite import SQLiteStorage

        store = SQLiteStorage(Path(sys.argv[1]), "crash")
        for number in range(100):
            store.set(f"key{number:03}", {"number": number})
        store.set("last", "written")
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    environment = {**os.environ, "PYTHONPATH": str(REPO)}

    result = subprocess.run(
        [sys.executable, "-c", child, str(db_path)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == -signal.SIGKILL, result.stderr
    reader = SQLiteStorage(db_path, "crash")
    try:
        assert reader.get("last") == "written"
        assert reader.len() == 101
        assert reader.get("key099") == {"number": 99}
    finally:
        reader.close()


def test_concurrent_writers_lose_nothing(db_path: Path) -> None:
    shared = SQLiteStorage(db_path, "shared")
    # Separate namespaces have separate connections, which contend for SQLite's
    # file lock instead of the Python lock.
    others = [SQLiteStorage(db_path, f"other{number}") for number in range(4)]
    thread_count = 8
    writes_per_thread = 50
    errors: list[BaseException] = []

    def write(thread_number: int) -> None:
        try:
            other = others[thread_number % len(others)]
            for number in range(writes_per_thread):
                key = f"t{thread_number}-{number}"
                shared.set(key, number)
                other.set(key, number)
        except BaseException as error:
            errors.append(error)

    threads = [
        threading.Thread(target=write, args=(number,)) for number in range(thread_count)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    try:
        assert errors == []
        assert shared.len() == thread_count * writes_per_thread
        assert shared.get("t7-49") == 49
        assert sum(other.len() for other in others) == thread_count * writes_per_thread
        assert others[3].get("t3-0") == 0
    finally:
        shared.close()
        for other in others:
            other.close()


def test_plugin_defaults_to_file_in_data_dir(tmp_path: Path) -> None:
    config = SimpleNamespace(BOT_DATA_DIR=str(tmp_path))

    plugin = SQLiteStoragePlugin(config)
    opened = plugin.open("core")
    opened.set("x", 1)
    opened.close()

    assert plugin.path == tmp_path / DEFAULT_FILE_NAME
    assert (tmp_path / DEFAULT_FILE_NAME).is_file()


def test_plugin_uses_configured_path(tmp_path: Path) -> None:
    configured = tmp_path / "nested" / "bot.db"
    config = SimpleNamespace(
        BOT_DATA_DIR=str(tmp_path / "unused"),
        STORAGE_CONFIG={"path": str(configured)},
    )

    plugin = SQLiteStoragePlugin(config)
    opened = plugin.open("core")
    opened.set("x", 1)
    opened.close()

    assert plugin.path == configured
    assert configured.is_file()
    assert not (tmp_path / "unused").exists()


def test_unopenable_path_names_file(tmp_path: Path) -> None:
    # A directory where the database file should be makes sqlite3.connect fail.
    blocked = tmp_path / "storage.sqlite3"
    blocked.mkdir()

    with pytest.raises(StorageOpenError) as raised:
        SQLiteStorage(blocked, "core")

    assert str(raised.value).startswith(f"failed to open SQLite storage {blocked}:")
    assert "STORAGE_CONFIG['path']" in str(raised.value)


def _stored_rows(db_path: Path, namespace: str) -> dict[str, object]:
    with sqlite3.connect(db_path) as connection:
        rows = connection.execute(
            "SELECT key, value FROM entries WHERE namespace = ?", (namespace,)
        ).fetchall()
    return {key: pickle.loads(value) for key, value in rows}


class TestInErrbot:
    """The plugin as Errbot loads it, with the Counter test plugin."""

    extra_plugin_dir = str(REPO / "tests" / "plugins")

    @pytest.fixture(autouse=True)
    def _data_dir(self, request: pytest.FixtureRequest, tmp_path: Path) -> None:
        # Autouse fixtures run before testbot, which reads extra_config from
        # the test instance.
        self.data_dir = tmp_path / "data"
        self.data_dir.mkdir()
        request.instance.extra_config = {
            "BOT_EXTRA_STORAGE_PLUGINS_DIR": str(REPO / "storage"),
            "STORAGE": "SQLite",
            "BOT_DATA_DIR": str(self.data_dir),
        }

    def test_plugin_storage_goes_to_sqlite(self, testbot) -> None:
        assert testbot.exec_command("!count") == "1"
        assert testbot.exec_command("!count") == "2"

        assert type(testbot.bot.storage_plugin).__name__ == "SQLiteStoragePlugin"
        assert _stored_rows(self.data_dir / DEFAULT_FILE_NAME, "Counter") == {
            "total": 2
        }

    def test_value_survives_bot_restart(self, testbot) -> None:
        assert testbot.exec_command("!count") == "1"
        assert testbot.exec_command("!count") == "2"

        testbot.stop()
        testbot.start()

        assert testbot.exec_command("!count") == "3"
