"""SPEC.md: every signature the spec spells out has those names, order, kinds and defaults."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import pytest

import pytest_dyno
from dyno import breaker, cache, dashboard, harness, injection, metrics, retry, service, timing
from dyno.utils import percentile
from pytest_dyno import strategies

# The spec's own text for each callable, copied from SPEC.md. Extra options an
# implementation adds must be optional, and keyword-only after the spec's `*`.
SPECIFIED: list[tuple[str, Callable[..., object], str]] = [
    ("Breaker", breaker.Breaker, "(name=None)"),
    (
        "CircuitBreaker",
        breaker.CircuitBreaker,
        "(name=None, *, failure_ratio=0.5, volume=20, window=10.0, buckets=10,"
        " reset_timeout=5.0, probes=1, consecutive=None, slow_call=None, exclude=(),"
        " clock=None)",
    ),
    ("CircuitBreaker.call", breaker.CircuitBreaker.call, "(self, fn, *a, **kw)"),
    ("force", breaker.force, "(name, state)"),
    ("Limiter", breaker.Limiter, "(limit, *, timeout=0.0, clock=None)"),
    (
        "retry",
        retry.retry,
        "(attempts=3, *, on=(Exception,), result=None, backoff=None, deadline=None, clock=None)",
    ),
    ("Retry.call", retry.Retry.call, "(self, fn, *args, **kwargs)"),
    ("fixed", retry.fixed, "(seconds)"),
    ("exponential", retry.exponential, '(initial=0.1, factor=2.0, maximum=10.0, jitter="full")'),
    ("make_compound_exception", retry.make_compound_exception, "(errors)"),
    ("harness", harness.harness, "(logger=None, *, name=None, exceptions=(Exception,))"),
    ("harness.add_listener", harness.add_listener, "(fn)"),
    ("harness.remove_listener", harness.remove_listener, "(fn)"),
    ("harness.listening", harness.listening, "(fn)"),
    (
        "cache",
        cache.cache,
        "(backend=None, keys=None, lifetime=None, *, single_flight=True, key=None, clock=None)",
    ),
    ("static_timeout", cache.static_timeout, "(t)"),
    ("linear_timeout", cache.linear_timeout, "(t)"),
    ("exponential_timeout", cache.exponential_timeout, "(t, exponent=2)"),
    ("xfetch", cache.xfetch, "(t, beta=1.0)"),
    ("MemoryBackend", cache.MemoryBackend, "(maxsize=None)"),
    ("RedisBackend", cache.RedisBackend, '(client=None, url=None, prefix="dyno:")'),
    ("from_registry", injection.from_registry, "(key, registry=None)"),
    ("socket", injection.socket, "(host, port, *, timeout=LAN_TIMEOUT, retries=1)"),
    ("Metrics", metrics.Metrics, "(name=None, *, window=10.0, buckets=10, clock=None)"),
    ("Metrics.record", metrics.Metrics.record, "(self, event, latency=None)"),
    ("Metrics.success", metrics.Metrics.success, "(self, latency=None)"),
    ("Metrics.failure", metrics.Metrics.failure, "(self, latency=None)"),
    ("Metrics.percentile", metrics.Metrics.percentile, "(self, p)"),
    ("PerfTimer", timing.PerfTimer, "(name=None, description=None, *, clock=None)"),
    # The spec shows the calls timer(name), mark(name), timed(name); name is optional in all.
    ("PerfTimer.__call__", timing.PerfTimer.__call__, "(self, name=None)"),
    ("PerfTimer.mark", timing.PerfTimer.mark, "(self, name=None)"),
    ("is_mark", timing.is_mark, "(t)"),
    ("is_interval", timing.is_interval, "(t)"),
    ("timed", timing.timed, "(name=None)"),
    (
        "service",
        service.service,
        "(name=None, *, timeout=None, retry=None, breaker=None, limiter=None, pool=None,"
        " fallback=None, metrics=None, harness=None, clock=None)",
    ),
    ("percentile", percentile, "(percent, data)"),
    ("dashboard.serve", dashboard.serve, '(host="127.0.0.1", port=0)'),
    (
        "failure_schedules",
        strategies.failure_schedules,
        '(alphabet="FST", min_size=0, max_size=20)',
    ),
]

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
# Names the spec abbreviates or leaves to the implementation: positions are what count.
_FREE_NAMES = {"fn", "t"}


def _spec_signature(text: str) -> inspect.Signature:
    """Parse the spec's parameter list into a Signature with evaluated defaults."""
    namespace = {"LAN_TIMEOUT": injection.LAN_TIMEOUT}
    exec(f"def spec{text}: pass", namespace)  # the spec's own text, nothing else
    return inspect.signature(namespace["spec"])  # type: ignore[arg-type]  # exec fills it


@pytest.mark.parametrize(("label", "actual", "text"), SPECIFIED, ids=[s[0] for s in SPECIFIED])
def test_signature_matches_spec(label: str, actual: Callable[..., object], text: str) -> None:
    """The callable takes the spec's parameters, in order, with its kinds and defaults."""
    expected = list(_spec_signature(text).parameters.values())
    found = list(inspect.signature(actual).parameters.values())
    by_name = {p.name: p for p in found}
    positional = [p for p in found if p.kind in _POSITIONAL]
    index = 0
    for want in expected:
        if want.kind in _POSITIONAL:
            assert index < len(positional), f"{label}: no positional parameter for {want.name}"
            got = positional[index]
            index += 1
            if want.name not in _FREE_NAMES:
                assert got.name == want.name, f"{label}: {got.name} where spec has {want.name}"
        elif want.kind is inspect.Parameter.KEYWORD_ONLY:
            assert want.name in by_name, f"{label}: no keyword {want.name}"
            got = by_name[want.name]
            assert got.kind is inspect.Parameter.KEYWORD_ONLY, f"{label}: {want.name} not kw-only"
        else:
            kinds = [p for p in found if p.kind is want.kind]
            assert kinds, f"{label}: no {want.kind.description} parameter"
            continue
        if want.default is inspect.Parameter.empty:
            assert got.default is inspect.Parameter.empty, f"{label}: {got.name} has a default"
        else:
            assert got.default == want.default, f"{label}: {got.name}={got.default!r}"
    # Anything more is an extension: optional, and never a new positional slot before the spec's.
    for extra in positional[index:]:
        assert extra.default is not inspect.Parameter.empty, f"{label}: {extra.name} required"
    named = {p.name for p in expected}
    for extra in found:
        if extra.kind is inspect.Parameter.KEYWORD_ONLY and extra.name not in named:
            assert extra.default is not inspect.Parameter.empty, f"{label}: {extra.name} required"


def test_flaky_takes_the_spec_keywords_with_their_defaults() -> None:
    """Flaky() fails twice with ConnectionError, then returns None, as flaky()'s defaults say."""
    dependency = pytest_dyno.Flaky(exc=ConnectionError, then=None)
    for _ in range(2):
        with pytest.raises(ConnectionError):
            dependency()
    assert dependency() is None
    assert (dependency.calls, dependency.failures, dependency.successes) == (3, 2, 1)


def test_a_drifted_signature_is_caught() -> None:
    """The check fails when a spec'd option is positional instead of keyword-only."""

    def drifted(limit: int, timeout: float = 0.0, clock: object = None) -> None:
        """Stand in for a Limiter whose timeout lost its keyword-only marker."""

    with pytest.raises(AssertionError, match="timeout not kw-only"):
        test_signature_matches_spec("drifted", drifted, "(limit, *, timeout=0.0, clock=None)")
