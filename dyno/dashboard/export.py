"""What the dashboard shows: hystrix.stream events and Prometheus text, from live services.

A *service view* is anything with a ``name``, a ``metrics`` (a
:class:`dyno.metrics.Metrics`) and a ``breaker`` (a circuit breaker with a
``state``, or None): a function decorated with :func:`dyno.service.service`
is one, and :class:`View` makes one from parts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from dyno.utils import check_type, describe

if TYPE_CHECKING:
    from dyno.metrics import Metrics, MetricsSnapshot

__all__ = ["ServiceView", "View", "hystrix_event", "prometheus_text", "check_view"]

#: hystrix.stream's ``latencyExecute`` keys, and the percentiles they name.
HYSTRIX_PERCENTILES: dict[str, float] = {
    "0": 0,
    "25": 25,
    "50": 50,
    "75": 75,
    "90": 90,
    "95": 95,
    "99": 99,
    "99.5": 99.5,
    "100": 100,
}
#: The states a circuit breaker reports, in the order Prometheus lists them.
STATES = ("closed", "open", "half_open", "forced_open", "forced_closed")
# Hystrix's isCircuitBreakerOpen stays true until a probe has closed the circuit.
_OPEN_STATES = frozenset({"open", "half_open", "forced_open"})


class _Breaker(Protocol):
    @property
    def state(self) -> str: ...


class ServiceView(Protocol):
    """What the dashboard reads of a service: its name, metrics and breaker."""

    @property
    def name(self) -> str: ...

    @property
    def metrics(self) -> Metrics | None: ...

    @property
    def breaker(self) -> _Breaker | None: ...


@dataclass(frozen=True, slots=True)
class View:
    """A service view made of parts, for metrics and breakers used without ``dyno.service``.

    Args:
        name: The name the dashboard shows.
        metrics: The :class:`dyno.metrics.Metrics` to read (None: not shown).
        breaker: A breaker whose ``state`` to show, or None.
    """

    name: str
    metrics: Metrics | None
    breaker: _Breaker | None = None

    def __post_init__(self) -> None:
        check_type("name", self.name, str)
        check_view(self)


def check_view(view: object) -> ServiceView:
    """Return *view* if it has what the dashboard reads, else raise ``TypeError``.

    A ``metrics`` of None (a service made with ``metrics=False``) passes:
    such services are left off the dashboard, having nothing to show.

    Raises:
        TypeError: *view* lacks a string ``name``, a ``metrics`` with
            ``snapshot()`` and ``percentiles()`` (or None), or a ``breaker`` attribute.
    """
    name = getattr(view, "name", None)
    metrics = getattr(view, "metrics", None)
    if (
        not isinstance(name, str)
        or not (
            metrics is None
            or (
                callable(getattr(metrics, "snapshot", None))
                and callable(getattr(metrics, "percentiles", None))
            )
        )
        or not hasattr(view, "breaker")
    ):
        raise TypeError(
            f"Cannot show {describe(view)} on the dashboard: a service needs a str 'name', "
            "a dyno.metrics.Metrics 'metrics' and a 'breaker' (or None). Pass functions "
            "decorated with dyno.service.service, or dyno.dashboard.View(name, metrics, breaker)."
        )
    return view  # type: ignore[return-value]  # duck-checked just above


def _state(view: ServiceView) -> str:
    breaker = view.breaker
    return "none" if breaker is None else str(breaker.state)


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def _number_or(value: object, scale: float, default: int = 0) -> int:
    """Return round(value * scale) for a real number, else *default*."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return round(value * scale)
    return default


def _options(view: ServiceView) -> tuple[float | None, bool, bool, int]:
    """Return a service's timeout, whether it has its own pool and a fallback, and its limit.

    Read from what :func:`dyno.service.service` exposes (``.service``,
    ``.limiter``); a view without them has none of these.
    """
    options = getattr(view, "service", None)
    timeout = getattr(options, "timeout", None)
    pool = getattr(options, "pool", None)
    fallback = getattr(options, "fallback", None)
    limit = getattr(getattr(view, "limiter", None), "limit", None)
    return (
        timeout if isinstance(timeout, int | float) and not isinstance(timeout, bool) else None,
        isinstance(pool, int) and not isinstance(pool, bool),
        fallback is not None,
        limit if isinstance(limit, int) and not isinstance(limit, bool) else 0,
    )


