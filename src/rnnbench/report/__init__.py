"""The study report: aggregate (pandas), figures (matplotlib), render (markdown)."""
