"""POET Studio: plan memory-constrained on-device training (rematerialisation + paging)."""

__version__ = "0.1.0"
