"""Webhooks: Standard Webhooks signatures, SSRF refusals, pinned delivery, retries.

Nothing here leaves the machine: refused targets are refused before any connection
(a guard transport fails the test if one is attempted), and "public" hosts are a stub
resolver's answer whose connection an injected transport pins to a server on 127.0.0.1.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
from django.test import Client
from django.utils import timezone
from standardwebhooks import Webhook, WebhookVerificationError

from studio.api import webhooks
from studio.api.models import DeliveryStatus, JobWebhook, WebhookDelivery
from studio.api.webhooks import (
    MAX_ATTEMPTS,
    Outcome,
    UnsafeTarget,
    WebhookSender,
    check_webhook_url,
    deliver_webhook,
    is_public_address,
    signed_headers,
    ssrf,
)
from studio.models import Job

pytestmark = pytest.mark.django_db

PUBLIC_IP = "93.184.216.34"


# -- a local receiver ----------------------------------------------------------------------
@dataclass
class Receiver:
    port: int
    requests: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"


@pytest.fixture
def receiver_factory() -> Iterator[Callable[[], Receiver]]:
    servers: list[http.server.ThreadingHTTPServer] = []

    def start() -> Receiver:
        box: dict[str, Receiver] = {}

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                box["r"].requests.append(
                    {
                        "path": self.path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": self.rfile.read(length),
                    }
                )
                self.send_response(box["r"].status)
                for name, value in box["r"].headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                return

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        servers.append(server)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        box["r"] = Receiver(port=server.server_address[1])
        return box["r"]

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


class PinnedToLocal(httpx.BaseTransport):
    """Plays the network for a 'public' address: records where the sender connected, then
    carries the request to a local receiver."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.seen: list[tuple[str, str]] = []
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append((request.url.host, request.headers["host"]))
        request.url = request.url.copy_with(scheme="http", host="127.0.0.1", port=self.port)
        return self.inner.handle_request(request)


class NoNetwork(httpx.BaseTransport):
    def __init__(self) -> None:
        self.calls = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        raise AssertionError(f"a refused target was contacted: {request.url}")


def resolver_to(*addresses: str) -> Callable[[str, int], list[str]]:
    return lambda host, port: list(addresses)


@pytest.fixture(autouse=True)
def _public_dns_and_no_network(monkeypatch) -> None:
    """Registration resolves hooks.example.com to a public address; nothing is sent unless a
    test installs a receiver."""
    monkeypatch.setattr(ssrf, "get_sender", lambda: WebhookSender(resolver=resolver_to(PUBLIC_IP), transport=NoNetwork()))


# -- signing ------------------------------------------------------------------------------------
def test_w6_signatures_verify_with_the_standardwebhooks_library(key_pair):
    key, _ = key_pair
    assert key.webhook_secret.startswith("whsec_")
    assert len(webhooks.secret_bytes(key.webhook_secret)) >= 24
    body = b'{"type":"job.completed","data":{"jobId":"x"}}'
    headers = signed_headers(secret=key.webhook_secret, webhook_id="msg_1", body=body)
    verifier = Webhook(key.webhook_secret)
    assert verifier.verify(body, headers) == json.loads(body)
    for tampered in (
        {**headers, "webhook-id": "msg_2"},
        {**headers, "webhook-timestamp": str(int(headers["webhook-timestamp"]) + 1)},
    ):
        with pytest.raises(WebhookVerificationError):
            verifier.verify(body, tampered)
    with pytest.raises(WebhookVerificationError):
        verifier.verify(body.replace(b"x", b"y"), headers)


def test_every_key_has_its_own_secret(make_key, designer):
    first, _ = make_key(designer, "a")
    second, _ = make_key(designer, "b")
    assert first.webhook_secret != second.webhook_secret


# -- SSRF -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1", "127.1.2.3", "10.0.0.1", "172.16.5.4", "192.168.1.1", "100.64.0.1", "169.254.169.254",
        "0.0.0.0", "224.0.0.1", "255.255.255.255", "198.18.0.1", "::1", "::", "fe80::1", "fd00::1",
        "fd00:ec2::254", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "2002:7f00:1::1", "64:ff9b::a00:1", "not-an-ip",
    ],
)
def test_non_public_addresses_are_refused(address):
    assert not is_public_address(address)


