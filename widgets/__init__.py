"""ipywidgets controls and matplotlib views over mmsim results (DESIGN.md section 3).

controls: kernel, filesystem, mount options, sizes with units, memlock (typed, or
from presets), profile, seed.
views: page-state map, timeline, fault paths (pages per function, and one
path as a call chain), before/after comparison, who holds the memory,
outcome grid, regression-test grid, a file's blocks on the disk, the verdict grid
of real-kernel comparisons;
each returns a View with the numbers it draws.
apps: controls wired to a scenario and views. text: aligned tables and kernel
paths as printed text. exercises: the book's exercise catalogue (catalog()).
No simulation logic lives here: everything is computed by mmsim.
"""

from .apps import App
from .controls import (MemlockPresets, SizeControl, format_size, fs_control, kernel_control,
                       memlock_control, memlock_preset_control, mount_options_control,
                       parse_size, profile_control, regression_control, seed_control)
from .exercises import Exercise, catalog
from .text import paths_text, table
from .views import (STATES, View, block_layout_view, call_chain_view, compare_view,
                    fault_path_view, memory_holders_view, outcome_grid, page_state_map,
                    page_states, regression_grid, timeline_view, verdict_grid)

__all__ = ["App", "Exercise", "MemlockPresets", "SizeControl", "View", "STATES",
           "block_layout_view", "call_chain_view", "catalog", "compare_view", "fault_path_view",
           "format_size", "fs_control", "kernel_control", "memlock_control",
           "memlock_preset_control", "memory_holders_view", "mount_options_control",
           "outcome_grid", "page_state_map", "page_states", "parse_size", "paths_text",
           "profile_control", "regression_control", "regression_grid", "seed_control", "table",
           "timeline_view", "verdict_grid"]
