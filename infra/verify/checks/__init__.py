"""One module per check; each exposes `CHECK` (see infra/verify/registry.py)."""
