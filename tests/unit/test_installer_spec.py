"""build_installer.spec, read the way PyInstaller reads it, with its build steps recorded.

The real build (minutes, hundreds of MB) is scripts/build_installer.sh's job, run by
.ci/run; here the spec runs against stand-ins for Analysis/PYZ/EXE/COLLECT/BUNDLE, so
what it asks for (resources, hidden imports, excludes, executables, Qt plugins) is
checked in a second.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from stashdesk.resources_path import REQUIRED_RESOURCES
from tests.cli_helpers import REPO

pytest.importorskip("PyInstaller", reason="the [build] extra (PyInstaller) is not installed")

SPEC = REPO / "build_installer.spec"


class Recorder:
    def __init__(self) -> None:
        self.calls: dict[str, list[SimpleNamespace]] = {}

    def step(self, kind: str, result=None):
        def record(*args, **kwargs):
            call = SimpleNamespace(args=args, kwargs=kwargs)
            self.calls.setdefault(kind, []).append(call)
            if result is not None:
                return result(call)
            return call

        return record


def fake_analysis(call, extra_binaries=()):
    binaries = [
        (dest, f"/nonexistent/{dest}", kind)
        for dest, kind in (
            ("libpython3.11.so.1.0", "BINARY"),
            ("PySide6/QtWidgets.abi3.so", "EXTENSION"),
            ("PySide6/Qt/plugins/platforms/libqxcb.so", "BINARY"),
            ("PySide6/Qt/plugins/platforms/libqeglfs.so", "BINARY"),
            ("PySide6/Qt/plugins/imageformats/libqpdf.so", "BINARY"),
        )
    ] + list(extra_binaries)
    datas = [
        (str(Path(folder, Path(src).name)), src, "DATA") for src, folder in call.kwargs["datas"]
    ] + [("PySide6/Qt/translations/qtbase_de.qm", "/nonexistent/qtbase_de.qm", "DATA")]
    return SimpleNamespace(binaries=binaries, datas=datas, pure=["pure"], scripts=["script"])


def run_spec(
    monkeypatch, platform: str = "linux", workpath: str = "/nonexistent/build", extra_binaries=()
) -> tuple[dict, Recorder]:
    monkeypatch.setattr(sys, "platform", platform)
    recorder = Recorder()
    namespace = {
        "__name__": "__main__",
        "SPECPATH": str(REPO),
        "SPEC": str(SPEC),
        "workpath": workpath,
        "Analysis": recorder.step("Analysis", lambda call: fake_analysis(call, extra_binaries)),
        "PYZ": recorder.step("PYZ"),
        "EXE": recorder.step("EXE"),
        "COLLECT": recorder.step("COLLECT"),
        "BUNDLE": recorder.step("BUNDLE"),
    }
    exec(compile(SPEC.read_text(encoding="utf-8"), str(SPEC), "exec"), namespace)
    return namespace, recorder


@pytest.fixture(scope="module")
def hooks_cache():
    """collect_submodules/copy_metadata results, computed once for all platforms."""
    return {}


@pytest.fixture
def spec(monkeypatch, hooks_cache, tmp_path):
    import PyInstaller.utils.hooks as hooks

    for name in ("collect_submodules", "copy_metadata"):
        real = getattr(hooks, name)

        def cached(arg, _real=real, _name=name):
            key = (_name, arg)
            if key not in hooks_cache:
                hooks_cache[key] = _real(arg)
            return hooks_cache[key]

        monkeypatch.setattr(hooks, name, cached)

    def run(platform="linux", **kwargs):
        kwargs.setdefault("workpath", str(tmp_path / "build"))  # the spec writes there
        return run_spec(monkeypatch, platform, **kwargs)

    return run


def test_analysis_gets_the_launcher_every_resource_and_the_dynamic_imports(spec):
    _namespace, recorder = spec()
    [analysis] = recorder.calls["Analysis"]
    assert [Path(p) for p in analysis.args[0]] == [REPO / "scripts/stashdesk_launcher.py"]
    assert Path(analysis.args[0][0]).is_file()
    datas = {
        (Path(src).relative_to(REPO / "resources").as_posix(), dest)
        for src, dest in analysis.kwargs["datas"]
        if "resources" in Path(src).parts
    }
    for name in REQUIRED_RESOURCES:
        assert (name, str(Path("resources", name).parent)) in datas
    assert any(
        dest.startswith("keyring-") and dest.endswith(".dist-info")
        for _src, dest in analysis.kwargs["datas"]
    )
    hidden = set(analysis.kwargs["hiddenimports"])
    assert {
        "stashdesk.daemons.video_analysis",
        "stashdesk.jobs.sync",
        "stashdesk.selfcheck",
        "stashdesk.ui.main",
        "stashdesk.ui.resource_check",
        "qasync",
        "keyring.backends.SecretService",
        "keyring.backends.Windows",
        "keyring.backends.macOS",
        "keyring.backends.kwallet",
    } <= hidden
    assert not any(name.startswith("tests") for name in hidden)
    excludes = set(analysis.kwargs["excludes"])
    assert {"tkinter", "PyQt5", "PyQt6", "PySide2", "pytest", "tests"} <= excludes
    assert "PySide6.QtNetwork" in excludes  # 3.4 MB; see stashdesk/ui/single_instance.py


def test_no_stashdesk_module_imports_what_the_bundle_leaves_out(spec):
    from tests.unit.test_layers import in_package, modules

    namespace, _recorder = spec()
    excluded = namespace["EXCLUDES"]
    problems = [
        f"{module} imports {name}"
        for module, imported in modules().items()
        for name in imported
        for left_out in excluded
        if in_package(name, left_out) and left_out != "tests"
    ]
    assert problems == []


def test_linux_one_console_executable_named_stashdesk(spec):
    namespace, recorder = spec("linux")
    [exe] = recorder.calls["EXE"]
    assert exe.kwargs["name"] == "stashdesk"
    assert exe.kwargs["console"] is True
    assert exe.kwargs["exclude_binaries"] is True  # one folder, not one file
    [collect] = recorder.calls["COLLECT"]
    assert collect.kwargs["name"] == "stashdesk"
    assert "BUNDLE" not in recorder.calls
    # The fake analysis' unwanted plugins and translations are gone.
    binaries = {dest for dest, _src, _kind in namespace["a"].binaries}
    assert binaries == {
        "libpython3.11.so.1.0",
        "PySide6/QtWidgets.abi3.so",
        "PySide6/Qt/plugins/platforms/libqxcb.so",
    }
    assert not any("translations" in dest for dest, _src, _kind in namespace["a"].datas)


def test_windows_windowed_executable_with_icon_and_a_console_twin(spec):
    _namespace, recorder = spec("win32")
    gui, cli = recorder.calls["EXE"]
    assert (gui.kwargs["name"], gui.kwargs["console"]) == ("stashdesk", False)
    assert (cli.kwargs["name"], cli.kwargs["console"]) == ("stashdesk-cli", True)
    assert gui.kwargs["icon"] == str(REPO / "resources/icons/stashdesk.ico")
    [collect] = recorder.calls["COLLECT"]
    assert collect.args[:2] == (gui, cli)


def test_macos_windowed_app_bundle(spec):
    _namespace, recorder = spec("darwin")
    [exe] = recorder.calls["EXE"]
    assert exe.kwargs["console"] is False
    [bundle] = recorder.calls["BUNDLE"]
    assert bundle.kwargs["name"] == "StashDesk.app"


def test_qt_plugins_kept_and_dropped(spec):
    namespace, _recorder = spec()
    wanted = namespace["plugin_wanted"]
    for dest in (
        "PySide6/Qt/plugins/platforms/libqxcb.so",
        "PySide6/Qt/plugins/platforms/libqoffscreen.so",
        "PySide6/Qt/plugins/platforms/libqwayland.so",
        "PySide6/plugins/platforms/qwindows.dll",
        "PySide6/Qt/plugins/platforms/libqcocoa.dylib",
        "PySide6/Qt/plugins/imageformats/libqsvg.so",
        "PySide6/Qt/plugins/imageformats/libqico.so",
        "PySide6/plugins/imageformats/qico.dll",
        "PySide6/Qt/plugins/iconengines/libqsvgicon.so",
        "PySide6/plugins/styles/qmodernwindowsstyle.dll",
        "PySide6/Qt/plugins/xcbglintegrations/libqxcb-glx-integration.so",
        "PySide6/Qt/plugins/wayland-shell-integration/libxdg-shell.so",
        "PySide6/Qt/plugins/wayland-decoration-client/libadwaita.so",
        "PySide6/Qt/plugins/somenewtype/libqnew.so",
        "libQt6Core.so.6",
    ):
        assert wanted(dest), dest
    for dest in (
        "PySide6/Qt/plugins/platforms/libqeglfs.so",
        "PySide6/Qt/plugins/platforms/libqminimalegl.so",
        "PySide6/Qt/plugins/platforms/libqvnc.so",
        "PySide6/Qt/plugins/imageformats/libqpdf.so",
        "PySide6/Qt/plugins/imageformats/libqjpeg.so",
        "PySide6/Qt/plugins/platformthemes/libqgtk3.so",
        "PySide6/Qt/plugins/platforminputcontexts/libqtvirtualkeyboardplugin.so",
        "PySide6/Qt/plugins/tls/libqopensslbackend.so",
        "PySide6/Qt/plugins/wayland-shell-integration/libivi-shell.so",
        "PySide6/Qt/plugins/wayland-shell-integration/libwl-shell-plugin.so",
        "PySide6/plugins/generic/qtuiotouchplugin.dll",
    ):
        assert not wanted(dest), dest


def test_the_installed_qt_has_the_plugins_the_spec_keeps(spec):
    """A Qt release that renames a plugin must not silently lose it from the bundle."""
    from PySide6.QtCore import QLibraryInfo

    namespace, _recorder = spec()
    plugins = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath))
    kept = set()
    for path in plugins.rglob("*"):
        dest = f"PySide6/Qt/{path.relative_to(plugins.parent).as_posix()}"
        plugin = namespace["qt_plugin"](dest)
        if plugin and namespace["plugin_wanted"](dest):
            kept.add(plugin)
    native = {"linux": "qxcb", "win32": "qwindows", "darwin": "qcocoa"}[
        "linux" if sys.platform.startswith("linux") else sys.platform
    ]
    assert {
        ("platforms", native),
        ("platforms", "qoffscreen"),
        ("imageformats", "qsvg"),
        ("imageformats", "qico"),
        ("iconengines", "qsvgicon"),
    } <= kept


def test_libraries_only_dropped_plugins_need_go_with_them(spec):
    namespace, _recorder = spec()
    links = {
        "/qt/plugins/platformthemes/libqgtk3.so": ["/sys/libgtk-3.so.0", "/sys/libglib.so"],
        "/sys/libgtk-3.so.0": ["/sys/libcairo.so.2"],
        "/qt/lib/libQt6Core.so.6": ["/sys/libglib.so"],
        "/py/QtCore.abi3.so": ["/qt/lib/libQt6Core.so.6"],
    }
    binaries = [
        (
            "PySide6/Qt/plugins/platformthemes/libqgtk3.so",
            "/qt/plugins/platformthemes/libqgtk3.so",
            "BINARY",
        ),
        ("libgtk-3.so.0", "/sys/libgtk-3.so.0", "BINARY"),
        ("libcairo.so.2", "/sys/libcairo.so.2", "BINARY"),
        ("libglib.so", "/sys/libglib.so", "BINARY"),
        ("PySide6/Qt/lib/libQt6Core.so.6", "/qt/lib/libQt6Core.so.6", "BINARY"),
        ("PySide6/QtCore.abi3.so", "/py/QtCore.abi3.so", "EXTENSION"),
    ]
    datas = [
        ("libgtk-3.so.0.link", "libgtk-3.so.0", "SYMLINK"),
        ("libQt6Core.so.6", "PySide6/Qt/lib/libQt6Core.so.6", "SYMLINK"),
        ("PySide6/Qt/translations/qtbase_de.qm", "/qt/translations/qtbase_de.qm", "DATA"),
        ("resources/style.qss", "/repo/resources/style.qss", "DATA"),
    ]
    kept, kept_datas, removed = namespace["slim"](binaries, datas, lambda path: links.get(path, []))
    assert [dest for dest, _src, _kind in kept] == [
        "libglib.so",
        "PySide6/Qt/lib/libQt6Core.so.6",
        "PySide6/QtCore.abi3.so",
    ]
    assert removed == [
        "PySide6/Qt/plugins/platformthemes/libqgtk3.so",
        "libcairo.so.2",
        "libgtk-3.so.0",
    ]
    assert [dest for dest, _src, _kind in kept_datas] == ["libQt6Core.so.6", "resources/style.qss"]


def test_system_libraries_only_qt_needs_are_left_to_the_system(spec):
    namespace, _recorder = spec()
    links = {
        "/qt/lib/libQt6Gui.so.6": ["/usr/lib/libX11.so.6", "/usr/lib/libz.so.1"],
        "/usr/lib/libX11.so.6": ["/usr/lib/libxcb.so.1"],
        "/py/QtGui.abi3.so": ["/qt/lib/libQt6Gui.so.6"],
        "/py/zlib.so": ["/usr/lib/libz.so.1"],
        "/py/libpython3.11.so.1.0": ["/usr/lib/libm.so"],
    }
    binaries = [
        ("PySide6/Qt/lib/libQt6Gui.so.6", "/qt/lib/libQt6Gui.so.6", "BINARY"),
        ("PySide6/QtGui.abi3.so", "/py/QtGui.abi3.so", "EXTENSION"),
        ("libX11.so.6", "/usr/lib/libX11.so.6", "BINARY"),
        ("libxcb.so.1", "/usr/lib/libxcb.so.1", "BINARY"),
        ("libz.so.1", "/usr/lib/libz.so.1", "BINARY"),  # Python's zlib needs it too
        ("libm.so", "/usr/lib/libm.so", "BINARY"),
        ("libpython3.11.so.1.0", "/py/libpython3.11.so.1.0", "BINARY"),
        ("python3.11/lib-dynload/zlib.so", "/py/zlib.so", "EXTENSION"),
        ("libsqlite3.so.0", "/usr/lib/libsqlite3.so.0", "BINARY"),  # nobody's: not Qt's
    ]
    kept, left_out = namespace["host_libraries"](binaries, lambda path: links.get(path, []))
    assert [dest for dest, _src, _kind in left_out] == ["libX11.so.6", "libxcb.so.1"]
    assert kept == [entry for entry in binaries if entry not in left_out]


def test_apprise_finds_its_plugins_by_empty_files_of_their_names(spec, tmp_path):
    import apprise

    namespace, _recorder = spec()
    markers = namespace["apprise_listing"](str(tmp_path / "work"))
    dests = {(Path(dest, Path(src).name).as_posix()) for src, dest in markers}
    assert all(Path(src).stat().st_size == 0 for src, _dest in markers)
    plugins = Path(apprise.__file__).parent / "plugins"
    assert "apprise/plugins/discord.py" in dests and "apprise/plugins/email/__init__.py" in dests
    assert "apprise/config/http.py" in dests and "apprise/attachment/file.py" in dests
    listed = {
        Path(d).parts[2].removesuffix(".py") for d in dests if d.startswith("apprise/plugins")
    }
    expected = {
        p.stem if p.suffix == ".py" else p.name
        for p in plugins.iterdir()
        if not p.name.startswith("_") and (p.suffix == ".py" or (p / "__init__.py").is_file())
    }
    assert listed == expected
    datas = namespace["datas"]
    assert not any("i18n" in Path(dest).parts for _src, dest in datas)
    apprise_sources = [src for src, dest in datas if src.endswith(".py") and "apprise" in dest]
    assert len(apprise_sources) == len(markers)  # the markers, no source
    assert all(Path(src).stat().st_size == 0 for src in apprise_sources)


def test_pyside6s_icu_data_is_swapped_for_a_slim_copy(spec, tmp_path):
    namespace, _recorder = spec()
    calls = []

    def slim_library(src, dest):
        calls.append((src, dest))
        return SimpleNamespace(before=32.0e6, after=5.2e6, dropped=3720)

    binaries = [
        ("PySide6/Qt/lib/libicudata.so.73", "/wheel/libicudata.so.73", "BINARY"),
        ("PySide6/Qt/lib/libicuuc.so.73", "/wheel/libicuuc.so.73", "BINARY"),
        ("libicudata.so.72", "/usr/lib/libicudata.so.72", "BINARY"),
    ]  # not PySide6's
    kept, note = namespace["slim_icu"](binaries, str(tmp_path), slim_library)
    slim_copy = tmp_path / "icu" / "libicudata.so.73"
    assert calls == [(Path("/wheel/libicudata.so.73"), slim_copy)]
    assert kept == [
        ("PySide6/Qt/lib/libicudata.so.73", str(slim_copy), "BINARY"),
        binaries[1],
        binaries[2],
    ]
    assert note == "ICU data 32.0 MB -> 5.2 MB (3720 items dropped)"
    assert namespace["slim_icu"](binaries[1:], str(tmp_path), slim_library) == (binaries[1:], "")


def test_the_linux_build_ships_the_slim_icu_data_made_in_the_work_folder(spec, tmp_path):
    import shutil

    from PySide6.QtCore import QLibraryInfo

    if not sys.platform.startswith("linux"):
        pytest.skip("PySide6 ships its own ICU on Linux only")
    if shutil.which("as") is None or shutil.which("ld") is None:
        pytest.skip("binutils (as, ld) are missing; scripts/setup.sh test installs them")
    qt_lib = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.LibrariesPath))
    [icu] = qt_lib.glob("libicudata.so.*")
    dest = f"PySide6/Qt/lib/{icu.name}"
    namespace, _recorder = spec(
        "linux", workpath=str(tmp_path), extra_binaries=[(dest, str(icu), "BINARY")]
    )
    [src] = [src for d, src, _kind in namespace["a"].binaries if d == dest]
    assert Path(src) == tmp_path / "icu" / icu.name
    assert Path(src).stat().st_size < icu.stat().st_size / 4
