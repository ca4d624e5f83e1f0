// ipywidgets' html-manager typesets widget labels with MathJax 2's API
// (MathJax.Hub.Queue), but the book serves MathJax 3. Map the one call it makes.
// Loaded with `defer` after MathJax, so window.MathJax is MathJax 3's object here.
(function () {
  var mj = window.MathJax;
  if (!mj || mj.Hub) return;
  mj.Hub = {
    Queue: function (job) {
      var el = Array.isArray(job) ? job[2] : undefined;
      var ready = mj.startup && mj.startup.promise ? mj.startup.promise : Promise.resolve();
      ready
        .then(function () {
          return mj.typesetPromise ? mj.typesetPromise(el ? [el] : undefined) : null;
        })
        .catch(function (err) { console.warn("MathJax typeset in a widget failed", err); });
    },
  };
})();
