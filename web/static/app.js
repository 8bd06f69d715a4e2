// Live updates over server-sent events: "status" frames carry the tap list,
// "ev" frames the agent's events. Pages marked data-refresh reload their main
// part when a pour is booked.
(function () {
  "use strict";
  var dot = document.getElementById("live");
  if (!dot || !window.EventSource) return;
  var es = new EventSource("/live");
  es.onopen = function () { dot.className = "on"; };
  es.onerror = function () { dot.className = "off"; };
  es.addEventListener("status", function (m) {
    JSON.parse(m.data).forEach(function (t) {
      var card = document.querySelector('.tap[data-line="' + t.line + '"]');
      if (!card) return;
      card.classList.toggle("pouring", t.pouring);
      card.classList.toggle("disabled", t.disabled);
      card.querySelectorAll("[data-f]").forEach(function (el) {
        var v = t[el.getAttribute("data-f")];
        if (v === undefined) return;
        if (el.tagName === "METER") el.value = v; else el.textContent = v;
      });
    });
  });
  var pending = null;
  es.addEventListener("ev", function (m) {
    var ev = JSON.parse(m.data);
    var tb = document.querySelector("#events tbody");
    if (tb) {
      var tr = document.createElement("tr");
      [ev.time.replace("T", " ").slice(0, 19), ev.type, ev.line || "", ev.detail || ev.reason || ""].forEach(function (x) {
        var td = document.createElement("td"); td.textContent = x; tr.appendChild(td);
      });
      tb.insertBefore(tr, tb.firstChild);
    }
    if (ev.type === "pour_booked" && document.body.getAttribute("data-refresh") === "booked" && !pending) {
      pending = setTimeout(refresh, 300);
    }
  });
  function refresh() {
    fetch(location.href, { credentials: "same-origin" }).then(function (r) { return r.text(); }).then(function (html) {
      var doc = new DOMParser().parseFromString(html, "text/html");
      var fresh = doc.getElementById("main");
      if (fresh) document.getElementById("main").replaceWith(fresh);
    }).finally(function () { pending = null; });
  }
})();
