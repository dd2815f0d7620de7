"""StashDesk: a desktop home for Stash and qBittorrent automation daemons."""

__version__ = "0.1.0"
APP_NAME = "StashDesk"
