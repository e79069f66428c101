// Campaign pages: show a checklist item's hazard fields only when 发现隐患 is chosen, and keep the suggested
// campaign title in step with the chosen checklist. Both pages work without this file.
(function () {
  "use strict";

  document.querySelectorAll("input[data-hazard-toggle]").forEach(function (radio) {
    var target = document.getElementById(radio.getAttribute("data-hazard-toggle"));
    if (!target) { return; }
    var sync = function () {
      var chosen = document.querySelector('input[name="' + radio.name + '"]:checked');
      target.hidden = !(chosen && chosen.value === "hazard");
    };
    radio.addEventListener("change", sync);
    sync();
  });

  var template = document.getElementById("f-template");
  var title = document.getElementById("f-title");
  if (template && title) {
    var titleOf = function () {
      var option = template.options[template.selectedIndex];
      return option ? (option.getAttribute("data-title") || "") : "";
    };
    var previous = titleOf();
    template.addEventListener("change", function () {
      var next = titleOf();
      // Only a title still ending in the suggestion is replaced: a title someone typed is theirs.
      if (previous && next && title.value.slice(-previous.length) === previous) {
        title.value = title.value.slice(0, title.value.length - previous.length) + next;
      }
      previous = next;
    });
  }
})();
