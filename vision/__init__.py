"""The camera side of SiteTwin: panoramas, rendering, capture simulation, detection, registration.

A pure library: no Flask, no database. Depends on :mod:`twin`, never on :mod:`webapp`.
"""
