"""The Hystrix command as one decorator: circuit, bulkhead, timeout, retries, metrics, fallback.

:func:`service` turns a function that makes one attempt at calling a
dependency into a guarded call. Each attempt is the primitives stacked,
outermost first::

    metrics( breaker( bulkhead( harness( timeout( fn ) ) ) ) )

The breaker, the limiter and the harness are applied through their public
decorators; the timeout layer is this module's (a worker thread for sync
functions, :func:`asyncio.timeout` for async ones). The metrics layer times the
attempt on the clock and counts its outcome with
:class:`~dyno.metrics.Metrics`' recording methods, classified by
:func:`dyno.metrics.classify` (success, failure, timeout, short_circuit,
rejection): one lock per attempt. Around the attempts a thin driver, one sync
and one async, chosen once at decoration, retries per the
:class:`~dyno.retry.Retry` policy, calls the fallback when the last attempt
failed, and records a :func:`dyno.timing.timed` interval for the whole call.
What both drivers share (when to retry, what to raise, how a fallback's
failure is chained) lives in one engine, ``_Plan``, built at decoration.

Named services are listed in :data:`services`.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import (
    Concatenate,
    Final,
    ParamSpec,
    Protocol,
    TypeVar,
    cast,
    overload,
)

from dyno.breaker import Breaker, Broken, CircuitBreaker, Limiter, RateLimited
from dyno.clock import Clock, check_clock, get_clock
from dyno.harness import Harness, LoggerLike
from dyno.metrics import Metrics, classify
from dyno.retry import Retry, make_compound_exception
from dyno.timing import Timed, current_timer
from dyno.utils import (
    NamedWeakRegistry,
    check_callable,
    check_decoratable,
    check_int,
    check_optional_number,
    check_type,
    describe,
    is_async_callable,
    refuse_method_object,
)

__all__ = [
    "service",
    "Service",
    "ServiceFunction",
    "ServiceTimeout",
    "services",
    "SHARED_WORKERS",
]

P = ParamSpec("P")
P2 = ParamSpec("P2")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)
S = TypeVar("S")

_logger = logging.getLogger("dyno.service")

#: Worker threads of the executor shared by services with a ``timeout`` and no ``pool``.
SHARED_WORKERS: Final = 64


# -- the timeout error -----------------------------------------------------------------


class ServiceTimeout(TimeoutError):
    """Raised when an attempt of a service did not finish within its ``timeout``.

    ``ServiceTimeout(name, timeout)``. The attempt is abandoned: a sync
    attempt keeps running on its worker thread (its late result or error is
    never counted), an async one is cancelled.

    Attributes:
        name: The service's name.
        timeout: The seconds the attempt was allowed.
    """

    name: str
    timeout: float

    def __init__(self, name: str, timeout: float) -> None:
        # One argument: TimeoutError is an OSError, which reads two as (errno, strerror).
        super().__init__(
            f"Cannot finish an attempt of service {name!r} within its timeout of "
            f"{timeout:.3g} s (timeout={timeout!r}): it was abandoned. "
            "Raise the timeout, or handle TimeoutError with a fallback."
        )
        self.name = name
        self.timeout = timeout

    def __reduce__(self) -> tuple[type[ServiceTimeout], tuple[str, float]]:
        return (type(self), (self.name, self.timeout))


# -- the wrapped function's type -------------------------------------------------------


class ServiceFunction(Protocol[P, R_co]):
    """A function guarded by :func:`service`: call it as the function it wraps.

    The components it drives are readable (and shared with anything else
    holding them): :attr:`metrics`, :attr:`breaker` and :attr:`limiter`.
    """

    __wrapped__: Callable[..., object]
    __name__: str
    __qualname__: str

    @property
    def name(self) -> str:
        """The service's name (the function's qualified name unless given)."""
        ...

    @property
    def metrics(self) -> Metrics | None:
        """The metrics every attempt is counted in, or None (``metrics=False``)."""
        ...

    @property
    def breaker(self) -> CircuitBreaker | Breaker | None:
        """The breaker every attempt goes through, or None (``breaker=False``)."""
        ...

    @property
    def limiter(self) -> Limiter | None:
        """The bulkhead (``limiter``, or the ``pool``'s slots), or None."""
        ...

    @property
    def service(self) -> Service:
        """The options the function was decorated with."""
        ...

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co:
        """Call the wrapped function as a service."""
        ...

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> ServiceFunction[P, R_co]: ...

    @overload
    def __get__(
        self: ServiceFunction[Concatenate[S, P2], R], instance: S, owner: type | None = None
    ) -> ServiceFunction[P2, R]: ...


# -- the registry of services ----------------------------------------------------------

_registry: Final[NamedWeakRegistry[ServiceFunction[..., object]]] = NamedWeakRegistry("services")


#: Live services by name. A name decorated again (a test redefining a service)
#: maps to the newest; entries vanish when their functions are garbage collected.
services: Final[Mapping[str, ServiceFunction[..., object]]] = _registry.view


# -- the options -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, repr=False)
class Service:
    """The validated options of :func:`service`; call it on a function to guard it.

    One ``Service`` may decorate several functions: each gets its own default
    breaker, metrics, limiter (from an int) and pool, named after the function
    unless *name* is given. Breakers, metrics, limiters and harnesses passed
    as objects are shared by every function decorated.

    See :func:`service` for the options.

    Raises:
        TypeError: An option has the wrong type.
        ValueError: An option is out of range, or *limiter* and *pool* are both given.
    """

    name: str | None = None
    timeout: float | None = None
    retry: Retry | None = None  # an int given here becomes Retry(n)
    breaker: CircuitBreaker | Breaker | bool | None = True  # None becomes True
    limiter: Limiter | int | None = None
    pool: int | None = None
    fallback: Callable[..., object] | None = None
    metrics: Metrics | bool | None = True  # None becomes True
    harness: Harness | LoggerLike | bool | None = False  # None becomes False
    clock: Clock | None = None

    def __post_init__(self) -> None:
        # None means the default, as for service().
        for option, default in (("breaker", True), ("metrics", True), ("harness", False)):
            if getattr(self, option) is None:
                object.__setattr__(self, option, default)
        check_type("name", self.name, (str, type(None)))
        timeout = check_optional_number("timeout", self.timeout, low=0, low_open=True)
        if timeout == float("inf"):
            raise ValueError(
                f"'timeout' must be finite; pass None for no timeout (got {describe(self.timeout)})"
            )
        object.__setattr__(self, "timeout", timeout)
        retry: object = self.retry
        if isinstance(retry, int) and not isinstance(retry, bool):
            object.__setattr__(self, "retry", Retry(check_int("retry", retry, low=1)))
        elif retry is not None and not isinstance(retry, Retry):
            raise TypeError(
                "'retry' must be a dyno.retry.Retry policy, an int number of attempts, or None "
                f"(got {describe(retry)})"
            )
        if not isinstance(self.breaker, (CircuitBreaker, Breaker, bool)):
            raise TypeError(
                "'breaker' must be a dyno.breaker.CircuitBreaker or Breaker, True, False or "
                f"None (got {describe(self.breaker)})"
            )
        limiter = self.limiter
        if isinstance(limiter, int) and not isinstance(limiter, bool):
            check_int("limiter", limiter, low=1)
        elif not isinstance(limiter, (Limiter, type(None))):
            raise TypeError(
                "'limiter' must be a dyno.breaker.Limiter, an int number of slots, or None "
                f"(got {describe(limiter)})"
            )
        if self.pool is not None:
            check_int("pool", self.pool, low=1)
            if limiter is not None:
                raise ValueError(
                    f"Cannot use both 'limiter' ({limiter!r}) and 'pool' ({self.pool!r}): "
                    "a pool already bounds concurrent calls to its size. Pass only one."
                )
        if self.fallback is not None:
            check_callable("fallback", self.fallback)
        if not isinstance(self.metrics, (Metrics, bool)):
            raise TypeError(
                "'metrics' must be a dyno.metrics.Metrics, True, False or None "
                f"(got {describe(self.metrics)})"
            )
        if not isinstance(self.harness, (Harness, logging.Logger, logging.LoggerAdapter, bool)):
            raise TypeError(
                "'harness' must be True, a logging.Logger or logging.LoggerAdapter, a "
                f"dyno.harness.Harness, or None (got {describe(self.harness)})"
            )
        check_clock("clock", self.clock)

    def __call__(self, fn: Callable[P, R]) -> ServiceFunction[P, R]:
        """Guard *fn* (a sync or async function or method) with these options.

        Raises:
            TypeError: *fn* is not callable, is a classmethod or staticmethod
                object (put that decorator above), is a generator function, or
                is sync with an async fallback.
            ValueError: *fn* is async and a thread ``pool`` was asked for.
        """
        check_decoratable("service", fn)
        if inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
            raise TypeError(
                f"Cannot make generator function {fn!r} a service: its body runs after the "
                "call returns, outside the service. Decorate a function that returns the "
                "values (say, a list) instead."
            )
        asynchronous = is_async_callable(fn)
        if asynchronous and self.pool is not None:
            raise ValueError(
                f"Cannot run async function {fn!r} on a thread pool (pool={self.pool!r}): "
                "it runs on the event loop. Use limiter= to bound its concurrency instead."
            )
        fallback = self.fallback
        if fallback is not None and not asynchronous and is_async_callable(fallback):
            raise TypeError(
                f"Cannot use async fallback {fallback!r} for sync function {fn!r}: nothing "
                "would await it. Give a sync fallback, or make the function async."
            )
        plan = _Plan(self, fn)
        wrapper = _async_driver(plan) if asynchronous else _sync_driver(plan)
        functools.update_wrapper(wrapper, fn)
        wrapper.name = plan.name  # type: ignore[attr-defined]  # described by ServiceFunction
        wrapper.metrics = plan.metrics  # type: ignore[attr-defined]  # likewise
        wrapper.breaker = plan.breaker  # type: ignore[attr-defined]  # likewise
        wrapper.limiter = plan.limiter  # type: ignore[attr-defined]  # likewise
        wrapper.service = self  # type: ignore[attr-defined]  # likewise
        service_fn = cast("ServiceFunction[P, R]", wrapper)
        _registry.add(plan.name, service_fn)
        return service_fn

    def __repr__(self) -> str:
        parts = [] if self.name is None else [repr(self.name)]
        for option, default in (
            ("timeout", None),
            ("retry", None),
            ("breaker", True),
            ("limiter", None),
            ("pool", None),
            ("fallback", None),
            ("metrics", True),
            ("harness", False),
            ("clock", None),
        ):
            value = getattr(self, option)
            if value is default:
                continue
            shown = getattr(value, "__qualname__", None) if option == "fallback" else None
            parts.append(f"{option}={shown or repr(value)}")
        return f"service({', '.join(parts)})"


@overload
def service(name: Callable[P, R], /) -> ServiceFunction[P, R]: ...


@overload
def service(
    name: str | None = None,
    *,
    timeout: float | None = None,
    retry: Retry | int | None = None,
    breaker: CircuitBreaker | Breaker | bool | None = None,
    limiter: Limiter | int | None = None,
    pool: int | None = None,
    fallback: Callable[..., object] | None = None,
    metrics: Metrics | bool | None = None,
    harness: Harness | LoggerLike | bool | None = None,
    clock: Clock | None = None,
) -> Service: ...


def service(
    name: str | Callable[P, R] | None = None,
    *,
    timeout: float | None = None,
    retry: Retry | int | None = None,
    breaker: CircuitBreaker | Breaker | bool | None = None,
    limiter: Limiter | int | None = None,
    pool: int | None = None,
    fallback: Callable[..., object] | None = None,
    metrics: Metrics | bool | None = None,
    harness: Harness | LoggerLike | bool | None = None,
    clock: Clock | None = None,
) -> Service | ServiceFunction[P, R]:
    """Guard a function that makes one attempt as a Hystrix command.

    Use it bare (``@service``) or called (``@service("db", timeout=2, retry=3)``)
    on sync and ``async`` functions and methods. Each call:

    1. checks the circuit: an open breaker counts a ``short_circuit`` and
       makes no attempt (the call raises :class:`~dyno.breaker.Broken`, or
       returns the fallback's result);
    2. takes a bulkhead slot: a full limiter or pool counts a ``rejection``
       (and a breaker failure, as in Hystrix) and raises
       :class:`~dyno.breaker.RateLimited`, or falls back;
    3. makes the attempt, within *timeout* seconds when given: a late attempt
       counts a ``timeout`` (and a breaker failure) and raises
       :class:`ServiceTimeout`; its late result is never counted;
    4. retries per *retry*, each attempt going through steps 1-3 again (so
       once the circuit opens no further attempt is made), sleeping the
       policy's backoff through the clock;
    5. when the last attempt failed, returns ``fallback(*args, **kwargs)``
       (counting ``fallback_success``), or raises: the error itself after one
       attempt, a :class:`~dyno.retry.CompoundException` of every attempt's
       error (``from`` the last) after several. A fallback that raises counts
       ``fallback_failure`` and its error propagates, ``from`` the call's error.

    Exceptions the breaker ``exclude``\\ s (the caller's fault) are neither
    retried nor sent to the fallback, and count as successes. A
    :class:`~dyno.breaker.Broken` or :class:`~dyno.breaker.RateLimited` from
    another service called inside the function counts as a ``failure``, and
    is not retried either. ``BaseException``\\ s that are not
    ``Exception``\\ s pass through at once, uncounted; the breaker ticket and
    the bulkhead slot are given back.

    Args:
        name: The service's name, for its breaker, metrics, limiter, timing
            interval and :data:`services` entry (default: the function's
            qualified name).
        timeout: Seconds (> 0) each attempt may take, or None. A sync attempt
            then runs on a worker thread of a shared executor
            (:data:`SHARED_WORKERS` threads).
        retry: A :class:`~dyno.retry.Retry` policy, or an int: that many
            attempts (``retry(n)``), no wait. None makes one attempt.
        breaker: None or True: a new :class:`~dyno.breaker.CircuitBreaker`
            named after the service (Hystrix's default); False: none; or a
            :class:`~dyno.breaker.CircuitBreaker` or :class:`~dyno.breaker.Breaker`
            to use.
        limiter: A :class:`~dyno.breaker.Limiter`, or an int: a new limiter of
            that many concurrent calls that rejects at once.
        pool: Run sync attempts on a dedicated pool of that many threads
            (thread isolation); a call finding every thread busy is rejected.
            Not with *limiter*, not for async functions.
        fallback: Called with the call's arguments when the last attempt
            failed; its result is returned. May be async for async functions.
        metrics: None or True: a new :class:`~dyno.metrics.Metrics` named after
            the service; False: none; or a :class:`~dyno.metrics.Metrics` to use.
        harness: True, a logger, or a :class:`~dyno.harness.Harness`: report
            each failed attempt through :mod:`dyno.harness`. None or False: don't.
        clock: The clock for backoff sleeps and for the breaker, metrics and
            limiter created here; None reads :func:`dyno.clock.get_clock` at each use.

    Returns:
        A :class:`Service` to decorate with, or the guarded function when used bare.

    Raises:
        TypeError: An option has the wrong type, *fallback* is not callable.
        ValueError: An option is out of range (a timeout <= 0, a pool < 1, a
            retry of 0 attempts), or both *limiter* and *pool* are given.
    """
    refuse_method_object("service", name)
    function, label = (name, None) if callable(name) else (None, name)
    options = Service(
        name=label,
        timeout=timeout,
        retry=cast("Retry | None", retry),  # Service makes Retry(n) of an int
        breaker=breaker,
        limiter=limiter,
        pool=pool,
        fallback=fallback,
        metrics=metrics,
        harness=harness,
        clock=clock,
    )
    # service(fn, timeout=2) applies its options, as @service(timeout=2) would.
    return options if function is None else options(function)


# -- the engine ------------------------------------------------------------------------

_shared_lock = threading.Lock()
_shared: ThreadPoolExecutor | None = None


def _shared_executor() -> ThreadPoolExecutor:
    global _shared
    executor = _shared
    if executor is None:
        with _shared_lock:
            executor = _shared
            if executor is None:
                executor = _shared = ThreadPoolExecutor(
                    SHARED_WORKERS, thread_name_prefix="dyno-service"
                )
    return executor


_TIMED_EVENTS: Final = frozenset({"success", "failure", "timeout"})


class _Counter:
    """Counts the outcome of a service's failed attempts in its metrics, as Hystrix does.

    Apart from :class:`_Plan` because the attempt closures the plan holds use
    it: closures holding the plan would make a reference cycle, and a dropped
    service (its breaker, its pool's threads) would live on until the next
    garbage collection.
    """

    __slots__ = ("breaker", "excluded", "limiter", "metrics")

    def __init__(
        self,
        metrics: Metrics | None,
        breaker: CircuitBreaker | Breaker | None,
        limiter: Limiter | None,
        excluded: tuple[type[BaseException], ...],
    ) -> None:
        self.metrics = metrics
        self.breaker = breaker
        self.limiter = limiter
        self.excluded = excluded

    def failed(self, error: Exception, clock: Clock, start: float) -> None:
        """Count the attempt that raised *error*, as :func:`dyno.metrics.classify` says.

        But a :class:`~dyno.breaker.Broken` or :class:`~dyno.breaker.RateLimited`
        that is not this service's own (told apart by name: it comes from a
        service or breaker called inside the function) is a ``failure`` of the
        dependency, as the breaker counts it and as Hystrix counts a nested
        command's error; an exception the breaker excludes (the caller's fault)
        is a ``success``, as the breaker counts it.
        """
        event = classify(error) or "failure"
        if isinstance(error, Broken):
            if self.breaker is None or error.name != self.breaker.name:
                event = "failure"
        elif isinstance(error, RateLimited):
            limiter = self.limiter
            if limiter is None or (error.name, error.limit) != (limiter.name, limiter.limit):
                event = "failure"
        elif isinstance(error, self.excluded):
            event = "success"
        # Short circuits and rejections never reached the dependency: no latency.
        latency = clock.now() - start if event in _TIMED_EVENTS else None
        cast(Metrics, self.metrics).record(event, latency)


class _Plan:
    """Everything one decorated function needs per call, built once at decoration.

    It is the engine both drivers share: :attr:`attempt` makes one counted,
    guarded attempt; :meth:`next_delay` says whether (and after how long) to
    try again; :meth:`final_error` and :meth:`fallback_failed` shape what the
    caller gets when every attempt failed.
    """

    __slots__ = (
        "attempt",
        "breaker",
        "clock",
        "counter",
        "deadline",
        "excluded",
        "fallback",
        "final",
        "guarded",
        "limiter",
        "metrics",
        "name",
        "on",
        "policy",
        "predicate",
        "timed",
    )

    def __init__(self, options: Service, fn: Callable[..., object]) -> None:
        name = options.name
        if name is None:
            name = getattr(fn, "__qualname__", None) or repr(fn)
        self.name: str = name
        clock = options.clock
        policy = options.retry
        self.policy = policy
        self.deadline = policy is not None and policy.deadline is not None
        self.clock = clock if clock is not None else (policy.clock if policy else None)
        self.on: tuple[type[Exception], ...] = policy.on if policy else ()
        self.predicate = cast("Callable[[object], bool] | None", policy and policy.result)
        self.fallback = options.fallback
        self.timed = Timed(name)

        breaker = options.breaker
        if breaker is True:
            breaker = CircuitBreaker(name, clock=clock)
        # Not `breaker or None`: a tripped fuse is falsy.
        self.breaker: CircuitBreaker | Breaker | None = None if breaker is False else breaker
        self.excluded: tuple[type[BaseException], ...] = (
            breaker.config.exclude if isinstance(breaker, CircuitBreaker) else ()
        )
        # Never retried: an open circuit (no attempt may follow), the caller's own fault.
        self.final: tuple[type[BaseException], ...] = (Broken, *self.excluded)
        metrics = options.metrics
        if metrics is True:
            metrics = Metrics(name, clock=clock)
        self.metrics: Metrics | None = None if metrics is False else metrics
        limiter = options.limiter
        if isinstance(limiter, int):
            limiter = Limiter(limiter, name=name, clock=clock)
        if options.pool is not None:
            limiter = Limiter(options.pool, name=name, clock=clock)
        self.limiter: Limiter | None = limiter
        self.counter = _Counter(self.metrics, self.breaker, limiter, self.excluded)
        self.guarded = self._stack(options, fn)
        self.attempt = self._metered(is_async_callable(fn))

    def _stack(self, options: Service, fn: Callable[..., object]) -> Callable[..., object]:
        """Compose one attempt but its metrics: breaker(bulkhead(harness(timeout(fn))))."""
        harness = _harness(options.harness, self.name)
        attempt = fn
        if is_async_callable(fn):
            if harness is not None:
                attempt = harness(attempt)
            if options.timeout is not None:
                attempt = _async_timeout(attempt, self.name, options.timeout)
                if harness is not None:
                    attempt = _reporting_timeouts(attempt, harness)
            if self.limiter is not None:
                attempt = self.limiter(attempt)
        elif options.timeout is not None or options.pool is not None:
            if harness is not None:
                attempt = harness(attempt)
            executor = (
                ThreadPoolExecutor(options.pool, thread_name_prefix=f"dyno-service-{self.name}")
                if options.pool is not None
                else None
            )
            attempt = _isolated(
                attempt, self.name, options.timeout, self.limiter, executor, harness
            )
        else:
            if harness is not None:
                attempt = harness(attempt)
            if self.limiter is not None:
                attempt = self.limiter(attempt)
        if self.breaker is not None:
            attempt = self.breaker(attempt)
        return attempt

    def _metered(self, asynchronous: bool) -> Callable[..., object]:
        """Return the guarded attempt, timed and counted in the metrics by its outcome."""
        guarded, metrics, pinned = self.guarded, self.metrics, self.clock
        if metrics is None:
            return guarded
        success, failed = metrics.success, self.counter.failed
        begin, end = metrics.begin, metrics.end
        if asynchronous:
            async_guarded = cast("Callable[..., Awaitable[object]]", guarded)

            async def ametered(*args: object, **kwargs: object) -> object:
                clock = pinned or get_clock()
                start = clock.now()
                begin()
                try:
                    value = await async_guarded(*args, **kwargs)
                except Exception as exc:
                    failed(exc, clock, start)
                    raise
                finally:
                    end()
                success(clock.now() - start)
                return value

            return ametered

        def metered(*args: object, **kwargs: object) -> object:
            clock = pinned or get_clock()
            start = clock.now()
            begin()
            try:
                value = guarded(*args, **kwargs)
            except Exception as exc:
                failed(exc, clock, start)
                raise
            finally:
                end()
            success(clock.now() - start)
            return value

        return metered

    def now(self) -> float:
        """Return the time on the service's clock (the dyno clock unless pinned)."""
        return (self.clock or get_clock()).now()

    def next_delay(self, attempt: int, error: Exception | None, started: float) -> float | None:
        """Return the wait before the attempt after number *attempt*, or None to stop.

        *error* is what attempt *attempt* raised (None: it returned a value
        the policy's ``result`` predicate refused); *started* is the clock
        time the call's first attempt began.
        """
        policy = self.policy
        if policy is None:
            return None
        if error is not None and (isinstance(error, self.final) or not isinstance(error, self.on)):
            return None
        elapsed = 0.0 if policy.deadline is None else max(0.0, self.now() - started)
        return policy.next_delay(attempt, elapsed)

    def gives_up(self, error: Exception) -> bool:
        """Return True when the last attempt's *error* must skip the fallback."""
        return self.fallback is None or isinstance(error, self.excluded)

    @staticmethod
    def final_error(errors: list[Exception]) -> Exception:
        """Return what a call whose every attempt failed raises (before any fallback)."""
        if len(errors) == 1:
            return errors[0]
        compound = make_compound_exception(errors)
        compound.__cause__ = errors[-1]  # what `raise compound from errors[-1]` would set
        compound.__suppress_context__ = True
        return compound

    def fallback_succeeded(self) -> None:
        """Count a fallback that returned."""
        if self.metrics is not None:
            self.metrics.fallback_success()

    def fallback_failed(self, error: Exception, original: Exception) -> Exception:
        """Count a failed fallback and return its *error*, chained from the call's error."""
        if self.metrics is not None:
            self.metrics.fallback_failure()
        if error is not original:
            if error.__cause__ is None:
                error.__cause__ = original  # as `raise error from original`
                error.__suppress_context__ = True
            else:
                error.add_note(f"The fallback of service {self.name!r} ran after: {original!r}")
        return error


def _harness(option: Harness | LoggerLike | bool | None, name: str) -> Harness | None:
    if isinstance(option, Harness):
        return option
    if option is False or option is None:
        return None
    return Harness(None if option is True else option, name=name)


# -- attempt layers ---------------------------------------------------------------------


def _isolated(
    fn: Callable[..., object],
    name: str,
    timeout: float | None,
    slots: Limiter | None,
    executor: ThreadPoolExecutor | None,
    harness: Harness | None,
) -> Callable[..., object]:
    """Run each call of sync *fn* on a worker thread, waiting at most *timeout*.

    The bulkhead slot is taken in the caller and given back by the worker when
    *fn* really ends, so an abandoned attempt still holds it: a pool never has
    more attempts running than threads, and a limiter still bounds the load on
    the dependency.
    """
    qualname = getattr(fn, "__qualname__", None) or repr(fn)

    def work(args: tuple[object, ...], kwargs: dict[str, object]) -> object:
        try:
            return fn(*args, **kwargs)
        finally:
            if slots is not None:
                slots.release()

    def late(future: Future[object]) -> None:
        # Nobody waits for an abandoned attempt any more. A harness around fn
        # has reported its error already; otherwise leave a trace in the log.
        if harness is None and not future.cancelled():
            error = future.exception()
            if error is not None:
                _logger.warning(
                    "An abandoned attempt of service %r failed late", name, exc_info=error
                )

    @functools.wraps(fn)
    def isolated(*args: object, **kwargs: object) -> object:
        if slots is not None:
            slots.acquire()
        try:
            future = (executor or _shared_executor()).submit(
                contextvars.copy_context().run, work, args, kwargs
            )
        except BaseException:
            if slots is not None:
                slots.release()
            raise
        try:
            return future.result(timeout)
        except TimeoutError as waited:
            if future.done() and not future.cancelled() and future.exception() is waited:
                raise  # fn raised TimeoutError itself, in time
            # Even if it finished just after the wait gave up: a late result is
            # never counted as a success.
            _abandon(future, slots, late)
            error = ServiceTimeout(name, cast(float, timeout))
            if harness is not None:
                harness.report(error, qualname)
            raise error from None
        except BaseException:
            if not future.done():
                _abandon(future, slots, late)
            raise

    return isolated


def _abandon(
    future: Future[object], slots: Limiter | None, late: Callable[[Future[object]], None]
) -> None:
    """Give up on *future*: cancel it if it has not started, else let it finish unseen."""
    if future.cancel():
        if slots is not None:
            slots.release()  # work() never ran, so it cannot give the slot back
    else:
        future.add_done_callback(late)


def _async_timeout(
    fn: Callable[..., object], name: str, timeout: float
) -> Callable[..., Coroutine[object, object, object]]:
    """Cancel each call of async *fn* after *timeout* seconds and raise :class:`ServiceTimeout`."""
    async_fn = cast("Callable[..., Awaitable[object]]", fn)

    @functools.wraps(fn)
    async def bounded(*args: object, **kwargs: object) -> object:
        scope = asyncio.timeout(timeout)
        try:
            async with scope:
                value = await async_fn(*args, **kwargs)
        except Exception as error:
            if not scope.expired():
                raise
            # Cancelled at the deadline. A coroutine that caught the cancellation
            # and raised something else still timed out.
            cause = None if isinstance(error, TimeoutError) else error
            raise ServiceTimeout(name, timeout) from cause
        if scope.expired():
            # It caught the cancellation and returned: a late result, never a success.
            raise ServiceTimeout(name, timeout)
        return value

    return bounded


def _reporting_timeouts(
    fn: Callable[..., object], harness: Harness
) -> Callable[..., Coroutine[object, object, object]]:
    """Report each :class:`ServiceTimeout` of async *fn* through *harness*."""
    async_fn = cast("Callable[..., Awaitable[object]]", fn)
    qualname = getattr(fn, "__qualname__", None) or repr(fn)

    @functools.wraps(fn)
    async def reporting(*args: object, **kwargs: object) -> object:
        try:
            return await async_fn(*args, **kwargs)
        except ServiceTimeout as error:
            harness.report(error, qualname)
            raise

    return reporting


# -- the drivers -------------------------------------------------------------------------


def _sync_driver(plan: _Plan) -> Callable[..., object]:
    timed = plan.timed
    get_timer = current_timer
    metrics = plan.metrics
    if metrics is None or plan.deadline:

        def call(*args: object, **kwargs: object) -> object:
            if get_timer() is None:
                return _run_sync(plan, args, kwargs)
            with timed:
                return _run_sync(plan, args, kwargs)

        return call

    # The common case, its first attempt inlined (Plan._metered's body): a
    # Python frame less per call, which the target of half pyresilience's cost
    # needs (benchmarks/bench_service.py). Keep the two in step.
    guarded = plan.guarded
    predicate = plan.predicate
    pinned = plan.clock
    success, failed = metrics.success, plan.counter.failed
    begin, end = metrics.begin, metrics.end

    def fast(*args: object, **kwargs: object) -> object:
        if get_timer() is not None:
            with timed:
                return _run_sync(plan, args, kwargs)
        clock = pinned or get_clock()
        start = clock.now()
        value: object = None
        begin()
        try:
            value = guarded(*args, **kwargs)
        except Exception as exc:
            failed(exc, clock, start)
            error: Exception | None = exc
        else:
            success(clock.now() - start)
            if predicate is None or not predicate(value):
                return value
            error = None
        finally:
            end()
        # Outside the except block: later errors carry no context from this one.
        return _recover_sync(plan, args, kwargs, 0.0, value, error)

    return fast


def _run_sync(plan: _Plan, args: tuple[object, ...], kwargs: dict[str, object]) -> object:
    """Make a call: the first attempt, then whatever recovery it needs."""
    started = plan.now() if plan.deadline else 0.0
    predicate = plan.predicate
    value: object = None
    try:
        value = plan.attempt(*args, **kwargs)
    except Exception as exc:
        error: Exception | None = exc
    else:
        if predicate is None or not predicate(value):
            return value
        error = None
    return _recover_sync(plan, args, kwargs, started, value, error)


def _recover_sync(
    plan: _Plan,
    args: tuple[object, ...],
    kwargs: dict[str, object],
    started: float,
    value: object,
    error: Exception | None,
) -> object:
    """Go on with a call whose first attempt raised *error* or returned a refused *value*."""
    attempt, predicate = plan.attempt, plan.predicate
    errors: list[Exception] = []
    number = 1
    while True:
        if error is not None:
            errors.append(error)
        delay = plan.next_delay(number, error, started)
        if delay is None:
            break
        if delay:
            (plan.clock or get_clock()).sleep(delay)
        number += 1
        try:
            value = attempt(*args, **kwargs)
        except Exception as exc:
            error = exc
        else:
            if predicate is None or not predicate(value):
                return value
            error = None
    if error is None:
        return value  # the policy refused even the last result: return it anyway
    final = plan.final_error(errors)
    fallback = plan.fallback
    if fallback is None or plan.gives_up(error):
        raise final
    try:
        result = fallback(*args, **kwargs)
    except Exception as exc:
        failed: Exception = exc
    else:
        plan.fallback_succeeded()
        return result
    raise plan.fallback_failed(failed, final)


def _async_driver(plan: _Plan) -> Callable[..., Coroutine[object, object, object]]:
    attempt = cast("Callable[..., Awaitable[object]]", plan.attempt)
    predicate = plan.predicate
    timed = plan.timed
    fallback = plan.fallback
    awaited = fallback is not None and is_async_callable(fallback)

    async def run(args: tuple[object, ...], kwargs: dict[str, object]) -> object:
        started = plan.now() if plan.deadline else 0.0
        errors: list[Exception] = []
        number = 0
        value: object = None
        error: Exception | None = None
        while True:
            number += 1
            try:
                value = await attempt(*args, **kwargs)
            except Exception as exc:
                error = exc
                errors.append(exc)
            else:
                if predicate is None or not predicate(value):
                    return value
                error = None
            delay = plan.next_delay(number, error, started)
            if delay is None:
                break
            if delay:
                await (plan.clock or get_clock()).asleep(delay)
        if error is None:
            return value
        final = plan.final_error(errors)
        if fallback is None or plan.gives_up(error):
            raise final
        try:
            result = fallback(*args, **kwargs)
            if awaited:
                result = await cast("Awaitable[object]", result)
        except Exception as exc:
            failed: Exception = exc
        else:
            plan.fallback_succeeded()
            return result
        raise plan.fallback_failed(failed, final)

    async def call(*args: object, **kwargs: object) -> object:
        if current_timer() is None:
            return await run(args, kwargs)
        async with timed:
            return await run(args, kwargs)

    return call
