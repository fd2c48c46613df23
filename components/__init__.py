"""Pulumi components of the MLOps platform, one package per layer (aws, gcp, k8s) and the contract between them."""
