"""Controls: kernel version, filesystem, mount options, sizes with units, memlock limit,
profile, seed.

Each control is an ipywidgets widget whose ``.value`` is always valid: a bad
entry is refused (or clamped) and the control says why in its message line.
"""

import re

import ipywidgets as w
import traitlets

import mmsim

UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10,
         "m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20,
         "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30,
         "t": 1 << 40, "tb": 1 << 40, "tib": 1 << 40,
         "p": mmsim.PAGE_SIZE, "page": mmsim.PAGE_SIZE, "pages": mmsim.PAGE_SIZE}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_size(text):
    """Return the bytes a size such as "20g", "512 MiB", "64p" or "4096" stands for.

    Raise ValueError with a message a reader can act on.
    """
    match = _SIZE.match(str(text))
    if not match or match.group(2).lower() not in UNITS:
        raise ValueError(f"{text!r} is not a size: write a number and a unit, "
                         "like 64k, 256m, 20g or 16p (pages)")
    return int(float(match.group(1)) * UNITS[match.group(2).lower()])


def format_size(n):
    """Write bytes the short way: 20g, 256m, 64k, or plain bytes."""
    for unit, size in (("t", 1 << 40), ("g", 1 << 30), ("m", 1 << 20), ("k", 1 << 10)):
        if n >= size and n % size == 0:
            return f"{n // size}{unit}"
    return str(n)


class SizeControl(w.VBox):
    """A text box for a size with units, clamped to [low, high].

    ``.value`` (a traitlet: observe it like any widget value) is the size in
    bytes; "unlimited" is accepted when allow_unlimited (RLIM_INFINITY).
    """

    value = traitlets.Integer()

    def __init__(self, description, value, low, high, allow_unlimited=False):
        self.low, self.high = low, high
        self.allow_unlimited = allow_unlimited
        self._setting = False
        self.box = w.Text(value=self._show(value), description=description,
                          continuous_update=False, layout=w.Layout(width="260px"))
        self.message = w.HTML("")
        self.box.observe(self._typed, names="value")
        super().__init__([self.box, self.message], value=value)

    def _show(self, v):
        return "unlimited" if v == mmsim.RLIM_INFINITY else format_size(v)

    def _put(self, text):
        self._setting = True
        try:
            self.box.value = text
        finally:
            self._setting = False

    def _typed(self, change):
        if self._setting:
            return
        text = change["new"].strip().lower()
        self.message.value = ""
        if self.allow_unlimited and text in ("unlimited", "infinity", "-1"):
            new = mmsim.RLIM_INFINITY
        else:
            try:
                new = parse_size(text)
            except ValueError as e:
                self.message.value = (f"<span style='color:#b00'>{e}; "
                                      f"kept {self._show(self.value)}</span>")
                self._put(self._show(self.value))
                return
            if not self.low <= new <= self.high:
                clamped = min(max(new, self.low), self.high)
                self.message.value = (f"<span style='color:#b00'>{format_size(new)} is outside "
                                      f"{format_size(self.low)}..{format_size(self.high)}: "
                                      f"using {format_size(clamped)}</span>")
                new = clamped
        self._put(self._show(new))
        self.value = new


def kernel_control(value="2.6.38"):
    """The kernel version: before the patch, after it, today."""
    return w.ToggleButtons(options=list(mmsim.KERNEL_VERSIONS), value=value,
                           description="kernel", style={"button_width": "70px"})


def fs_control(value="ext2", options=None):
    """The filesystem of /data."""
    return w.Dropdown(options=list(options or mmsim.FILESYSTEMS), value=value,
                      description="filesystem")


# Mount options the book's experiments use: ext4's nodelalloc, and the
# simulator-only ext2_driver (fs/ext2 on a kernel whose ext4 driver would
# mount ext2) and no_page_mkwrite (the filesystem without its hook).
MOUNT_OPTIONS = ("", "nodelalloc", "ext2_driver", "no_page_mkwrite")


def mount_options_control(value=""):
    """The mount options of /data, one of MOUNT_OPTIONS ("" for none).

    A filesystem that does not know the option refuses the mount (EINVAL),
    and an App shows that message instead of a result.
    """
    return w.Dropdown(options=[(o or "(none)", o) for o in MOUNT_OPTIONS], value=value,
                      description="mount -o")


def regression_control(value=""):
    """A regression to plant in 6.18: one switch of mmsim.testbed.regression.REGRESSIONS, or none."""
    from mmsim.testbed.regression import REGRESSIONS
    return w.Dropdown(options=[("none (6.18 as it is)", "")] + [(s, s) for s in REGRESSIONS],
                      value=value, description="planted")


def profile_control(value="2010"):
    """The hardware cost profile."""
    return w.ToggleButtons(options=list(mmsim.PROFILES), value=value, description="hardware",
                           style={"button_width": "70px"})


def seed_control(value=0):
    """The seed of a random variant (exercises, random stores)."""
    return w.BoundedIntText(value=value, min=0, max=2**31 - 1, description="seed",
                            layout=w.Layout(width="200px"))


def memlock_control(value=64 * 1024):
    """RLIMIT_MEMLOCK of the simulated process, or unlimited."""
    return SizeControl("memlock", value, 0, 1 << 40, allow_unlimited=True)


def value_of(control):
    """The current value of any control here."""
    return control.value


OTHER = "other"


class MemlockPresets(w.VBox):
    """RLIMIT_MEMLOCK: a preset from mmsim.testbed.memlock.PRESETS, or a typed value.

    The buttons name the presets (16 KiB, 64 KiB, 8 MiB, unlimited) and
    the line under them says whose limit each is; the box below takes any
    size or "unlimited" (a memlock_control: garbage is refused, sizes past
    0..1 TiB are clamped, with a message). ``.value`` is the limit in bytes,
    RLIM_INFINITY for unlimited; a typed value that is a preset selects it,
    any other selects "other".
    """

    value = traitlets.Integer()

    def __init__(self, value=mmsim.RLIM_INFINITY):
        from mmsim.testbed.memlock import PRESETS
        self.presets = {label: limit for label, (limit, _) in PRESETS.items()}
        self.whose = {label: who for label, (_, who) in PRESETS.items()}
        self.buttons = w.ToggleButtons(options=list(self.presets) + [OTHER],
                                       description="memlock", style={"button_width": "72px"})
        self.free = memlock_control(value)
        self.note = w.HTML("")
        self._setting = False
        super().__init__([self.buttons, self.note, self.free], value=self.free.value)
        self._show(self.free.value)
        self.buttons.observe(self._picked, names="value")
        self.free.observe(self._typed, names="value")

    def _label(self, limit):
        return next((k for k, v in self.presets.items() if v == limit), OTHER)

    def _show(self, limit):
        label = self._label(limit)
        self._setting = True
        try:
            self.buttons.value = label
        finally:
            self._setting = False
        self.note.value = (f"<i>{self.whose[label]}</i>" if label in self.whose
                           else "<i>a value of your own</i>")

    def _picked(self, change):
        if self._setting:
            return
        if change["new"] == OTHER:
            self.note.value = "<i>type a value below: a size such as 512m, or unlimited</i>"
            return
        limit = self.presets[change["new"]]
        # typed into the box, which validates it and sets .value (then _typed runs)
        self.free.box.value = "unlimited" if limit == mmsim.RLIM_INFINITY else format_size(limit)

    def _typed(self, change):
        self._show(change["new"])
        self.value = change["new"]


def memlock_preset_control(value=mmsim.RLIM_INFINITY):
    """RLIMIT_MEMLOCK from the chapter's presets or typed freely (MemlockPresets)."""
    return MemlockPresets(value)
