"""Seeded generators of the embedded demo data (``demo_*`` stages), one module per pipeline.

Every generator is deterministic: the same params give the same files byte for byte.
"""
