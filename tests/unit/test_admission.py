"""Admission: a full server, a hasty address and a draining server tell callers when to come back;
the address a caller is counted by, behind trusted proxies."""

import pytest
from aiohttp.test_utils import make_mocked_request
from pydantic import ValidationError

from parley.config import ServerConfig
from parley.live.admission import Admission
from parley.live.protect import caller_address


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_a_full_server_refuses_and_counts_it():
    admission = Admission(max_sessions=2, per_minute=60, name="Ada")
    assert admission.check(1, "a") is None
    refusal = admission.check(2, "b")
    assert refusal.reason == "full" and refusal.retry_after_s > 0 and "Ada is in 2 calls right now" in refusal.message
    assert admission.refused == {"full": 1, "rate": 0, "draining": 0}


def test_an_address_gets_a_burst_then_its_rate_and_others_are_not_affected():
    clock = Clock()
    admission = Admission(max_sessions=100, per_minute=6, clock=clock)
    assert [admission.check(0, "a") for _ in range(3)] == [None, None, None]
    refusal = admission.check(0, "a")
    assert refusal.reason == "rate" and refusal.retry_after_s == 10
    assert admission.check(0, "b") is None  # another address has its own allowance
    clock.now += 10
    assert admission.check(0, "a") is None and admission.check(0, "a").reason == "rate"


def test_the_offer_of_an_admitted_session_is_not_charged_again():
    admission = Admission(max_sessions=5, per_minute=6)
    for _ in range(3):
        assert admission.check(0, "a") is None
        assert admission.check(0) is None  # its offer: capacity only


def test_idle_addresses_are_forgotten():
    clock = Clock()
    admission = Admission(max_sessions=10, per_minute=60, clock=clock)
    for i in range(1100):
        admission.check(0, f"10.0.{i // 256}.{i % 256}")
    clock.now += 3600
    admission.check(0, "fresh")
    assert len(admission._buckets) == 1


def test_a_draining_server_refuses_everyone_soon_to_come_back():
    admission = Admission(max_sessions=5, per_minute=60)
    admission.draining = True
    refusals = [admission.check(0, "a"), admission.check(0)]
    assert all(r.reason == "draining" and 0 < r.retry_after_s <= 10 for r in refusals)
    assert "shutting down" in refusals[0].message and admission.refused["draining"] == 2
    assert admission._buckets == {}  # a refused caller spends none of its address's allowance


def test_the_caller_is_the_last_address_forwarded_that_no_trusted_proxy_holds():
    def caller(peer, forwarded=None, trusted=("10.0.0.0/8",)):
        headers = {"X-Forwarded-For": forwarded} if forwarded else {}
        request = make_mocked_request("POST", "/api/sessions", headers=headers,
                                      transport=FakeTransport(peer))
        return caller_address(request, ServerConfig(trusted_proxies=list(trusted)))

    # An Ingress (10.1.0.7) forwards to a router (10.2.0.3), which forwards to the orchestrator.
    assert caller("10.2.0.3", "203.0.113.9, 10.1.0.7") == "203.0.113.9"
    # A caller outside the trusted subnet names whoever it likes: it is still the caller.
    assert caller("198.51.100.4", "203.0.113.9") == "198.51.100.4"
    # What a caller put in front of the trusted hops is never reached.
    assert caller("10.2.0.3", "1.2.3.4, 203.0.113.9, 10.1.0.7") == "203.0.113.9"
    assert caller("127.0.0.1", "203.0.113.9", trusted=("127.0.0.1",)) == "203.0.113.9"


def test_a_trusted_proxy_that_is_not_an_address_is_refused_at_start():
    with pytest.raises(ValidationError, match="trusted_proxies"):
        ServerConfig(trusted_proxies=["router.local"])


class FakeTransport:
    def __init__(self, peer: str) -> None:
        self.peer = peer

    def get_extra_info(self, name, default=None):
        return (self.peer, 40000) if name == "peername" else default
