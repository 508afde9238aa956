"""pytest_dyno: the pytest plugin that makes dyno's failure paths easy to test.

It loads automatically once dyno is installed (entry point ``pytest11``,
name ``dyno``); disable it with ``-p no:dyno``.
"""

from __future__ import annotations

__all__: list[str] = []
