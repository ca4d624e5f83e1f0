// The static book's widget renderer (loaded with `defer`, only on pages with widgets).
//
// JupyterLab runs the real ipywidgets. The static book needs only what mlnotes_lib/widgets.py
// builds: boxes, HTML, sliders, dropdowns, stacks of image frames, jslinks between them, and
// an experiment's disabled controls. So instead of @jupyter-widgets/html-manager's embed.js
// (1.9 MB), this file (a few kB) reads the page's saved widget state
// (application/vnd.jupyter.widget-state+json) and each output's view script
// (application/vnd.jupyter.widget-view+json) and renders those models with plain HTML:
// sliders are <input type="range"> (mouse, touch and keyboard for free) with an accessible
// name and the shown value as aria-valuetext, frames are <img> with their alt text, and a
// jslink is a two-way link between two model attributes, as in ipywidgets.
//
// Frames: book/_ext/mlnotes_book.py moves each Image's bytes out of the page into a file
// (state `_mlnotes_src`); a frame is fetched only when its stack shows it.
//
// A model type this file does not know is an error: it shows a box saying so and throws,
// so the browser tests fail loudly instead of rendering nothing.
(function () {
  "use strict";

  var STATE_TYPE = "application/vnd.jupyter.widget-state+json";
  var VIEW_TYPE = "application/vnd.jupyter.widget-view+json";
  var REF = "IPY_MODEL_";
  var uid = 0;

  var CSS = [
    ".mlw-box{display:flex;box-sizing:border-box;max-width:100%;min-width:0}",
    ".mlw-vbox{flex-direction:column;align-items:stretch}",
    ".mlw-hbox{flex-direction:row;flex-wrap:wrap;align-items:center;gap:.25rem .75rem}",
    ".mlw-stack{display:block}",
    ".mlw-row{display:flex;flex-wrap:wrap;align-items:center;gap:.25rem .6rem;",
    "margin:.15rem 0;max-width:100%;box-sizing:border-box}",
    ".mlw-row .widget-label{flex:0 0 auto;max-width:100%}",
    ".mlw-row input[type=range]{flex:1 1 8rem;min-width:6rem;margin:0;height:1.6rem;",
    "accent-color:var(--pst-color-primary,#0a58ca);cursor:pointer}",
    ".mlw-row input[type=range]:disabled{cursor:default}",
    ".mlw-row .widget-readout{flex:0 0 auto;min-width:2.5em;font-variant-numeric:tabular-nums}",
    ".mlw-row select,.mlw-row button{font:inherit;color:inherit;",
    "background:var(--pst-color-surface,#fff);border:1px solid var(--pst-color-border,#8c959f);",
    "border-radius:4px;padding:.1rem .4rem}",
    ".mlw-row button[aria-pressed=true]{border-color:var(--pst-color-primary,#0a58ca);",
    "font-weight:600}",
    ".mlw-row progress{flex:1 1 8rem;min-width:6rem}",
    ".mlw-image{display:block;max-width:100%;height:auto}",
    ".mlw-html .widget-html-content{max-width:100%}",
    ".mlnotes-widget-error{border:2px solid #b00020;color:#b00020;padding:.5rem}",
  ].join("");

  function ref(store, value) {
    if (typeof value !== "string" || value.indexOf(REF) !== 0) return null;
    var model = store[value.slice(REF.length)];
    if (!model) throw new Error("mlnotes-widgets: missing model " + value);
    return model;
  }

  // --- models: saved state, set(), and listeners per attribute -------------------------
  function Model(id, saved) {
    this.id = id;
    this.name = saved.model_name;
    this.state = Object.assign({}, saved.state || {});
    this.listeners = {};
    (saved.buffers || []).forEach(function (buf) {
      if (buf.path && buf.path.length === 1 && buf.encoding === "base64") {
        this.state[buf.path[0]] = { base64: buf.data };
      }
    }, this);
  }
  Model.prototype.get = function (key) { return this.state[key]; };
  Model.prototype.set = function (key, value) {
    if (this.state[key] === value) return;
    this.state[key] = value;
    (this.listeners[key] || []).forEach(function (fn) { fn(value); });
  };
  Model.prototype.on = function (key, fn) {
    (this.listeners[key] = this.listeners[key] || []).push(fn);
  };

  // jslink: two-way (LinkModel) or one-way (DirectionalLinkModel); the target starts at
  // the source's value, as in ipywidgets.
  function link(store, model) {
    var src = model.get("source"), tgt = model.get("target");
    var a = ref(store, src[0]), b = ref(store, tgt[0]);
    b.set(tgt[1], a.get(src[1]));
    a.on(src[1], function (v) { b.set(tgt[1], v); });
    if (model.name === "LinkModel") b.on(tgt[1], function (v) { a.set(src[1], v); });
  }

  // --- plain text for accessible names (widget descriptions may hold TeX) --------------
  var GREEK = { alpha: "α", beta: "β", gamma: "γ", delta: "δ", epsilon: "ε", eta: "η",
    theta: "θ", lambda: "λ", mu: "μ", pi: "π", rho: "ρ", sigma: "σ", tau: "τ", phi: "φ",
    omega: "ω", cdot: "·", times: "×" };
  function plain(text) {
    var div = document.createElement("div");
    div.innerHTML = text || "";
    return (div.textContent || "")
      .replace(/\\(?:mathrm|text|mathbf|operatorname)\{([^}]*)\}/g, "$1")
      .replace(/\\([A-Za-z]+)/g, function (_, w) { return GREEK[w] || w; })
      .replace(/[$\\{}]/g, "")
      .trim();
  }

  // --- common view parts ---------------------------------------------------------------
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function applyCommon(store, model, node) {
    (model.get("_dom_classes") || []).forEach(function (c) { node.classList.add(c); });
    var layout = ref(store, model.get("layout"));
    if (layout) {
      Object.keys(layout.state).forEach(function (key) {
        var v = layout.state[key];
        if (key[0] === "_" || v === null || v === undefined || v === "") return;
        node.style.setProperty(key.replace(/_/g, "-"), String(v));
      });
      layout.on("display", function (v) { node.style.display = v || ""; });
    }
    var tip = model.get("tooltip");
    if (tip) node.title = tip;
    return node;
  }

  // A row: label (the description), the control, and optionally a readout.
  function row(store, model, cls, control) {
    var box = applyCommon(store, model, el("div", "mlw-row widget-inline-hbox " + cls));
    var desc = model.get("description") || "";
    control.id = control.id || "mlw-" + ++uid;
    if (desc) {
      var label = el("label", "widget-label");
      label.htmlFor = control.id;
      label.textContent = desc;
      var style = ref(store, model.get("style"));
      var width = style && style.get("description_width");
      if (width && width !== "initial") label.style.width = width;
      box.appendChild(label);
    }
    control.setAttribute("aria-label", plain(desc) || model.name.replace(/Model$/, ""));
    box.appendChild(control);
    return box;
  }

  function syncDisabled(model, controls) {
    function apply(v) { controls.forEach(function (c) { c.disabled = !!v; }); }
    apply(model.get("disabled"));
    model.on("disabled", apply);
  }

  // --- views, one per model type -------------------------------------------------------
  function boxView(kind) {
    return function (store, model, render) {
      var node = applyCommon(store, model, el("div", "mlw-box widget-container widget-box " +
        (kind === "v" ? "mlw-vbox widget-vbox" : "mlw-hbox widget-hbox")));
      (model.get("children") || []).forEach(function (c) { node.appendChild(render(ref(store, c))); });
      return node;
    };
  }

  // Only the selected child shows; a frame inside a hidden child is not fetched.
  function stackView(store, model, render) {
    var node = applyCommon(store, model, el("div", "mlw-stack widget-container widget-box widget-stack"));
    var slots = (model.get("children") || []).map(function (c) {
      var slot = el("div", "mlw-slot");
      slot.appendChild(render(ref(store, c)));
      node.appendChild(slot);
      return slot;
    });
    function show(i) {
      slots.forEach(function (s, k) { s.hidden = k !== i; });
      if (slots[i] && node.isConnected) loadShown(slots[i]);
    }
    show(model.get("selected_index"));
    model.on("selected_index", show);
    return node;
  }

  function imageView(store, model) {
    var img = applyCommon(store, model, el("img", "mlw-image widget-image"));
    // Its alt text is in a class (mlnotes-alt-<base64url>); mlnotes.js, the next deferred
    // script, decodes it for this renderer and for the html-manager alike.
    img.decoding = "async";
    ["width", "height"].forEach(function (k) { if (model.get(k)) img.setAttribute(k, model.get(k)); });
    function source(value) {
      var url = model.get("_mlnotes_src");
      if (url) return new URL(url, document.baseURI).href;
      if (value && value.base64) return "data:image/" + model.get("format") + ";base64," + value.base64;
      return "";
    }
    var src = source(model.get("value"));
    if (src) img.dataset.mlnotesSrc = src;
    model.on("value", function (v) { img.dataset.mlnotesSrc = source(v); loadShown(img.parentNode); });
    return img;
  }

  function htmlView(store, model) {
    var content = el("div", "widget-html-content");
    if (model.name === "LabelModel") content.textContent = model.get("value") || "";
    else content.innerHTML = model.get("value") || "";
    model.on("value", function (v) { content.innerHTML = v || ""; });
    var node = row(store, model, "mlw-html widget-html", content);
    content.removeAttribute("aria-label");
    return node;
  }

  // Selection sliders move an index over option labels; numeric sliders move a value.
  function sliderView(store, model) {
    var input = el("input");
    input.type = "range";
    var selection = model.name === "SelectionSliderModel";
    var log = model.name === "FloatLogSliderModel";
    var key = selection ? "index" : "value";
    var labels = model.get("_options_labels") || [];
    var step = selection ? 1 : model.get("step") || 1;
    input.min = selection ? 0 : model.get("min");
    input.max = selection ? labels.length - 1 : model.get("max");
    input.step = step;
    var readout = el("div", "widget-readout");
    readout.setAttribute("aria-hidden", "true");
    function shown(v) {
      if (selection) return labels[v];
      if (log) return Number(Math.pow(model.get("base") || 10, v).toPrecision(3)).toString();
      var fmt = /\.(\d+)f/.exec(model.get("readout_format") || "");
      return fmt ? Number(v).toFixed(+fmt[1]) : String(v);
    }
    function toInput(v) { return log ? Math.log(v) / Math.log(model.get("base") || 10) : v; }
    function update(v) {
      input.value = String(toInput(v));
      readout.textContent = shown(toInput(v));
      input.setAttribute("aria-valuetext", readout.textContent);
    }
    update(model.get(key));
    model.on(key, update);
    input.addEventListener("input", function () {
      var v = Number(input.value);
      model.set(key, log ? Math.pow(model.get("base") || 10, v) : v);
    });
    syncDisabled(model, [input]);
    var node = row(store, model, "mlw-slider widget-slider widget-hslider", input);
    if (model.get("readout") !== false) node.appendChild(readout);
    return node;
  }

  function dropdownView(store, model) {
    var select = el("select");
    (model.get("_options_labels") || []).forEach(function (label, i) {
      var o = el("option", "", label);
      o.value = String(i);
      select.appendChild(o);
    });
    function update(i) { select.selectedIndex = i === null ? -1 : i; }
    update(model.get("index"));
    model.on("index", update);
    select.addEventListener("change", function () { model.set("index", select.selectedIndex); });
    syncDisabled(model, [select]);
    return row(store, model, "mlw-dropdown widget-dropdown", select);
  }

  function toggleButtonsView(store, model) {
    var group = el("div", "mlw-toggles");
    group.setAttribute("role", "group");
    var buttons = (model.get("_options_labels") || []).map(function (label, i) {
      var b = el("button", "widget-toggle-button", label);
      b.type = "button";
      b.addEventListener("click", function () { model.set("index", i); });
      group.appendChild(b);
      return b;
    });
    function update(i) { buttons.forEach(function (b, k) { b.setAttribute("aria-pressed", String(k === i)); }); }
    update(model.get("index"));
    model.on("index", update);
    syncDisabled(model, buttons);
    return row(store, model, "mlw-toggle-buttons widget-toggle-buttons", group);
  }

  function buttonView(store, model) {
    var b = applyCommon(store, model, el("button", "mlw-button widget-button jupyter-button",
      model.get("description") || ""));
    b.type = "button";
    syncDisabled(model, [b]);
    return b;
  }

  function progressView(store, model) {
    var bar = el("progress");
    function update() {
      var lo = model.get("min") || 0;
      bar.max = (model.get("max") || 1) - lo;
      bar.value = (model.get("value") || 0) - lo;
    }
    update();
    model.on("value", update);
    return row(store, model, "mlw-progress widget-progress", bar);
  }

  var VIEWS = {
    VBoxModel: boxView("v"),
    BoxModel: boxView("v"),
    HBoxModel: boxView("h"),
    StackModel: stackView,
    ImageModel: imageView,
    HTMLModel: htmlView,
    HTMLMathModel: htmlView,
    LabelModel: htmlView,
    SelectionSliderModel: sliderView,
    IntSliderModel: sliderView,
    FloatSliderModel: sliderView,
    FloatLogSliderModel: sliderView,
    DropdownModel: dropdownView,
    ToggleButtonsModel: toggleButtonsView,
    ButtonModel: buttonView,
    FloatProgressModel: progressView,
    IntProgressModel: progressView,
  };
  // Models that are state only (no view of their own).
  var DATA_ONLY = /^(LayoutModel|LinkModel|DirectionalLinkModel|\w*StyleModel)$/;

  function loadShown(root) {
    if (!root || !root.querySelectorAll) return;
    var imgs = root.matches && root.matches("img[data-mlnotes-src]") ? [root] : [];
    imgs = imgs.concat(Array.prototype.slice.call(root.querySelectorAll("img[data-mlnotes-src]")));
    imgs.forEach(function (img) {
      if (img.closest("[hidden]")) return;
      if (img.getAttribute("src") !== img.dataset.mlnotesSrc) img.src = img.dataset.mlnotesSrc;
    });
  }

  function typeset(nodes) {
    var mj = window.MathJax;
    var withTex = nodes.filter(function (n) { return /\$|\\\(/.test(n.textContent); });
    // Before MathJax has started, its first typeset of the page includes these nodes.
    if (!withTex.length || !mj || !mj.startup || !mj.startup.promise || !mj.typesetPromise) return;
    mj.startup.promise.then(function () { return mj.typesetPromise(withTex); })
      .catch(function (err) { console.warn("MathJax typeset in a widget failed", err); });
  }

  function renderAll() {
    var stateScript = document.querySelector('script[type="' + STATE_TYPE + '"]');
    if (!stateScript) return;
    var saved = JSON.parse(stateScript.textContent).state || {};
    var store = {};
    Object.keys(saved).forEach(function (id) { store[id] = new Model(id, saved[id]); });
    var errors = [];
    Object.keys(store).forEach(function (id) {
      var m = store[id];
      if (m.name === "LinkModel" || m.name === "DirectionalLinkModel") {
        try { link(store, m); } catch (err) { errors.push(err); }
      }
    });
    function render(model) {
      var view = VIEWS[model.name];
      if (!view) {
        if (DATA_ONLY.test(model.name)) return el("span");
        throw new Error("mlnotes-widgets: no renderer for " + model.name +
          " (add it to book/_static/mlnotes-widgets.js)");
      }
      return view(store, model, render);
    }
    var style = el("style", "", CSS);
    document.head.appendChild(style);
    var roots = [];
    document.querySelectorAll('script[type="' + VIEW_TYPE + '"]').forEach(function (script) {
      var area = el("div", "mlw-area jupyter-widgets widget-area");
      try {
        var id = JSON.parse(script.textContent).model_id;
        var model = store[id];
        if (!model) throw new Error("mlnotes-widgets: the page has no state for model " + id);
        area.appendChild(render(model));
      } catch (err) {
        area.className = "mlnotes-widget-error";
        area.setAttribute("role", "alert");
        area.textContent = "This widget could not be shown: " + err.message;
        errors.push(err);
      }
      script.parentNode.insertBefore(area, script);
      roots.push(area);
    });
    roots.forEach(loadShown);
    typeset(roots);
    document.documentElement.classList.add("mlnotes-widgets-ready");
    errors.forEach(function (err) { setTimeout(function () { throw err; }); });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", renderAll);
  else renderAll();
})();
