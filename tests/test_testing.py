"""jobsim.testing: the throwaway redis-server plugins' live tests share."""

from __future__ import annotations

import os
import shutil
import socket
import sys

import pytest

from jobsim import JobsimError, testing
from jobsim.testing import ServerUnavailable, _answers_ping, _server_pid, redis_server, worker_process

needs_redis = pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs Debian's redis-server")


@needs_redis
def test_the_server_answers_on_loopback_and_is_gone_with_its_folder_afterwards():
    with redis_server() as url:
        assert url.startswith("redis://127.0.0.1:") and url.endswith("/0")
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        assert _answers_ping(port)
        with socket.create_connection(("127.0.0.1", port)) as conn:  # a real server: it stores what it is given
            conn.sendall(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n")
            answer = b""
            while not answer.endswith(b"v\r\n"):
                answer += conn.recv(64)
        assert answer == b"+OK\r\n$1\r\nv\r\n"
        folders = [f for f in os.listdir(os.path.dirname(os.path.realpath(__file__))) if f.startswith("jobsim-redis-")]
        assert folders == []  # its folder is a temporary one, not next to the tests
    assert not _answers_ping(port)


def _port(url):
    return int(url.rsplit(":", 1)[1].split("/")[0])


@needs_redis
def test_a_port_another_redis_took_before_the_server_started_is_not_shared(monkeypatch):
    # the probe's port, closed again, was taken by another xdist worker's server before this one bound it: this one
    # exited, but the other answered PING, so two test processes shared (and flushed) one Redis
    with redis_server() as first:
        free = testing._free_port
        picks = iter([_port(first)])
        monkeypatch.setattr(testing, "_free_port", lambda: next(picks, None) or free())
        with redis_server() as second:
            assert _port(second) != _port(first)
            assert None is not _server_pid(_port(second)) != _server_pid(_port(first))
        assert _answers_ping(_port(first))  # the other one's server is left alone


@needs_redis
def test_a_port_something_else_listens_on_is_given_up_for_another(monkeypatch):
    with socket.socket() as mute:  # took the port between the probe and the server's start; never answers
        mute.bind(("127.0.0.1", 0))
        mute.listen()
        free = testing._free_port
        picks = iter([mute.getsockname()[1]])
        monkeypatch.setattr(testing, "_free_port", lambda: next(picks, None) or free())
        with redis_server() as url:
            assert _port(url) != mute.getsockname()[1] and _answers_ping(_port(url))


@needs_redis
def test_a_server_that_never_gets_a_port_is_unavailable_after_a_few_tries(monkeypatch):
    with socket.socket() as mute:
        mute.bind(("127.0.0.1", 0))
        mute.listen()
        port = mute.getsockname()[1]
        tried = []
        monkeypatch.setattr(testing, "_free_port", lambda: tried.append(port) or port)
        message = rf"^redis-server did not start on port {port} \(exit code \d+\)$"
        with pytest.raises(ServerUnavailable, match=message), redis_server():
            pass
    assert len(tried) == testing._PORT_ATTEMPTS


def test_a_machine_without_redis_server_is_told_how_to_get_it(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    message = r"^redis-server is not on PATH \(apt-get install -y redis-server\)$"
    with pytest.raises(ServerUnavailable, match=message), redis_server():
        pass
    assert issubclass(ServerUnavailable, JobsimError)



def test_a_worker_process_is_yielded_once_ready_and_stopped_by_pid_afterwards():
    script = "import time; print('booting', flush=True); print('worker ready', flush=True); time.sleep(60)"
    with worker_process([sys.executable, "-c", script], ready="worker ready") as worker:
        assert worker.proc.poll() is None and worker.output == "booting\nworker ready\n"
        worker.check()  # still running: nothing to say
    assert worker.proc.returncode is not None  # terminated and reaped


def test_a_worker_that_exits_before_it_is_ready_is_reported_with_its_output():
    script = "import sys; print('bad config', flush=True); sys.exit(3)"
    message = r"^the worker exited early \(code 3\):\nbad config\n$"
    with pytest.raises(JobsimError, match=message), worker_process([sys.executable, "-c", script], ready="ready"):
        pass


def test_a_silent_worker_times_out_with_what_it_printed():
    # the line must be printed before the timeout: a Python's start to its first line took 0.13-0.19 s at load 8.7
    # on 2 cores, which 0.5 s left 2.6x room for; 2 s leaves 10x
    script = "import time; print('still booting', flush=True); time.sleep(60)"
    message = r"^the worker printed no 'ready' in 2 s:\nstill booting\n$"
    with pytest.raises(JobsimError, match=message), worker_process([sys.executable, "-c", script], ready="ready",
                                                                   start_timeout=2):  # fmt: skip
        pass


@pytest.mark.parametrize(("options", "message"), [
    ({"argv": "python worker.py"},
     r"^argv='python worker.py' is not valid: the worker's command as a non-empty list of str, e.g. \[sys.executable, "
     r"'-m', 'celery', '-A', 'tasks', 'worker'\] \(not one string\)$"),
    ({"argv": []}, r"^argv=\[\] is not valid: the worker's command as a non-empty list of str"),
    ({"argv": [sys.executable, 3]}, r"^argv=\[.*, 3\] is not valid: the worker's command as a non-empty list of str"),
    ({"ready": ""}, r"^ready='' is not valid: a non-empty str the worker prints once it is ready, e.g. 'ready'$"),
    ({"ready": b"ready"}, r"^ready=b'ready' is not valid: a non-empty str the worker prints"),
    ({"start_timeout": float("nan")}, r"^start_timeout=nan is not valid: a finite number of seconds greater than 0$"),
    ({"start_timeout": "30"}, r"^start_timeout='30' is not valid: a finite number of seconds greater than 0$"),
    ({"start_timeout": 0}, r"^start_timeout=0 is not valid: a finite number of seconds greater than 0$"),
])  # fmt: skip
def test_a_worker_process_with_bad_arguments_is_refused_before_it_starts(monkeypatch, options, message):
    # a str argv was split into characters (FileNotFoundError: 'p'), a bytes ready= died in the reader thread and
    # the wait timed out saying the worker printed nothing, and start_timeout=nan waited for ever
    import subprocess

    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: pytest.fail("started"))
    given = {"argv": [sys.executable, "-c", "print('ready')"], "ready": "ready", **options}
    with pytest.raises(JobsimError, match=message), worker_process(given.pop("argv"), **given):
        pass


@pytest.mark.parametrize("start_timeout", [float("nan"), float("inf"), -1, "10", None])
def test_redis_server_refuses_a_start_timeout_that_is_not_a_finite_number_of_seconds(monkeypatch, start_timeout):
    monkeypatch.setattr(shutil, "which", lambda name: pytest.fail("looked for redis-server"))
    message = r"^start_timeout=.* is not valid: a finite number of seconds greater than 0$"
    with pytest.raises(JobsimError, match=message), redis_server(start_timeout=start_timeout):
        pass


def test_socket_connects_lists_each_attempt_in_order_and_lets_it_go_ahead():
    from jobsim.testing import socket_connects

    real = socket.socket.connect
    with socket.create_server(("127.0.0.1", 0)) as server, socket_connects() as tried:
        port = server.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)):  # reached: the spy hands the attempt on
            pass
        refused = socket.socket()
        with refused, pytest.raises(OSError):
            refused.connect(("127.0.0.1", 1))
    assert tried == [("127.0.0.1", port), ("127.0.0.1", 1)]
    assert socket.socket.connect is real  # restored


