"""Alerting: metric_alerts rows -> notifications (log, JSON webhook, e-mail)."""
