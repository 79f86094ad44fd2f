"""ipywidgets controls and matplotlib views over mmsim results (DESIGN.md section 3)."""
