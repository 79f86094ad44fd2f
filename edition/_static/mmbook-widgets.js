// Loaded just before RequireJS and the widget renderer (edition/conf.py,
// nb_ipywidgets_js). It keeps everything the renderer fetches inside this
// build:
// - the modules bundled in embed-amd.js take their asset URLs (the Font
//   Awesome webfonts of their CSS) from the URL RequireJS gives their module
//   id, by default relative to the page; the paths below put all of them in
//   the renderer's folder, where the fonts are;
// - the URL it would load any other widget module from (a public CDN by
//   default) is a folder of this build that does not exist, so such a module
//   fails here, visibly, instead of being fetched from the web. The book uses
//   none.
(function () {
  var script = document.currentScript;
  var staticDir = new URL(".", script.src).href;
  var renderer = staticDir + "html-manager-1.0.15/";
  var bundled = [
    "@jupyter-widgets/base",
    "@jupyter-widgets/base7",
    "@jupyter-widgets/controls",
    "@jupyter-widgets/controls7",
    "@jupyter-widgets/html-manager",
    "@jupyter-widgets/html-manager/dist/libembed-amd",
  ];
  var paths = {};
  bundled.forEach(function (id) {
    paths[id] = renderer + id.split("/").pop();
  });
  // a `require` object present when require.js loads is its configuration
  window.require = { paths: paths };

  // embed-amd.js takes the last data-jupyter-widgets-cdn among the page's scripts
  var marker = document.createElement("script");
  marker.type = "text/plain";
  marker.setAttribute("data-jupyter-widgets-cdn", staticDir + "no-widget-cdn/");
  script.after(marker);
})();
