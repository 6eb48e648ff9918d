"""The load and chaos suite (`make loadtest`; CI runs it on PostgreSQL + Redis).

Gunicorn, two Celery workers and beat from a virtualenv built from requirements.txt alone,
the fake provider in this process. Each scenario prints its figures and fails on any miss:
no response >= 500 that is not a deliberate 503, no deadlock in PostgreSQL, no job left
unfinished, the ledger exact, one charge and one image row per delivered image, no orphan
file.
"""

from __future__ import annotations

import collections
import itertools
import logging
import random
import re
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.fakes.server import FakeProvider
from tests.load.stack import ROOT, Stack, postgres_log_lines, postgres_log_size, wait_for

logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request drowns the figures

LOAD_SECONDS = 30
CLIENTS = 32


def report(title: str, **figures: Any) -> None:
    print(f"\n[load] {title}: " + ", ".join(f"{k}={v}" for k, v in figures.items()), flush=True)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProvider]:
    with FakeProvider(latency=1.0, record=False) as provider:
        yield provider


@pytest.fixture(scope="module")
def stack(fake: FakeProvider) -> Iterator[Stack]:
    # Logs stay in var/load/ after the run (CI keeps them); each run starts it afresh.
    workdir = ROOT / "var" / "load"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    print(f"\n[load] logs of every process: {workdir}")
    running = Stack(workdir=workdir, provider_env=fake.env())
    log_offset = postgres_log_size()
    deadlocks_before = None
    try:
        running.start()
        deadlocks_before = running.deadlocks()
        yield running
    finally:
        try:
            if deadlocks_before is not None:
                lines, _ = postgres_log_lines(log_offset)
                logged = [line for line in lines if "deadlock detected" in line]
                report("whole run", pg_deadlocks=running.deadlocks() - deadlocks_before, pg_log_deadlock_lines=len(logged))
        finally:
            running.stop()
            for name in ("web", "worker1", "worker2", "worker3", "beat"):
                tracebacks = running.log(name).count("Traceback")
                if tracebacks:
                    print(f"[load] {name} log has {tracebacks} tracebacks; last lines:\n{running.log(name)[-2500:]}")


