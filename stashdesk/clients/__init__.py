"""Clients for Stash, qBittorrent and the video-tag server."""
