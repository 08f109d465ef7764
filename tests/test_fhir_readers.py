"""The reader threads of FHIR reads (cds_service/fhir/readers.py): kept between calls, bounded, ended
when idle, fresh after a fork; and the deadline watchdog still wakes for an earlier deadline."""
from __future__ import annotations

import os
import socket
import threading
import time

from cds_service.fhir.readers import Readers, readers
from cds_service.fhir.watchdog import _watchdog

WITHIN_S = 10.0  # bound on waiting for a thread to get somewhere (returns as soon as it does)


def until(condition) -> bool:
    end = time.monotonic() + WITHIN_S
    while not condition() and time.monotonic() < end:
        time.sleep(0.01)
    return condition()


def run_together(pool: Readers, count: int) -> set[threading.Thread]:
    """Run ``count`` tasks that all wait for each other (so each has its own thread); their threads."""
    together, finished, threads = threading.Barrier(count), threading.Semaphore(0), set()

    def task():
        together.wait(WITHIN_S)
        threads.add(threading.current_thread())
        finished.release()

    for _ in range(count):
        pool.start(task)
    for _ in range(count):
        assert finished.acquire(timeout=WITHIN_S)
    return threads


def test_the_threads_of_one_call_serve_the_next():
    pool = Readers(limit=8, idle_s=60)
    first = run_together(pool, 4)
    assert until(lambda: pool._waiting == 4)
    assert run_together(pool, 4) == first
    assert pool._threads == 4


def test_at_most_limit_threads_run_and_the_rest_wait_their_turn():
    pool = Readers(limit=2, idle_s=60)
    release, running, done, threads = threading.Event(), threading.Semaphore(0), threading.Semaphore(0), set()

    def task():
        threads.add(threading.current_thread())
        running.release()
        release.wait(WITHIN_S)
        done.release()

    for _ in range(5):
        pool.start(task)
    assert running.acquire(timeout=WITHIN_S) and running.acquire(timeout=WITHIN_S)
    assert not running.acquire(timeout=0.2)  # the third waits for a thread
    release.set()
    assert all(done.acquire(timeout=WITHIN_S) for _ in range(5))
    assert len(threads) == 2 and pool._threads == 2


def test_idle_threads_end():
    pool = Readers(limit=4, idle_s=0.05)
    threads = run_together(pool, 3)
    assert until(lambda: pool._threads == 0)
    assert until(lambda: not any(thread.is_alive() for thread in threads))
    assert len(run_together(pool, 2)) == 2  # and new ones start when work comes again


def test_a_forked_process_starts_its_own_threads():
    run_together(readers(), 2)  # this process has reader threads, idle
    child = os.fork()
    if child == 0:  # the child has the parent's Readers object but none of its threads
        ran = threading.Event()
        readers().start(ran.set)
        os._exit(0 if ran.wait(WITHIN_S) else 1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_the_watchdog_wakes_for_a_deadline_sooner_than_the_one_it_sleeps_until():
    pairs = [socket.socketpair() for _ in range(3)]
    (late, late_peer), (now, _), (soon, _) = pairs
    tokens = []
    try:
        for sock, seconds in ((late, 3600), (now, 0), (soon, 0.05)):
            tokens.append(_watchdog.arm(sock, seconds))
            if sock is not late:  # shut down at its deadline, not when the watchdog next looks (in an hour)
                sock.settimeout(WITHIN_S)
                assert sock.recv(1) == b""
        late_peer.send(b"x")
        assert late.recv(1) == b"x"  # the late one is still armed and open
    finally:
        for token in tokens:
            _watchdog.disarm(token)
        for pair in pairs:
            for sock in pair:
                sock.close()
