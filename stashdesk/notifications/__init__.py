"""Notifications: the tray and Apprise targets (Discord, ntfy, Gotify, e-mail, webhooks...).

- ``catalog``: the event names (``job_failed``...) and their tray switches.
- ``messages``: what each event says.
- ``targets``: targets, their secret URLs, their events and last delivery outcome.
- ``delivery``: one Apprise send, off the loop, and what its failure means.
- ``center``: ``NotificationCenter``, which the engine owns (``Services.notifications``).

Qt-free. Importing this package stays cheap (settings import the catalog);
Apprise itself is imported only on a sending thread.
"""
