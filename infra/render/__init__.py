"""Offline rendering: every object the plan's Helm releases and kustomize Directories create (see renderer.py)."""
