pytest_plugins = [
    "tests.engine_fixtures",
    "tests.standins.video_tag_fixtures",
    "tests.standins.qbittorrent_fixtures",
    "tests.standins.stash_fixtures",
]
