// Only with `mlnotes_widgets: html-manager` in _config.yml (the book's own renderer,
// mlnotes-widgets.js, needs no shim). ipywidgets' html-manager typesets widget labels with
// MathJax 2's API (MathJax.Hub.Queue), but the book serves MathJax 4, which it loads after
// the page is parsed: map the one call, and look MathJax up when it is made.
(function () {
  var mj = window.MathJax;
  if (!mj || mj.Hub) return;
  mj.Hub = {
    Queue: function (job) {
      var el = Array.isArray(job) ? job[2] : undefined;
      (function typeset() {
        var now = window.MathJax;
        if (!now || !now.startup || !now.startup.promise) return setTimeout(typeset, 100);
        now.startup.promise
          .then(function () { return now.typesetPromise(el ? [el] : undefined); })
          .catch(function (err) { console.warn("MathJax typeset in a widget failed", err); });
      })();
    },
  };
})();