@pytest.mark.parametrize("address", [PUBLIC_IP, "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_are_accepted(address):
    assert is_public_address(address)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://10.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://localhost/hook",
        "ftp://example.com/hook",
        "file:///etc/passwd",
        "http://user:pass@example.com/hook",
        "http:///nohost",
        "http://example.com:99999/",
    ],
)
def test_w1_refused_urls_never_reach_the_network(url, monkeypatch):
    monkeypatch.setattr("socket.getaddrinfo", lambda *a, **k: [(2, 1, 6, "", ("127.0.0.1", 80))])
    guard = NoNetwork()
    outcome = WebhookSender(transport=guard).send(url=url, headers={}, body=b"{}")
    assert outcome.refused and not outcome.ok
    assert guard.calls == 0
    with pytest.raises(UnsafeTarget):
        check_webhook_url(url, resolver=webhooks.system_resolver)


def test_a_real_loopback_listener_gets_nothing(receiver_factory):
    receiver = receiver_factory()
    outcome = WebhookSender().send(url=receiver.url, headers={}, body=b"{}")
    assert outcome.refused
    assert receiver.requests == []


def test_a_name_resolving_to_loopback_is_refused(monkeypatch):
    # The system resolver path: socket.getaddrinfo says loopback.
    monkeypatch.setattr("socket.getaddrinfo", lambda *a, **k: [(2, 1, 6, "", ("127.0.0.1", 443))])
    guard = NoNetwork()
    outcome = WebhookSender(transport=guard).send(url="https://hooks.example.com/x", headers={}, body=b"{}")
    assert outcome.refused and "non-public" in outcome.error
    assert guard.calls == 0


def test_mixed_public_and_private_answers_are_refused():
    guard = NoNetwork()
    sender = WebhookSender(resolver=resolver_to(PUBLIC_IP, "10.0.0.1"), transport=guard)
    assert sender.send(url="https://hooks.example.com/x", headers={}, body=b"{}").refused
    assert guard.calls == 0


def test_delivery_connects_to_the_checked_address_with_the_name_in_host_and_sni(receiver_factory):
    receiver = receiver_factory()
    transport = PinnedToLocal(receiver.port)
    sender = WebhookSender(resolver=resolver_to(PUBLIC_IP), transport=transport)
    outcome = sender.send(url="http://hooks.example.com/path?x=1", headers={"webhook-id": "msg_1"}, body=b"{}")
    assert outcome.ok and outcome.status_code == 200
    assert transport.seen == [(PUBLIC_IP, "hooks.example.com")]
    assert receiver.requests[0]["path"] == "/path?x=1"
    assert receiver.requests[0]["headers"]["host"] == "hooks.example.com"


def test_w2_dns_rebinding_cannot_move_the_connection(receiver_factory):
    # First answer public (checked), any later answer loopback: the connection must use the first.
    answers = iter([[PUBLIC_IP], ["127.0.0.1"], ["127.0.0.1"]])
    receiver = receiver_factory()
    transport = PinnedToLocal(receiver.port)
    sender = WebhookSender(resolver=lambda host, port: next(answers), transport=transport)
    assert sender.send(url="http://rebind.example.com/", headers={}, body=b"{}").ok
    assert [host for host, _ in transport.seen] == [PUBLIC_IP]


def test_https_sends_the_name_as_sni():
    captured: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        captured.append(request)
        return httpx.Response(204)

    sender = WebhookSender(resolver=resolver_to(PUBLIC_IP), transport=httpx.MockTransport(handler))
    assert sender.send(url="https://hooks.example.com/h", headers={}, body=b"{}").ok
    assert captured[0].url.host == PUBLIC_IP and captured[0].url.scheme == "https"
    assert captured[0].extensions["sni_hostname"] == "hooks.example.com"
    assert captured[0].headers["host"] == "hooks.example.com"


def test_w3_a_redirect_to_loopback_is_not_followed(receiver_factory):
    target = receiver_factory()  # the loopback address the redirect points at
    public = receiver_factory()  # plays the public host
    public.status = 302
    public.headers = {"Location": target.url}
    sender = WebhookSender(resolver=resolver_to(PUBLIC_IP), transport=PinnedToLocal(public.port))
    outcome = sender.send(url="http://public.example.com/hook", headers={}, body=b"{}")
    assert outcome.status_code == 302 and not outcome.ok
    assert "redirect" in outcome.error
    assert len(public.requests) == 1
    assert target.requests == []


