// Draw the hazard's BPMN diagram with bpmn-js (served locally) and mark done and current steps.
(function () {
  "use strict";
  var container = document.getElementById("bpmn-canvas");
  if (!container || typeof BpmnJS === "undefined") { return; }
  fetch(container.getAttribute("data-src"), { credentials: "same-origin", headers: { "Accept": "application/json" } })
    .then(function (response) {
      if (!response.ok) { throw new Error("HTTP " + response.status); }
      return response.json();
    })
    .then(function (payload) {
      container.innerHTML = "";
      var viewer = new BpmnJS({ container: container });
      return viewer.importXML(payload.xml).then(function () {
        var canvas = viewer.get("canvas");
        var registry = viewer.get("elementRegistry");
        canvas.zoom("fit-viewport");
        payload.done.forEach(function (id) {
          if (registry.get(id) && payload.active.indexOf(id) < 0) { canvas.addMarker(id, "done"); }
        });
        payload.active.forEach(function (id) { if (registry.get(id)) { canvas.addMarker(id, "highlight"); } });
        container.setAttribute("data-rendered", payload.active.join(","));
      });
    })
    .catch(function (error) {
      container.innerHTML = '<div class="text-danger small p-3"></div>';
      container.firstChild.textContent = "流程图加载失败 / diagram failed to load: " + error.message;
    });
})();
