// 批量导入: send the file with fetch and draw the server's progress (one JSON line per batch) in a <progress> bar;
// the last line carries the rendered results (errors by line, or the one-time passwords). Without this script the
// form posts as usual and the page comes back with the same results.
(function () {
  "use strict";
  var results = document.querySelector("[data-import-results]");
  document.querySelectorAll("form[data-testid^='import-']").forEach(function (form) {
    var box = form.querySelector("[data-import-progress]");
    var bar = box.querySelector("progress");
    var status = box.querySelector("[data-import-status]");
    var button = form.querySelector("button[type=submit]");
    var label = button.textContent;

    function done() { button.disabled = false; button.textContent = label; }

    function show(message) {
      if (message.total !== undefined) {
        bar.max = Math.max(message.total, 1);
        bar.value = message.done;
        status.textContent = status.getAttribute("data-progress")
          .replace("{done}", message.done).replace("{total}", message.total);
      }
      if (message.html !== undefined) {
        results.innerHTML = message.html;  // rendered and escaped by the server's template
        if (message.ok) { bar.value = bar.max; }
        box.setAttribute("data-finished", message.ok ? "ok" : "errors");
        form.reset();
        done();
      }
    }

    form.addEventListener("submit", function (event) {
      if (!window.fetch || !window.TextDecoder || !window.ReadableStream) { return; }  // the plain post
      event.preventDefault();
      box.classList.remove("d-none");
      box.removeAttribute("data-finished");
      bar.removeAttribute("value");  // indeterminate while every row is checked
      status.textContent = status.getAttribute("data-checking");
      var body = new FormData(form);
      fetch(form.getAttribute("action") || window.location.pathname, {
        method: "POST", body: body, credentials: "same-origin", headers: { "Accept": "application/x-ndjson" }
      }).then(function (response) {
        var reader = response.body.getReader();
        var decoder = new TextDecoder();
        var pending = "";
        function pump() {
          return reader.read().then(function (chunk) {
            pending += decoder.decode(chunk.value || new Uint8Array(), { stream: !chunk.done });
            var lines = pending.split("\n");
            pending = lines.pop();
            lines.forEach(function (line) { if (line.trim()) { show(JSON.parse(line)); } });
            if (!chunk.done) { return pump(); }
            if (pending.trim()) { show(JSON.parse(pending)); }
            if (!box.hasAttribute("data-finished")) { throw new Error("incomplete"); }
          });
        }
        return pump();
      }).catch(function () {
        status.textContent = status.getAttribute("data-failed");
        box.setAttribute("data-finished", "failed");
        done();
      });
    });
  });
})();
