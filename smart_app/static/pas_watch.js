// A pended prior authorization (Da Vinci PAS): ask painpa for the order's state every few seconds
// and show the worklist again, with the decision, once the payer has decided.
(function () {
  "use strict";
  var PERIOD_MS = 3000;
  function watch(el) {
    var url = el.getAttribute("data-pas-watch");
    function tick() {
      fetch(url, {credentials: "same-origin", headers: {Accept: "application/json"}})
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (s) {
          if (s && s.state !== "pended") {
            var said = s.message || ("Prior authorization: " + s.state);
            window.location.assign(el.getAttribute("data-worklist") + "?saved=" + encodeURIComponent(said));
            return;
          }
          setTimeout(tick, PERIOD_MS);
        })
        .catch(function () { setTimeout(tick, PERIOD_MS * 2); });
    }
    setTimeout(tick, PERIOD_MS);
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-pas-watch]").forEach(watch);
  });
})();
