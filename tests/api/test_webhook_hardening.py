"""Webhooks under a hostile or broken receiver: secret rotation with an overlap window,
slow receivers (slowloris), huge answers, and one failing endpoint not costing the others.

"Public" hosts are a stub resolver's answer; the real deadline-bound transport runs and
only its sockets are redirected (a `network` backend) to raw servers on 127.0.0.1.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import httpcore
import httpx
import pytest
from django.test import Client
from django.utils import timezone
from standardwebhooks import Webhook, WebhookVerificationError

from studio.api.models import ApiKey, DeliveryStatus, WebhookDelivery
from studio.api.webhooks import ssrf
from studio.api.webhooks.delivery import BREAKER_FAILURES, deliver_webhook
from studio.api.webhooks.ssrf import WebhookSender
from studio.models import Job

pytestmark = pytest.mark.django_db

PUBLIC_IP = "93.184.216.34"


# -- raw local servers ----------------------------------------------------------------------
Behaviour = Callable[[socket.socket], None]


@pytest.fixture
def raw_server() -> Iterator[Callable[[Behaviour], int]]:
    """Start a TCP server on 127.0.0.1 that runs `behaviour(conn)` per connection; return its port."""
    stops: list[threading.Event] = []
    sockets: list[socket.socket] = []

    def start(behaviour: Behaviour) -> int:
        listener = socket.create_server(("127.0.0.1", 0))
        listener.settimeout(0.1)
        stop = threading.Event()

        def serve() -> None:
            while not stop.is_set():
                try:
                    conn, _ = listener.accept()
                except TimeoutError:
                    continue
                except OSError:
                    return
                threading.Thread(target=_run, args=(behaviour, conn), daemon=True).start()

        threading.Thread(target=serve, daemon=True).start()
        stops.append(stop)
        sockets.append(listener)
        return listener.getsockname()[1]

    yield start
    for stop in stops:
        stop.set()
    for listener in sockets:
        listener.close()


def _run(behaviour: Behaviour, conn: socket.socket) -> None:
    try:
        _read_request(conn)
        behaviour(conn)
    except OSError:
        pass  # the sender hung up on us, as it should
    finally:
        conn.close()


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")), 0)
    while len(body) < length:
        body += conn.recv(65536)
    return data


class LocalNetwork(httpcore.SyncBackend):
    """Plays the network: every connection, whatever address it is for, lands on `port`."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.connects: list[str] = []

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Any = None) -> httpcore.NetworkStream:
        self.connects.append(host)
        return super().connect_tcp("127.0.0.1", self.port, timeout=timeout)


def sender_to(port: int, *, total_timeout: float = 1.0) -> WebhookSender:
    return WebhookSender(resolver=lambda host, port_: [PUBLIC_IP], network=LocalNetwork(port), total_timeout=total_timeout)


def trickle_headers(conn: socket.socket) -> None:
    # Every byte arrives well inside any per-read timeout; the whole never ends.
    conn.sendall(b"HTTP/1.1 200 OK\r\n")
    for _ in range(200):
        conn.sendall(b"X-Slow: a\r\n")
        time.sleep(0.2)


