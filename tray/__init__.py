"""The tray icon: a client of the daemon's HTTP API (``pximse tray``).

- :mod:`.display`: is there a display, and a system tray on it (checked before
  pystray is imported: its X backend connects at import time);
- :mod:`.client`: the daemon's HTTP API (status, pause/resume, rescan, events);
- :mod:`.daemon_process`: attach to the running daemon or start one;
- :mod:`.state` and :mod:`.icon_image`: what the icon shows, and its picture;
- :mod:`.app`: the icon, its menu and actions, following the daemon;
- :mod:`.backend`: how the icon is shown (a StatusNotifierItem, or pystray's
  backend), chosen by what the session offers;
- :mod:`.status_notifier_icon`, :mod:`.status_notifier_item`,
  :mod:`.dbusmenu`, :mod:`.menu`: the icon and its menu as a
  StatusNotifierItem over D-Bus, with pystray's interface; :mod:`.session_bus`
  and :mod:`.dbus_server`: the session bus, and serving objects on it;
- :mod:`.status_window` (a process of its own) and
  :mod:`.status_window_process` (the tray's side of it);
- :mod:`.desktop_open`: the browser and the desktop's file opener;
- :mod:`.x_backend`: work-arounds for pystray's X11 backend.
"""
