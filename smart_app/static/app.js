// enableWhen (FHIR R4 Questionnaire.item.enableWhen) in the browser: show an item only when its
// conditions hold; hidden items are disabled so they are neither required nor submitted.
(function () {
  "use strict";
  function values(q) {
    var out = [];
    document.querySelectorAll('[data-q="' + q + '"]').forEach(function (el) {
      if ((el.type === "radio" || el.type === "checkbox") && !el.checked) return;
      if (el.disabled || el.value === "") return;
      out.push(el.value);
    });
    return out;
  }
  function test(given, op, want) {
    if (op === "exists") return (given.length > 0) === (want === "true");
    if (op === "!=") return given.length === 0 || given.every(function (g) { return g !== want; });
    return given.some(function (g) {
      var a = parseFloat(g), b = parseFloat(want), num = !isNaN(a) && !isNaN(b);
      switch (op) {
        case "=": return g === want;
        case ">": return num ? a > b : g > want;
        case "<": return num ? a < b : g < want;
        case ">=": return num ? a >= b : g >= want;
        case "<=": return num ? a <= b : g <= want;
      }
      return false;
    });
  }
  function refresh() {
    document.querySelectorAll("[data-enable]").forEach(function (el) {
      var rule = JSON.parse(el.getAttribute("data-enable"));
      var results = rule.when.map(function (c) { return test(values(c.q), c.op, c.v); });
      var on = rule.behavior === "any" ? results.some(Boolean) : results.every(Boolean);
      el.hidden = !on;
      if (el.tagName === "FIELDSET") el.disabled = !on;
      el.querySelectorAll("input, select, textarea").forEach(function (i) { i.disabled = !on || !!i.closest("fieldset[disabled]"); });
    });
  }
  document.addEventListener("change", refresh);
  document.addEventListener("DOMContentLoaded", function () {
    refresh();
    var errors = document.getElementById("errors");
    if (errors) errors.focus();
  });
})();
