// Lead dashboard: render the page's Vega-Lite specs without eval (CSP script-src 'self').
// Specs come from <script type="application/json" id="dashboard-specs">; each goes to the
// element with data-chart="<key>". Vega-Lite compiles to Vega, which is parsed with
// {ast: true} and run by vega-interpreter instead of Vega's Function-based code generator.
(function () {
  "use strict";

  function render(el, spec) {
    var compiled = vegaLite.compile(spec).spec;
    var runtime = vega.parse(compiled, null, { ast: true });
    var view = new vega.View(runtime, {
      expr: vega.expressionInterpreter,
      renderer: "svg",
      container: el,
      hover: true,
    });
    return view.runAsync().then(function () {
      el.dataset.rendered = "true";
    });
  }

  function fail(el, error) {
    el.dataset.rendered = "error";
    var p = document.createElement("p");
    p.className = "chart-error";
    p.textContent = "chart failed: " + error;
    el.appendChild(p);
  }

  function start() {
    var block = document.getElementById("dashboard-specs");
    if (!block) return;
    var specs = JSON.parse(block.textContent);
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      var spec = specs[el.dataset.chart];
      if (!spec) return fail(el, "no spec");
      try {
        render(el, spec).catch(function (e) { fail(el, e); });
      } catch (e) {
        fail(el, e);
      }
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
