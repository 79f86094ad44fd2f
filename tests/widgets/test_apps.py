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


def test_app_with_a_memlock_limit_shows_the_kernel_s_refusal():
    """mlock over RLIMIT_MEMLOCK: the App shows ENOMEM, and locks once the limit allows."""
    from widgets import SizeControl, memlock_control

    def dos(memlock, lock):
        return scenarios.memlock_dos("6.18", lock=lock, memlock=(memlock, memlock), ram=GiB,
                                     file_size=64 * MiB)
    app = App(dos, {"memlock": memlock_control(64 * 1024),
                    "lock": SizeControl("lock", 16 * MiB, 0, 512 * MiB)}, []).update()
    assert app.result.locked_bytes == 0 and app.result.lock_error == "Cannot allocate memory"
    app.controls["memlock"].box.value = "32m"          # typed by the reader
    assert app.result.locked_bytes == 16 * MiB and app.result.lock_error == ""
    app.controls["lock"].box.value = "2g"               # clamped to 512m, over the limit again
    assert app.controls["lock"].value == 512 * MiB
    assert "outside" in app.controls["lock"].message.value
    assert app.result.locked_bytes == 0


def test_app_timeline_shows_writeback_only_before_the_patch():
    from widgets import timeline_view

    def hole_timeline(kernel):
        return scenarios.memtoy_hole20g(kernel, "ext2", "lock", size=64 * MiB, partition=GiB,
                                        ram=128 * MiB, sample=0.5)
    app = App(hole_timeline, {"kernel": kernel_control("2.6.38")},
              [lambda r: timeline_view(r.timeline)]).update()
    assert app.views[0].numbers["written_gib"] == 0
    app.controls["kernel"].value = "2.6.37"
    v = app.views[0].numbers
    assert v["written_gib"] > 0 and v["max_dirty_mib"] > 0
    assert v["last_dirty_limit_mib"] < v["first_dirty_limit_mib"]     # mlocked pages left


def test_app_follows_the_filesystem_control():
    """2.6.37 mlock dirties the file either way; ext4 reserves every block at
    ->page_mkwrite, ext2 allocates nothing until writeback."""
    app = make_app()
    app.controls["kernel"].value = "2.6.37"
    assert app.result.file_blocks_kb == 64 * 1024
    app.controls["fs"].value = "ext2"
    assert app.result.fs == "ext2" and app.result.dirty_kb == 64 * 1024
    assert app.result.file_blocks_kb == 0


def test_a_second_update_draws_into_the_same_figures():
    from widgets import fault_path_view
    app = App(hole, {"kernel": kernel_control("2.6.38"), "fs": fs_control("ext2")},
              [lambda r: page_state_map(r.flags), lambda r: fault_path_view(r.functions)])
    app.update()
    figures = [v.figure for v in app.views]
    image = app.views[0].figure.axes[0].get_images()[0]
    before = image.get_array().copy()
    assert app.views[0].numbers["locked, clean"] == 16384
    assert "do_wp_page" not in app.views[1].numbers
    app.controls["kernel"].value = "2.6.37"           # mlock now dirties every page
    assert [v.figure for v in app.views] == figures
    assert app.views[0].figure.axes[0].get_images() == [image]
    assert (image.get_array() != before).any()
    assert app.views[0].numbers["locked, dirty"] == 16384
    assert app.views[0].numbers["locked, clean"] == 0
    assert app.views[1].numbers["do_wp_page"] == 16384
    names = [t.get_text() for t in app.views[1].figure.axes[0].get_yticklabels()]
    assert "do_wp_page" in names


def test_an_app_draws_again_into_its_figure_after_an_engine_error():
    def maybe(kernel, action):
        return scenarios.memtoy_hole20g(kernel, "ext2", action, size=64 * MiB, partition=GiB,
                                        ram=GiB, flags=True)
    import ipywidgets as w
    app = App(maybe, {"kernel": kernel_control("2.6.38"),
                      "action": w.Dropdown(options=["lock", "nonsense"], value="lock")},
              [lambda r: page_state_map(r.flags)]).update()
    figure = app.views[0].figure
    app.controls["action"].value = "nonsense"
    assert app.views == [] and "action must be" in app.error
    app.controls["action"].value = "lock"
    assert app.views[0].figure is figure and app.error == ""


def test_app_figures_have_the_book_s_size_and_resolution():
    from widgets.views import DPI, WIDTH
    app = make_app().update()
    fig = app.views[0].figure
    assert (fig.get_figwidth(), fig.dpi) == (WIDTH, DPI)
    assert repr(fig) == "<Figure size 800x180 with 1 Axes>"     # as the chapters show theirs


def test_the_memlock_app_redraws_who_holds_the_memory():
    """Chapter 08's app: the presets and a lock size; a finite limit spares B's file."""
    from mmsim.testbed.memlock import dos_run, dos_summary
    from widgets import SizeControl, memlock_preset_control, memory_holders_view

    def dos(memlock, lock):
        return dos_run("2.6.37", memlock, lock, ram=256 * MiB, file_size=128 * MiB, passes=3,
                       lock_before=2, sample=0.2)
    app = App(dos, {"memlock": memlock_preset_control(),
                    "lock": SizeControl("A locks", 192 * MiB, 0, 240 * MiB)},
              [lambda r: memory_holders_view(r.timeline, r.owners, r.passes,
                                             {"A locks": r.lock_at}, title=dos_summary(r))]).update()
    first = app.views[0]
    assert app.result.locked == 192 * MiB and first.numbers["pass 3 majflt"] > 0
    app.controls["memlock"].buttons.value = "16 KiB"
    assert app.result.locked == 16 * 1024 and app.views[0].numbers["pass 3 majflt"] == 0
    assert app.views[0].figure is first.figure                      # drawn into again
    assert "A locks 16 KiB" in app.views[0].figure.texts[-1].get_text()
