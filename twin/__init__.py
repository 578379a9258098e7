"""The BIM side of SiteTwin: IFC reading, geometry, the raycasting scene, schedules and progress.

A pure library: no Flask, no database. Coordinates are the model's world frame in metres
(z up) unless a docstring says otherwise.
"""
