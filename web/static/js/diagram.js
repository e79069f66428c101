// The process diagrams (hazard, campaign, instance and 流程设计 pages), drawn with bpmn-js's navigated viewer
// (served locally): zoom and fit buttons, full screen, drag to pan; lanes and elements named by a role code shown
// with the reader's role label; done and current steps marked. window.RectiflowDiagram serves diagram-diff.js.
(function () {
  "use strict";
  if (typeof BpmnJS === "undefined") { return; }

  function roleLabels(container) {
    try { return JSON.parse(container.getAttribute("data-role-labels") || "{}"); } catch (e) { return {}; }
  }

  // Rename role codes in the parsed model before it is drawn, so the label wraps like any name. bpmn-js renders
  // names as SVG text nodes: nothing a diagram supplies is parsed as markup.
  function relabel(viewer, labels) {
    viewer.on("import.parse.complete", function (event) {
      var byId = event.elementsById || {};
      Object.keys(byId).forEach(function (id) {
        var element = byId[id];
        if (element && typeof element.name === "string" && Object.prototype.hasOwnProperty.call(labels, element.name)) {
          element.name = labels[element.name];
        }
      });
    });
  }

  function wireTools(viewer, container) {
    var box = container.closest(".bpmn-viewer");
    if (!box) { return; }
    var canvas = viewer.get("canvas");
    var zoomScroll = viewer.get("zoomScroll");
    var actions = {
      "in": function () { zoomScroll.stepZoom(1); },
      "out": function () { zoomScroll.stepZoom(-1); },
      "fit": function () { canvas.zoom("fit-viewport", "auto"); },
      "full": function () {
        if (document.fullscreenElement) { document.exitFullscreen(); } else if (box.requestFullscreen) { box.requestFullscreen(); }
      }
    };
    box.querySelectorAll("[data-zoom]").forEach(function (button) {
      button.addEventListener("click", function () { actions[button.getAttribute("data-zoom")](); });
    });
    box.addEventListener("fullscreenchange", function () { canvas.resized(); canvas.zoom("fit-viewport", "auto"); });
  }

  function create(container) {
    container.textContent = "";
    var viewer = new BpmnJS({ container: container });
    relabel(viewer, roleLabels(container));
    wireTools(viewer, container);
    return viewer;
  }

  function fail(container, error) {
    var box = document.createElement("div");
    box.className = "text-danger small p-3";
    box.textContent = (container.getAttribute("data-error") || "diagram failed to load") + ": " + error.message;
    container.textContent = "";
    container.appendChild(box);
  }

  function fetchJson(url) {
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } }).then(function (response) {
      if (!response.ok) { throw new Error("HTTP " + response.status); }
      return response.json();
    });
  }

  function draw(container) {
    fetchJson(container.getAttribute("data-src")).then(function (payload) {
      var viewer = create(container);
      return viewer.importXML(payload.xml).then(function () {
        var canvas = viewer.get("canvas");
        var registry = viewer.get("elementRegistry");
        canvas.zoom("fit-viewport", "auto");
        payload.done.forEach(function (id) {
          if (registry.get(id) && payload.active.indexOf(id) < 0) { canvas.addMarker(id, "done"); }
        });
        payload.active.forEach(function (id) { if (registry.get(id)) { canvas.addMarker(id, "highlight"); } });
        container.setAttribute("data-rendered", payload.active.join(","));
      });
    }).catch(function (error) { fail(container, error); });
  }

  window.RectiflowDiagram = { create: create, fail: fail, fetchJson: fetchJson };
  document.querySelectorAll(".bpmn-canvas[data-src]").forEach(draw);
})();
