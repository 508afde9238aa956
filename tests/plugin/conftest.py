"""Shared setup for the plugin's pytester tests."""

from __future__ import annotations

# Imported once for the whole session: pytester's in-process runs drop modules
# first imported during a run, and hypothesis' own plugin would then re-import
# it (about a second) in every run.
import hypothesis  # noqa: F401  # imported for its side effect on sys.modules
