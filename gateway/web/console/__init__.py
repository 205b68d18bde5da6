"""The staff web console: server-rendered Japanese pages under /console/ (mounted by `routes.mount`)."""
