"""Algorithms: how a validated kernel is turned into work (``plan``) and the loops that do it."""
