"""Demo data: deterministic, realistic landing-zone exports of all raw sources."""

from orchestration.demo.generator import GenerationReport, generate

__all__ = ["GenerationReport", "generate"]
