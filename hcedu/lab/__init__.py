"""Measuring and showing: load generators, latency percentiles, fault injection, charts, dashboards."""
