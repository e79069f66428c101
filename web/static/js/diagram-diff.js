// 流程设计's diff of two versions: both diagrams drawn (diagram.js), compared by bpmn-js-differ (vendored bundle,
// window.BpmnJsDiffer) and coloured: added, changed and moved elements on the new version, removed and changed ones
// on the old; the list of changes beside them. Every name and value a diagram supplies is set as textContent.
(function () {
  "use strict";
  var root = document.getElementById("diagram-diff");
  if (!root || !window.RectiflowDiagram || !window.BpmnJsDiffer) { return; }
  var D = window.RectiflowDiagram;
  var KINDS = [["added", "text-bg-success"], ["removed", "text-bg-danger"], ["changed", "text-bg-warning"],
               ["layout", "text-bg-primary"]];

  function load(container, url) {
    return D.fetchJson(url).then(function (payload) {
      var viewer = D.create(container);
      return viewer.importXML(payload.xml).then(function () {
        viewer.get("canvas").zoom("fit-viewport", "auto");
        return viewer;
      });
    }).catch(function (error) { D.fail(container, error); throw error; });
  }

  function shown(value) {
    if (value === undefined || value === null || value === "") { return "—"; }
    if (typeof value !== "object") { return String(value); }
    if (value.id) { return String(value.id); }
    if (value.$type) { return String(value.$type).replace(/^bpmn:/, ""); }
    return "…";
  }

  function mark(viewer, id, marker) {
    if (viewer.get("elementRegistry").get(id)) { viewer.get("canvas").addMarker(id, marker); return true; }
    return false;
  }

  var viewers = [];

  // Whether either diagram draws element `id`; with `scroll`, bring it into view in each diagram that does.
  function located(id, scroll) {
    var found = false;
    viewers.forEach(function (viewer) {
      var element = viewer.get("elementRegistry").get(id);
      if (element && element !== viewer.get("canvas").getRootElement()) {
        found = true;
        if (scroll) { viewer.get("canvas").scrollToElement(element, 80); }
      }
    });
    return found;
  }

  function item(kind, id, model, attrs) {
    var li = document.createElement("li");
    li.className = "border-bottom py-1 text-break";
    li.setAttribute("data-testid", "diff-change");
    li.setAttribute("data-kind", kind[0]);
    li.setAttribute("data-element", id);
    var badge = document.createElement("span");
    badge.className = "badge me-1 " + kind[1];
    badge.textContent = root.getAttribute("data-label-" + kind[0]);
    li.appendChild(badge);
    if (model && model.name) {
      var name = document.createElement("span");
      name.className = "fw-semibold me-1";
      name.textContent = model.name;
      li.appendChild(name);
    }
    var code = document.createElement("code");
    code.textContent = id;
    li.appendChild(code);
    if (located(id)) {
      var locate = document.createElement("button");
      locate.type = "button";
      locate.className = "btn btn-link btn-sm p-0 ms-1 align-baseline";
      locate.setAttribute("data-testid", "diff-locate");
      locate.textContent = root.getAttribute("data-label-locate");
      locate.addEventListener("click", function () { located(id, true); });
      li.appendChild(locate);
    }
    if (model && model.$type) {
      var type = document.createElement("span");
      type.className = "text-secondary ms-1";
      type.textContent = String(model.$type).replace(/^bpmn:/, "");
      li.appendChild(type);
    }
    Object.keys(attrs || {}).forEach(function (attr) {
      // bpmn-js-differ 3.2.0 hands a changed value's diffpatch pair [old, new] to changed(model, key, newValue,
      // oldValue): for a plain property the two come out swapped. Array entries ("key[0]") come out right.
      var swapped = attr.indexOf("[") < 0;
      var before = swapped ? attrs[attr].newValue : attrs[attr].oldValue;
      var after = swapped ? attrs[attr].oldValue : attrs[attr].newValue;
      var line = document.createElement("div");
      line.className = "ms-3 text-secondary";
      line.textContent = attr + ": " + shown(before) + " → " + shown(after);
      li.appendChild(line);
    });
    return li;
  }

  Promise.all([load(document.getElementById("diff-old"), root.getAttribute("data-old")),
               load(document.getElementById("diff-new"), root.getAttribute("data-new"))]).then(function (loaded) {
    viewers = loaded;
    var older = loaded[0], newer = loaded[1];
    var changes = window.BpmnJsDiffer.diff(older.getDefinitions(), newer.getDefinitions());
    var list = root.querySelector("[data-testid=diff-changes]");
    var count = 0;
    function add(kind, id, model, attrs) { list.appendChild(item(kind, id, model, attrs)); count += 1; }
    Object.keys(changes._added).forEach(function (id) {
      mark(newer, id, "diff-added"); add(KINDS[0], id, changes._added[id]);
    });
    Object.keys(changes._removed).forEach(function (id) {
      mark(older, id, "diff-removed"); add(KINDS[1], id, changes._removed[id]);
    });
    Object.keys(changes._changed).forEach(function (id) {
      mark(newer, id, "diff-changed"); mark(older, id, "diff-changed");
      add(KINDS[2], id, changes._changed[id].model, changes._changed[id].attrs);
    });
    Object.keys(changes._layoutChanged).forEach(function (id) {
      if (changes._added[id] || changes._changed[id]) { return; }
      mark(newer, id, "diff-layout"); add(KINDS[3], id, changes._layoutChanged[id]);
    });
    if (!count) {
      var none = document.createElement("li");
      none.className = "text-secondary";
      none.setAttribute("data-testid", "diff-none");
      none.textContent = root.getAttribute("data-label-none");
      list.appendChild(none);
    }
    root.querySelector("[data-testid=diff-count]").textContent = String(count);
    root.setAttribute("data-diffed", String(count));
  }).catch(function () { root.setAttribute("data-diffed", "error"); });
})();