class Session:
    """One client: an API key, and a signed-in browser session for the studio page."""

    def __init__(self, stack: Stack, creds: dict[str, str]) -> None:
        self.stack = stack
        # Idle connections are dropped before gunicorn's 2 s keep-alive closes them: reusing one
        # the server is closing is a client-side race (a reset), not an answer of the server.
        limits = httpx.Limits(keepalive_expiry=1.0)
        self.api = httpx.Client(
            base_url=stack.url, headers={"Authorization": f"Bearer {creds['key']}"}, timeout=120, limits=limits
        )
        self.web = httpx.Client(base_url=stack.url, timeout=120, follow_redirects=False, limits=limits)
        page = self.web.get("/accounts/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        assert token, "the sign-in page has a CSRF token"
        signed_in = self.web.post(
            "/accounts/login/",
            data={"username": creds["username"], "password": creds["password"], "csrfmiddlewaretoken": token.group(1)},
            headers={"Referer": f"{stack.url}/accounts/login/"},
        )
        assert signed_in.status_code == 302, signed_in.text[:500]

    def close(self) -> None:
        self.api.close()
        self.web.close()

    def v1(self, prompt: str) -> httpx.Response:
        return self.api.post("/v1/images/generations", json={"model": "load-2", "prompt": prompt, "size": "1024x1024"})

    def v2(self, prompt: str, model: str = "load-2") -> httpx.Response:
        return self.api.post(
            "/v2/images/generate",
            json={"model": model, "prompt": prompt},
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )

    def cancel(self, job_id: str) -> httpx.Response:
        return self.api.post(f"/v2/jobs/{job_id}/cancel", headers={"Idempotency-Key": str(uuid.uuid4())})

    def form(self, prompt: str) -> httpx.Response:
        token = self.web.cookies.get("csrftoken")
        if token is None:
            self.web.get("/")
            token = self.web.cookies.get("csrftoken")
        return self.web.post(
            "/",
            data={"model": "load-2", "prompt": prompt, "aspect_ratio": "1:1", "count": "1",
                  "csrfmiddlewaretoken": token or ""},
            headers={"Referer": f"{self.stack.url}/"},
        )

    def gallery(self) -> httpx.Response:
        return self.web.get("/gallery/")


def active_jobs(stack: Stack) -> int:
    return int(stack.query("SELECT count(*) FROM studio_job WHERE status IN ('queued', 'running')")[0][0])


def job_rows(stack: Stack, public_ids: list[str]) -> list[tuple[Any, ...]]:
    return stack.query(
        "SELECT public_id::text, status, attempts, credits_held, credits_charged, hold_state FROM studio_job"
        " WHERE public_id::text = ANY(%s)",
        (public_ids,),
    )


def assert_audit_clean(stack: Stack, title: str) -> dict[str, Any]:
    audit = stack.audit()
    problems = list(audit["ledger_problems"])
    for key in ("terminal_jobs_still_holding", "jobs_charged_more_than_once",
                "jobs_whose_images_do_not_match_the_charge", "failed_jobs_with_images",
                "orphan_file_count", "missing_file_count"):
        if audit.get(key):
            problems.append(f"{key}={audit[key]}")
    report(f"{title} audit", jobs=audit["jobs"], orphan_files=audit["orphan_file_count"], problems=len(problems))
    assert not problems, problems
    return audit


# -- 1. mixed load ------------------------------------------------------------------------------
def test_mixed_load_never_errors_deadlocks_or_loses_credits(stack: Stack, fake: FakeProvider) -> None:
    fake.latency = 1.0
    deadlocks_before = stack.deadlocks()
    log_offset = postgres_log_size()
    designers = stack.credentials["designers"]
    sessions = [Session(stack, designers[i % len(designers)]) for i in range(CLIENTS)]
    statuses: collections.Counter[str] = collections.Counter()
    errors: list[str] = []
    lock = threading.Lock()
    counter = itertools.count()
    deadline = time.monotonic() + LOAD_SECONDS

    def client(session: Session) -> None:
        rng = random.Random(id(session))
        while time.monotonic() < deadline:
            n = next(counter)
            action = rng.choices(["v1", "v2", "cancel", "form", "gallery"], weights=[30, 25, 10, 15, 20])[0]
            try:
                if action == "v1":
                    response = session.v1(f"load v1 {n}")
                elif action == "v2":
                    response = session.v2(f"load v2 {n}")
                elif action == "cancel":
                    submitted = session.v2(f"load cancel {n}")
                    with lock:
                        statuses[f"v2 {submitted.status_code}"] += 1
                    response = session.cancel(submitted.json()["jobId"]) if submitted.status_code == 202 else submitted
                elif action == "form":
                    response = session.form(f"load form {n}")
                else:
                    response = session.gallery()
                with lock:
                    statuses[f"{action} {response.status_code}"] += 1
            except httpx.HTTPError as exc:
                with lock:
                    errors.append(f"{action}: {type(exc).__name__} {exc}")

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        list(pool.map(client, sessions))
    elapsed = time.monotonic() - started
    for session in sessions:
        session.close()
    drained = wait_for(lambda: active_jobs(stack) == 0, timeout=60, interval=1)
    server_errors = {k: v for k, v in statuses.items() if int(k.rsplit(" ", 1)[1]) >= 500}
    lines, _ = postgres_log_lines(log_offset)
    deadlocks = stack.deadlocks() - deadlocks_before
    report("1 mixed load", seconds=f"{elapsed:.1f}", requests=sum(statuses.values()), by_status=dict(sorted(statuses.items())),
           client_errors=len(errors), server_errors=sum(server_errors.values()), pg_deadlocks=deadlocks,
           pg_log_deadlock_lines=sum("deadlock detected" in line for line in lines), unfinished_60s_after=active_jobs(stack))
    assert not errors, errors[:5]
    assert not server_errors, server_errors
    assert deadlocks == 0
    assert drained, f"{active_jobs(stack)} jobs still queued or running 60 s after the load stopped"
    assert_audit_clean(stack, "1 mixed load")


# -- 2. a worker killed mid-job ----------------------------------------------------------------
def test_a_killed_worker_s_jobs_are_run_again_and_charged_once(stack: Stack, fake: FakeProvider) -> None:
    fake.latency = 3.0
    session = Session(stack, stack.credentials["designers"][0])
    with ThreadPoolExecutor(max_workers=20) as pool:  # at once, so all 20 are mid-call together
        ids = list(pool.map(lambda i: session.v2(f"survive the crash {i}").json()["jobId"], range(20)))
    running = wait_for(lambda: sum(row[1] == "running" for row in job_rows(stack, ids)) == 20, timeout=30, interval=0.1)
    time.sleep(0.5)  # mid-call: the fake answers after 3 s
    killed_at = time.monotonic()
    stack.kill("worker1")
    stack.start_worker("worker3")
    done = wait_for(lambda: all(row[1] == "succeeded" for row in job_rows(stack, ids)), timeout=90, interval=0.5)
    took = time.monotonic() - killed_at
    rows = job_rows(stack, ids)
    rerun = sum(row[2] > 1 for row in rows)
    report("2 kill -9 a worker", all_20_running_at_kill=running, succeeded=f"{sum(r[1] == 'succeeded' for r in rows)}/20", run_again=rerun,
           seconds_after_kill=f"{took:.1f}", charged=sum(r[4] for r in rows), held=sum(r[3] for r in rows))
    session.close()
    assert done, rows
    assert rerun > 0, "the killed worker held some of the 20 jobs"
    assert all(r[3] == r[4] for r in rows)  # charged exactly what was held: once
    assert_audit_clean(stack, "2 kill -9")
    fake.latency = 1.0


# -- 3. a provider outage of 30 s -------------------------------------------------------------
def test_a_30_second_provider_outage_fails_no_job(stack: Stack, fake: FakeProvider) -> None:
    fake.latency = 0.2
    fake.fail("openai", 503, times=1_000_000)
    outage_started = time.monotonic()
    session = Session(stack, stack.credentials["designers"][1])
    ids = [session.v2(f"outlast the outage {i}").json()["jobId"] for i in range(10)]
    time.sleep(max(0.0, 30 - (time.monotonic() - outage_started)))
    fake.clear_faults()
    done = wait_for(lambda: all(row[1] in ("succeeded", "failed") for row in job_rows(stack, ids)), timeout=120, interval=0.5)
    rows = job_rows(stack, ids)
    report("3 provider 503 for 30 s", succeeded=f"{sum(r[1] == 'succeeded' for r in rows)}/10",
           attempts=sorted(r[2] for r in rows), seconds=f"{time.monotonic() - outage_started:.1f}")
    session.close()
    assert done and all(r[1] == "succeeded" for r in rows), rows
    assert all(r[3] == r[4] == 2 for r in rows)
    assert_audit_clean(stack, "3 outage")
    fake.latency = 1.0


# -- 4. Redis down for 10 s -----------------------------------------------------------------------
def test_redis_down_for_10_seconds_loses_no_job(stack: Stack, fake: FakeProvider) -> None:
    fake.latency = 0.5
    session = Session(stack, stack.credentials["designers"][2])
    outcomes: list[tuple[str, int, str | None]] = []
    stop = threading.Event()

    def submitter() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            try:
                if n % 2:
                    response = session.v2(f"through the outage {n}")
                    job = response.json().get("jobId") if response.status_code == 202 else None
                    outcomes.append(("v2", response.status_code, job))
                else:
                    response = session.form(f"through the outage {n}")
                    outcomes.append(("form", response.status_code, None))
            except httpx.HTTPError as exc:
                outcomes.append((f"error {type(exc).__name__}", 0, None))
            time.sleep(0.25)

    thread = threading.Thread(target=submitter)
    thread.start()
    time.sleep(5)
    stack.stop_redis()
    time.sleep(10)
    stack.start_redis()
    time.sleep(5)
    stop.set()
    thread.join(timeout=150)
    drained = wait_for(lambda: active_jobs(stack) == 0, timeout=90, interval=1)
    accepted = [job for kind, status, job in outcomes if kind == "v2" and status == 202 and job]
    rows = job_rows(stack, accepted)
    by_outcome = collections.Counter(f"{kind} {status}" for kind, status, _ in outcomes)
    report("4 Redis down 10 s", by_status=dict(sorted(by_outcome.items())),
           accepted_succeeded=f"{sum(r[1] == 'succeeded' for r in rows)}/{len(accepted)}",
           unfinished=active_jobs(stack))
    session.close()
    bad = {k: v for k, v in by_outcome.items() if k.startswith("error") or (k.split()[-1] >= "500" and not k.endswith("503"))}
    assert not bad, by_outcome
    assert drained
    assert all(r[1] == "succeeded" for r in rows), rows
    # Every form submit that said "submitted" (302) ran too: no job of this member is left failed
    # for the outage except those the API refused with a 503 (their hold already returned).
    assert_audit_clean(stack, "4 Redis outage")


# -- 5. the exact balance under 30 concurrent submits ---------------------------------------------
def test_thirty_concurrent_submits_against_exactly_five_jobs_of_credit(stack: Stack, fake: FakeProvider) -> None:
    fake.latency = 0.5
    creds = stack.credentials["exact"]
    sessions = [Session(stack, creds) for _ in range(30)]
    barrier = threading.Barrier(30)

    def submit(session: Session) -> int:
        barrier.wait(timeout=30)
        return session.v2("exactly five", model="load-20").status_code

    with ThreadPoolExecutor(max_workers=30) as pool:
        codes = collections.Counter(pool.map(submit, sessions))
    for session in sessions:
        session.close()
    wait_for(lambda: active_jobs(stack) == 0, timeout=60, interval=0.5)
    balance = stack.query(
        "SELECT a.balance FROM studio_account a JOIN studio_user u ON u.id = a.user_id WHERE u.username = %s",
        (creds["username"],),
    )[0][0]
    jobs = stack.query(
        "SELECT count(*), coalesce(sum(credits_charged), 0) FROM studio_job j JOIN studio_user u ON u.id = j.user_id"
        " WHERE u.username = %s", (creds["username"],),
    )[0]
    report("5 thirty submits, credit for five", by_status=dict(codes), jobs=jobs[0], charged=jobs[1], balance_after=balance)
    assert codes == {202: 5, 402: 25}
    assert jobs[0] == 5 and jobs[1] == 100 and balance == 0
    assert_audit_clean(stack, "5 exact balance")
