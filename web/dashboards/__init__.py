"""Service-user, provider and council dashboards (issue 6); see docs/dashboards.md."""
