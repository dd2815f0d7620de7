import importlib.util

# Stand-in plugins land from parallel branches; load the ones present in this tree.
pytest_plugins = [
    name
    for name in (
        "tests.engine_fixtures",
        "tests.standins.video_tag_fixtures",
        "tests.standins.qbittorrent_fixtures",
        "tests.standins.stash_fixtures",
    )
    if importlib.util.find_spec(name) is not None
]