def test_a_timeout_is_a_failed_attempt():
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("too slow", request=request)

    sender = WebhookSender(resolver=resolver_to(PUBLIC_IP), transport=httpx.MockTransport(slow))
    outcome = sender.send(url="http://slow.example.com/", headers={}, body=b"{}")
    assert outcome == Outcome(error="timed out")


# -- deliveries end to end -------------------------------------------------------------------
def submit_with_webhook(api: Client, events: list[str] | None, url: str = "https://hooks.example.com/studio") -> Any:
    body: dict[str, Any] = {"model": "gpt-image-test", "prompt": "a glass whale", "webhookUrl": url}
    if events is not None:
        body["webhookEvents"] = events
    return api.post("/v2/images/generate", body, content_type="application/json")


@pytest.fixture
def public_receiver(receiver_factory, monkeypatch) -> tuple[Receiver, PinnedToLocal]:
    """Every delivery resolves hooks.example.com to a public IP and lands on a local server."""
    receiver = receiver_factory()
    transport = PinnedToLocal(receiver.port)
    monkeypatch.setattr(ssrf, "get_sender", lambda: WebhookSender(resolver=resolver_to(PUBLIC_IP), transport=transport))
    return receiver, transport


@pytest.mark.django_db(transaction=True)
def test_a_job_with_webhooks_delivers_signed_progress_and_completed(api, key_pair, gpt_model, public_receiver):
    # Real commits: progress is reported while the job runs, not after it ended.
    receiver, _ = public_receiver
    response = submit_with_webhook(api, ["progress", "completed", "failed"])
    assert response.status_code == 202, response.content
    job = Job.objects.get(public_id=response.json()["jobId"])
    deliveries = list(WebhookDelivery.objects.filter(job=job).order_by("id"))
    assert [d.event_type for d in deliveries][-1] == "job.completed"
    assert {d.event_type for d in deliveries[:-1]} == {"job.progress"}
    assert all(d.status == DeliveryStatus.SUCCEEDED and d.attempts == 1 for d in deliveries)
    verifier = Webhook(key_pair[0].webhook_secret)
    payloads = [verifier.verify(r["body"], r["headers"]) for r in receiver.requests]
    assert len(payloads) == len(deliveries)
    completed = payloads[-1]
    assert completed["type"] == "job.completed"
    assert completed["data"]["jobId"] == str(job.public_id) and completed["data"]["status"] == "SUCCEEDED"
    # Links, never bytes; the payload stays small.
    assert completed["data"]["images"][0]["url"].startswith("http://testserver/v2/files/")
    assert max(len(r["body"]) for r in receiver.requests) < 20_000
    assert len({r["headers"]["webhook-id"] for r in receiver.requests}) == len(receiver.requests)


def test_only_subscribed_events_are_sent_and_a_failure_is_reported_once(
    api, gpt_model, public_receiver, django_capture_on_commit_callbacks
):
    receiver, _ = public_receiver
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/v2/images/generate",
            {"model": "gpt-image-test", "prompt": "[[fail:content_policy]]", "webhookUrl": "https://hooks.example.com/h"},
            content_type="application/json",
        )
    job = Job.objects.get(public_id=response.json()["jobId"])
    assert list(WebhookDelivery.objects.filter(job=job).values_list("event_type", flat=True)) == ["job.failed"]
    payload = json.loads(receiver.requests[0]["body"])
    assert payload["data"]["error"]["code"] == "content_policy"
    assert payload["data"]["images"] == []
    # The job layer re-entered for the same job does not report its end twice.
    webhooks.notify_job_event(job_id=job.pk, event="failed")
    assert WebhookDelivery.objects.filter(job=job).count() == 1


