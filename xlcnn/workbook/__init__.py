"""Sheet writers, one module per stage family, and the builder that runs them in order."""

from .build import BuildResult, build_workbook

__all__ = ["BuildResult", "build_workbook"]