def test_check_fault_kinds_refuses_a_declared_kind_the_simulation_refuses(monkeypatch):
    import jobsim
    from jobsim.testing import accepted_fault_kinds, check_fault_kinds

    app = jobsim.App("faults")
    app.function("tick", cron="* * * * *")(lambda ctx: "ok")
    assert accepted_fault_kinds(lambda: jobsim.Simulation(app), "tick") == ("fail", "crash", "downtime", "duplicate")
    check_fault_kinds(lambda: jobsim.Simulation(app, profile="node-cron"), "tick")  # declares fewer: allowed

    def refused(self, *args, **kwargs):
        raise jobsim.UnsupportedFeature("sim.downtime() is not simulated here")

    monkeypatch.setattr(jobsim.Simulation, "downtime", refused)
    assert accepted_fault_kinds(lambda: jobsim.Simulation(app), "tick") == ("fail", "crash", "duplicate")
    with pytest.raises(AssertionError, match=r"^profile 'inngest' declares fault kind\(s\) 'downtime', which a "
                       r"simulation of 'tick' refuses \(it accepts \('fail', 'crash', 'duplicate'\)\): declare "
                       r"Profile\(fault_kinds=\('fail', 'crash', 'duplicate'\)\)$"):
        check_fault_kinds(lambda: jobsim.Simulation(app, profile="inngest"), "tick")
