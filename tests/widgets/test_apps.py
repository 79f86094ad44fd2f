"""Apps re-simulate when a control changes; no browser needed."""

from mmsim import GiB, MiB, scenarios
from widgets import App, fs_control, kernel_control, page_state_map


def hole(kernel, fs):
    return scenarios.memtoy_hole20g(kernel, fs, "lock", size=64 * MiB, partition=GiB,
                                    ram=GiB, flags=True)


def make_app():
    return App(hole, {"kernel": kernel_control("2.6.38"), "fs": fs_control("ext4")},
               [lambda r: page_state_map(r.flags)], title="mlock")


def test_app_updates_when_the_kernel_changes():
    app = make_app().update()
    assert app.views[0].numbers["locked, dirty"] == 0
    app.controls["kernel"].value = "2.6.37"
    assert app.result.kernel == "2.6.37"
    assert app.views[0].numbers["locked, dirty"] == 16384
    assert app.result.file_blocks_kb == 64 * 1024       # ext4 reserved every block


def test_app_shows_an_engine_error_instead_of_raising():
    def failing(kernel, fs):
        return scenarios.memtoy_hole20g(kernel, fs, action="nonsense")
    app = App(failing, {"kernel": kernel_control(), "fs": fs_control()}, []).update()
    assert app.result is None and "action must be" in app.error
    assert "action must be" in app.status.value
