"""The management front end: a live dashboard, a hystrix.stream, Prometheus metrics.

:func:`serve` starts a small HTTP server in a background thread (standard
library only) that shows the services of this process::

    with dyno.dashboard.serve(port=8765) as dashboard:
        print(dashboard.url)      # open it in a browser
        ...                       # run your application

It serves ``/`` (the live page), ``/stream`` (server-sent events with
hystrix.stream fields, also at ``/hystrix.stream``) and ``/metrics``
(Prometheus text exposition).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping

from dyno.dashboard.export import (
    ServiceView,
    View,
    check_view,
    hystrix_event,
    prometheus_text,
)
from dyno.dashboard.server import DashboardServer, serve_collector
from dyno.utils import describe

__all__ = [
    "serve",
    "DashboardServer",
    "ServiceView",
    "View",
    "ServiceSource",
    "Services",
    "hystrix_event",
    "prometheus_text",
]

logger = logging.getLogger("dyno.dashboard")

#: A callable returning the services to show, asked afresh at each update.
ServiceSource = Callable[[], Iterable[ServiceView]]
#: What :func:`serve` accepts as ``services``.
Services = Mapping[str, ServiceView] | Iterable[ServiceView] | ServiceSource


def _registered_services() -> list[ServiceView]:
    from dyno.service import services

    # A service may be garbage collected between listing its name and reading it.
    found = (services.get(name) for name in list(services))
    return [check_view(view) for view in found if view is not None]


def _source(services: Services | None) -> ServiceSource:
    """Turn what :func:`serve` was given into a callable returning the views to show."""
    if services is None:
        import dyno.service  # noqa: F401  # fail now, not on the first request, if it is missing

        return _registered_services
    if isinstance(services, Mapping):
        mapping = services
        for view in mapping.values():
            check_view(view)
        return lambda: list(mapping.values())
    if hasattr(services, "metrics") and hasattr(services, "name"):
        # A decorated service is callable: never mistake it for a source and call it.
        raise TypeError(
            f"Cannot use the single service {describe(services)} as 'services': it expects "
            "several. Pass services=[service] instead."
        )
    if callable(services):
        source = services
        return lambda: [check_view(view) for view in source()]
    if isinstance(services, Iterable):
        views = [check_view(view) for view in services]
        return lambda: views
    raise TypeError(
        "'services' must be a mapping of names to services, an iterable of services, "
        f"a callable returning services, or None (got {describe(services)})"
    )


def serve(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    interval: float = 0.5,
    services: Services | None = None,
) -> DashboardServer:
    """Start the dashboard in a background thread and return its handle.

    Serves ``/`` (the live page), ``/stream`` and ``/hystrix.stream``
    (server-sent events: one hystrix.stream ``HystrixCommand`` JSON object per
    service every *interval* seconds; a Hystrix client's ``?delay=ms`` is
    honoured) and ``/metrics`` (Prometheus text exposition, format 0.0.4).

    Args:
        host: Interface to bind; ``"0.0.0.0"`` serves every interface.
        port: TCP port; 0 picks a free one (read it from ``.url`` or ``.port``).
        interval: Seconds between stream updates (> 0).
        services: What to show: a mapping or an iterable of service views
            (functions decorated with :func:`dyno.service.service`, or
            :class:`View`), or a callable returning them at each update; by
            default every named service in ``dyno.service.services``, read
            afresh at each update.

    Returns:
        A :class:`DashboardServer` with ``.url`` and ``.close()``; also a
        context manager.

    Raises:
        OSError: The port is already taken (or the host cannot be served);
            the message says which and what to do.
        TypeError, ValueError: An option is of the wrong type or out of range.
    """
    source = _source(services)

    def stream() -> list[dict[str, object]]:
        events = []
        for view in source():
            if view.metrics is None:
                continue  # metrics=False: nothing to show
            try:
                events.append(hystrix_event(view))
            except Exception:
                # One broken service must not blank the others.
                logger.exception("Cannot report service %r on the dashboard", view.name)
        return events

    def metrics() -> str:
        return prometheus_text(source())

    return serve_collector(stream, metrics, host=host, port=port, interval=interval)