def trickle_body(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n")
    for _ in range(200):
        conn.sendall(b"x")
        time.sleep(0.2)


def huge_body(sent: list[int]) -> Behaviour:
    def behave(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\n\r\n")
        chunk = b"x" * 65536
        for _ in range(16384):  # 1 GiB if anyone kept reading
            conn.sendall(chunk)
            sent[0] += len(chunk)

    return behave


def answer(status: int) -> Behaviour:
    def behave(conn: socket.socket) -> None:
        conn.sendall(f"HTTP/1.1 {status} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok".encode())

    return behave


# -- slow and huge receivers ------------------------------------------------------------------
@pytest.mark.parametrize("behaviour", [trickle_headers, trickle_body], ids=["slow headers", "slow body"])
def test_a_slowloris_receiver_is_cut_off_at_the_total_deadline(raw_server, behaviour):
    sender = sender_to(raw_server(behaviour), total_timeout=1.0)
    started = time.monotonic()
    outcome = sender.send(url="http://hooks.example.com/h", headers={}, body=b"{}")
    elapsed = time.monotonic() - started
    assert elapsed < 1.6, f"a trickling receiver held the sender {elapsed:.1f} s"
    if behaviour is trickle_headers:
        assert outcome == ssrf.Outcome(error="timed out")
    else:
        # It answered 200 in time; its endless body is cut off at the deadline, not waited for.
        assert outcome.ok and outcome.status_code == 200


def test_a_huge_answer_is_read_no_further_than_the_cap(raw_server):
    sent = [0]
    sender = sender_to(raw_server(huge_body(sent)), total_timeout=5.0)
    started = time.monotonic()
    outcome = sender.send(url="http://hooks.example.com/h", headers={}, body=b"{}")
    assert outcome.ok and outcome.status_code == 200
    assert time.monotonic() - started < 2.0
    time.sleep(0.2)
    # We stop after 64 KiB; the rest is the kernel's socket buffers, nowhere near the gigabyte.
    assert sent[0] < 16 * 1024 * 1024


def test_production_sender_uses_the_deadline_transport(raw_server):
    # The default sender (no injected transport) is the one bound by the deadline.
    network = LocalNetwork(raw_server(trickle_headers))
    sender = WebhookSender(resolver=lambda host, port: [PUBLIC_IP], network=network, total_timeout=0.5)
    started = time.monotonic()
    assert sender.send(url="http://hooks.example.com/h", headers={}, body=b"{}").error == "timed out"
    assert time.monotonic() - started < 1.0
    assert network.connects == [PUBLIC_IP]


# -- secret rotation ------------------------------------------------------------------------
class Capture(httpx.BaseTransport):
    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        return httpx.Response(204)


def make_delivery(job: Job, key: ApiKey, url: str = "https://hooks.example.com/h", n: int = 0) -> WebhookDelivery:
    return WebhookDelivery.objects.create(
        job=job, api_key=key, url=url, event="progress", event_type="job.progress", webhook_id=f"msg_{url[-1]}{n}",
        payload='{"type":"job.progress"}', next_attempt_at=timezone.now(),
    )


@pytest.fixture
def job(api: Client, gpt_model: Any, django_capture_on_commit_callbacks: Any) -> Job:
    with django_capture_on_commit_callbacks():  # leave it queued
        response = api.post("/v2/images/generate", {"model": "gpt-image-test", "prompt": "x"}, content_type="application/json")
    return Job.objects.get(public_id=response.json()["jobId"])


def test_a_rotated_secret_signs_beside_the_new_one_until_the_window_ends(key_pair, job, designer_client):
    key = key_pair[0]
    old_secret = key.webhook_secret
    response = designer_client.post(f"/settings/api-keys/{key.pk}/rotate-secret/")
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.webhook_secret != old_secret and key.previous_webhook_secret == old_secret

    capture = Capture()
    sender = WebhookSender(resolver=lambda host, port: [PUBLIC_IP], transport=capture)
    deliver_webhook(delivery_id=make_delivery(job, key).pk, sender=sender)
    request = capture.requests[0]
    headers = dict(request.headers)
    assert len(headers["webhook-signature"].split(" ")) == 2
    # A receiver on either secret accepts it (the standardwebhooks library takes any listed signature).
    for secret in (old_secret, key.webhook_secret):
        assert Webhook(secret).verify(request.content, headers) == {"type": "job.progress"}

    # Past the overlap only the new secret signs.
    later = timezone.now() + timedelta(hours=25)
    deliver_webhook(delivery_id=make_delivery(job, key, n=1).pk, sender=sender, now=later)
    headers = dict(capture.requests[1].headers)
    assert len(headers["webhook-signature"].split(" ")) == 1
    with pytest.raises(WebhookVerificationError):
        Webhook(old_secret).verify(capture.requests[1].content, headers)


def test_only_the_keys_owner_can_rotate_its_secret(key_pair, make_member):
    key = key_pair[0]
    admin = make_member("boss", role="admin")
    client = Client()
    client.force_login(admin.user)
    client.post(f"/settings/api-keys/{key.pk}/rotate-secret/")
    assert ApiKey.objects.get(pk=key.pk).webhook_secret == key.webhook_secret


# -- one endpoint's failures ------------------------------------------------------------------
def test_a_failing_endpoint_does_not_delay_the_others(raw_server, key_pair, job, monkeypatch):
    key = key_pair[0]
    dead_port, good_port = raw_server(trickle_headers), raw_server(answer(204))
    ports = {"dead.example.com": dead_port, "good.example.com": good_port}

    def sender_for_url(url: str) -> WebhookSender:
        host = httpx.URL(url).host
        return sender_to(ports[host], total_timeout=0.5)

    dead = [make_delivery(job, key, url="http://dead.example.com/a", n=i) for i in range(BREAKER_FAILURES + 3)]
    good = make_delivery(job, key, url="http://good.example.com/b")
    timings = []
    for delivery in [*dead, good]:
        started = time.monotonic()
        deliver_webhook(delivery_id=delivery.pk, sender=sender_for_url(delivery.url))
        timings.append(time.monotonic() - started)

    # The first attempts each cost the deadline; after that the dead endpoint costs nothing.
    assert all(t >= 0.45 for t in timings[:BREAKER_FAILURES])
    assert all(t < 0.2 for t in timings[BREAKER_FAILURES:]), timings
    good.refresh_from_db()
    assert good.status == DeliveryStatus.SUCCEEDED and good.attempts == 1
    deferred = WebhookDelivery.objects.filter(pk__in=[d.pk for d in dead[BREAKER_FAILURES:]])
    assert all(d.attempts == 0 and d.status == DeliveryStatus.PENDING for d in deferred)
    assert all(d.next_attempt_at > timezone.now() for d in deferred)

    # After the cool-off one probe goes; when it succeeds the rest flow again.
    ports["dead.example.com"] = good_port
    later = timezone.now() + timedelta(minutes=2)
    for delivery in deferred:
        deliver_webhook(delivery_id=delivery.pk, sender=sender_for_url(delivery.url), now=later)
    assert set(WebhookDelivery.objects.filter(pk__in=[d.pk for d in deferred]).values_list("status", flat=True)) == {
        DeliveryStatus.SUCCEEDED
    }


def test_the_default_sender_is_deadline_bound():
    assert ssrf.get_sender().transport is None  # so deadline_transport is built per attempt