def _properties(view: ServiceView, snapshot: MetricsSnapshot) -> dict[str, object]:
    """Return the ``propertyValue_*`` fields Hystrix's dashboard requires, from dyno's options.

    Settings dyno has no equivalent for read 0 or false.
    """
    state = _state(view)
    config = getattr(view.breaker, "config", None)
    timeout, pooled, _, limit = _options(view)
    return {
        "propertyValue_circuitBreakerEnabled": view.breaker is not None,
        "propertyValue_circuitBreakerForceOpen": state == "forced_open",
        "propertyValue_circuitBreakerForceClosed": state == "forced_closed",
        "propertyValue_circuitBreakerRequestVolumeThreshold": _number_or(
            getattr(config, "volume", None), 1
        ),
        "propertyValue_circuitBreakerErrorThresholdPercentage": _number_or(
            getattr(config, "failure_ratio", None), 100
        ),
        "propertyValue_circuitBreakerSleepWindowInMilliseconds": _number_or(
            getattr(config, "reset_timeout", None), 1000
        ),
        "propertyValue_executionIsolationStrategy": "THREAD" if pooled else "SEMAPHORE",
        "propertyValue_executionIsolationThreadTimeoutInMilliseconds": _number_or(timeout, 1000),
        "propertyValue_executionTimeoutInMilliseconds": _number_or(timeout, 1000),
        # An abandoned sync attempt runs on; dyno cannot interrupt a thread.
        "propertyValue_executionIsolationThreadInterruptOnTimeout": False,
        "propertyValue_executionIsolationSemaphoreMaxConcurrentRequests": limit,
        "propertyValue_fallbackIsolationSemaphoreMaxConcurrentRequests": 0,
        "propertyValue_requestCacheEnabled": False,
        "propertyValue_requestLogEnabled": False,
        # Hystrix's dashboard divides requestCount by this to get a rate.
        "propertyValue_metricsRollingStatisticalWindowInMilliseconds": round(
            snapshot.window * 1000
        ),
    }


def hystrix_event(view: ServiceView, *, now_ms: int | None = None) -> dict[str, object]:
    """Return one service's hystrix.stream ``HystrixCommand`` event.

    Hystrix's own fields, every one its dashboard requires, keep Hystrix's
    types (counts, whole milliseconds, whole percent) so Hystrix tooling (its
    dashboard, Turbine) can read them. A service on its own thread ``pool``
    reports rejections as ``rollingCountThreadPoolRejected`` (isolation
    ``THREAD``), others as ``rollingCountSemaphoreRejected``
    (``SEMAPHORE``). ``rollingCountExceptionsThrown`` is the fallback's
    failures for a service with a fallback, else its errors and short
    circuits (per attempt). Counters and settings dyno has no equivalent for
    (bad requests, collapsing, request cache) read 0 or false.

    dyno adds ``circuitState`` (the breaker's state name, ``"none"`` without
    a breaker), ``requestRate`` and ``errorRate`` (per second over the
    window), ``latencyMs`` (mean and percentiles in fractional
    milliseconds) and ``graph`` (requests per
    bucket, oldest first, relative to the busiest: 0.0-1.0).

    Args:
        view: The service to report.
        now_ms: ``currentTime`` in epoch milliseconds; default the snapshot's time.

    Raises:
        ValueError: The service has no metrics (``metrics=False``).
    """
    metrics = view.metrics
    if metrics is None:
        raise ValueError(
            f"Cannot report service {view.name!r}: it keeps no metrics (metrics=False). "
            "Give it metrics to show it on the dashboard."
        )
    snapshot = metrics.snapshot()
    counts = snapshot.counts
    latency = snapshot.latency
    state = _state(view)
    # All nine from one copy of the histograms (the snapshot lacks 0, 25 and 75).
    values = metrics.percentiles(*HYSTRIX_PERCENTILES.values())
    precise: dict[str, float] = {"mean": _ms(latency.mean)}
    precise.update(zip(HYSTRIX_PERCENTILES, map(_ms, values), strict=True))
    whole = {key: round(value) for key, value in precise.items() if key != "mean"}
    _, pooled, fallback, _ = _options(view)
    # Without a fallback, counted per attempt: with retries one call may count more than once.
    thrown = counts["fallback_failure"] if fallback else snapshot.errors + counts["short_circuit"]
    event: dict[str, object] = {
        "type": "HystrixCommand",
        "name": view.name,
        "group": view.name,
        "currentTime": round(snapshot.time * 1000) if now_ms is None else now_ms,
        "isCircuitBreakerOpen": state in _OPEN_STATES,
        "errorPercentage": round(snapshot.error_percentage),
        "errorCount": snapshot.errors,
        "requestCount": snapshot.requests,
        "rollingCountSuccess": counts["success"],
        "rollingCountFailure": counts["failure"],
        "rollingCountTimeout": counts["timeout"],
        "rollingCountShortCircuited": counts["short_circuit"],
        "rollingCountSemaphoreRejected": 0 if pooled else counts["rejection"],
        "rollingCountThreadPoolRejected": counts["rejection"] if pooled else 0,
        "rollingCountFallbackSuccess": counts["fallback_success"],
        "rollingCountFallbackFailure": counts["fallback_failure"],
        "rollingCountFallbackRejection": 0,
        "rollingCountExceptionsThrown": thrown,
        "rollingCountBadRequests": 0,
        "rollingCountCollapsedRequests": 0,
        "rollingCountResponsesFromCache": 0,
        "currentConcurrentExecutionCount": snapshot.in_flight,
        "latencyExecute_mean": round(precise["mean"]),
        "latencyExecute": whole,
        "latencyTotal_mean": round(precise["mean"]),
        "latencyTotal": whole,
        "reportingHosts": 1,
        **_properties(view, snapshot),
        "circuitState": state,
        "requestRate": snapshot.request_rate,
        "errorRate": snapshot.error_rate,
        "latencyMs": precise,
        "graph": list(snapshot.graph),
    }
    return event


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if isinstance(value, float) else str(value)


