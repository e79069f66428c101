// 驾驶舱 charts (ECharts, served locally) from the dashboard's JSON; a click on a segment opens the hazard list.
(function () {
  "use strict";
  var root = document.getElementById("dashboard");
  if (!root || typeof echarts === "undefined") { return; }
  var scope = JSON.parse(root.getAttribute("data-scope") || "{}");
  var label = function (name) { return root.getAttribute("data-label-" + name); };

  function listUrl(params) {
    var query = new URLSearchParams(scope);
    Object.keys(params).forEach(function (key) { query.set(key, params[key]); });
    return root.getAttribute("data-list") + "?" + query.toString();
  }

  function draw(id, option, onClick) {
    var el = document.getElementById(id);
    if (!el) { return null; }
    var chart = echarts.init(el, null, { renderer: "canvas" });
    chart.setOption(Object.assign({ animation: false, tooltip: { trigger: "axis", confine: true },
                                    grid: { left: 8, right: 16, top: 32, bottom: 8, containLabel: true } }, option));
    if (onClick) { chart.on("click", onClick); }
    window.addEventListener("resize", function () { chart.resize(); });
    return chart;
  }

  fetch(root.getAttribute("data-src"), { credentials: "same-origin", headers: { "Accept": "application/json" } })
    .then(function (response) {
      if (!response.ok) { throw new Error("HTTP " + response.status); }
      return response.json();
    })
    .then(function (data) {
      var cats = data.open_by_category;
      var grades = data.grades.filter(function (g) {
        return cats.some(function (c) { return c.grades[g]; });
      });
      draw("chart-category", {
        legend: { top: 0 },
        xAxis: { type: "category", data: cats.map(function (c) { return c.label; }), axisLabel: { interval: 0, rotate: 30 } },
        yAxis: { type: "value", minInterval: 1 },
        series: grades.map(function (g) {
          return { name: data.labels.grade[g] || g, type: "bar", stack: "grade", key: g,
                   data: cats.map(function (c) { return c.grades[g] || 0; }) };
        })
      }, function (e) {
        var params = { category: cats[e.dataIndex].key, open: "1" };
        var grade = grades[e.seriesIndex];
        if (grade) { params.grade = grade; }
        window.location.href = listUrl(params);
      });

      var units = data.overdue_by_unit.slice().reverse();
      draw("chart-units", {
        xAxis: { type: "value", minInterval: 1 },
        yAxis: { type: "category", data: units.map(function (u) { return u.label; }) },
        series: [{ name: label("overdue"), type: "bar", itemStyle: { color: "#dc3545" },
                   data: units.map(function (u) { return u.overdue; }) }]
      }, function (e) { window.location.href = listUrl({ unit: units[e.dataIndex].key, overdue: "1" }); });

      var months = data.trend;
      draw("chart-trend", {
        legend: { top: 0 },
        xAxis: { type: "category", data: months.map(function (m) { return m.month; }) },
        yAxis: [{ type: "value", minInterval: 1 }, { type: "value", name: label("days") }],
        series: [
          { name: label("found"), type: "bar", data: months.map(function (m) { return m.found; }) },
          { name: label("closed"), type: "bar", data: months.map(function (m) { return m.closed; }) },
          { name: label("days"), type: "line", yAxisIndex: 1, connectNulls: true,
            data: months.map(function (m) { return m.avg_days_to_close; }) }
        ]
      }, function (e) {
        var m = months[e.dataIndex];
        window.location.href = listUrl({ from: m.from, to: m.to });
      });

      if (data.schools) {
        var schools = data.schools.slice().reverse();
        draw("chart-schools", {
          legend: { top: 0 },
          xAxis: { type: "value", minInterval: 1 },
          yAxis: { type: "category", data: schools.map(function (r) { return r.label; }) },
          series: [
            { name: label("overdue"), type: "bar", itemStyle: { color: "#dc3545" },
              data: schools.map(function (r) { return r.overdue; }) },
            { name: label("open"), type: "bar", data: schools.map(function (r) { return r.open; }) }
          ]
        }, function (e) {
          var params = { school: schools[e.dataIndex].key };
          params[e.seriesIndex === 0 ? "overdue" : "open"] = "1";
          window.location.href = listUrl(params);
        });
      }
      root.setAttribute("data-drawn", "true");
    })
    .catch(function (error) { root.setAttribute("data-error", String(error)); });
})();
