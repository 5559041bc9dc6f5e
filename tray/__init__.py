"""The tray icon: a client of the daemon's HTTP API."""
