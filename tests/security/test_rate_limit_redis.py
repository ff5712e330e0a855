"""The send limit on the shared Redis cache: one round trip per hit (rooms/ratelimit.py
``_count``), with the same rule as ``add`` + ``incr`` — trips at the configured count,
the counter lives one window (plus a second), the next window starts from one, a sign-in's
``release`` gives a hit back, and Redis failing mid-hit fails open."""

from __future__ import annotations

import datetime as dt

import pytest
import redis
from django.core.cache import cache

from rooms import ratelimit
from rooms.errors import RateLimited
from tests.security.helpers import fresh_window, set_limit

pytestmark = pytest.mark.services


@pytest.fixture
def redis_cache():
    from django.core.cache import caches
    from django.core.cache.backends.redis import RedisCache

    if not isinstance(caches["default"], RedisCache):
        pytest.skip("the cache is not Redis (set COCARE_REDIS_URL)")
    return caches["default"]


@pytest.fixture
def commands(monkeypatch):
    """Every command sent to Redis by any client, by name."""
    sent: list[str] = []
    real = redis.Redis.execute_command

    def counting(self, *args, **options):
        sent.append(str(args[0]).upper())
        return real(self, *args, **options)

    monkeypatch.setattr(redis.Redis, "execute_command", counting)
    return sent


def test_a_send_is_one_redis_round_trip_and_the_limit_holds(redis_cache, commands, monkeypatch):
    set_limit(monkeypatch, "rate_limit_sends", 3)
    start = fresh_window().replace(second=0)
    ratelimit.hit("send", "warm-up", start)  # loads the script once per process
    commands.clear()
    assert [ratelimit.hit("send", "p1", start + dt.timedelta(seconds=s)) for s in (1, 2, 3)] == [
        1,
        2,
        3,
    ]
    assert commands == ["EVALSHA"] * 3  # one round trip per send
    with pytest.raises(RateLimited) as err:
        ratelimit.hit("send", "p1", start + dt.timedelta(seconds=59))
    assert err.value.retry_after == 1
    # The counter expires one second after its window ends, as the add + incr did.
    k, _ = ratelimit._key("send", "p1", 60, start)
    ttl = redis_cache._cache.get_client(redis_cache.make_and_validate_key(k)).ttl(
        redis_cache.make_and_validate_key(k)
    )
    assert 55 <= ttl <= 61
    # Per person, and the next window starts again from one.
    assert ratelimit.hit("send", "p2", start) == 1
    assert ratelimit.hit("send", "p1", start + dt.timedelta(seconds=60)) == 1


def test_release_gives_a_hit_back_on_the_script_counter(redis_cache, monkeypatch):
    set_limit(monkeypatch, "rate_limit_login_failures", 2)
    at = fresh_window()
    assert ratelimit.hit("login_user", "someone", at) == 1
    ratelimit.release("login_user", "someone", at)
    assert ratelimit.hit("login_user", "someone", at) == 1
    assert cache.get(ratelimit._key("login_user", "someone", 300, at)[0]) == 1


def test_redis_failing_mid_send_fails_open(redis_cache, monkeypatch):
    set_limit(monkeypatch, "rate_limit_sends", 1)
    at = fresh_window()

    def down(self, *args, **options):
        raise redis.exceptions.ConnectionError("redis restarting")

    monkeypatch.setattr(redis.Redis, "execute_command", down)
    assert [ratelimit.hit("send", "p3", at) for _ in range(3)] == [0, 0, 0]
