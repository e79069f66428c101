// Small progressive enhancements; every page works without them.
(function () {
  "use strict";
  var token = document.querySelector('meta[name="csrf-token"]');
  // htmx requests carry the CSRF token like a form would.
  document.body.addEventListener("htmx:configRequest", function (event) {
    if (token) { event.detail.headers["X-CSRFToken"] = token.content; }
  });

  // "Select all" checkbox for bulk claim.
  document.querySelectorAll("[data-select-all]").forEach(function (box) {
    box.addEventListener("change", function () {
      var name = box.getAttribute("data-select-all");
      document.querySelectorAll('input[name="' + name + '"]').forEach(function (item) { item.checked = box.checked; });
    });
  });

  // Preview chosen photos before upload (phones: confirm the right picture was taken).
  document.querySelectorAll("input[type=file][data-preview]").forEach(function (input) {
    var target = document.querySelector(input.getAttribute("data-preview"));
    input.addEventListener("change", function () {
      if (!target) { return; }
      target.innerHTML = "";
      Array.prototype.forEach.call(input.files, function (file) {
        if (!file.type || file.type.indexOf("image/") !== 0) { return; }
        var img = document.createElement("img");
        img.alt = file.name;
        img.src = URL.createObjectURL(file);
        target.appendChild(img);
      });
    });
  });

  // A button marked data-busy disables itself once its form is sent, showing that text (a retry takes a moment).
  document.querySelectorAll("form [data-busy]").forEach(function (button) {
    button.form.addEventListener("submit", function () {
      button.disabled = true;
      button.textContent = button.getAttribute("data-busy");
    });
  });

  // Auto-submit filter selects on change (saves a click; the submit button stays for no-JS use).
  document.querySelectorAll("#filter-form select").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });
})();