def test_a_cancel_is_reported_to_failed_subscribers(api, gpt_model, public_receiver, django_capture_on_commit_callbacks):
    receiver, _ = public_receiver
    with django_capture_on_commit_callbacks():  # leave it queued
        job_id = submit_with_webhook(api, ["failed"]).json()["jobId"]
    with django_capture_on_commit_callbacks(execute=True):
        api.post(f"/v2/jobs/{job_id}/cancel")
    payload = json.loads(receiver.requests[0]["body"])
    assert payload["type"] == "job.canceled" and payload["data"]["status"] == "CANCELED"


def make_delivery(api: Client, django_capture_on_commit_callbacks: Any) -> WebhookDelivery:
    with django_capture_on_commit_callbacks():
        job_id = submit_with_webhook(api, ["completed"]).json()["jobId"]
    job = Job.objects.get(public_id=job_id)
    return WebhookDelivery.objects.create(
        job=job, api_key=JobWebhook.objects.get(job=job).api_key, url="https://hooks.example.com/h",
        event="completed", event_type="job.completed", webhook_id="msg_fixed", payload='{"type":"job.completed"}',
        next_attempt_at=timezone.now(),
    )


def test_w8_w9_retries_follow_the_schedule_with_the_same_webhook_id(api, gpt_model, receiver_factory, django_capture_on_commit_callbacks):
    receiver = receiver_factory()
    receiver.status = 500
    sender = WebhookSender(resolver=resolver_to(PUBLIC_IP), transport=PinnedToLocal(receiver.port))
    delivery = make_delivery(api, django_capture_on_commit_callbacks)
    now = timezone.now()
    waits = []
    for attempt in range(1, MAX_ATTEMPTS + 1):
        delay = deliver_webhook(delivery_id=delivery.pk, sender=sender, now=now)
        delivery.refresh_from_db()
        assert delivery.attempts == attempt
        if attempt < MAX_ATTEMPTS:
            expected = webhooks.RETRY_DELAYS[attempt - 1]
            assert 0.9 * expected <= delay <= 1.1 * expected
            waits.append(delay)
            # Running early is a no-op that says how long is left (chained countdowns).
            early = deliver_webhook(delivery_id=delivery.pk, sender=sender, now=now + timedelta(seconds=1))
            assert early is not None and early > 0
            now = delivery.next_attempt_at
        else:
            assert delay is None
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.last_status_code == 500
    assert len(receiver.requests) == MAX_ATTEMPTS
    assert {r["headers"]["webhook-id"] for r in receiver.requests} == {"msg_fixed"}
    assert len({r["headers"]["webhook-timestamp"] for r in receiver.requests}) >= 1
    assert 0.9 * sum(webhooks.RETRY_DELAYS) <= sum(waits) <= 1.1 * sum(webhooks.RETRY_DELAYS)  # ~17.6 h


def test_410_stops_retries_and_429_retry_after_is_respected(api, gpt_model, receiver_factory, django_capture_on_commit_callbacks):
    receiver = receiver_factory()
    sender = WebhookSender(resolver=resolver_to(PUBLIC_IP), transport=PinnedToLocal(receiver.port))
    delivery = make_delivery(api, django_capture_on_commit_callbacks)
    receiver.status, receiver.headers = 429, {"Retry-After": "120"}
    delay = deliver_webhook(delivery_id=delivery.pk, sender=sender)
    assert delay is not None and delay >= 120
    receiver.status, receiver.headers = 410, {}
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    assert deliver_webhook(delivery_id=delivery.pk, sender=sender) is None
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED and delivery.last_status_code == 410


def test_a_revoked_key_stops_its_deliveries(api, key_pair, gpt_model, django_capture_on_commit_callbacks):
    delivery = make_delivery(api, django_capture_on_commit_callbacks)
    key = key_pair[0]
    key.revoked_at = timezone.now()
    key.save()
    guard = NoNetwork()
    assert deliver_webhook(delivery_id=delivery.pk, sender=WebhookSender(transport=guard)) is None
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED and guard.calls == 0


def test_lost_deliveries_are_requeued_by_the_sweeper(api, gpt_model, public_receiver, django_capture_on_commit_callbacks):
    receiver, _ = public_receiver
    delivery = make_delivery(api, django_capture_on_commit_callbacks)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() - timedelta(minutes=10))
    with django_capture_on_commit_callbacks(execute=True):
        assert webhooks.retry_stalled_deliveries() == 1
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert len(receiver.requests) == 1