#: Family name -> (type, help), in the order the exposition lists them.
FAMILIES: dict[str, tuple[str, str]] = {
    "dyno_service_events_total": ("counter", "Service events since the service was created."),
    "dyno_service_rolling_events": ("gauge", "Service events in the rolling window."),
    "dyno_service_in_flight": ("gauge", "Calls of the service in flight now."),
    "dyno_service_error_percentage": (
        "gauge",
        "Errors per request in the rolling window, in percent.",
    ),
    "dyno_service_latency_seconds": (
        "summary",
        "Call latency: quantiles over the rolling window, count and sum since creation.",
    ),
    "dyno_service_circuit_state": ("gauge", "1 for the circuit breaker's current state, else 0."),
}
PROMETHEUS_QUANTILES = (0.5, 0.9, 0.95, 0.99, 0.995)


def prometheus_text(views: Iterable[ServiceView]) -> str:
    """Return the Prometheus text exposition (format 0.0.4) for *views*.

    One ``service`` label per service; events carry an ``event`` label
    (``success``, ``failure``, ... as in :data:`dyno.metrics.EVENTS`), the
    latency summary a ``quantile`` label, the breaker state set a ``state``
    label (no samples for a service without a breaker). Services without
    metrics are left out.
    """
    samples: dict[str, list[str]] = {family: [] for family in FAMILIES}
    shown = [(view, view.metrics) for view in views]
    for view, metrics in sorted(shown, key=lambda pair: pair[0].name):
        if metrics is None:
            continue
        service = f'service="{_label(view.name)}"'
        snapshot = metrics.snapshot()
        for event, total in snapshot.totals.items():
            labels = f'{service},event="{_label(event)}"'
            samples["dyno_service_events_total"].append(f"{{{labels}}} {total}")
            samples["dyno_service_rolling_events"].append(f"{{{labels}}} {snapshot.counts[event]}")
        samples["dyno_service_in_flight"].append(f"{{{service}}} {snapshot.in_flight}")
        samples["dyno_service_error_percentage"].append(
            f"{{{service}}} {_number(snapshot.error_percentage)}"
        )
        latency = snapshot.latency
        quantiles = (latency.p50, latency.p90, latency.p95, latency.p99, latency.p995)
        summary = samples["dyno_service_latency_seconds"]
        for quantile, value in zip(PROMETHEUS_QUANTILES, quantiles, strict=True):
            summary.append(f'{{{service},quantile="{quantile}"}} {_number(value)}')
        summary.append(f"_count{{{service}}} {snapshot.latency_count}")
        summary.append(f"_sum{{{service}}} {_number(snapshot.latency_sum)}")
        current = _state(view)
        if current != "none":
            for state in STATES:
                samples["dyno_service_circuit_state"].append(
                    f'{{{service},state="{state}"}} {int(state == current)}'
                )
    lines: list[str] = []
    for family, (kind, help_text) in FAMILIES.items():
        lines.append(f"# HELP {family} {help_text}")
        lines.append(f"# TYPE {family} {kind}")
        lines.extend(family + sample for sample in samples[family])
    return "\n".join(lines) + "\n"
