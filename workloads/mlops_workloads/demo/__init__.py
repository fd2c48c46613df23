"""The one-command local demo (``make demo``): the platform's ML lifecycle on embedded defaults.

Run ``python -m mlops_workloads.demo --help`` for the options; ``--fast`` is the CI size.
"""
