"""The one retry policy of outbox deliveries and BPMN messages: 1, 2, 4, 8 minutes apart, five tries."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from engine.process import delivery, messaging
from engine.process.retries import DEFAULT_RETRIES, RetryPolicy

NOW = datetime(2024, 11, 22, 10, 0, tzinfo=timezone.utc)


def test_waits_double_after_each_failure_up_to_the_cap():
    assert [DEFAULT_RETRIES.delay(n) for n in range(1, 9)] == [
        timedelta(minutes=m) for m in (1, 2, 4, 8, 16, 32, 60, 60)]


def test_the_fifth_failure_ends_the_tries():
    assert [DEFAULT_RETRIES.retry_at(NOW, n) for n in range(1, 6)] == [
        NOW + timedelta(minutes=1), NOW + timedelta(minutes=2), NOW + timedelta(minutes=4),
        NOW + timedelta(minutes=8), None]
    assert not DEFAULT_RETRIES.exhausted(4) and DEFAULT_RETRIES.exhausted(5)


def test_deliveries_and_messages_share_the_policy():
    assert delivery.MAX_ATTEMPTS == messaging.MAX_ATTEMPTS == DEFAULT_RETRIES.max_attempts == 5
    assert messaging.retry_delay(3) == DEFAULT_RETRIES.delay(3)


def test_a_policy_of_its_own_keeps_its_limits():
    policy = RetryPolicy(max_attempts=2, base=timedelta(seconds=10), cap=timedelta(seconds=15))
    assert (policy.delay(1), policy.delay(2), policy.retry_at(NOW, 2)) == (timedelta(seconds=10),
                                                                            timedelta(seconds=15), None)
