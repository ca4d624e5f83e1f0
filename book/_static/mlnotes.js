// The book's own script (loaded with `defer` on every page). Three small jobs:
// 1. Theme drawers: pydata-sphinx-theme 0.17 and sphinx-book-theme 1.3 bind the sidebar
//    toggles to the first `.primary-toggle` / `.secondary-toggle` in the page, a hidden copy
//    (pydata-sphinx-theme #2451, sphinx-book-theme #991). Forward clicks on the visible
//    copies to it, so the drawers open on phones and the sidebar collapses on desktop.
// 2. Widgets without a kernel: frames get their alt text (ipywidgets' Image only has a
//    title), slider handles get an accessible name and the shown value as aria-valuetext.
// 3. Experiments: controls that need a kernel are disabled in the static book (the note
//    above them says how to run the chapter live); Run is hidden by the stylesheet.
// 4. Keyboard readers: on a page with widgets, a second skip link next to the theme's "Skip
//    to main content" moves the focus to the first slider (a few Tabs instead of dozens).
(function () {
  "use strict";

  function fixToggles() {
    ["primary-toggle", "secondary-toggle"].forEach(function (cls) {
      var all = document.querySelectorAll("." + cls);
      for (var i = 1; i < all.length; i++) {
        all[i].addEventListener("click", function (event) {
          event.preventDefault();
          event.stopPropagation();
          all[0].click();
        });
      }
    });
  }

  function labelOf(slider) {
    var label = slider.querySelector(".widget-label");
    return label ? label.textContent.trim() : "";
  }

  // widgets.py puts a frame's alt text in a class: mlnotes-alt-<base64url of UTF-8>.
  function decodeAlt(code) {
    var b64 = code.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) b64 += "=";
    var bytes = Uint8Array.from(atob(b64), function (c) { return c.charCodeAt(0); });
    return new TextDecoder().decode(bytes);
  }

  // A formula still wider than the column scrolls: keyboard users must reach it, so it
  // (and only it) becomes a tab stop.
  function fixWideMath() {
    document.querySelectorAll("mjx-container").forEach(function (m) {
      var style = window.getComputedStyle(m);
      var scrolls = /auto|scroll/.test(style.overflowX) && m.scrollWidth > m.clientWidth + 1;
      if (scrolls && m.tabIndex < 0) {
        m.tabIndex = 0;
        if (!m.hasAttribute("aria-label")) m.setAttribute("aria-label", "formula (scrolls sideways)");
      }
      if (!scrolls && m.tabIndex === 0) m.tabIndex = -1;
    });
  }

  function fixWidgets(root) {
    root.querySelectorAll("img[class*='mlnotes-alt-']").forEach(function (img) {
      var cls = Array.prototype.find.call(img.classList, function (c) {
        return c.indexOf("mlnotes-alt-") === 0;
      });
      var alt = decodeAlt(cls.slice("mlnotes-alt-".length));
      if (img.getAttribute("alt") !== alt) img.setAttribute("alt", alt);
    });
    root.querySelectorAll(".widget-slider, .widget-hslider").forEach(function (slider) {
      var handle = slider.querySelector(".noUi-handle");
      var readout = slider.querySelector(".widget-readout");
      if (!handle) return;
      var name = labelOf(slider);
      if (name && handle.getAttribute("aria-label") !== name) handle.setAttribute("aria-label", name);
      if (readout) {
        var shown = (readout.textContent || readout.value || "").trim();
        if (shown && handle.getAttribute("aria-valuetext") !== shown) {
          handle.setAttribute("aria-valuetext", shown);
        }
      }
    });
    root.querySelectorAll(".mlnotes-needs-kernel").forEach(function (control) {
      control.querySelectorAll("input, select, button, textarea").forEach(function (el) {
        if (!el.disabled) el.disabled = true;
      });
      control.querySelectorAll(".noUi-handle, [contenteditable]").forEach(function (el) {
        if (el.getAttribute("tabindex") !== "-1") el.setAttribute("tabindex", "-1");
        el.setAttribute("aria-disabled", "true");
        el.removeAttribute("contenteditable");
      });
      // The dimmed readout belongs to the disabled control (mlnotes-widgets.js renders it as
      // text beside the <input>): say so, as for the control's own label.
      control.querySelectorAll(".widget-readout").forEach(function (el) {
        if (el.getAttribute("aria-disabled") !== "true") el.setAttribute("aria-disabled", "true");
      });
    });
  }

  // The first slider a reader can move: an explorer's, or a precomputed experiment grid's.
  // (The book's renderer draws <input type=range>; the html-manager, noUiSlider handles.)
  function firstSlider() {
    var handles = document.querySelectorAll(
      ":is(.mlnotes-explorer, .mlnotes-experiment) :is(input[type=range], .noUi-handle)");
    return Array.prototype.find.call(handles, function (h) {
      return h.tabIndex >= 0 && !h.disabled && h.getAttribute("aria-disabled") !== "true";
    });
  }

  function addSkipToFigure() {
    var bar = document.getElementById("pst-skip-link");
    var widgets = 'script[type="application/vnd.jupyter.widget-view+json"], .mlnotes-explorer';
    if (!bar || !document.querySelector(widgets) || document.getElementById("mlnotes-skip-figure")) {
      return;
    }
    var link = document.createElement("a");
    link.id = "mlnotes-skip-figure";
    link.href = "#main-content";  // until the widgets are drawn, the article is the target
    link.textContent = "Skip to the first interactive figure";
    link.addEventListener("click", function (event) {
      var handle = firstSlider();
      if (!handle) return;
      event.preventDefault();
      handle.scrollIntoView({ block: "center" });
      handle.focus({ preventScroll: true });
    });
    bar.appendChild(link);
  }

  // The run box's pip command names the wheel by its full URL on this site.
  function fillPipUrls() {
    document.querySelectorAll("code.mlnotes-pip[data-href]").forEach(function (code) {
      code.textContent = "pip install " + new URL(code.dataset.href, window.location.href).href;
    });
  }

  var pending = false;
  function schedule() {
    if (pending) return;
    pending = true;
    window.requestAnimationFrame(function () {
      pending = false;
      fixWidgets(document);
      fixWideMath();
    });
  }

  function start() {
    fixToggles();
    addSkipToFigure();
    fillPipUrls();
    fixWidgets(document);
    new MutationObserver(schedule).observe(document.body, {
      childList: true,
      subtree: true,
      characterData: true,
      attributes: true,
      attributeFilter: ["class", "aria-valuenow", "tabindex"],
    });
    whenMathJax(function () {
      MathJax.startup.promise.then(fixWideMath);
      window.addEventListener("resize", fixWideMath);
    });
  }

  // The book fetches MathJax once the page is parsed (book/_ext/mlnotes_book.py): wait for it
  // on pages with math.
  function whenMathJax(then) {
    if (!document.querySelector(".math")) return;
    (function poll() {
      if (window.MathJax && MathJax.startup && MathJax.startup.promise) then();
      else setTimeout(poll, 100);
    })();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
