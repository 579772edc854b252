"""One study shared by several workers through a real PostgreSQL server.

The server is ``GHOSTRNN_TEST_POSTGRES_URL`` when set (with a password in it, so the
secrets check has something to look for); otherwise a throwaway cluster is started
here with the Debian ``postgresql`` package's ``initdb``/``pg_ctl`` on a free local
port, as the unprivileged ``postgres`` user when the tests run as root. Heartbeat and
grace period are shortened through the environment so a killed worker's trial goes
stale within seconds.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Iterator, Optional

import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

pytestmark = pytest.mark.postgres

# Small corpus and one epoch: the sharing machinery is under test, not accuracy.
FAST = ["--space", "kws-small", "--utterances-per-class", "20", "--epochs", "1"]
RUN = ["run", "--device", "cortex-m7", "--budget", "100KB", "--sampler", "random", *FAST, "--workers", "1"]
TRIALS = 12  # per study
SHORT_HEARTBEAT = {"GHOSTRNN_HEARTBEAT_INTERVAL": "1", "GHOSTRNN_HEARTBEAT_GRACE": "3"}


# ---------------------------------------------------------------- the server


def _postgres_bin() -> Optional[Path]:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda path: int(Path(path).parent.name) if Path(path).parent.name.isdigit() else 0)
    for candidate in reversed(candidates):
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb and shutil.which("pg_ctl") else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _Cluster:
    """A throwaway PostgreSQL cluster in a temporary directory."""

    def __init__(self, bin_dir: Path):
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="ghostrnn-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.password = "pw-" + secrets.token_urlsafe(12)
        # initdb refuses to run as root: use the package's unprivileged user then.
        self.user = None
        if os.geteuid() == 0:
            try:
                self.user = pwd.getpwnam("postgres")
            except KeyError:
                pytest.skip("running as root and there is no 'postgres' user to own a test cluster")
            os.chown(self.root, self.user.pw_uid, self.user.pw_gid)
        password_file = self.root / "password"
        password_file.write_text(self.password + "\n")
        if self.user is not None:
            os.chown(password_file, self.user.pw_uid, self.user.pw_gid)

    def _run(self, *command: str) -> None:
        text = " ".join(shlex.quote(part) for part in command)
        full = ["su", "-s", "/bin/sh", self.user.pw_name, "-c", text] if self.user is not None else ["/bin/sh", "-c", text]
        result = subprocess.run(full, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"{text}: {result.stdout}{result.stderr}"

    def start(self) -> str:
        self._run(str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", "ghost", f"--pwfile={self.root / 'password'}", "--auth=scram-sha-256", "-E", "UTF8")
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.root} -c max_connections=60"
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"), "-o", options, "-w", "start")
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user="ghost", password=self.password, dbname="postgres", autocommit=True) as connection:
            connection.execute("CREATE DATABASE ghostrnn")
        return f"postgresql://ghost:{self.password}@127.0.0.1:{self.port}/ghostrnn"

    def stop(self) -> None:
        if self.data.exists():
            self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    pytest.importorskip("psycopg", reason="the PostgreSQL driver is missing: pip install 'ghostrnn-search[postgres]'")
    url = os.environ.get("GHOSTRNN_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    bin_dir = _postgres_bin()
    if bin_dir is None:
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl); apt-get install postgresql, or set GHOSTRNN_TEST_POSTGRES_URL")
    cluster = _Cluster(bin_dir)
    try:
        yield cluster.start()
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


def _split(url: str) -> tuple[str, str]:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return parsed.set(password=None).render_as_string(hide_password=False), str(parsed.password or os.environ.get("PGPASSWORD", ""))


# ---------------------------------------------------------------- helpers


def _environment(cache_dir: Path, **extra: str) -> dict[str, str]:
    environment = dict(os.environ, GHOSTRNN_CACHE=str(cache_dir), **SHORT_HEARTBEAT)
    for name in ("PGPASSWORD", "GHOSTRNN_STORAGE_PASSWORD"):
        environment.pop(name, None)
    environment.update(extra)
    return environment


def _search(args: list[str], environment: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "search", *args], capture_output=True, text=True, timeout=timeout, env=environment)


def _start(args: list[str], environment: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "search", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment)


def _study(url: str, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=url)


def _create_study(url: str, name: str, trials: int, out: Path, cache_dir: Path, monkeypatch) -> None:
    """A study with its settings stored and a trial done (the timeout stops it early).

    In this process, as ``search run`` would do it: a process start costs seconds.
    """
    import search
    from search.training import Fidelity

    monkeypatch.setenv("GHOSTRNN_CACHE", str(cache_dir))
    search.run(
        device="cortex-m7", budget="100KB", space="kws-small", sampler="random", fidelity=Fidelity(epochs=1), utterances_per_class=20,
        trials=trials, timeout=0.1, storage=url, study=name, out=out, progress=False,
    )


def _cli(args: list[str], capsys) -> tuple[int, str, str]:
    """``search ARGS`` in this process, for commands that stop before any training."""
    from search.cli import main

    handler = signal.getsignal(signal.SIGTERM)  # main() installs its own
    try:
        code = main(args)
    finally:
        signal.signal(signal.SIGTERM, handler)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _finished(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))


def _assert_no_design_trained_twice(study: optuna.Study) -> None:
    trained = [t.user_attrs["design_key"] for t in _finished(study) if t.user_attrs.get("trained") and t.user_attrs.get("duplicate_of") is None]
    assert len(trained) == len(set(trained)), sorted(trained)


def _files_containing(root: Path, secret: bytes) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file() and secret in path.read_bytes()]


# ---------------------------------------------------------------- tests


def test_unreachable_database_is_one_line(server_url, capsys):
    port = _free_port()  # nothing listens there
    code, out, err = _cli(["worker", "--storage", f"postgresql://ghost:hunter2-secret@127.0.0.1:{port}/ghostrnn", "--study", "x"], capsys)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("search: error: cannot open storage postgresql://ghost:***@127.0.0.1"), err
    assert "hunter2-secret" not in err


def test_three_workers_share_one_study_and_no_secret_leaks(server_url, cache_dir, tmp_path, monkeypatch, capsys):
    name = f"shared-{uuid.uuid4().hex[:8]}"
    public_url, password = _split(server_url)
    _create_study(server_url, name, TRIALS, tmp_path / "creator", cache_dir, monkeypatch)
    created = capsys.readouterr()

    # A worker stating a setting the study does not have is refused before it trains.
    code, refused_out, refused_err = _cli(["worker", "--storage", server_url, "--study", name, "--device", "cortex-m4", "--budget", "100KB"], capsys)
    assert code == 2 and "device: study has 'cortex-m7'" in refused_err and "budget" not in refused_err, refused_err

    # Three machines' worth of workers, each finding the password its own way.
    home = tmp_path / "home"
    home.mkdir()
    pgpass = home / ".pgpass"
    pgpass.write_text(f"*:*:*:*:{password}\n")
    pgpass.chmod(0o600)
    environments = [
        _environment(cache_dir, PGPASSWORD=password),
        _environment(cache_dir, GHOSTRNN_STORAGE_PASSWORD=password),
        _environment(cache_dir, HOME=str(home)),
    ]
    workers = [
        _start(["worker", "--storage", public_url, "--study", name, "--no-progress", "--weights-dir", str(tmp_path / f"w{index}"), "--device", "cortex-m7", "--budget", "100KB"], environment)
        for index, environment in enumerate(environments)
    ]
    outputs = [worker.communicate(timeout=240) for worker in workers]
    for worker, (stdout, stderr) in zip(workers, outputs):
        assert worker.returncode == 0, stdout + stderr

    study = _study(server_url, name)
    assert len(_finished(study)) == TRIALS
    assert not study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    _assert_no_design_trained_twice(study)
    ran_by = {t.user_attrs["worker"].rpartition(":")[2] for t in _finished(study)}
    assert sum(str(worker.pid) in ran_by for worker in workers) >= 2, "the workers did not share the study"

    # The table and report come from the URL alone, on a machine without the run folder.
    reader = _search([*RUN, "--trials", str(TRIALS), "--storage", server_url, "--study", name, "--out", str(tmp_path / "reader")], _environment(cache_dir))
    assert reader.returncode == 0, reader.stdout + reader.stderr
    table = pd.read_csv(tmp_path / "reader" / name / "trials.csv")
    assert (table["state"] == "COMPLETE").sum() == TRIALS
    assert "0 to run" in reader.stdout

    secret = password.encode()
    texts = [created.out, created.err, refused_out, refused_err, reader.stdout, reader.stderr] + [part for output in outputs for part in output]
    assert not [text for text in texts if password in text]
    assert "ghost:***@" in reader.stdout
    assert _files_containing(tmp_path, secret) == [pgpass]  # the one file the test wrote itself
    assert not _files_containing(cache_dir, secret)
    stored = [study.user_attrs] + [t.user_attrs for t in study.get_trials(deepcopy=False)] + [t.system_attrs for t in study.get_trials(deepcopy=False)]
    assert password not in repr(stored)
    # The command a study stores (and shows) is masked too.
    from search.study import command_text

    stored_command = command_text(["run", "--storage", server_url, "--study", name])
    assert password not in stored_command and "ghost:***@" in stored_command


def _trial_of(study: optuna.Study, pid: int) -> Optional[optuna.trial.FrozenTrial]:
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if trial.user_attrs.get("worker", "").endswith(f":{pid}"):
            return trial
    return None


def test_killed_worker_trial_is_failed_retried_and_the_study_completes(server_url, cache_dir, tmp_path, monkeypatch):
    name = f"kill-{uuid.uuid4().hex[:8]}"
    _create_study(server_url, name, TRIALS, tmp_path / "creator", cache_dir, monkeypatch)
    study = _study(server_url, name)
    environment = _environment(cache_dir)
    victim, survivor = (_start(["worker", "--storage", server_url, "--study", name, "--no-progress", "--weights-dir", str(tmp_path / f"w{i}")], environment) for i in range(2))

    # Freeze the victim, look: killed only while it is inside a trial.
    killed = None
    deadline = time.time() + 60
    while killed is None and time.time() < deadline and victim.poll() is None:
        victim.send_signal(signal.SIGSTOP)
        trial = _trial_of(study, victim.pid)
        if trial is not None:
            victim.send_signal(signal.SIGKILL)
            killed = trial
        else:
            victim.send_signal(signal.SIGCONT)
            time.sleep(0.05)
    assert killed is not None, "the victim never ran a trial"
    victim.wait(timeout=30)

    stdout, stderr = survivor.communicate(timeout=120)
    assert survivor.returncode == 0, stdout + stderr

    trials = study.get_trials(deepcopy=False)
    assert trials[killed.number].state == TrialState.FAIL
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == killed.number]
    assert len(retries) == 1, "the stale trial must be retried exactly once"
    retry = retries[0]
    assert retry.state == TrialState.COMPLETE and retry.params == killed.params
    assert retry.user_attrs["worker"].endswith(f":{survivor.pid}")
    assert len(_finished(study)) == TRIALS  # the retry counts; the failed trial does not
    assert not study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING))
    _assert_no_design_trained_twice(study)

    # A later `search run` on the same study neither queues the design again nor runs more.
    again = _search([*RUN, "--trials", str(TRIALS), "--storage", server_url, "--study", name, "--out", str(tmp_path / "again")], environment)
    assert again.returncode == 0 and "0 to run" in again.stdout, again.stdout + again.stderr
    assert len(study.get_trials(deepcopy=False)) == len(trials)


class _Proxy:
    """A TCP relay to the server whose connections can be cut, as a network failure would."""

    def __init__(self, host: str, port: int):
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.refusing = False
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.refusing:
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            with self.lock:
                self.sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self, refuse: bool) -> None:
        """Drop every open connection; with ``refuse``, also turn new ones away."""
        self.refusing = refuse
        with self.lock:
            sockets, self.sockets = self.sockets, []
        for end in sockets:
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            end.close()

    def close(self) -> None:
        self.cut(refuse=True)
        self.listener.close()


def test_dropped_connection_is_retried_then_the_worker_stops_cleanly(server_url, cache_dir, tmp_path, monkeypatch):
    from sqlalchemy.engine import make_url

    parsed = make_url(server_url)
    proxy = _Proxy(parsed.host or "127.0.0.1", parsed.port or 5432)
    via_proxy = parsed.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    password = str(parsed.password or "")
    try:
        name = f"drop-{uuid.uuid4().hex[:8]}"
        _create_study(server_url, name, TRIALS, tmp_path / "creator", cache_dir, monkeypatch)
        study = _study(server_url, name)
        start = len(_finished(study))

        # A short outage: the worker retries, reconnects and finishes the study.
        worker = _start(["worker", "--storage", via_proxy, "--study", name, "--no-progress", "--weights-dir", str(tmp_path / "w")], _environment(cache_dir, GHOSTRNN_STORAGE_RETRY_SECONDS="30"))
        deadline = time.time() + 60
        while len(_finished(study)) < start + 2 and time.time() < deadline:
            time.sleep(0.1)
        proxy.cut(refuse=True)
        time.sleep(2)
        proxy.refusing = False
        stdout, stderr = worker.communicate(timeout=120)
        assert worker.returncode == 0, stdout + stderr
        assert "database connection lost" in stderr and "Traceback" not in stderr, stderr
        assert len(_finished(study)) == TRIALS
        _assert_no_design_trained_twice(study)

        # An outage longer than the retry window: one line, exit 2, no traceback.
        study.set_user_attr("target_trials", 3 * TRIALS)
        worker = _start(["worker", "--storage", via_proxy, "--study", name, "--no-progress", "--weights-dir", str(tmp_path / "w")], _environment(cache_dir, GHOSTRNN_STORAGE_RETRY_SECONDS="3"))
        deadline = time.time() + 60
        while len(_finished(study)) < TRIALS + 2 and time.time() < deadline:
            time.sleep(0.1)
        proxy.cut(refuse=True)
        stdout, stderr = worker.communicate(timeout=60)
        assert worker.returncode == 2, stdout + stderr
        assert "Traceback" not in stderr, stderr
        last = stderr.strip().splitlines()[-1]
        assert last.startswith("search: error: lost the connection to postgresql://") and "this worker stopped" in last, stderr
        assert not password or password not in stdout + stderr
    finally:
        proxy.close()


@pytest.mark.parametrize("when", ["mid", "whole"])
def test_a_worker_killed_while_choosing_its_design_is_retried_only_with_its_whole_design(server_url, tmp_path, monkeypatch, when):
    """SIGKILL between two stored parameters: Optuna's retry would keep the stored half
    and sample the rest anew (another design); the trial must fail without a retry.
    SIGKILL after the whole design: the retry is exactly that design."""
    from search.storage import design_is_stored, open_storage
    from search.study import build_settings
    from search.study._study import open_study
    from search.study._target import fail_stale_trials

    for key, value in SHORT_HEARTBEAT.items():
        monkeypatch.setenv(key, value)
    name = f"choosing-{when}-{uuid.uuid4().hex[:8]}"
    settings, space, _ = build_settings(device="cortex-m7", budget="100KB", space="kws-small")
    study = open_study(settings, name, open_storage(server_url), trials=10, create=True)
    victim = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("kill_while_choosing.py")), server_url, name, when],
        capture_output=True, text=True, timeout=120, env=_environment(Path(tmp_path)),
    )
    assert victim.returncode == -signal.SIGKILL, victim.stdout + victim.stderr

    (killed,) = study.get_trials(deepcopy=False)
    assert killed.state == TrialState.RUNNING
    assert (len(killed.params) == 1) if when == "mid" else (set(killed.params) == set(space.choices))
    assert design_is_stored(killed) == (when == "whole")
    # What every live worker does before each trial and while it waits.
    deadline = time.time() + 30
    while study.get_trials(deepcopy=False)[0].state == TrialState.RUNNING and time.time() < deadline:
        time.sleep(1)
        fail_stale_trials(study)
    trials = study.get_trials(deepcopy=False)
    assert trials[0].state == TrialState.FAIL
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == killed.number]
    if when == "mid":
        assert retries == []  # the next trial is a fresh proposal; half a design is never trained
    else:
        (retry,) = retries
        assert retry.state == TrialState.WAITING and retry.params == killed.params
