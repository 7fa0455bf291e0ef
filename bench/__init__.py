"""`make bench`: seed a PostgreSQL database of its own and measure.

Run as `python -m bench` (N profiles from the environment, default
1,000,000). Every figure is printed beside a baseline taken in the same run,
because absolute timings drift from one machine, and one minute, to the
next.
"""
