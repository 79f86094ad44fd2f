"""Controls refuse or clamp bad values with a readable message."""

import pytest

import mmsim
from widgets import SizeControl, format_size, kernel_control, memlock_control, parse_size


@pytest.mark.parametrize("text,size", [("20g", 20 << 30), ("512 MiB", 512 << 20),
                                       ("64k", 64 << 10), ("16p", 16 * 4096), ("4096", 4096),
                                       ("1.5g", 3 << 29)])
def test_parse_size(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("bad", ["", "abc", "12 parsecs", "-5g", "g20"])
def test_parse_size_refuses_with_a_message(bad):
    with pytest.raises(ValueError, match="is not a size"):
        parse_size(bad)


def test_format_size_round_trips():
    for n in (4096, 64 << 10, 20 << 30, 3 << 20, 12345):
        assert parse_size(format_size(n)) == n


def test_size_control_refuses_garbage_and_keeps_the_last_value():
    c = SizeControl("size", 1 << 30, 1 << 20, 1 << 40)
    c.box.value = "lots"
    assert c.value == 1 << 30
    assert "is not a size" in c.message.value
    assert c.box.value == "1g"


def test_size_control_clamps_out_of_range():
    c = SizeControl("size", 1 << 30, 1 << 20, 32 << 30)
    c.box.value = "64g"
    assert c.value == 32 << 30
    assert "outside" in c.message.value and "using 32g" in c.message.value
    c.box.value = "1k"
    assert c.value == 1 << 20


def test_memlock_accepts_unlimited():
    c = memlock_control()
    assert c.value == 64 << 10
    c.box.value = "unlimited"
    assert c.value == mmsim.RLIM_INFINITY
    c.box.value = "8m"
    assert c.value == 8 << 20


def test_size_control_value_is_observable_once_per_change():
    c = SizeControl("size", 1 << 30, 1 << 20, 1 << 40)
    seen = []
    c.observe(lambda change: seen.append(change["new"]), names="value")
    c.box.value = "2g"
    c.box.value = "nonsense"
    assert seen == [2 << 30]


def test_kernel_control_offers_the_three_kernels():
    assert tuple(kernel_control().options) == mmsim.KERNEL_VERSIONS


def test_memlock_presets_set_the_value_and_say_whose_limit_it_is():
    from widgets import memlock_preset_control
    c = memlock_preset_control()
    assert c.value == mmsim.RLIM_INFINITY and c.buttons.value == "unlimited"
    assert "Ubuntu" in c.note.value
    seen = []
    c.observe(lambda change: seen.append(change["new"]), names="value")
    c.buttons.value = "16 KiB"
    assert c.value == 16 << 10 and c.free.box.value == "16k" and "RHEL" in c.note.value
    c.buttons.value = "64 KiB"
    assert c.value == 64 << 10 and "2.6.37" in c.note.value
    assert seen == [16 << 10, 64 << 10]


def test_memlock_presets_take_a_value_of_ones_own_and_refuse_garbage():
    from widgets import memlock_preset_control
    c = memlock_preset_control(8 << 20)
    assert c.buttons.value == "8 MiB"
    c.free.box.value = "300m"
    assert c.value == 300 << 20 and c.buttons.value == "other"
    c.free.box.value = "lots"
    assert c.value == 300 << 20 and "is not a size" in c.free.message.value
    c.free.box.value = "5t"
    assert c.value == 1 << 40 and "outside" in c.free.message.value
    c.free.box.value = "8m"                      # a typed preset selects its button
    assert c.buttons.value == "8 MiB" and c.value == 8 << 20
    c.buttons.value = "other"                    # "other" alone changes nothing
    assert c.value == 8 << 20 and "type a value" in c.note.value


def test_mount_options_control_offers_what_the_filesystems_take():
    from widgets import mount_options_control
    from widgets.controls import MOUNT_OPTIONS
    c = mount_options_control()
    assert c.value == "" and [v for _, v in c.options] == list(MOUNT_OPTIONS)
    m = mmsim.Machine(kernel="2.6.38")
    for option in MOUNT_OPTIONS:               # every option is one some filesystem mounts with
        assert any(_mounts(m, fs, option) for fs in mmsim.ALL_FILESYSTEMS), option


def _mounts(m, fs, option):
    try:
        m.mkfs(f"/{fs}{option}", fs=fs, size=1 << 20, options=option)
    except OSError:
        return False
    return True
