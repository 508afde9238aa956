"""Side-by-side benchmarks of dyno against its peers (not part of the test suite)."""
