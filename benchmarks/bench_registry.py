"""dyno.registry lookups and proxies, and dyno.aspect join points, against plain Python.

There is no peer library installed for proxies, so the baselines are a dict
lookup, direct attribute access and a direct call, plus a minimal unlocked
``__getattr__`` proxy to show what the lock and the full forwarding cost.
"""

from __future__ import annotations

from benchmarks.runner import compare, format_table
from dyno.aspect import advertise, after
from dyno.registry import Registry


class Service:
    """A small target with an attribute and a method."""

    def __init__(self) -> None:
        self.value = 1

    def ping(self) -> int:
        return self.value


class MinimalProxy:
    """The least a name-to-object proxy can do: a dict lookup in __getattr__, no lock."""

    __slots__ = ("_key", "_table")

    def __init__(self, table: dict[str, object], key: str) -> None:
        self._table = table
        self._key = key

    def __getattr__(self, name: str) -> object:
        return getattr(self._table[self._key], name)


def _lookups() -> str:
    service = Service()
    table: dict[str, object] = {"svc": service}
    reg = Registry({"svc": service})
    cases = {
        "dict[key]": lambda: table["svc"],
        "Registry[key]": lambda: reg["svc"],
        "Registry.resolve(key)": lambda: reg.resolve("svc"),
        "Registry.get(key)": lambda: reg.get("svc"),
    }
    return format_table("lookup by key", compare(cases, "dict[key]", rounds=7), "dict[key]")


def _proxies() -> str:
    service = Service()
    reg = Registry({"svc": service})
    proxy = reg.proxy("svc")
    minimal = MinimalProxy({"svc": service}, "svc")
    cases = {
        "direct .value": lambda: service.value,
        "minimal proxy .value": lambda: minimal.value,
        "RegistryProxy .value": lambda: proxy.value,
        "direct .ping()": lambda: service.ping(),
        "RegistryProxy .ping()": lambda: proxy.ping(),  # type: ignore[operator]  # forwarded
    }
    results = compare(cases, "direct .value", rounds=7)
    return format_table(
        "attribute access and method calls through a proxy", results, "direct .value"
    )


def _join_points() -> str:
    points: dict[str, list[object]] = {}

    def plain(x: int) -> int:
        return x

    advertised = advertise("empty", points)(plain)
    filtered = advertise("filtered", points)(plain)
    points["filtered"] = [lambda x: ((x,), {}), after(lambda result: result)]
    cases = {
        "plain call": lambda: plain(1),
        "advertised, empty pipeline": lambda: advertised(1),
        "advertised, before + after": lambda: filtered(1),
    }
    results = compare(cases, "plain call", rounds=7)
    return format_table("dyno.aspect join point overhead", results, "plain call")


def main() -> str:
    return "\n\n".join([_lookups(), _proxies(), _join_points()])
