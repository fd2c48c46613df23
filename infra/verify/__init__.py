"""Offline verification of everything a stack's deploy creates (see README, "Verifying the whole set")."""
