"""Sphinx configuration of the static HTML edition of the book (make html).

The pages are built from the notebooks in book/ (reached through the
edition/book symlink) with their stored outputs: nothing is executed. Every
script, style and font the pages load is served from the build's _static/;
docs/html-edition.md says where each comes from.
"""

project = "mmbook"
author = "the mmbook authors"
copyright = "2026, the mmbook authors"
html_title = "mmbook: mlock, dirty pages and writeback"

extensions = ["myst_nb"]

root_doc = "index"
# index.md lists book/* by glob: the chapters in file order, whatever book/ holds
exclude_patterns = ["**/.ipynb_checkpoints"]

# the stored outputs, as `make test` checks them; never re-run here
nb_execution_mode = "off"

html_theme = "sphinx_book_theme"
html_theme_options = {"use_fullscreen_button": False, "show_toc_level": 2}
html_static_path = ["_static", "vendor"]
html_show_sourcelink = False   # the theme's download button offers the notebook
# the stored figures are drawn on white
html_context = {"default_mode": "light"}

# The widget renderer, loaded on the pages that store widget state, in this
# order: mmbook-widgets.js keeps the renderer's assets and its "CDN" for
# third-party widget modules inside this build; then RequireJS; then the
# renderer itself (@jupyter-widgets/html-manager, with base, controls and
# output bundled, which is all the book uses). Paths are relative to _static/.
nb_ipywidgets_js = {
    "mmbook-widgets.js": {},
    "requirejs-2.3.8/require.js": {},
    "html-manager-1.0.15/embed-amd.js": {},
}


def _refuse_math(app, pagename, templatename, context, doctree):
    """Stop the build where a page would load MathJax from its CDN.

    The book has no math today, so MathJax is not served. A page that gains
    some needs MathJax served from _static/ first (docs/html-edition.md).
    """
    if context.get("has_maths_elements"):
        from sphinx.errors import ExtensionError

        raise ExtensionError(
            f"{pagename} has math, and this edition serves no MathJax: "
            "vendor it and set mathjax_path (docs/html-edition.md)"
        )


def setup(app):
    app.connect("html-page-context", _refuse_math, priority=400)  # before sphinx.ext.mathjax
